"""Enrollment with a controller: pin its CA from the join token, send a CSR, keep the certificate.

The join token is `<id>.<secret>.<sha256 of the controller's CA certificate>`. The agent downloads the CA
certificate (public data) and accepts it only if its sha256 equals the pin; everything secret (the token's
secret, the API key for the controller) is then sent over a connection verified against that CA.
The result lives in `<state dir>/controller/` so a restart does not enroll again.
"""

from __future__ import annotations

import hashlib
import json
import platform
import socket
import ssl
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.controller_identity import ControllerConnector
from shared.fsutil import atomic_write_bytes, atomic_write_text
from shared.models import AgentFacts, EnrollRequest, EnrollResponse

ENROLLMENT_DIR = "controller"
TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=10)


class EnrollmentError(Exception):
    """Enrollment failed; the message says why (and what the controller answered)."""


@dataclass(frozen=True, slots=True)
class Enrollment:
    """This agent's membership in a fleet, as saved in its state directory."""

    agent_id: str
    name: str
    url: str
    controller_url: str
    heartbeat_interval: float
    directory: str

    @property
    def identity_file(self) -> Path:
        """Certificate and private key in one 0600 PEM file, so a renewal replaces both atomically."""
        return Path(self.directory) / "identity.pem"

    @property
    def ca_file(self) -> Path:
        """The pinned controller CA."""
        return Path(self.directory) / "ca.crt"

    @classmethod
    def load(cls, state_dir: Path) -> Enrollment | None:
        """The saved enrollment, or None before the first one."""
        path = state_dir / ENROLLMENT_DIR / "enrollment.json"
        if not path.exists():
            return None
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{**raw, "directory": str(path.parent)})

    def save(self) -> None:
        """Write enrollment.json (after the certificate files)."""
        atomic_write_text(Path(self.directory) / "enrollment.json", json.dumps(asdict(self), indent=2) + "\n")


def split_join_token(token: str) -> tuple[str, str]:
    """(the part the controller checks, the CA pin) of a join token."""
    parts = token.strip().split(".")
    if len(parts) != 3 or len(parts[2]) != 64:
        raise EnrollmentError("the join token is malformed; expected <id>.<secret>.<ca sha256> as printed")
    return token.strip(), parts[2].lower()


