"""URL Rewrite's outbound rules (system.webServer/rewrite/outboundRules), run by RewriteModule at SendResponse.

A rule with match serverVariable="RESPONSE_X_Y" rewrites the response header X-Y; any other rule rewrites the
body: with filterByTags / customTags, the values of the tags' URL attributes (A href, Img src, ...); without,
every match in the text. A preCondition (named in the section's preConditions, typically
{RESPONSE_CONTENT_TYPE} ^text/html) must hold first, and the rule's conditions as for inbound rules. Patterns
use the same syntaxes as inbound rules (ECMAScript, Wildcard, ExactMatch); {R:n} and {C:n} expand in the
value. Bodies are rewritten when they are text in memory or a static file up to MAX_BODY bytes (the static
answer then leaves as an in-memory one); compressed or larger bodies pass unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agent.hosting.embedded.worker.context import HttpContext, carried_headers
from agent.hosting.embedded.worker.modules import url_rewrite as inbound
from agent.hosting.embedded.worker.modules.static_file import StaticFileResponse
from agent.hosting.embedded.worker.response import Response, StreamResponse

SECTION = "system.webServer/rewrite/outboundRules"
MAX_BODY = 4 * 1024 * 1024
# filterByTags flag → (tag, attributes holding URLs), as URL Rewrite defines them.
TAGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "A": ("a", ("href",)), "Area": ("area", ("href",)), "Base": ("base", ("href",)), "Form": ("form", ("action",)),
    "Frame": ("frame", ("src", "longdesc")), "Head": ("head", ("profile",)), "IFrame": ("iframe", ("src", "longdesc")),
    "Img": ("img", ("src", "longdesc", "usemap")), "Input": ("input", ("src", "usemap")), "Link": ("link", ("href",)),
    "Script": ("script", ("src",)),
}  # fmt: skip
_TAG = re.compile(r"<([A-Za-z][A-Za-z0-9:-]*)(\s[^<>]*?)?(/?)>")
_ATTR = re.compile(r"""(\s)([^\s=/>]+)(\s*=\s*)("[^"]*"|'[^']*'|[^\s"'>]+)""")


@dataclass(frozen=True, slots=True)
class OutboundRule:
    """One enabled outbound rule."""

    name: str
    precondition: tuple[tuple[inbound.Condition, ...], bool] | None
    header: str  # the response header a RESPONSE_* server variable names ("" = the body)
    tags: dict[str, frozenset[str]]  # tag → attributes ({} = the whole body)
    regex: re.Pattern[str]
    negate: bool
    conditions: tuple[inbound.Condition, ...]
    match_any: bool
    rewrite: bool
    value: str
    stop: bool


def _conditions(items: Any, syntax: str) -> tuple[inbound.Condition, ...]:
    return tuple(
        inbound.Condition(str(c.get("input")), "Pattern",
                          inbound._compile(str(c.get("pattern") or ""), syntax, bool(c.get("ignoreCase"))),
                          bool(c.get("negate")))
        for c in items
    )  # fmt: skip


def _tag_map(match: Any, custom: dict[str, list[tuple[str, str]]]) -> dict[str, frozenset[str]]:
    flags = {f.strip() for f in str(match.get("filterByTags") or "None").split(",")} - {"None", ""}
    found: dict[str, set[str]] = {}
    for flag in flags:
        if flag in TAGS:
            tag, attrs = TAGS[flag]
            found.setdefault(tag, set()).update(attrs)
    if "CustomTags" in flags:
        for tag, attr in custom.get(str(match.get("customTags") or ""), []):
            found.setdefault(tag.lower(), set()).add(attr.lower())
    return {tag: frozenset(attrs) for tag, attrs in found.items()}


def load(section: Any) -> tuple[OutboundRule, ...]:
    """The enabled outbound rules with their preconditions and tag sets resolved; bad patterns are skipped."""
    pre = {}
    for item in section.child("preConditions").collection():
        try:
            pre[str(item.get("name"))] = (_conditions(item.collection(), str(item.get("patternSyntax"))),
                                          str(item.get("logicalGrouping")) == "MatchAny")  # fmt: skip
        except re.error:
            continue
    custom = {str(t.get("name")): [(str(x.get("name")), str(x.get("attribute"))) for x in t.collection()]
              for t in section.child("customTags").collection()}  # fmt: skip
    rules = []
    for element in section.collection():
        if element.get("enabled") is False:
            continue
        syntax, match, action = str(element.get("patternSyntax")), element.child("match"), element.child("action")
        conditions = element.child("conditions")
        variable = str(match.get("serverVariable") or "").upper()
        try:
            rules.append(OutboundRule(
                name=str(element.get("name")), precondition=pre.get(str(element.get("preCondition") or "")),
                header=variable.removeprefix("RESPONSE_").replace("_", "-") if variable else "",
                tags={} if variable else _tag_map(match, custom),
                regex=inbound._compile(str(match.get("pattern") or ""), syntax, bool(match.get("ignoreCase"))),
                negate=bool(match.get("negate")), conditions=_conditions(conditions.collection(), syntax),
                match_any=str(conditions.get("logicalGrouping")) == "MatchAny",
                rewrite=str(action.get("type")) == "Rewrite", value=str(action.get("value") or ""),
                stop=bool(element.get("stopProcessing")),
            ))  # fmt: skip
        except re.error:
            continue
    return tuple(rules)


