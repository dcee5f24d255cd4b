"""Every FEATURES row at server and site scope: 209/200, ids, metadata, links, PATCH round trip, revert."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent.api.features.table import FEATURES
from tests.agent.api.features.helpers import ensure_installed, feature_at, make_site

ROWS = [pytest.param(spec, id=spec.endpoint) for spec in FEATURES]


@pytest.mark.parametrize("spec", ROWS)
async def test_server_and_site_scope(api: TestClient[Any, Any], content_dir: Path, spec: Any) -> None:
    await ensure_installed(api, spec)
    await make_site(api, content_dir)
    if not spec.site_required:
        server = await feature_at(api, spec, "")
        assert server["scope"] == "" and server["website"] is None
        by_id = await api.get(f"{spec.path}/{server['id']}")
        assert by_id.status == 200 and (await by_id.json())["id"] == server["id"]
        if "metadata" in spec.output:
            assert server["metadata"]["is_locked"] is False
            assert server["metadata"]["override_mode_effective"] in ("allow", "deny")
    else:
        assert (await api.get(spec.path, params={"scope": ""})).status == 404
    site = await feature_at(api, spec, "Feat")
    assert site["scope"] == "Feat/" and site["website"]["name"] == "Feat"
    assert "_links" in site
    if not spec.server_default:
        assert (await api.get(spec.path)).status == 404
    assert (await api.get(spec.path, params={"scope": "Nope"})).status == 400
    assert (await api.get(f"{spec.path}/not-an-id")).status == 404


@pytest.mark.parametrize("spec", [p for p in ROWS if p.values[0].sections and p.values[0].sections[0].fields])
async def test_site_patch_and_revert(api: TestClient[Any, Any], content_dir: Path, spec: Any) -> None:
    await ensure_installed(api, spec)
    await make_site(api, content_dir)
    section = spec.sections[0]
    attr = next(a for a in section.fields if type(a.kind).__name__ in ("Bool", "Flags"))
    if type(attr.kind).__name__ == "Flags":  # toggle the first flag of the object
        attr = type(attr)(f"{attr.json}.{attr.kind.members[0][0]}", attr.config, attr.kind)
    server = await feature_at(api, spec, "")
    if server["metadata"]["override_mode_effective"] == "deny":
        unlock = await api.patch(f"{spec.path}/{server['id']}", json={"metadata": {"override_mode": "allow"}})
        assert unlock.status == 200, await unlock.text()
        assert (await unlock.json())["metadata"]["override_mode"] == "allow"
    site = await feature_at(api, spec, "Feat/")
    if spec.endpoint == "ip-restrictions":
        del site["enabled"]  # computed; `enabled: false` would reset the section (upstream's test drops it too)
    head, _, leaf = attr.json.partition(".")
    old = site[head][leaf] if leaf else site[head]
    change: dict[str, Any] = {head: {leaf: not old}} if leaf else {head: not old}
    patched = await api.patch(f"{spec.path}/{site['id']}", json={**site, **change})
    assert patched.status in (200, 209), await patched.text()
    body = await patched.json()
    assert (body[head][leaf] if leaf else body[head]) is (not old)
    assert body["metadata"]["is_local"] is True
    again = await feature_at(api, spec, "")
    assert (again[head][leaf] if leaf else again[head]) is old  # the server level is untouched
    assert (await api.delete(f"{spec.path}/{body['id']}")).status == 204
    reverted = await feature_at(api, spec, "Feat")
    assert (reverted[head][leaf] if leaf else reverted[head]) is old
    if all(entry.revert for entry in spec.sections):  # compression keeps httpCompression (upstream)
        assert reverted["metadata"]["is_local"] is False
