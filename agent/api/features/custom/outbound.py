"""URL rewrite outbound: rules (match type, tag filters, precondition), preconditions and custom tag sets.

The three lists live in system.webServer/rewrite/outboundRules: rules in the section's own collection,
`<preConditions>` and `<customTags>` as child lists. A rule points at a precondition and a custom tag set by
name; the API shows those as references and takes them as `{id}` (404 when the name is not defined here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.api.features.custom.rewrite import _move, _priority, _replace
from agent.api.features.target import Target
from agent.api.mapping import Bool, Choice, Int
from agent.ids import Purpose
from agent.iisconfig import ConfigCollection, ConfigElement
from shared.errors import InvalidParameter, NotFound

OUTBOUND = "/api/webserver/url-rewrite/outbound"
MATCH_TYPE = Choice((("response", "response"), ("server_variable", "server_variable")))
# JSON member -> filterByTags flag name, in upstream's order; CustomTags is set through `custom`.
TAGS = (("a", "A"), ("area", "Area"), ("base", "Base"), ("form", "Form"), ("frame", "Frame"), ("head", "Head"),
        ("iframe", "IFrame"), ("img", "Img"), ("input", "Input"), ("link", "Link"), ("script", "Script"))  # fmt: skip
Write = Callable[[ConfigElement], None]


def _ref(target: Target, purpose: Purpose, route: str, name: str) -> dict[str, Any]:
    """`{name, id, _links.self}` of a precondition or custom tag set at the target's level."""
    entry_id = target.ctx.codec.encode(purpose, f"{target.path}\n{target.site_key}\n{name}")
    out: dict[str, Any] = {"name": name, "id": entry_id}
    if target.ctx.hal:
        out["_links"] = {"self": {"href": f"{OUTBOUND}/{route}/{entry_id}"}}
    return out


def _named(target: Target, holder: str, name: str) -> ConfigElement | None:
    """The effective precondition / tag set called `name` (case-insensitive), if defined."""
    wanted = name.lower()
    collection = target.effective().child(holder).collection()
    return next((e for e in collection if str(e.get("name")).lower() == wanted), None)


def _lookup(target: Target, body: Any, member: str, purpose: Purpose, holder: str, missing: str) -> str:
    """The name behind `{id}` in `member`; 400 for a malformed reference, 404 when not defined here."""
    if not isinstance(body, dict):
        raise InvalidParameter(member, "Expected object")
    raw = body.get("id")
    if not isinstance(raw, str) or not raw:
        raise InvalidParameter(f"{member}.id")
    name = target.ctx.codec.decode_parts(purpose, raw, 3)[2]
    found = _named(target, holder, name)
    if found is None:
        raise NotFound(name=missing)
    return str(found.get("name"))


def _conditions(entry: ConfigCollection) -> list[dict[str, Any]]:
    return [{"input": str(c.get("input")), "pattern": str(c.get("pattern") or ""), "negate": bool(c.get("negate")),
             "ignore_case": bool(c.get("ignoreCase"))} for c in entry]  # fmt: skip


def _parse_conditions(raw: Any, name: str) -> list[dict[str, Any]] | None:
    """Outbound conditions and precondition requirements: input required; always stored as Pattern matches."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InvalidParameter(name, "Expected array")
    out = []
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidParameter(f"{name}.item")
        if not isinstance(item.get("input"), str) or not item["input"]:
            raise InvalidParameter(f"{name}.item.input", "Required")
        out.append({"input": item["input"], "pattern": str(item.get("pattern") or ""), "matchType": "Pattern",
                    "negate": Bool().from_json(item.get("negate", False), f"{name}.item.negate"),
                    "ignoreCase": Bool().from_json(item.get("ignore_case", False), f"{name}.item.ignore_case")})
    return out


def rule_create(_target: Target, attrs: dict[str, Any]) -> dict[str, Any]:
    """New outbound rules rewrite (enabled) unless told otherwise, as upstream's API default."""
    attrs.setdefault("action/type", "Rewrite")
    return attrs


def rule_read(target: Target, entry: ConfigElement) -> dict[str, Any]:
    """priority, precondition, match_type with its members, enabled, conditions."""
    match, action = entry.child("match"), entry.child("action")
    variable = str(match.get("serverVariable") or "")
    out: dict[str, Any] = {"priority": _priority(entry)}
    pre = _named(target, "preConditions", str(entry.get("preCondition") or "")) if entry.get("preCondition") else None
    out["precondition"] = _ref(target, Purpose.REWRITE_PRECONDITION, "preconditions", str(pre.get("name"))) \
        if pre is not None else None  # fmt: skip
    out["match_type"] = "server_variable" if variable else "response"
    if variable:
        out["server_variable"] = variable
        out["replace_server_variable"] = bool(action.get("replace"))
    else:
        present = {p.strip().lower() for p in str(match.get("filterByTags") or "").split(",")}
        tags: dict[str, Any] = {key: flag.lower() in present for key, flag in TAGS}
        custom = _named(target, "customTags", str(match.get("customTags") or "")) if "customtags" in present else None
        tags["custom"] = _ref(target, Purpose.REWRITE_CUSTOM_TAGS, "custom_tags", str(custom.get("name"))) \
            if custom is not None else None  # fmt: skip
        out["tag_filters"] = tags
    out["enabled"] = str(action.get("type")) == "Rewrite"
    out["conditions"] = _conditions(entry.collection("conditions"))
    return out