def new_identity(name: str) -> tuple[bytes, str]:
    """A fresh EC P-256 key (PEM) and a CSR for CN=`name` (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, csr.public_bytes(serialization.Encoding.PEM).decode()


def client_context(ca_pem: bytes | str, identity_file: Path | None = None) -> ssl.SSLContext:
    """Verify the controller against the fleet CA (chain and hostname); present our certificate if we have one."""
    cadata = ca_pem.decode() if isinstance(ca_pem, bytes) else ca_pem
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=cadata)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if identity_file is not None:
        context.load_cert_chain(identity_file)
    return context


async def discover_ca(controller_url: str, pin: str) -> bytes:
    """Download the controller's CA certificate and accept it only if its sha256 equals the token's pin.

    This is the one request made before the agent can verify the controller, so it carries nothing secret
    and its answer is trusted only through the pin (kubeadm's discovery-token-ca-cert-hash does the same).
    """
    discovery = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    discovery.check_hostname = False
    discovery.verify_mode = ssl.CERT_NONE  # the pin below authenticates the answer
    try:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as session,
            session.get(f"{controller_url}/api/enroll/ca", ssl=discovery) as response,
        ):
            body = await response.read()
            if response.status != 200:
                raise EnrollmentError(f"{controller_url} answered {response.status} for its CA certificate")
    except aiohttp.ClientError as err:
        raise EnrollmentError(f"cannot reach the controller at {controller_url}: {err}") from err
    try:
        cert = x509.load_pem_x509_certificate(body)
    except ValueError as err:
        raise EnrollmentError(f"{controller_url} did not send a PEM CA certificate") from err
    actual = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    if actual != pin:
        raise EnrollmentError(
            f"the CA certificate of {controller_url} has sha256 {actual}, but the join token pins {pin}; "
            "refusing to enroll (wrong controller, or someone in between)"
        )
    return body


def gather_facts(host_backend: str = "", site_count: int = 0, pool_count: int = 0) -> AgentFacts:
    """What the agent tells the controller about itself."""
    try:
        version = metadata.version("iisfleet")
    except metadata.PackageNotFoundError:
        version = "dev"
    return AgentFacts(
        os=platform.platform(),
        hostname=socket.gethostname(),
        agent_version=version,
        python=sys.version.split()[0],
        host_backend=host_backend,
        site_count=site_count,
        pool_count=pool_count,
    )


def _refusal(status: int, body: bytes) -> str:
    try:
        doc: Any = json.loads(body)
        detail = doc.get("detail") or doc.get("title") or body.decode(errors="replace")
    except (ValueError, AttributeError):
        detail = body.decode(errors="replace")[:500]
    return f"the controller refused enrollment ({status}): {detail}"


async def enroll(
    state_dir: Path, controller_url: str, join_token: str, *, name: str, url: str, api_key: str, facts: AgentFacts
) -> Enrollment:
    """Enroll with the controller and save certificate, CA and enrollment in the state directory."""
    controller_url = controller_url.rstrip("/")
    token, pin = split_join_token(join_token)
    ca_pem = await discover_ca(controller_url, pin)
    key_pem, csr_pem = new_identity(name)
    request = EnrollRequest(token=token, name=name, url=url, csr=csr_pem, api_key=api_key, facts=facts)
    # The API key goes only to a peer holding the controller's certificate (controller_identity.py).
    connector = ControllerConnector(ssl=client_context(ca_pem))
    try:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT, connector=connector) as session,
            session.post(
                f"{controller_url}/api/enroll",
                data=request.model_dump_json(),
                headers={"Content-Type": "application/json"},
            ) as response,
        ):
            body = await response.read()
    except aiohttp.ClientError as err:
        raise EnrollmentError(f"enrollment with {controller_url} failed: {err}") from err
    if response.status != 201:
        raise EnrollmentError(_refusal(response.status, body))
    answer = EnrollResponse.model_validate_json(body)
    directory = state_dir / ENROLLMENT_DIR
    atomic_write_bytes(directory / "ca.crt", ca_pem)
    atomic_write_bytes(directory / "identity.pem", answer.certificate.encode() + key_pem, mode=0o600)
    enrollment = Enrollment(
        agent_id=answer.agent_id,
        name=name,
        url=url,
        controller_url=controller_url,
        heartbeat_interval=answer.heartbeat_interval,
        directory=str(directory),
    )
    enrollment.save()
    return enrollment


async def ensure_enrolled(
    state_dir: Path, controller_url: str, join_token: str | None, *, name: str, url: str, facts: AgentFacts
) -> Enrollment:
    """The saved enrollment, or a new one made with `join_token` (creating the controller's API key here)."""
    from agent.security.api_key_store import ApiKeyStore
    from agent.security.scopes import CONTROLLER, CONTROLLER_PURPOSE_PREFIX

    controller_url = controller_url.rstrip("/")
    if not controller_url.startswith("https://"):
        raise EnrollmentError(f"the controller URL {controller_url!r} must start with https://")
    existing = Enrollment.load(state_dir)
    if existing is not None:
        if existing.controller_url != controller_url:
            raise EnrollmentError(
                f"this agent is enrolled with {existing.controller_url}; remove {existing.directory} "
                "to enroll with another controller"
            )
        return existing
    if not join_token:
        raise EnrollmentError(
            "this agent is not enrolled yet; pass --join-token from `iisfleet controller join-token create`"
        )
    keys = ApiKeyStore(state_dir / "api-keys.json")
    # Scoped: the controller reaches the `api` policy, never file locations or key management.
    key, token = keys.create(f"{CONTROLLER_PURPOSE_PREFIX}{controller_url}", None, scope=CONTROLLER)
    try:
        return await enroll(state_dir, controller_url, join_token, name=name, url=url, api_key=token, facts=facts)
    except BaseException:
        # A refused enrollment must not leave a working key behind for a controller that never got it.
        keys.delete(key.id)
        raise


def agent_identity(name: str | None, address: str, port: int) -> tuple[str, str]:
    """(fleet name, https URL) of an agent listening on `address:port`; wildcard addresses use the host name."""
    hostname = socket.gethostname()
    wildcard = address in ("", "*", "0.0.0.0", "::")
    host = hostname if wildcard else address
    default = hostname if wildcard else f"{hostname}-{address}".replace(":", "-")
    url_host = f"[{host}]" if ":" in host else host
    return name or default, f"https://{url_host}:{port}"
