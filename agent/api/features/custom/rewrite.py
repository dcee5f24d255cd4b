"""URL rewrite: feature links and version, rule sub-lists (conditions, server variables), priority, maps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.api.features.target import Target
from agent.api.mapping import Bool, Choice, Int
from agent.iisconfig import ConfigElement
from shared.errors import InvalidParameter, Locked

ALLOWED = "system.webServer/rewrite/allowedServerVariables"
BASE = "/api/webserver/url-rewrite"
VERSION = "7.2.1993"
"""The URL Rewrite module version this host's RewriteModule mirrors (upstream reads the installed DLL's)."""
MATCH_TYPE = Choice((("pattern", "Pattern"), ("is_file", "IsFile"), ("is_directory", "IsDirectory")))
# Action members upstream shows only for some action types.
ONLY_FOR = {"redirect_type": ("redirect",), "status_code": ("custom_response",),
            "sub_status_code": ("custom_response",), "reason": ("custom_response",),
            "description": ("custom_response",)}  # fmt: skip


def feature_read(_target: Target) -> dict[str, Any]:
    """`version` of the installed module."""
    return {"version": VERSION}


def feature_links(target: Target, fid: str) -> dict[str, str]:
    """One link per section resource (all share the feature's id); `global` only at server level."""
    routes = {"allowed_server_variables": "allowed-server-variables", "inbound": "inbound", "outbound": "outbound",
              "providers": "providers", "rewrite_maps": "rewrite-maps"}  # fmt: skip
    if target.site is None:
        routes["global"] = "global"
    return {"self": f"{BASE}/{fid}", **{name: f"{BASE}/{route}/{fid}" for name, route in routes.items()}}


def variables_read(target: Target) -> dict[str, Any]:
    """`entries`: the allowed server variable names."""
    return {"entries": [str(e.get("name")) for e in target.effective().collection()]}


def variables_write(target: Target, body: dict[str, Any]) -> Callable[[], None] | None:
    """`entries` replaces the level's whole list."""
    raw = body.get("entries")
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InvalidParameter("entries")
    if not all(isinstance(name, str) and name for name in raw):
        raise InvalidParameter("entries.item")

    def write() -> None:
        collection = target.local().collection()
        collection.clear()
        for name in dict.fromkeys(raw):
            collection.add(name=name)

    return write


def rule_create(_target: Target, attrs: dict[str, Any]) -> dict[str, Any]:
    """A new rule needs action.url (non-empty for rewrite/redirect); the API's default action is rewrite."""
    attrs.setdefault("action/type", "Rewrite")
    if "action/url" not in attrs or (not attrs["action/url"] and attrs["action/type"] in ("Rewrite", "Redirect")):
        raise InvalidParameter("action.url")
    if not attrs.get("match/url"):
        raise InvalidParameter("pattern")
    return attrs


def _priority(entry: ConfigElement) -> int:
    node = entry.element
    parent = node.getparent() if node is not None else None
    if node is None or parent is None:
        return 0
    return [child for child in parent if child.tag == node.tag].index(node)


def _conditions(entry: ConfigElement) -> list[dict[str, Any]]:
    return [{"input": str(c.get("input")), "pattern": str(c.get("pattern") or ""), "negate": bool(c.get("negate")),
             "ignore_case": bool(c.get("ignoreCase")), "match_type": MATCH_TYPE.to_json(c.get("matchType"))}
            for c in entry.collection("conditions")]  # fmt: skip


def rule_read(_target: Target, entry: ConfigElement) -> dict[str, Any]:
    """`priority`, `conditions`, `server_variables`, and `action` without the members its type does not use."""
    action = entry.child("action")
    kind = {"None": "none", "Rewrite": "rewrite", "Redirect": "redirect", "CustomResponse": "custom_response",
            "AbortRequest": "abort_request"}.get(str(action.get("type")), "none")  # fmt: skip
    out: dict[str, Any] = {"type": kind, "url": str(action.get("url") or ""),
                           "append_query_string": bool(action.get("appendQueryString")),
                           "log_rewritten_url": bool(action.get("logRewrittenUrl"))}  # fmt: skip
    extra = {"redirect_type": str(action.get("redirectType")).lower(), "status_code": int(action.get("statusCode")),
             "sub_status_code": int(action.get("subStatusCode")), "reason": str(action.get("statusReason") or ""),
             "description": str(action.get("statusDescription") or "")}  # fmt: skip
    out.update({name: value for name, value in extra.items() if kind in ONLY_FOR[name]})
    variables = [{"name": str(v.get("name")), "value": str(v.get("value") or ""), "replace": bool(v.get("replace"))}
                 for v in entry.collection("serverVariables")]  # fmt: skip
    return {"priority": _priority(entry), "action": out, "conditions": _conditions(entry),
            "server_variables": variables}  # fmt: skip


def _items(body: dict[str, Any], name: str, required: tuple[str, ...]) -> list[dict[str, Any]] | None:
    raw = body.get(name)
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InvalidParameter(name)
    for item in raw:
        if not isinstance(item, dict) or any(not isinstance(item.get(k), str) or not item[k] for k in required):
            raise InvalidParameter(f"{name}.item")
    return raw


def _parse_conditions(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"input": c["input"], "pattern": str(c.get("pattern") or ""),
             "matchType": MATCH_TYPE.from_json(c["match_type"], "conditions.match_type"),
             "negate": Bool().from_json(c.get("negate", False), "conditions.negate"),
             "ignoreCase": Bool().from_json(c.get("ignore_case", True), "conditions.ignore_case")}
            for c in raw]  # fmt: skip


