"""Application pools: /api/webserver/application-pools."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from agent.api import mapping, model_cache
from agent.api.context import Ctx
from agent.api.http import render
from agent.api.mapping import Attr, Bool, Enum, Flags, HexMask, Int, Minutes, Seconds, Str
from agent.api.refs import POOLS_PATH, SITES_PATH, WEBAPPS_PATH, find_pool, pool_id
from agent.api.resources.mixins import CrudMixin
from agent.api.resources.status_changes import change_pool_status, parse_status
from agent.ids import Purpose
from agent.iisconfig import ConfigElement
from agent.iisconfig.index import POOLS, SITES
from shared.errors import AlreadyExists, InvalidParameter

RESOURCE = "Microsoft.WebServer.AppPool"
REF_FIELDS = ("name", "id", "status")
UINT32 = 4294967295
INT32 = 2147483647
IDENTITY_TYPES = ("LocalSystem", "LocalService", "NetworkService", "SpecificUser", "ApplicationPoolIdentity")
LOG_EVENTS = Flags(
    (
        ("time", "Time"),
        ("requests", "Requests"),
        ("schedule", "Schedule"),
        ("memory", "Memory"),
        ("isapi_unhealthy", "IsapiUnhealthy"),
        ("on_demand", "OnDemand"),
        ("config_change", "ConfigChange"),
        ("private_memory", "PrivateMemory"),
    )
)

ATTRS = (
    Attr("auto_start", "autoStart", Bool()),
    Attr("pipeline_mode", "managedPipelineMode", Enum(("Integrated", "Classic"), lower=True)),
    Attr("managed_runtime_version", "managedRuntimeVersion", Str()),
    Attr("enable_32bit_win64", "enable32BitAppOnWin64", Bool()),
    Attr("queue_length", "queueLength", Int(10, 65535)),
    Attr("start_mode", "startMode", Enum(("OnDemand", "AlwaysRunning"))),
    Attr("cpu.limit", "cpu/limit", Int(0, 100000)),
    Attr("cpu.limit_interval", "cpu/resetInterval", Minutes(0, 1440)),
    Attr("cpu.action", "cpu/action", Enum(("NoAction", "KillW3wp", "Throttle", "ThrottleUnderLoad"))),
    Attr("cpu.processor_affinity_enabled", "cpu/smpAffinitized", Bool()),
    Attr("cpu.processor_affinity_mask32", "cpu/smpProcessorAffinityMask", HexMask()),
    Attr("cpu.processor_affinity_mask64", "cpu/smpProcessorAffinityMask2", HexMask()),
    Attr("process_model.idle_timeout", "processModel/idleTimeout", Minutes(0, 43200)),
    Attr("process_model.max_processes", "processModel/maxProcesses", Int(0, INT32)),
    Attr("process_model.pinging_enabled", "processModel/pingingEnabled", Bool()),
    Attr("process_model.ping_interval", "processModel/pingInterval", Seconds(1, 4294967)),
    Attr("process_model.ping_response_time", "processModel/pingResponseTime", Seconds(1, 4294967)),
    Attr("process_model.shutdown_time_limit", "processModel/shutdownTimeLimit", Seconds(1, 4294967)),
    Attr("process_model.startup_time_limit", "processModel/startupTimeLimit", Seconds(1, 4294967)),
    Attr("process_model.idle_timeout_action", "processModel/idleTimeoutAction", Enum(("Terminate", "Suspend"))),
    Attr("identity.identity_type", "processModel/identityType", Enum(IDENTITY_TYPES)),
    Attr("identity.username", "processModel/userName", Str()),
    Attr("identity.load_user_profile", "processModel/loadUserProfile", Bool()),
    Attr("recycling.disable_overlapped_recycle", "recycling/disallowOverlappingRotation", Bool()),
    Attr("recycling.disable_recycle_on_config_change", "recycling/disallowRotationOnConfigChange", Bool()),
    Attr("recycling.log_events", "recycling/logEventOnRecycle", LOG_EVENTS),
    Attr("recycling.periodic_restart.time_interval", "recycling/periodicRestart/time", Minutes(0, 432000)),
    Attr("recycling.periodic_restart.private_memory", "recycling/periodicRestart/privateMemory", Int(0, UINT32)),
    Attr("recycling.periodic_restart.request_limit", "recycling/periodicRestart/requests", Int(0, UINT32)),
    Attr("recycling.periodic_restart.virtual_memory", "recycling/periodicRestart/memory", Int(0, UINT32)),
    Attr("rapid_fail_protection.enabled", "failure/rapidFailProtection", Bool()),
    Attr(
        "rapid_fail_protection.load_balancer_capabilities",
        "failure/loadBalancerCapabilities",
        Enum(("HttpLevel", "TcpLevel")),
    ),
    Attr("rapid_fail_protection.interval", "failure/rapidFailProtectionInterval", Minutes(1, 144400)),
    Attr("rapid_fail_protection.max_crashes", "failure/rapidFailProtectionMaxCrashes", Int(1, INT32)),
    Attr("rapid_fail_protection.auto_shutdown_exe", "failure/autoShutdownExe", Str()),
    Attr("rapid_fail_protection.auto_shutdown_params", "failure/autoShutdownParams", Str()),
    Attr("process_orphaning.enabled", "failure/orphanWorkerProcess", Bool()),
    Attr("process_orphaning.orphan_action_exe", "failure/orphanActionExe", Str()),
    Attr("process_orphaning.orphan_action_params", "failure/orphanActionParams", Str()),
)
SCHEDULE = "recycling.periodic_restart.schedule"


def _schedule(pool: ConfigElement) -> list[str]:
    times = pool.child("recycling").child("periodicRestart").collection("schedule")
    out = []
    for entry in times:
        value = entry.get("value")
        seconds = int(value.total_seconds()) if isinstance(value, timedelta) else 0
        out.append(f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}")
    return out


def _parse_schedule(body: dict[str, Any]) -> list[timedelta] | None:
    raw = body.get("recycling", {}).get("periodic_restart", {}) if isinstance(body.get("recycling"), dict) else {}
    if not isinstance(raw, dict) or raw.get("schedule") is None:
        return None
    # Upstream's error names carry its own misspelling; clients may match on them.
    if not isinstance(raw["schedule"], list):
        raise InvalidParameter("recyclying.periodic_restart.schedule")
    times = []
    for item in raw["schedule"]:
        hours, _, minutes = str(item).partition(":") if isinstance(item, str) else ("x", "", "")
        if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
            raise InvalidParameter("recyclying.periodic_restart.schedule.item")
        times.append(timedelta(hours=int(hours), minutes=int(minutes)))
    return times


def _settings(ctx: Ctx, pool: ConfigElement) -> dict[str, Any]:
    out = mapping.read(pool, ATTRS)
    out["recycling"]["periodic_restart"]["schedule"] = _schedule(pool)
    return out


GETTERS: dict[str, Any] = {
    "name": lambda ctx, p: str(p.get("name")),
    "id": lambda ctx, p: pool_id(ctx, str(p.get("name"))),
    "status": lambda ctx, p: ctx.host.pool_status(p.get_raw("name") or "").value,
}
for _member in ("auto_start", "pipeline_mode", "managed_runtime_version", "enable_32bit_win64", "queue_length",
                "start_mode", "cpu", "process_model", "identity", "recycling", "rapid_fail_protection",
                "process_orphaning"):
    GETTERS[_member] = lambda ctx, p, m=_member: _settings(ctx, p)[m]


def _validate(ctx: Ctx, body: dict[str, Any], pool: ConfigElement | None) -> dict[str, Any]:
    plan: dict[str, Any] = {"attrs": mapping.parse(body, ATTRS), "schedule": _parse_schedule(body)}
    name = body.get("name")
    if isinstance(name, str):
        if not name.strip():
            raise InvalidParameter("name")
        other = ctx.index.pool(name.strip())
        if other is not None and other is not pool:
            raise AlreadyExists("name")
        plan["name"] = name.strip()
    identity = body.get("identity")
    if isinstance(identity, dict) and isinstance(identity.get("password"), str):
        plan["password"] = identity["password"]
    plan["status"] = parse_status(body, ("started", "stopped", "recycling"))
    return plan


def _rename(ctx: Ctx, pool: ConfigElement, new_name: str) -> None:
    """Rename a pool and every application (and the default) that points at it."""
    old = str(pool.get("name"))
    if old == new_name:
        return
    for _site, app in ctx.index.apps_by_pool.get(old.lower(), []):
        app.set("applicationPool", new_name)
    defaults = ctx.store.section(SITES).child("applicationDefaults")
    if str(defaults.get("applicationPool")).lower() == old.lower():
        defaults.set("applicationPool", new_name)
    pool.set("name", new_name)


def _apply(ctx: Ctx, pool: ConfigElement, plan: dict[str, Any]) -> None:
    if "name" in plan:
        _rename(ctx, pool, plan["name"])
    mapping.apply(pool, plan["attrs"])
    if "password" in plan:
        pool.child("processModel").set("password", ctx.secrets.seal(plan["password"]))
    if plan["schedule"] is not None:
        schedule = pool.child("recycling").child("periodicRestart").collection("schedule")
        schedule.clear()
        for at in plan["schedule"]:
            schedule.add({"value": at})


class AppPools(CrudMixin[ConfigElement]):
    """/api/webserver/application-pools."""

    path = POOLS_PATH
    resource = RESOURCE
    list_resource = "Microsoft.WebServer.AppPools"
    list_key = "app_pools"
    ref_fields = REF_FIELDS
    getters = GETTERS
    purpose = Purpose.APP_POOL
    cache_sections = (model_cache.POOLS,)
    live = frozenset({"status"})

    def item_id(self, ctx: Ctx, item: ConfigElement) -> str:
        return pool_id(ctx, str(item.get("name")))

    def find(self, ctx: Ctx, resource_id: str) -> ConfigElement:
        return find_pool(ctx, resource_id)

    def links(self, ctx: Ctx, item: ConfigElement) -> dict[str, str]:
        pid = pool_id(ctx, str(item.get("name")))
        return {
            "self": f"{POOLS_PATH}/{pid}",
            "websites": f"{SITES_PATH}?application_pool.id={pid}",
            "webapps": f"{WEBAPPS_PATH}?application_pool.id={pid}",
            "worker_processes": f"/api/webserver/worker-processes?application_pool.id={pid}",
            "monitoring": f"{POOLS_PATH}/monitoring/{pid}",
        }

    def model(self, ctx: Ctx, item: ConfigElement) -> dict[str, Any]:
        settings = _settings(ctx, item)  # read every setting once rather than once per member
        getters = {**GETTERS, **{k: (lambda ctx, p, v=v: v) for k, v in settings.items()}}
        return render(ctx, item, getters, ctx.fields, GETTERS.keys(), self.links, hal=ctx.hal)

    def select(self, ctx: Ctx, request: web.Request) -> list[ConfigElement]:
        return list(ctx.index.pools)

    def check_create(self, body: dict[str, Any]) -> None:
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            raise InvalidParameter("name")

    def create_item(self, ctx: Ctx, request: web.Request, body: dict[str, Any]) -> ConfigElement:
        plan = _validate(ctx, body, None)
        pool = ctx.store.section(POOLS).collection().add({"name": plan.pop("name")})
        plan.pop("status")  # upstream ignores status on create
        _apply(ctx, pool, plan)
        return pool

    async def update_item(self, ctx: Ctx, item: ConfigElement, body: dict[str, Any]) -> None:
        plan = _validate(ctx, body, item)
        # Upstream changes the runtime state before it saves the configuration.
        await change_pool_status(ctx, str(item.get("name")), plan.pop("status"))
        _apply(ctx, item, plan)


APP_POOLS = AppPools()
(list_app_pools, get_app_pool, create_app_pool, update_app_pool,
 delete_app_pool) = APP_POOLS.handlers("app_pool", "app_pools")
