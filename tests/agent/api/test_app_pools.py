"""Application pools: every field round-trips, renames answer 209 and follow the applications."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

POOLS = "/api/webserver/application-pools"


async def _create(api: TestClient[Any, Any], name: str = "test_app_pool") -> dict[str, Any]:
    response = await api.post(POOLS, json={"name": name})
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def test_create_reads_iis_defaults(api: TestClient[Any, Any]) -> None:
    pool = await _create(api)
    assert pool["status"] == "unknown"
    assert pool["pipeline_mode"] == "integrated"
    assert pool["managed_runtime_version"] == "v4.0"
    assert pool["queue_length"] == 1000
    assert pool["start_mode"] == "OnDemand"
    assert pool["cpu"] == {"limit": 0, "limit_interval": 5, "action": "NoAction", "processor_affinity_enabled": False,
                           "processor_affinity_mask32": "0xFFFFFFFF", "processor_affinity_mask64": "0xFFFFFFFF"}
    assert pool["process_model"]["idle_timeout"] == 20
    assert pool["process_model"]["ping_response_time"] == 90
    assert pool["identity"]["identity_type"] == "ApplicationPoolIdentity"
    assert pool["recycling"]["log_events"] == {"time": True, "requests": False, "schedule": False, "memory": True,
                                               "isapi_unhealthy": False, "on_demand": False,
                                               "config_change": False, "private_memory": True}
    assert pool["recycling"]["periodic_restart"] == {"time_interval": 1740, "private_memory": 0,
                                                     "request_limit": 0, "virtual_memory": 0, "schedule": []}
    assert pool["rapid_fail_protection"]["max_crashes"] == 5
    assert pool["process_orphaning"] == {"enabled": False, "orphan_action_exe": "", "orphan_action_params": ""}
    assert set(pool["_links"]) >= {"self", "websites", "webapps"}


async def test_change_all_properties(api: TestClient[Any, Any]) -> None:
    pool = await _create(api)
    pool["auto_start"] = not pool["auto_start"]
    pool["enable_32bit_win64"] = not pool["enable_32bit_win64"]
    pool["queue_length"] += 1
    pool["managed_runtime_version"] = "v2.0"
    pool["pipeline_mode"] = "Classic"
    for member in ("limit", "limit_interval"):
        pool["cpu"][member] += 1
    pool["cpu"]["action"] = "KillW3wp"
    pool["cpu"]["processor_affinity_mask32"] = "0xFF"
    for member in ("idle_timeout", "max_processes", "ping_interval", "ping_response_time",
                   "shutdown_time_limit", "startup_time_limit"):
        pool["process_model"][member] += 1
    pool["process_model"]["pinging_enabled"] = not pool["process_model"]["pinging_enabled"]
    pool["process_model"]["idle_timeout_action"] = "Suspend"
    pool["recycling"]["disable_overlapped_recycle"] = True
    pool["recycling"]["disable_recycle_on_config_change"] = True
    pool["recycling"]["log_events"] = {k: not v for k, v in pool["recycling"]["log_events"].items()}
    restart = pool["recycling"]["periodic_restart"]
    for member in ("time_interval", "private_memory", "request_limit", "virtual_memory"):
        restart[member] += 1
    restart["schedule"] = restart["schedule"] + ["20:00", "03:30"]
    failure = pool["rapid_fail_protection"]
    failure.update(interval=failure["interval"] + 1, max_crashes=failure["max_crashes"] + 1,
                   enabled=not failure["enabled"], auto_shutdown_exe="test.exe", auto_shutdown_params="testparams",
                   load_balancer_capabilities="TcpLevel")
    pool["process_orphaning"] = {"enabled": True, "orphan_action_exe": "orphan.exe", "orphan_action_params": "-x"}
    del pool["status"]
    response = await api.patch(f"{POOLS}/{pool['id']}", json=pool)
    assert response.status == 200, await response.text()
    body = await response.json()
    expected = dict(pool, pipeline_mode="classic")
    for member, value in expected.items():
        if member not in ("_links",):
            assert body[member] == value, member
    reread = await (await api.get(f"{POOLS}/{pool['id']}")).json()
    assert reread["recycling"] == body["recycling"]


async def test_rename_answers_209_and_moves_applications(api: TestClient[Any, Any]) -> None:
    sites = await (await api.get("/api/webserver/websites")).json()
    default = await (await api.get(f"{POOLS}")).json()
    pool_id = default["app_pools"][0]["id"]
    response = await api.patch(f"{POOLS}/{pool_id}", json={"name": "Renamed"})
    assert response.status == 209
    renamed = await response.json()
    assert response.headers["Location"] == f"{POOLS}/{renamed['id']}"
    site = await (await api.get(f"/api/webserver/websites/{sites['websites'][0]['id']}")).json()
    assert site["application_pool"]["name"] == "Renamed"
    # The default pool of new applications follows the rename too.
    assert (await api.get(f"{POOLS}/{pool_id}")).status == 404


async def test_duplicate_name_and_bad_values(api: TestClient[Any, Any]) -> None:
    pool = await _create(api)
    assert (await api.post(POOLS, json={"name": "TEST_APP_POOL"})).status == 409
    assert (await api.post(POOLS, json={})).status == 400
    url = f"{POOLS}/{pool['id']}"
    bad_enum = await api.patch(url, json={"pipeline_mode": "turbo"})
    assert bad_enum.status == 400 and (await bad_enum.json())["name"] == "pipeline_mode"
    range_error = await api.patch(url, json={"cpu": {"limit": 100001}})
    assert range_error.status == 400 and (await range_error.json())["name"] == "cpu.limit"
    wrong_type = await api.patch(url, json={"queue_length": "lots"})
    assert wrong_type.status == 400 and (await wrong_type.json())["name"] == "queue_length"
    schedule = await api.patch(url, json={"recycling": {"periodic_restart": {"schedule": ["25:00"]}}})
    assert schedule.status == 400
    assert (await schedule.json())["name"] == "recyclying.periodic_restart.schedule.item"
    numeric_string = await api.patch(url, json={"queue_length": "2000"})
    assert (await numeric_string.json())["queue_length"] == 2000


async def test_password_is_write_only_and_encrypted(api: TestClient[Any, Any], state_dir: Any) -> None:
    pool = await _create(api)
    body = {"identity": {"identity_type": "SpecificUser", "username": "svc", "password": "s3cret-Pa55"}}
    response = await api.patch(f"{POOLS}/{pool['id']}", json=body)
    assert response.status == 200
    identity = (await response.json())["identity"]
    assert "password" not in identity and identity["username"] == "svc"
    config = (state_dir / "applicationHost.config").read_text()
    assert "s3cret-Pa55" not in config
    assert "[enc:IisFleetFernet:" in config


async def test_status_change_without_host_is_503(api: TestClient[Any, Any]) -> None:
    pool = await _create(api)
    response = await api.patch(f"{POOLS}/{pool['id']}", json={"status": "recycling"})
    assert response.status == 503
    ignored = await api.patch(f"{POOLS}/{pool['id']}", json={"status": "unknown", "queue_length": 1200})
    assert ignored.status == 200  # a status read back and sent again is not a request to change state


async def test_delete_is_idempotent_and_bad_ids_are_404(api: TestClient[Any, Any]) -> None:
    pool = await _create(api)
    assert (await api.delete(f"{POOLS}/{pool['id']}")).status == 204
    assert (await api.delete(f"{POOLS}/{pool['id']}")).status == 204
    assert (await api.get(f"{POOLS}/not-an-id")).status == 404
    # The client resolves `..` to /api/webserver/, the web server's route (GET only, trailing slash allowed):
    # no pool is ever deleted, and the method is refused as on /api/webserver itself.
    assert (await api.delete(f"{POOLS}/%2e%2e")).status == (await api.delete("/api/webserver")).status == 405
