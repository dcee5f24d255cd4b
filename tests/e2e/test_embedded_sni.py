"""SNI: two sites on one https ip:port, each served with its own store certificate, verification on."""

from __future__ import annotations

import asyncio
import ssl
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from agent.iisconfig import ConfigStore
from shared.x509util import self_signed_server
from tests.agent.hosting.support import SITES, edit, free_port
from tests.e2e.test_embedded_host import run_host

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


def store_certificate(state_dir: Path, host: str, store: str = "My", name: str = "") -> tuple[str, bytes]:
    """A self-signed certificate for `host` written as <state>/certificates/<store>/<THUMBPRINT>.pem."""
    cert_pem, key_pem = self_signed_server([host], timedelta(days=1))
    thumbprint = x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303
    folder = state_dir / "certificates" / store
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name or thumbprint}.pem").write_bytes(cert_pem + key_pem)
    return thumbprint, cert_pem


def add_tls_site(cfg: ConfigStore, name: str, site_id: int, binding: str, physical: Path, thumbprint: str,
                 *, sni: bool) -> None:  # fmt: skip
    site = cfg.section(SITES).collection().add(name=name, id=site_id)
    site.collection("bindings").add(protocol="https", bindingInformation=binding, certificateHash=thumbprint,
                                    certificateStoreName="My", sslFlags="Sni" if sni else "None")  # fmt: skip
    app = site.collection().add(path="/", applicationPool="DefaultAppPool")
    app.collection().add(path="/", physicalPath=str(physical))


async def fetch(address: str, port: int, server_name: str, ca: bytes, *, check_hostname: bool = True,
                host: str = "") -> bytes:  # fmt: skip
    """GET / over TLS with SNI `server_name` (Host: `host`, default the same), verifying against `ca`; the body."""
    context = ssl.create_default_context(cadata=ca.decode())
    context.check_hostname = check_hostname
    reader, writer = await asyncio.open_connection(address, port, ssl=context, server_hostname=server_name)
    try:
        writer.write(f"GET / HTTP/1.1\r\nHost: {host or server_name}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        async with asyncio.timeout(10):
            answer = await reader.read()
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    return body


async def test_each_host_name_gets_its_own_certificate(tmp_path: Path) -> None:
    async with run_host(tmp_path, {"index.html": "default"}) as hosted:
        port = free_port(hosted.address)
        thumb_a, cert_a = store_certificate(tmp_path, "a.test")
        thumb_b, cert_b = store_certificate(tmp_path, "b.test")
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            (tmp_path / name / "index.html").write_text(f"site {name}")

        def change(cfg: ConfigStore) -> None:
            add_tls_site(cfg, "A", 2, f"*:{port}:a.test", tmp_path / "a", thumb_a, sni=False)
            add_tls_site(cfg, "B", 3, f"*:{port}:b.test", tmp_path / "b", thumb_b, sni=True)

        edit(hosted.store, change)
        await hosted.host.tick()
        assert hosted.host.site_status("A").value == "started" and hosted.host.site_status("B").value == "started"
        assert await fetch(hosted.address, port, "a.test", cert_a) == b"site a"
        assert await fetch(hosted.address, port, "b.test", cert_b) == b"site b"
        with pytest.raises(ssl.SSLCertVerificationError):
            await fetch(hosted.address, port, "b.test", cert_a)
        # An unknown name falls back to the first binding that does not require SNI.
        body = await fetch(hosted.address, port, "c.test", cert_a, check_hostname=False, host="a.test")
        assert body == b"site a"

        # A replaced PEM file is picked up at the next poll, without a configuration change.
        _, new_a = store_certificate(tmp_path, "a.test", name=thumb_a)
        await hosted.host.tick()
        assert await fetch(hosted.address, port, "a.test", new_a) == b"site a"
        with pytest.raises(ssl.SSLCertVerificationError):
            await fetch(hosted.address, port, "a.test", cert_a)

        # Deleting one site leaves the other's certificate in place on the shared endpoint.
        def delete_a(cfg: ConfigStore) -> None:
            sites = cfg.section(SITES).collection()
            sites.remove(sites.find(name="A"))

        edit(hosted.store, delete_a)
        await hosted.host.tick()
        assert await fetch(hosted.address, port, "b.test", cert_b) == b"site b"
