"""Certificates and stores: first-run contents, fields, filters, paging, and https bindings that use them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent.certificates import CertificateStores, read_certificate
from agent.keys import STATE_DIR
from agent.security.tls import create_self_signed
from agent.settings import CertificatesSettings, CertificateStoreSettings

SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
SITES = "/api/webserver/websites"


async def _json(api: TestClient[Any, Any], url: str, status: int = 200, **kw: Any) -> Any:
    resp = await api.get(url, **kw)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def _localhost(api: TestClient[Any, Any]) -> dict[str, Any]:
    listed = await _json(api, f"/api/certificates?intended_purpose={SERVER_AUTH}")
    return next(c for c in listed["certificates"] if c["subject"] == "CN=localhost")


async def test_first_run_has_a_localhost_server_certificate(api: TestClient[Any, Any]) -> None:
    resp = await api.get("/api/certificates")
    assert resp.headers["Accept-Ranges"] == "certificates"
    listed = (await resp.json())["certificates"]
    assert resp.headers["X-Total-Count"] == str(len(listed)) and listed
    ref = await _localhost(api)
    assert set(ref) == {"alias", "id", "issued_by", "subject", "valid_to", "thumbprint", "_links"}
    full = await _json(api, ref["_links"]["self"]["href"])
    assert full["issued_by"] == "CN=localhost" and len(full["thumbprint"]) == 40
    assert full["intended_purposes"] == ["Server Authentication"]
    assert full["private_key"] == {"exportable": True}
    assert full["signature_algorithm"] == "sha256ECDSA" and full["version"] == "3"
    assert "DNS Name=localhost" in full["subject_alternative_names"]
    assert full["valid_from"].endswith("Z") and full["store"]["name"] == "My"
    assert (await _json(api, "/api/certificates?intended_purpose=Code Signing"))["certificates"] == []
    assert len((await _json(api, "/api/certificates?intended_purpose=server authentication"))["certificates"]) >= 1


async def test_stores_and_store_filter(api: TestClient[Any, Any]) -> None:
    stores = await _json(api, "/api/certificates/stores")
    assert [s["name"] for s in stores["stores"]] == ["My", "WebHosting"]
    my = await _json(api, stores["stores"][0]["_links"]["self"]["href"])
    assert my["claims"] == ["read"]
    in_my = await _json(api, my["_links"]["certificates"]["href"])
    assert in_my["certificates"] and all(c["subject"] for c in in_my["certificates"])
    hosting = stores["stores"][1]["id"]
    assert (await _json(api, f"/api/certificates?certificate_store.id={hosting}"))["certificates"] == []
    await _json(api, "/api/certificates?certificate_store.id=nope", 404)
    await _json(api, "/api/certificates/stores/nope", 404)
    await _json(api, "/api/certificates/nope", 404)


async def test_range_paging_and_head(api: TestClient[Any, Any]) -> None:
    resp = await api.get("/api/certificates", headers={"Range": "certificates=0-0"})
    assert resp.status == 200 and resp.headers["Content-Range"].startswith("0-0/")
    assert len((await resp.json())["certificates"]) == 1
    assert (await api.get("/api/certificates", headers={"Range": "certificates=5-2"})).status == 416
    assert (await api.get("/api/certificates", headers={"Range": "certificates=0-99"})).status == 416
    head = await api.head("/api/certificates")
    assert head.status == 200 and head.headers["X-Total-Count"] and await head.read() == b""


async def test_https_binding_with_a_store_certificate(api: TestClient[Any, Any], content_dir: Path) -> None:
    cert = await _localhost(api)
    body = {"name": "tls", "physical_path": str(content_dir), "bindings": [
        {"protocol": "https", "ip_address": "*", "port": 8443, "hostname": "tls.test", "certificate": cert,
         "require_sni": True}]}  # fmt: skip
    resp = await api.post(SITES, json=body)
    assert resp.status == 201, await resp.text()
    [binding] = (await resp.json())["bindings"]
    assert set(binding) == {"protocol", "binding_information", "ip_address", "port", "hostname", "certificate",
                            "require_sni"}  # fmt: skip
    assert binding["require_sni"] is True and binding["certificate"]["thumbprint"] == cert["thumbprint"]
    assert binding["certificate"]["_links"]["self"]["href"] == cert["_links"]["self"]["href"]
    text = (api.server.app[STATE_DIR] / "applicationHost.config").read_text()
    assert f'certificateHash="{cert["thumbprint"]}"' in text and 'certificateStoreName="My"' in text


async def test_https_binding_errors(api: TestClient[Any, Any], content_dir: Path) -> None:
    cert = await _localhost(api)

    async def post(binding: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        body = {"name": "bad", "physical_path": str(content_dir),
                "bindings": [{"protocol": "https", "ip_address": "*", "port": 8444, **binding}]}  # fmt: skip
        resp = await api.post(SITES, json=body)
        return resp.status, await resp.json()

    assert await post({}) == (400, {"title": "Invalid parameter", "name": "binding.certificate", "status": 400})
    assert (await post({"certificate": {}}))[1]["name"] == "binding.certificate.id"
    assert (await post({"certificate": {"id": "nope"}}))[0] == 404
    status, error = await post({"certificate": cert, "require_sni": True})
    assert (status, error["name"]) == (400, "binding.require_sni")


def test_store_reads_what_it_wrote_and_imports_the_agent_certificate(tmp_path: Path) -> None:
    settings = CertificatesSettings(stores=[CertificateStoreSettings(name="Shared", claims=["Read", "Export"])])
    stores = CertificateStores(tmp_path / "certificates", settings)
    create_self_signed(tmp_path / "agent.crt", tmp_path / "agent.key", ["agent.example"])
    stores.bootstrap(tmp_path / "agent.crt", tmp_path / "agent.key")
    stores.bootstrap(tmp_path / "agent.crt", tmp_path / "agent.key")  # idempotent
    assert [s.name for s in stores.stores] == ["Shared", "My", "WebHosting"]
    assert stores.stores[0].claims == ("export", "read")
    my = stores.certificates(stores.store("my"))  # type: ignore[arg-type]
    assert sorted(c.subject for c in my) == ["CN=agent.example", "CN=localhost"]
    agent = next(c for c in my if c.subject == "CN=agent.example")
    assert agent.alias == "IIS Fleet Agent Certificate" and agent.has_private_key
    assert stores.find("My", agent.thumbprint.lower()) == agent
    assert read_certificate(agent.path, "My").thumbprint == agent.thumbprint
    assert oct(agent.path.stat().st_mode & 0o777) == "0o600"


def test_a_restart_bootstraps_without_parsing_and_restores_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.certificates import store as store_module

    root = tmp_path / "certificates"
    create_self_signed(tmp_path / "agent.crt", tmp_path / "agent.key", ["agent.example"])
    CertificateStores(root, CertificatesSettings()).bootstrap(tmp_path / "agent.crt", tmp_path / "agent.key")
    parsed: list[Path] = []
    real_read = store_module.read_certificate

    def counting_read(path: Path, store: str) -> Any:
        parsed.append(path)
        return real_read(path, store)

    monkeypatch.setattr(store_module, "read_certificate", counting_read)
    # A restart: nothing to add, so no certificate is parsed (that would load cryptography, ~7 MiB resident).
    CertificateStores(root, CertificatesSettings()).bootstrap(tmp_path / "agent.crt", tmp_path / "agent.key")
    assert parsed == []
    # A renewed agent certificate and a deleted localhost pair are both put back by the full check.
    create_self_signed(tmp_path / "agent.crt", tmp_path / "agent.key", ["renewed.example"])
    stores = CertificateStores(root, CertificatesSettings())
    my = stores.store("My")
    assert my is not None
    next(c for c in stores.certificates(my) if c.subject == "CN=localhost").path.unlink()
    stores.bootstrap(tmp_path / "agent.crt", tmp_path / "agent.key")
    subjects = sorted(c.subject for c in stores.certificates(my))
    assert subjects == ["CN=agent.example", "CN=localhost", "CN=renewed.example"]
    parsed.clear()
    CertificateStores(root, CertificatesSettings()).bootstrap(tmp_path / "agent.crt", tmp_path / "agent.key")
    assert parsed == []
