"""Request tracing providers (system.webServer/tracing/traceProviderDefinitions) and a trace rule's `traces`.

A provider is `<add name guid>` with `<areas><add name value/></areas>`; the API shows the areas as names and
numbers them 1, 2, 4, ... in the order given. A trace rule's `traces` name a provider by reference and pick
some of its areas; the rule stores the picked names as a comma list.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from agent.api.features.custom.rewrite import _replace as replace_entries
from agent.api.features.target import Target
from agent.api.mapping import Enum
from agent.ids import Purpose
from agent.iisconfig import ConfigElement, ConfigStore
from shared.errors import AlreadyExists, InvalidParameter, NotFound

PROVIDERS = "system.webServer/tracing/traceProviderDefinitions"
PATH = "/api/webserver/http-request-tracing/providers"
VERBOSITY = Enum(("General", "CriticalError", "Error", "Warning", "Information", "Verbose"), lower=True)
Write = Callable[[ConfigElement], None]


def _guid(value: Any) -> str:
    """`{lower-case guid}` as IIS stores it; 400 `guid` when it does not parse."""
    try:
        return "{" + str(uuid.UUID(str(value).strip().strip("{}"))) + "}"
    except ValueError as err:
        raise InvalidParameter("guid") from err


def provider_read(_target: Target, entry: ConfigElement) -> dict[str, Any]:
    """`guid` in braces, lower case; `areas` as names in configuration order."""
    raw = str(entry.get("guid") or "")
    try:
        guid = _guid(raw)
    except InvalidParameter:
        guid = raw
    return {"guid": guid, "areas": [str(a.get("name")) for a in entry.collection("areas")]}


def provider_write(target: Target, body: dict[str, Any], create: bool) -> Write | None:
    """Validate `guid` and `areas`; the write refuses a guid another provider has (409 `guid`)."""
    guid = _guid(body["guid"]) if body.get("guid") is not None else None
    areas = body.get("areas")
    if areas is not None and (not isinstance(areas, list) or not all(isinstance(a, str) for a in areas)):
        raise InvalidParameter("areas", "Expected array")
    if guid is None and areas is None:
        return None
    collection = target.effective(PROVIDERS).collection()

    def write(entry: ConfigElement) -> None:
        if guid is not None:
            mine = str(entry.get("name")).lower()
            if any(_same(other.get("guid"), guid) and str(other.get("name")).lower() != mine for other in collection):
                raise AlreadyExists("guid")
            entry.set("guid", guid)
        if areas is not None:
            numbered = [{"name": name, "value": 1 << bit} for bit, name in enumerate(dict.fromkeys(areas))]
            replace_entries(entry.collection("areas"), numbered)

    return write


def _same(stored: Any, guid: str) -> bool:
    try:
        return _guid(stored) == guid
    except InvalidParameter:
        return False


def _provider_ref(target: Target, name: str) -> dict[str, Any]:
    provider_id = target.ctx.codec.encode(Purpose.TRACE_PROVIDER, f"{name}\n{target.path}\n{target.site_key}")
    out: dict[str, Any] = {"name": name, "id": provider_id}
    if target.ctx.hal:
        out["_links"] = {"self": {"href": f"{PATH}/{provider_id}"}}
    return out


def _provider(target: Target, name: str) -> ConfigElement | None:
    return target.effective(PROVIDERS).collection().find(name=name)


def traces_read(target: Target, entry: ConfigElement) -> list[dict[str, Any]]:
    """Each trace area: every area of its provider with whether the rule traces it, the provider, verbosity."""
    out = []
    for trace in entry.collection("traceAreas"):
        name = str(trace.get("provider"))
        picked = {a.strip().lower() for a in str(trace.get("areas") or "").split(",") if a.strip()}
        provider = _provider(target, name)
        known = [str(a.get("name")) for a in provider.collection("areas")] if provider is not None else []
        areas = {area: area.lower() in picked for area in known}
        areas.update({a: True for a in picked if a not in {k.lower() for k in known}})  # areas the provider lost
        out.append({"allowed_areas": areas, "provider": _provider_ref(target, name),
                    "verbosity": VERBOSITY.to_json(trace.get("verbosity"))})  # fmt: skip
    return out


def traces_write(target: Target, raw: Any) -> list[dict[str, Any]] | None:
    """Validate `traces`: provider by reference (404 `traces.item.provider`), areas of that provider only."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InvalidParameter("traces", "Expected array")
    rows = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("provider"), dict):
            raise InvalidParameter("traces.item")
        ref = item["provider"].get("id")
        if not isinstance(ref, str) or not ref:
            raise InvalidParameter("traces.item.provider.id")
        provider = _provider(target, target.ctx.codec.decode_parts(Purpose.TRACE_PROVIDER, ref, 3)[0])
        if provider is None:
            raise NotFound(name="traces.item.provider")
        known = {str(a.get("name")).lower(): str(a.get("name")) for a in provider.collection("areas")}
        allowed = item.get("allowed_areas") or {}
        if not isinstance(allowed, dict):
            raise InvalidParameter("traces.item.allowed_areas", "Expected object")
        picked = []
        for area, on in allowed.items():
            if area.lower() not in known or not isinstance(on, bool):
                raise InvalidParameter("traces.item.allowed_areas", f"Unknown area or value: {area}")
            if on:
                picked.append(known[area.lower()])
        verbosity = VERBOSITY.from_json(item.get("verbosity", "warning"), "traces.item.verbosity")
        rows.append({"provider": str(provider.get("name")), "areas": ",".join(picked), "verbosity": verbosity})
    return rows


# What installing IIS-HttpTracing writes to traceProviderDefinitions (names, guids and area bits of stock IIS).
STOCK = (
    ("WWW Server", "{3a2a4e84-4c21-4981-ae10-3fda0d9b0f83}", (
        ("Authentication", 2), ("Security", 4), ("Filter", 8), ("StaticFile", 16), ("CGI", 32), ("Compression", 64),
        ("Cache", 128), ("RequestNotifications", 256), ("Module", 512), ("Rewrite", 1024), ("FastCGI", 4096),
        ("WebSocket", 16384))),
    ("ASP", "{06b94d9a-b15e-456e-a4ef-37c984a2cb4b}", ()),
    ("ISAPI Extension", "{a1c2040e-8840-4c31-ba11-9871031a19ea}", ()),
    ("ASPNET", "{AFF081FE-0247-4275-9C4E-021F3DC1DA35}", (
        ("Infrastructure", 1), ("Module", 2), ("Page", 4), ("AppServices", 8))),
)  # fmt: skip


def install_stock_providers(store: ConfigStore) -> None:
    """Add the stock providers a server-level list lacks (a reinstall keeps providers the user added)."""
    providers = store.section(PROVIDERS).collection()
    for name, guid, areas in STOCK:
        if providers.find(name=name) is None:
            entry = providers.add({"name": name, "guid": guid})
            for area, value in areas:
                entry.collection("areas").add({"name": area, "value": value})