def _move(entry: ConfigElement, priority: int) -> None:
    """Place the rule at `priority` among its level's rules (clamped to the last position)."""
    entry.move_to(priority)


def rule_write(target: Target, body: dict[str, Any], create: bool, *, allow_variables: bool = True,
               ) -> Callable[[ConfigElement], None] | None:  # fmt: skip
    """Validate priority, conditions and server variables; the write replaces each list given."""
    priority = Int(0, 2147483647).from_json(body["priority"], "priority") if body.get("priority") is not None else None
    raw = _items(body, "conditions", ("input", "match_type"))
    conditions = _parse_conditions(raw) if raw is not None else None
    if conditions is not None and not allow_variables:  # global rules store every condition as a pattern
        conditions = [{**c, "matchType": "Pattern"} for c in conditions]
    variables = _items(body, "server_variables", ("name", "value"))
    if variables and len({v["name"].lower() for v in variables}) != len(variables):
        raise InvalidParameter("server_variables.item", "A server variable is set twice.")
    missing = _not_allowed(target, variables) if variables and allow_variables else []
    if missing and target.is_locked(ALLOWED):
        raise Locked(name=ALLOWED)  # only a name the level must add needs the (by default denied) section
    if priority is None and conditions is None and variables is None:
        return None

    def write(entry: ConfigElement) -> None:
        if conditions is not None:
            _replace(entry.collection("conditions"), conditions)
        if variables is not None:
            _replace(entry.collection("serverVariables"), [
                {"name": v["name"], "value": v["value"],
                 "replace": Bool().from_json(v.get("replace", False), "server_variables.replace")}
                for v in variables])  # fmt: skip
            if missing:
                allowed = target.local(ALLOWED).collection()
                for name in _not_allowed(target, variables):
                    allowed.add(name=name)
        if priority is not None:
            _move(entry, priority)

    return write


def _not_allowed(target: Target, variables: list[dict[str, Any]]) -> list[str]:
    """Names the effective allowedServerVariables at the target lacks (inherited entries count; any case)."""
    allowed = {str(e.get("name")).lower() for e in target.effective(ALLOWED).collection()}
    missing = {v["name"].lower(): v["name"] for v in reversed(variables) if v["name"].lower() not in allowed}
    return list(reversed(missing.values()))


def global_rule_write(target: Target, body: dict[str, Any], create: bool) -> Callable[[ConfigElement], None] | None:
    """Global rules: no allow-list side effect, conditions stored as patterns."""
    return rule_write(target, body, create, allow_variables=False)


def _replace(collection: Any, items: list[dict[str, Any]]) -> None:
    for old in list(collection):
        collection.remove(old)
    for item in items:
        collection.add(item)


def _pairs_read(member: str, holder: str | None) -> Callable[[Target, ConfigElement], dict[str, Any]]:
    def read(_target: Target, entry: ConfigElement) -> dict[str, Any]:
        return {member: [{"name": str(p.get("key")), "value": str(p.get("value") or "")}
                         for p in entry.collection(holder)]}  # fmt: skip

    return read


def _pairs_write(member: str, holder: str | None) -> Callable[..., Callable[[ConfigElement], None] | None]:
    def write(_target: Target, body: dict[str, Any], _create: bool) -> Callable[[ConfigElement], None] | None:
        items = _items(body, member, ("name", "value"))
        if items is None:
            return None
        pairs = [{"key": item["name"], "value": item["value"]} for item in items]
        return lambda entry: _replace(entry.collection(holder), pairs)

    return write


map_read, map_write = _pairs_read("mappings", None), _pairs_write("mappings", None)
provider_read, provider_write = _pairs_read("settings", "settings"), _pairs_write("settings", "settings")
