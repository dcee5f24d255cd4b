"""Request tracing: providers and trace rules with traces, in upstream's RequestTracing.cs scenarios."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from agent.api.features.rows import TRACING
from tests.agent.api.features.helpers import ensure_installed, feature_at, make_site

BASE = TRACING.path


async def _feature(api: TestClient[Any, Any], scope: str = "") -> dict[str, Any]:
    await ensure_installed(api, TRACING)
    return await feature_at(api, TRACING, scope)


async def _providers(api: TestClient[Any, Any], feature: dict[str, Any]) -> dict[str, str]:
    listed = await api.get(feature["_links"]["providers"]["href"])
    assert listed.status == 200 and int(listed.headers["X-Total-Count"]) >= 4
    return {p["name"]: p["id"] for p in (await listed.json())["providers"]}


async def test_links_and_stock_providers(api: TestClient[Any, Any]) -> None:
    feature = await _feature(api)
    assert set(feature["_links"]) >= {"self", "rules", "providers"}
    ids = await _providers(api, feature)
    www = await (await api.get(f"{BASE}/providers/{ids['WWW Server']}")).json()
    assert www["guid"] == "{3a2a4e84-4c21-4981-ae10-3fda0d9b0f83}"
    assert {"Authentication", "Security", "Compression", "Module"} <= set(www["areas"])
    assert www["request_tracing"]["id"] == feature["id"]


async def test_provider_create_update_delete(api: TestClient[Any, Any]) -> None:
    feature = await _feature(api)
    guid = "{" + str(uuid.uuid4()) + "}"
    body = {"name": "Test Provider", "guid": guid.upper(), "areas": ["test_area", "test_area2"],
            "request_tracing": feature}  # fmt: skip
    made = await api.post(f"{BASE}/providers", json=body)
    assert made.status == 201, await made.text()
    provider = await made.json()
    assert provider["guid"] == guid.lower() and provider["areas"] == ["test_area", "test_area2"]
    assert (await api.post(f"{BASE}/providers", json={**body, "name": "test provider"})).status == 409
    clash = await api.post(f"{BASE}/providers", json={**body, "name": "Other"})
    assert clash.status == 409 and (await clash.json())["name"] == "guid"
    bad = await api.post(f"{BASE}/providers", json={**body, "name": "Other", "guid": "not-a-guid"})
    assert bad.status == 400 and (await bad.json())["name"] == "guid"
    new_guid = "{" + str(uuid.uuid4()) + "}"
    patched = await api.patch(f"{BASE}/providers/{provider['id']}", json={
        "name": "Test Provider 2", "guid": new_guid, "areas": ["a3"]})  # fmt: skip
    assert patched.status == 209, await patched.text()
    changed = await patched.json()
    assert changed["name"] == "Test Provider 2" and changed["guid"] == new_guid and changed["areas"] == ["a3"]
    asp = "{06b94d9a-b15e-456e-a4ef-37c984a2cb4b}"  # the stock ASP provider's
    taken = await api.patch(f"{BASE}/providers/{changed['id']}", json={"guid": asp})
    assert taken.status == 409 and (await taken.json())["name"] == "guid"
    assert (await api.delete(f"{BASE}/providers/{changed['id']}")).status == 204
    assert (await api.get(f"{BASE}/providers/{changed['id']}")).status == 404


async def test_rule_traces_reference_providers(api: TestClient[Any, Any]) -> None:
    feature = await _feature(api)
    ids = await _providers(api, feature)
    made = await api.post(f"{BASE}/rules", json={
        "path": "test_rule*.path", "status_codes": ["101", "244-245", "280-301", "340"],
        "min_request_execution_time": 100, "event_severity": "error", "request_tracing": feature,
        "traces": [{"allowed_areas": {}, "provider": {"id": ids["ASP"]}, "verbosity": "verbose"}]})  # fmt: skip
    assert made.status == 201, await made.text()
    rule = await made.json()
    assert rule["traces"][0]["provider"]["id"] == ids["ASP"] and rule["traces"][0]["verbosity"] == "verbose"
    assert rule["event_severity"] == "error" and rule["status_codes"] == ["101", "244-245", "280-301", "340"]
    patched = await api.patch(f"{BASE}/rules/{rule['id']}", json={
        "path": "test_patch*.path", "status_codes": ["104-181", "333"], "min_request_execution_time": 103,
        "event_severity": "criticalerror", "traces": [{
            "allowed_areas": {"Security": True, "Compression": True, "Module": True},
            "provider": {"id": ids["WWW Server"]}, "verbosity": "verbose"}]})  # fmt: skip
    assert patched.status == 209, await patched.text()
    body = await patched.json()
    areas = body["traces"][0]["allowed_areas"]
    assert areas["Security"] and areas["Compression"] and areas["Module"] and areas["Authentication"] is False
    unknown = await api.patch(f"{BASE}/rules/{body['id']}", json={"traces": [{
        "allowed_areas": {"NoSuchArea": True}, "provider": {"id": ids["WWW Server"]}}]})  # fmt: skip
    assert unknown.status == 400
    assert (await api.delete(f"{BASE}/rules/{body['id']}")).status == 204


async def test_site_provider_write_needs_delegation(api: TestClient[Any, Any], content_dir: Path) -> None:
    await make_site(api, content_dir)
    site = await _feature(api, "Feat")
    body = {"name": "P", "guid": str(uuid.uuid4()), "areas": [], "request_tracing": site}
    locked = await api.post(f"{BASE}/providers", json=body)
    assert locked.status == 403 and (await locked.json())["title"] == "Object is locked"


FREB = """<?xml version="1.0" encoding="UTF-8"?>
<failedRequest url="http://localhost:8282/broken" siteId="{site}" verb="GET" triggerStatusCode="500"
  timeTaken="31" processId="4242" activityId="{{00000000-0000-0000-0300-0080000000f6}}" failureReason="STATUS_CODE">
