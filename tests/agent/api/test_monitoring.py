"""Monitoring snapshots without a host backend: the exact member structure, zeros, shared ids, 404s."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

NETWORK = {"bytes_sent_sec", "bytes_recv_sec", "connection_attempts_sec", "total_bytes_sent", "total_bytes_recv",
           "total_connection_attempts", "current_connections"}  # fmt: skip
MEMORY = {"handles", "private_bytes", "private_working_set", "system_in_use", "installed"}
DISK = {"io_write_operations_sec", "io_read_operations_sec", "page_faults_sec"}
CACHE = {"file_cache_count", "file_cache_memory_usage", "file_cache_hits", "file_cache_misses", "total_files_cached",
         "output_cache_count", "output_cache_memory_usage", "output_cache_hits", "output_cache_misses",
         "uri_cache_count", "uri_cache_hits", "uri_cache_misses", "total_uris_cached"}  # fmt: skip


async def test_webserver_snapshot_members(api: TestClient[Any, Any]) -> None:
    body = await (await api.get("/api/webserver/monitoring")).json()
    webserver = await (await api.get("/api/webserver")).json()
    assert body["id"] == webserver["id"]
    assert set(body) == {"id", "network", "requests", "memory", "cpu", "disk", "cache", "_links"}
    assert set(body["network"]) == NETWORK and set(body["memory"]) == MEMORY and set(body["disk"]) == DISK
    assert set(body["cache"]) == CACHE and set(body["requests"]) == {"active", "per_sec", "total"}
    assert set(body["cpu"]) == {"percent_usage", "threads", "processes", "system_percent_usage"}
    assert body["memory"]["installed"] > 0 and body["requests"]["total"] == 0
    assert (await api.get(body["_links"]["self"]["href"])).status == 200
    assert (await api.get("/api/webserver/monitoring/nope")).status == 404
    only = await (await api.get("/api/webserver/monitoring?fields=requests")).json()
    assert set(only) == {"id", "requests", "_links"}


async def test_site_and_pool_snapshots_share_ids(api: TestClient[Any, Any]) -> None:
    sites = await (await api.get("/api/webserver/websites/monitoring")).json()
    assert "X-Total-Count" not in (await api.get("/api/webserver/websites/monitoring")).headers
    [snapshot] = sites["websites"]
    assert set(snapshot) == {"id", "uptime", "network", "requests", "memory", "cpu", "disk", "cache", "website",
                             "_links"}  # fmt: skip
    assert snapshot["id"] == snapshot["website"]["id"] and "system_percent_usage" not in snapshot["cpu"]
    site = await (await api.get(f"/api/webserver/websites/{snapshot['id']}")).json()
    assert site["_links"]["monitoring"]["href"] == snapshot["_links"]["self"]["href"]
    assert (await (await api.get(site["_links"]["monitoring"]["href"])).json())["id"] == site["id"]
    pools = (await (await api.get("/api/webserver/application-pools/monitoring")).json())["app_pools"]
    pool = pools[0]
    assert set(pool) == {"id", "requests", "memory", "cpu", "disk", "cache", "application_pool", "_links"}
    full = await (await api.get(f"/api/webserver/application-pools/{pool['id']}")).json()
    assert (await (await api.get(full["_links"]["monitoring"]["href"])).json())["id"] == full["id"]
    assert (await api.get("/api/webserver/websites/monitoring/nope")).status == 404
    assert (await api.get("/api/webserver/application-pools/monitoring/nope")).status == 404


async def test_metrics_need_a_token_and_parse(api: TestClient[Any, Any], token: str) -> None:
    async with aiohttp.ClientSession() as plain:  # without the fixture's Access-Token header
        async with plain.get(api.make_url("/metrics")) as anonymous:
            assert anonymous.status == 403
        # Prometheus sends `Authorization: Bearer <token>`.
        async with plain.get(api.make_url("/metrics"), headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
            text = await resp.text()
    assert list(text_string_to_metric_families(text)) == []  # no host: no IIS families
