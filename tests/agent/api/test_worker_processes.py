"""Worker processes and in-flight requests without a host backend: empty lists and 404s."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

WORKERS = "/api/webserver/worker-processes"
MONITOR = "/api/webserver/http-request-monitor"


async def test_no_workers_without_a_host(api: TestClient[Any, Any]) -> None:
    resp = await api.get(WORKERS)
    assert resp.status == 200 and await resp.json() == {"worker_processes": []}
    assert resp.headers["X-Total-Count"] == "0"
    pools = (await (await api.get("/api/webserver/application-pools")).json())["app_pools"]
    pool = await (await api.get(pools[0]["_links"]["self"]["href"])).json()
    filtered = await api.get(pool["_links"]["worker_processes"]["href"])
    assert filtered.status == 200 and (await filtered.json())["worker_processes"] == []
    assert (await api.get(WORKERS + "?application_pool.id=nope")).status == 404
    assert (await api.get(WORKERS + "/nope")).status == 404
    assert (await api.delete(WORKERS + "/nope")).status == 404


async def test_request_monitor_feature_answers_209(api: TestClient[Any, Any]) -> None:
    resp = await api.get(MONITOR, allow_redirects=False)
    assert resp.status == 209
    body = await resp.json()
    assert resp.headers["Location"] == f"{MONITOR}/{body['id']}"
    assert body["_links"]["requests"]["href"] == MONITOR + "/requests"
    assert (await api.get(resp.headers["Location"])).status == 200
    assert (await api.get(MONITOR + "/other")).status == 404


async def test_requests_filters(api: TestClient[Any, Any]) -> None:
    resp = await api.get(MONITOR + "/requests?time_elapsed=0")
    assert resp.status == 200 and await resp.json() == {"requests": []}
    assert (await api.get(MONITOR + "/requests?time_elapsed=soon")).status == 400
    assert (await api.get(MONITOR + "/requests?wp.id=nope")).status == 404
    sites = (await (await api.get("/api/webserver/websites")).json())["websites"]
    site = await (await api.get(sites[0]["_links"]["self"]["href"])).json()
    assert (await api.get(site["_links"]["requests"]["href"])).status == 200
    assert (await api.get(MONITOR + "/requests?website.id=nope")).status == 404
    assert (await api.get(MONITOR + "/requests/nope")).status == 404
