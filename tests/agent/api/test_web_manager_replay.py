"""The upstream web manager's requests (microsoft/IIS.WebManager, read from its services) replayed as it sends them.

Site, web application, virtual directory, certificate and feature-install pages: the same URLs (with their
trailing slashes and dotted `fields=` lists), headers (Access-Token, `Accept: application/hal+json`,
`Content-Type: application/json` with string bodies, an empty one for installs), HEAD probes and `Range`,
and navigation by `_links` with "/api" cut off as the UI does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.conftest import ClientFactory

APP_POOL_FIELDS = ("application_pool.name,application_pool.auto_start,application_pool.status,"
                   "application_pool.identity,application_pool.pipeline_mode,"
                   "application_pool.managed_runtime_version")  # fmt: skip
WEBAPP_POOL_FIELDS = ("application_pool.name,application_pool.status,application_pool.identity,"
                      "application_pool.pipeline_mode,application_pool.managed_runtime_version")  # fmt: skip
SITE_FIELDS = "website.name,website.status,website.bindings"
FILE_INFO_FIELDS = ("file_info.name,file_info.alias,file_info.type,file_info.physical_path,file_info.size,created,"
                    "file_info.last_modified,file_info.mime_type,file_info.e_tag,file_info.parent")  # fmt: skip
CERT_FIELDS = ("alias,name,friendly_name,issued_by,subject,thumbprint,signature_algorithm,valid_to,valid_from,"
               "intended_purposes,subject_alternative_names,store")  # fmt: skip
# The feature pages' install switches: POST <service URL> with an empty body (the UI's URLs, slash included).
INSTALLS = ("/webserver/authorization/", "/webserver/default-documents/", "/webserver/directory-browsing/",
            "/webserver/http-request-filtering/", "/webserver/http-request-tracing/",
            "/webserver/http-response-compression/", "/webserver/ip-restrictions/", "/webserver/logging/",
            "/webserver/static-content/", "/webserver/url-rewrite/", "/webserver/authentication/basic-authentication/",
            "/webserver/authentication/digest-authentication/", "/webserver/authentication/windows-authentication/")


class WebManager:
    """HttpClient of the web manager: '/api' + url, its headers, JSON string bodies, error on non-2xx."""

    def __init__(self, client: TestClient[Any, Any], token: str) -> None:
        self.client, self.token = client, token

    def _headers(self, body: bool) -> dict[str, str]:
        headers = {"Access-Token": f"Bearer {self.token}", "Accept": "application/hal+json",
                   "Origin": "http://127.0.0.1:4200"}  # fmt: skip
        return {**headers, "Content-Type": "application/json"} if body else headers

    async def call(self, method: str, url: str, body: str | None = None, **headers: str) -> Any:
        response = await self.client.request(method, "/api" + url, data=body,
                                             headers={**self._headers(body is not None), **headers})  # fmt: skip
        text = await response.text()
        assert 200 <= response.status < 300, f"{method} {url} -> {response.status} {text}"
        return response, (json.loads(text) if text and response.status != 204 else None)

    async def get(self, url: str, **headers: str) -> Any:
        return (await self.call("GET", url, **headers))[1]

    async def post(self, url: str, data: Any) -> Any:
        return (await self.call("POST", url, data if isinstance(data, str) else json.dumps(data)))[1]

    async def patch(self, url: str, data: Any) -> Any:
        return (await self.call("PATCH", url, json.dumps(data)))[1]

    async def delete(self, url: str) -> None:
        await self.call("DELETE", url)


def link(resource: dict[str, Any], name: str) -> str:
    """A `_links` href as the UI uses it: "/api" cut off."""
    return str(resource["_links"][name]["href"]).replace("/api", "", 1)


@pytest.fixture
async def ui(aiohttp_client: ClientFactory, agent_app: web.Application, token: str) -> WebManager:
    return WebManager(await aiohttp_client(agent_app), token)


def _assert_pool(pool: dict[str, Any], fields: str) -> None:
    wanted = {name.split(".", 1)[1] for name in fields.split(",")}
    assert wanted | {"id", "_links"} == set(pool), pool
    assert pool["identity"]["identity_type"] == "ApplicationPoolIdentity" and pool["pipeline_mode"] == "integrated"


def _assert_site(site: dict[str, Any]) -> None:
    assert {"name", "status", "bindings", "id", "_links"} == set(site), site
    assert site["bindings"] and site["bindings"][0]["protocol"] == "http"


async def test_connect_and_navigation(ui: WebManager) -> None:
    response, api = await ui.call("GET", "")
    assert response.headers["Content-Type"].startswith("application/vnd.Microsoft.WebServer.Api.2.3.0")
    server = await ui.get("/webserver")
    info = await ui.get(link(server, "info"))
    assert info["id"]
    for key in ("websites", "app_pools", "webapps", "vdirs", "authentication", "default_document"):
        assert key in server["_links"], key
    assert api["_links"]["certificates"]["href"] == "/api/certificates"


async def test_site_pages(ui: WebManager, content_dir: Path) -> None:
    pools = await ui.get("/webserver/application-pools?fields=name,status,identity,pipeline_mode,"
                         "managed_runtime_version")  # fmt: skip
    pool = next(p for p in pools["app_pools"] if p["name"] == "DefaultAppPool")
    assert pool["identity"]["identity_type"] == "ApplicationPoolIdentity"
    creation = {"name": "UI Site", "physical_path": str(content_dir), "application_pool": {"id": pool["id"]},
                "bindings": [{"ip_address": "*", "port": 8484, "hostname": "", "protocol": "http"}]}  # fmt: skip
    site = await ui.post(f"/webserver/websites?fields=*,{APP_POOL_FIELDS}", creation)
    _assert_pool(site["application_pool"], APP_POOL_FIELDS)
    listed = await ui.get("/webserver/websites?fields=name,status,physical_path,bindings,application_pool")
    mine = next(s for s in listed["websites"] if s["id"] == site["id"])
    assert set(mine["application_pool"]) == {"name", "id", "status", "_links"} and mine["physical_path"]
    by_pool = await ui.get("/webserver/websites?fields=name,status,physical_path,bindings,application_pool"
                           f"&application_pool.id={pool['id']}")  # fmt: skip
    assert site["id"] in {s["id"] for s in by_pool["websites"]}
    fresh = await ui.get(f"/webserver/websites/{site['id']}?fields=*,{APP_POOL_FIELDS}")  # a fresh page load
    _assert_pool(fresh["application_pool"], APP_POOL_FIELDS)
    assert fresh["name"] == "UI Site" and "webapps" in fresh["_links"] and "vdirs" in fresh["_links"]
    patched = await ui.patch(f"/webserver/websites/{site['id']}?fields=*,{APP_POOL_FIELDS}",
                             {"server_auto_start": False, "application_pool": fresh["application_pool"]})  # fmt: skip
    assert patched["server_auto_start"] is False
    _assert_pool(patched["application_pool"], APP_POOL_FIELDS)
    (content_dir / "index.html").write_text("<p>hello</p>")
    root = await ui.get(link(fresh, "files"))  # the site's Files tab
    listed_files = await ui.get(f"/webserver/files?parent.id={root['id']}&fields=name,type,path,{FILE_INFO_FIELDS}")
    page = next(f for f in listed_files["files"] if f["name"] == "index.html")
    assert page["file_info"]["size"] == 12 and page["file_info"]["type"] == "file"
    assert set(page["file_info"]["parent"]) == {"name", "id", "type", "physical_path", "_links"}
    head, _ = await ui.call("HEAD", "/webserver/websites/")
    assert int(head.headers["X-Total-Count"]) == 2
    await ui.delete(f"/webserver/websites/{site['id']}")


async def test_webapp_and_vdir_pages(ui: WebManager, content_dir: Path) -> None:
    sites = await ui.get("/webserver/websites?fields=name,status,physical_path,bindings,application_pool")
    site = sites["websites"][0]
    (content_dir / "app").mkdir()
    created = await ui.post(f"/webserver/webapps?fields=*,{SITE_FIELDS},{WEBAPP_POOL_FIELDS}",
                            {"path": "/app", "physical_path": str(content_dir / "app"), "website": {"id": site["id"]}})
    _assert_site(created["website"])
    _assert_pool(created["application_pool"], WEBAPP_POOL_FIELDS)
    apps = await ui.get("/webserver/webapps?fields=path,physical_path,application_pool,location,"
                        f"{SITE_FIELDS}&website.id={site['id']}")  # fmt: skip
    for app in apps["webapps"]:
        _assert_site(app["website"])
        assert set(app["application_pool"]) == {"name", "id", "status", "_links"}
    pool_id = created["application_pool"]["id"]
    by_pool = await ui.get(f"/webserver/webapps?fields=path,physical_path,application_pool,{SITE_FIELDS}"
                           f"&application_pool.id={pool_id}")  # fmt: skip
    assert created["id"] in {a["id"] for a in by_pool["webapps"]}
    detail = await ui.get(f"/webserver/webapps/{created['id']}?fields=*,{SITE_FIELDS},{WEBAPP_POOL_FIELDS}")
    _assert_site(detail["website"])
    vdirs_link = link(detail, "vdirs")
    (content_dir / "app" / "media").mkdir()
    vdir = await ui.post(f"/webserver/virtual-directories?fields=*,{SITE_FIELDS}",
                         {"path": "/media", "physical_path": str(content_dir / "app" / "media"),
                          "webapp": {"id": created["id"]}})  # fmt: skip
    _assert_site(vdir["website"])
    assert set(vdir["webapp"]) == {"location", "id", "path", "_links"}
    for query in (f"website.id={site['id']}", f"webapp.id={created['id']}"):
        listed = await ui.get(f"/webserver/virtual-directories?{query}&fields=*,{SITE_FIELDS}")
        assert listed["virtual_directories"] and all(v["website"]["bindings"] for v in listed["virtual_directories"])
    assert vdir["id"] in {v["id"] for v in (await ui.get(vdirs_link))["virtual_directories"]}
    vdir["physical_path"] = str(content_dir / "app")
    updated = await ui.patch(f"/webserver/virtual-directories/{vdir['id']}?fields=*,{SITE_FIELDS}", vdir)
    assert updated["physical_path"] == str(content_dir / "app")
    _assert_site((await ui.get(f"/webserver/virtual-directories/{vdir['id']}?fields=*,{SITE_FIELDS}"))["website"])
    await ui.delete(f"/webserver/virtual-directories/{vdir['id']}")
    patched = await ui.patch(f"/webserver/webapps/{created['id']}?fields=*,{SITE_FIELDS},{WEBAPP_POOL_FIELDS}",
                             {"preload_enabled": "true"})  # fmt: skip
    assert patched["preload_enabled"] is True and patched["website"]["bindings"]
    await ui.delete(f"/webserver/webapps/{created['id']}")


async def test_certificates_page(ui: WebManager) -> None:
    probe, _ = await ui.call("HEAD", "/certificates/")  # supportsRange()
    assert probe.headers["Accept-Ranges"] == "certificates"
    total, _ = await ui.call("HEAD", "/certificates/")  # getTotal()
    count = int(total.headers["X-Total-Count"])
    assert count >= 1
    ranged, page = await ui.call("GET", f"/certificates/?fields={CERT_FIELDS}", Range=f"certificates=0-{count - 1}")
    assert ranged.status == 200 and ranged.headers["Content-Range"] == f"0-{count - 1}/{count}"
    cert = page["certificates"][0]
    assert {"thumbprint", "subject", "valid_to", "store", "id"} <= set(cert)
    one = await ui.get(f"/certificates/{cert['id']}")
    assert one["thumbprint"] == cert["thumbprint"]


async def test_feature_install_switches(ui: WebManager) -> None:
    server = await ui.get("/webserver")
    for url in INSTALLS:
        name = url.rstrip("/").rsplit("/", 1)[-1]
        response = await ui.client.post("/api" + url, data="", headers=ui._headers(True))
        if response.status == 409:  # installed in the stock configuration: the switch uninstalls first
            listed = await ui.client.get("/api" + url.rstrip("/"), params={"scope": ""}, headers=ui._headers(False))
            feature = await listed.json()
            await ui.delete(url + feature["id"])
            response = await ui.client.post("/api" + url, data="", headers=ui._headers(True))
        assert response.status == 201, f"{url}: {response.status} {await response.text()}"
        installed = await response.json()
        assert installed["id"] and response.headers["Location"].endswith(installed["id"]), name
        assert (await ui.get(url + installed["id"]))["id"] == installed["id"]
    tracing = await ui.get(link(server, "request_tracing"))
    providers = await ui.get(link(tracing, "providers"))
    assert {"WWW Server", "ASP"} <= {p["name"] for p in providers["providers"]}
    rewrite = await ui.get(link(server, "url_rewrite"))
    outbound = await ui.get(link(rewrite, "outbound"))
    for child in ("rules", "preconditions", "custom_tags"):
        assert (await ui.get(link(outbound, child)))[child] == []