</failedRequest>"""


async def test_traces_list_site_trace_files(api: TestClient[Any, Any], content_dir: Path, state_dir: Path) -> None:
    site = await make_site(api, content_dir)
    feature = await _feature(api, "Feat")
    assert feature["_links"]["traces"]["href"] == f"{BASE}/traces?http_request_tracing.id={feature['id']}"
    trace_dir = state_dir / "inetpub" / "logs" / "FailedReqLogFiles" / f"W3SVC{site['key']}"
    patched = await api.patch(f"{BASE}/{feature['id']}", json={"directory": str(trace_dir.parent)})
    assert patched.status == 200, await patched.text()
    trace_dir.mkdir(parents=True)
    (trace_dir / "fr000001.xml").write_text(FREB.format(site=site["key"]))
    (trace_dir / "notes.txt").write_text("not a trace")
    listed = await api.get(feature["_links"]["traces"]["href"])
    assert listed.status == 200 and listed.headers["X-Total-Count"] == "1"
    trace = (await listed.json())["traces"][0]
    assert trace["url"] == "http://localhost:8282/broken" and trace["method"] == "GET"
    assert trace["status_code"] == 500 and trace["time_taken"] == 31 and trace["process_id"] == 4242
    assert trace["file_info"]["name"] == "fr000001.xml" and trace["request_tracing"]["id"] == feature["id"]
    one = await api.get(f"{BASE}/traces/{trace['id']}")
    assert one.status == 200 and (await one.json())["activity_id"].startswith("{")
    server = await _feature(api)
    assert (await api.get(f"{BASE}/traces?http_request_tracing.id={server['id']}")).status == 404


async def test_traces_outside_the_file_locations_are_not_read(api: TestClient[Any, Any], content_dir: Path,
                                                              tmp_path: Path) -> None:  # fmt: skip
    site = await make_site(api, content_dir)
    feature = await _feature(api, "Feat")
    outside = tmp_path / "elsewhere"
    (outside / f"W3SVC{site['key']}").mkdir(parents=True)
    (outside / f"W3SVC{site['key']}" / "fr000001.xml").write_text(FREB.format(site=site["key"]))
    # The host writes trace files there, so a directory outside the writable locations is refused, as upstream.
    patched = await api.patch(f"{BASE}/{feature['id']}", json={"directory": str(outside)})
    assert patched.status == 403
    listed = await api.get(feature["_links"]["traces"]["href"])
    assert listed.status == 200 and (await listed.json())["traces"] == []
