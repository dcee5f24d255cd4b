"""CertificateStores: the named stores (My, WebHosting, configured ones) and the PEM files in them.

A store is a directory; each certificate is `<THUMBPRINT>.pem` holding the certificate chain and, when
the agent may serve with it, its unencrypted private key (mode 0600). The embedded host finds a binding's
certificate by the thumbprint IIS stores in `certificateHash`, so the file name is the contract.
"""

from __future__ import annotations

import hashlib
import logging
import re
import ssl
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from agent.certificates.model import ALIAS_PREFIX, KEY_BLOCK, CertificateInfo, read_certificate
from agent.settings import CertificatesSettings
from shared.fsutil import atomic_write_bytes
from shared.paths import expand_path

log = logging.getLogger("iisfleet.certificates")
DEFAULT_STORES = ("My", "WebHosting")
AGENT_ALIAS = "IIS Fleet Agent Certificate"
LOCALHOST_ALIAS = "IIS Fleet localhost Certificate"
LOCALHOST_VALIDITY = timedelta(days=730)


@dataclass(frozen=True, slots=True)
class StoreInfo:
    """One certificate store: its name, directory and access claims (lower-case)."""

    name: str
    path: Path
    claims: tuple[str, ...]

    @property
    def readable(self) -> bool:
        """The store grants the `read` claim."""
        return "read" in self.claims


class CertificateStores:
    """Every store of this agent; certificate files are parsed once per (path, mtime, size)."""

    def __init__(self, root: Path, settings: CertificatesSettings) -> None:
        self.root = root
        stores: dict[str, StoreInfo] = {}
        for entry in settings.stores:
            if not entry.name.strip() or entry.name.lower() in stores:
                continue
            path = Path(expand_path(entry.path)) if entry.path else root / entry.name
            claims = tuple(sorted({c.strip().lower() for c in entry.claims}))
            stores[entry.name.lower()] = StoreInfo(entry.name, path, claims)
        for name in DEFAULT_STORES:  # upstream adds My and WebHosting (read) when not configured
            stores.setdefault(name.lower(), StoreInfo(name, root / name, ("read",)))
        self._stores = stores
        self._cache: dict[Path, tuple[tuple[int, int], CertificateInfo]] = {}
        self._lock = threading.Lock()

    @property
    def stores(self) -> list[StoreInfo]:
        """Every store, configured ones first."""
        return list(self._stores.values())

    def store(self, name: str) -> StoreInfo | None:
        """A store by name (case-insensitive)."""
        return self._stores.get(name.lower())

    def certificates(self, store: StoreInfo) -> list[CertificateInfo]:
        """The certificates of a store, sorted by thumbprint; unreadable files are skipped with a warning."""
        found = []
        for path in sorted(store.path.glob("*.pem")) if store.path.is_dir() else []:
            info = self._read(path, store.name)
            if info is not None:
                found.append(info)
        return found

    def find(self, store_name: str, thumbprint: str) -> CertificateInfo | None:
        """The certificate with `thumbprint` in a store, if both exist."""
        store = self.store(store_name)
        if store is None:
            return None
        path = store.path / f"{thumbprint.upper()}.pem"
        return self._read(path, store.name) if path.is_file() else None

    def _read(self, path: Path, store: str) -> CertificateInfo | None:
        try:
            stat = path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            with self._lock:
                cached = self._cache.get(path)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            info = read_certificate(path, store)
        except (OSError, ValueError) as err:
            log.warning("skipping certificate file %s: %s", path, err)
            return None
        with self._lock:
            self._cache[path] = (stamp, info)
        return info

    def add(self, store_name: str, chain_pem: bytes, key_pem: bytes | None, alias: str = "") -> CertificateInfo:
        """Write a certificate (and key) into a store as `<THUMBPRINT>.pem`; the stored file's info."""
        store = self.store(store_name)
        if store is None:
            raise KeyError(store_name)
        thumbprint = _thumbprint(chain_pem)
        header = f"{ALIAS_PREFIX}{alias}\n".encode() if alias else b""
        body = header + chain_pem.rstrip(b"\n") + b"\n" + (key_pem.rstrip(b"\n") + b"\n" if key_pem else b"")
        path = store.path / f"{thumbprint}.pem"
        atomic_write_bytes(path, body, mode=0o600)
        info = self._read(path, store.name)
        assert info is not None
        return info

    def bootstrap(self, agent_cert: Path | None, agent_key: Path | None) -> None:
        """First-run contents: every store directory, the agent's own certificate and a localhost one in My."""
        for store in self._stores.values():
            store.path.mkdir(parents=True, exist_ok=True)
        if self._bootstrapped(agent_cert, agent_key):
            return
        everything = [c for s in self._stores.values() for c in self.certificates(s)]
        thumbprints = {c.thumbprint for c in everything}
        if agent_cert is not None and agent_key is not None and agent_cert.is_file() and agent_key.is_file():
            chain = agent_cert.read_bytes()
            try:
                thumbprint = _thumbprint(chain)
            except ValueError:
                log.warning("the agent certificate %s does not parse; not importing it", agent_cert)
            else:
                if thumbprint not in thumbprints:
                    self.add("My", chain, agent_key.read_bytes(), AGENT_ALIAS)
        # Upstream's tests pick a CN=localhost serverAuth certificate for https bindings; keep one around.
        if not any(c.subject == "CN=localhost" and c.has_private_key for c in everything):
            self.add("My", *_localhost_pair(), LOCALHOST_ALIAS)

    def _bootstrapped(self, agent_cert: Path | None, agent_key: Path | None) -> bool:
        """A restart's check, without parsing a certificate (which loads cryptography, ~7 MiB resident).

        True when the agent's certificate already has its `<THUMBPRINT>.pem` in a store and the localhost
        pair this bootstrap wrote (alias, key block) is still in My; else the full check above runs.
        """
        if agent_cert is not None and agent_key is not None and agent_cert.is_file() and agent_key.is_file():
            try:
                thumbprint = _pem_digest(agent_cert.read_bytes())
            except ValueError:
                return False
            if not any((s.path / f"{thumbprint}.pem").is_file() for s in self._stores.values()):
                return False
        my = self.store("My")
        for path in my.path.glob("*.pem") if my is not None else []:
            data = path.read_bytes()
            if data.startswith(f"{ALIAS_PREFIX}{LOCALHOST_ALIAS}\n".encode()) and KEY_BLOCK.search(data):
                return True
        return False


def _thumbprint(chain_pem: bytes) -> str:
    """The first certificate's thumbprint, parsed by cryptography (ValueError when it does not parse)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    return x509.load_pem_x509_certificates(chain_pem)[0].fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303


_FIRST_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def _pem_digest(chain_pem: bytes) -> str:
    """SHA-1 of the first PEM block's bytes, upper-case hex, without parsing them (a lookup key only)."""
    block = _FIRST_CERTIFICATE.search(chain_pem)
    if block is None:
        raise ValueError("no PEM certificate")
    der = ssl.PEM_cert_to_DER_cert(block[0].decode("ascii"))
    return hashlib.sha1(der).hexdigest().upper()  # noqa: S324 - the thumbprint *is* SHA-1


def _localhost_pair() -> tuple[bytes, bytes]:
    from shared.x509util import self_signed_server

    return self_signed_server(["localhost", "127.0.0.1"], LOCALHOST_VALIDITY)