def _tag_filters(target: Target, raw: Any) -> tuple[dict[str, bool], str | None] | None:
    """Validated `tag_filters`: flag changes and the custom tag set's name (None = cleared)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidParameter("tag_filters", "Expected object")
    flags = {flag: Bool().from_json(raw[key], f"tag_filters.{key}") for key, flag in TAGS if raw.get(key) is not None}
    custom = raw.get("custom")
    name = None if custom is None else _lookup(target, custom, "tags.custom", Purpose.REWRITE_CUSTOM_TAGS,
                                               "customTags", "tags.custom")  # fmt: skip
    return flags, name


def _apply_tags(entry: ConfigElement, flags: dict[str, bool], custom: str | None) -> None:
    match = entry.child("match")
    present = {p.strip() for p in str(match.get("filterByTags") or "").split(",") if p.strip()}
    present = {p for p in present if p.lower() not in ("none", "customtags")}
    present = {p for p in present if not any(p.lower() == f.lower() for f in flags)}
    present |= {flag for flag, on in flags.items() if on}
    if custom is not None:
        present.add("CustomTags")
        match.set("customTags", custom)
    else:
        match.unset("customTags")
    match.set("filterByTags", ",".join(sorted(present)) or "None")


def rule_write(target: Target, body: dict[str, Any], create: bool) -> Write | None:
    """Everything of an outbound rule the attribute rows cannot say, validated before the write."""
    priority = Int(0, 2147483647).from_json(body["priority"], "priority") if body.get("priority") is not None else None
    enabled = Bool().from_json(body["enabled"], "enabled") if body.get("enabled") is not None else None
    variable = body.get("server_variable") if isinstance(body.get("server_variable"), str) else None
    replace = Bool().from_json(body["replace_server_variable"], "replace_server_variable") \
        if body.get("replace_server_variable") is not None else None  # fmt: skip
    tags = _tag_filters(target, body.get("tag_filters"))
    pre = None if body.get("precondition") is None else _lookup(
        target, body["precondition"], "precondition", Purpose.REWRITE_PRECONDITION, "preConditions", "precondition.id")
    conditions = _parse_conditions(body.get("conditions"), "conditions")
    kind = MATCH_TYPE.from_json(body["match_type"], "match_type") if body.get("match_type") not in (None, "") else None

    def write(entry: ConfigElement) -> None:
        match, action = entry.child("match"), entry.child("action")
        if enabled is not None:
            action.set("type", "Rewrite" if enabled else "None")
        if variable is not None:
            match.set("serverVariable", variable)
        if replace is not None:
            action.set("replace", replace)
        if tags is not None:
            _apply_tags(entry, *tags)
        if pre is not None:
            entry.set("preCondition", pre)
        if conditions is not None:
            _replace(entry.collection("conditions"), conditions)
        if (kind or ("server_variable" if match.get("serverVariable") else "response")) == "response":
            match.unset("serverVariable")
        else:
            match.set("filterByTags", "None")
            match.unset("customTags")
        if priority is not None:
            _move(entry, priority)

    return write


def precondition_read(_target: Target, entry: ConfigElement) -> dict[str, Any]:
    """`requirements`: the precondition's conditions."""
    return {"requirements": _conditions(entry.collection())}


def precondition_write(_target: Target, body: dict[str, Any], _create: bool) -> Write | None:
    """`requirements` replaces the whole list."""
    requirements = _parse_conditions(body.get("requirements"), "requirements")
    if requirements is None:
        return None
    return lambda entry: _replace(entry.collection(), requirements)


def tags_read(_target: Target, entry: ConfigElement) -> dict[str, Any]:
    """`tags`: the set's `{name, attribute}` pairs."""
    return {"tags": [{"name": str(t.get("name")), "attribute": str(t.get("attribute"))} for t in entry.collection()]}


def tags_write(_target: Target, body: dict[str, Any], _create: bool) -> Write | None:
    """`tags` replaces the whole set; each needs a non-empty name and attribute."""
    raw = body.get("tags")
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InvalidParameter("tags", "Expected array")
    tags = []
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidParameter("tags.item")
        for member in ("name", "attribute"):
            if not isinstance(item.get(member), str) or not item[member]:
                raise InvalidParameter(f"tags.item.{member}", "Required")
        tags.append({"name": item["name"], "attribute": item["attribute"]})
    return lambda entry: _replace(entry.collection(), tags)