class _Response(inbound._Request):
    """Inbound variables plus RESPONSE_<header> of the response being sent."""

    def __init__(self, ctx: HttpContext, response: StreamResponse) -> None:
        super().__init__(ctx)
        self.response = response

    def variable(self, name: str) -> str:
        upper = name.upper()
        if upper.startswith("RESPONSE_"):
            header = upper[9:].replace("_", "-")
            return str(self.response.status) if header == "STATUS" else self.response.headers.get(header, "")
        return super().variable(name)


def _replace(rule: OutboundRule, state: _Response, value: str) -> str | None:
    """The rewritten value, None when the rule does not apply to it."""
    found = rule.regex.search(value)
    if (found is not None) == rule.negate:
        return None
    state.rule, state.cond = (inbound._groups(found) if found is not None else ()), ()
    if not inbound.conditions_hold(rule.conditions, rule.match_any, state):
        return None
    return state.expand(rule.value)


def _body_text(rule: OutboundRule, state: _Response, text: str) -> str:
    if not rule.tags:

        def whole(match: re.Match[str]) -> str:
            state.rule, state.cond = inbound._groups(match), ()
            if not inbound.conditions_hold(rule.conditions, rule.match_any, state):
                return match.group(0)
            return state.expand(rule.value)

        return text if rule.negate else rule.regex.sub(whole, text)

    def tag(match: re.Match[str]) -> str:
        attrs = rule.tags.get(match.group(1).lower())
        if attrs is None or not match.group(2):
            return match.group(0)

        def attr(found: re.Match[str]) -> str:
            if found.group(2).lower() not in attrs:
                return found.group(0)
            raw = found.group(4)
            quote = raw[0] if raw[:1] in ('"', "'") else ""
            new = _replace(rule, state, raw[1:-1] if quote else raw)
            if new is None:
                return found.group(0)
            return f"{found.group(1)}{found.group(2)}{found.group(3)}{quote or chr(34)}{new}{quote or chr(34)}"

        return f"<{match.group(1)}{_ATTR.sub(attr, match.group(2))}{match.group(3)}>"

    return _TAG.sub(tag, text)


def _body(ctx: HttpContext, response: StreamResponse) -> tuple[str, str] | None:
    """(text, charset) of a rewritable body; None when it is not text we hold or can read."""
    if "Content-Encoding" in response.headers or not (response.content_type or "").startswith("text/"):
        return None
    charset = response.charset or "utf-8"
    if isinstance(response, StaticFileResponse):
        st = ctx.stat()
        if st is None or st.st_size > MAX_BODY or ctx.physical_path is None:
            return None
        with open(ctx.physical_path, "rb") as handle:
            data = handle.read(MAX_BODY + 1)
    elif isinstance(response, Response) and isinstance(response.body, bytes):
        data = response.body
    else:
        return None
    try:
        return data.decode(charset), charset
    except (UnicodeDecodeError, LookupError):
        return None


def apply(ctx: HttpContext) -> None:
    """Run the outbound rules on ctx.response (RewriteModule.send_response)."""
    response = ctx.response
    if response is None:
        return
    rules = ctx.settings(SECTION, load)
    if not rules:
        return
    state = _Response(ctx, response)
    text: str | None = None
    charset = "utf-8"
    for rule in rules:
        if rule.precondition is not None and not inbound.conditions_hold(*rule.precondition, state):
            continue
        if rule.header:
            new = _replace(rule, state, response.headers.get(rule.header, ""))
            if new is not None and rule.rewrite:
                response.headers[rule.header] = new
        elif rule.rewrite:
            if text is None:
                body = _body(ctx, response)
                if body is None:
                    continue
                text, charset = body
            text = _body_text(rule, state, text)
        if rule.stop:
            break
    if text is not None:
        headers = carried_headers(response, "content-type")
        data = b"" if ctx.request.method == "HEAD" else text.encode(charset)
        ctx.response = Response(status=response.status, body=data, headers=headers)


class RewriteModule(inbound.RewriteModule):
    """IIS's one RewriteModule: inbound rules at BeginRequest, outbound rules at SendResponse."""

    def idle(self, ctx: HttpContext) -> bool:
        """No inbound or outbound rule in effect at the path."""
        return not ctx.settings(SECTION, load) and not any(ctx.settings(s, inbound.load) for s in inbound.SECTIONS)

    def send_response(self, ctx: HttpContext) -> None:
        """Apply the outbound rules."""
        apply(ctx)
