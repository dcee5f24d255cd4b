"""RewriteModule: URL Rewrite's inbound rules (system.webServer/rewrite/globalRules, then rules) at BeginRequest.

Rules match the URL path without its leading slash (as site-level rules do; rules in a sub-directory's
web.config are matched against the same site-relative path here, not the directory-relative one).
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from agent.hosting.embedded.urlmap import map_path, match_app, normalize_url_path
from agent.hosting.embedded.worker.context import HttpContext
from agent.hosting.embedded.worker.response import Response

SECTIONS = ("system.webServer/rewrite/globalRules", "system.webServer/rewrite/rules")
REDIRECT_STATUS = {"Permanent": 301, "Found": 302, "SeeOther": 303, "Temporary": 307}
_VAR = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True, slots=True)
class Condition:
    """One <conditions><add>: an input expanded per request, tested by pattern or file system."""

    input: str
    match_type: str
    regex: re.Pattern[str] | None
    negate: bool


@dataclass(frozen=True, slots=True)
class Rule:
    """One enabled inbound rule."""

    name: str
    regex: re.Pattern[str]
    negate: bool
    conditions: tuple[Condition, ...]
    match_any: bool
    action: str
    url: str
    append_query: bool
    redirect: int
    status: int
    substatus: int
    reason: str
    description: str
    stop: bool


def _compile(pattern: str, syntax: str, ignore_case: bool) -> re.Pattern[str]:
    """ECMAScript -> re (search anywhere); Wildcard -> anchored, each * a group; ExactMatch -> anchored literal."""
    flags = re.IGNORECASE if ignore_case else 0
    if syntax == "Wildcard":
        return re.compile(fnmatch.translate(pattern).replace(".*", "(.*)"), flags)
    if syntax == "ExactMatch":
        return re.compile("^" + re.escape(pattern) + "$", flags)
    return re.compile(pattern, flags)


def _rule(element: Any) -> Rule:
    syntax, match, action = str(element.get("patternSyntax")), element.child("match"), element.child("action")
    conditions = element.child("conditions")
    return Rule(
        name=str(element.get("name")),
        regex=_compile(str(match.get("url") or ""), syntax, bool(match.get("ignoreCase"))),
        negate=bool(match.get("negate")),
        conditions=tuple(
            Condition(str(c.get("input")), str(c.get("matchType")),
                      _compile(str(c.get("pattern") or ""), syntax, bool(c.get("ignoreCase")))
                      if str(c.get("matchType")) == "Pattern" else None, bool(c.get("negate")))
            for c in conditions.collection()),
        match_any=str(conditions.get("logicalGrouping")) == "MatchAny",
        action=str(action.get("type")), url=str(action.get("url") or ""),
        append_query=bool(action.get("appendQueryString")),
        redirect=REDIRECT_STATUS.get(str(action.get("redirectType")), 301),
        status=int(action.get("statusCode")), substatus=int(action.get("subStatusCode")),
        reason=str(action.get("statusReason") or ""), description=str(action.get("statusDescription") or ""),
        stop=bool(element.get("stopProcessing")),
    )  # fmt: skip


def load(section: Any) -> tuple[Rule, ...]:
    """The enabled rules of one effective section; a rule whose pattern does not compile is skipped."""
    rules = []
    for element in section.collection():
        if element.get("enabled") is False:
            continue
        try:
            rules.append(_rule(element))
        except re.error:
            continue  # IIS refuses to load such a rule too; the others still apply
    return tuple(rules)


class _Request:
    """The variables and captures rules expand, for the URL as rewritten so far."""

    def __init__(self, ctx: HttpContext) -> None:
        self.ctx = ctx
        self.rule: tuple[str, ...] = ()
        self.cond: tuple[str, ...] = ()

    def variable(self, name: str) -> str:
        ctx, upper = self.ctx, name.upper()
        if upper.startswith("R:") or upper.startswith("C:"):
            groups = self.rule if upper[0] == "R" else self.cond
            index = int(upper[2:]) if upper[2:].isdigit() else -1
            return groups[index] if 0 <= index < len(groups) else ""
        query = ctx.items.get("rewrite_query", ctx.request.query_string)
        fixed = {"HTTP_HOST": ctx.request.host, "QUERY_STRING": query,
                 "REQUEST_FILENAME": ctx.physical_path or "", "URL": ctx.url_path, "REQUEST_METHOD": ctx.request.method,
                 "REQUEST_URI": ctx.request.path_qs, "HTTPS": "on" if ctx.request.secure else "off"}  # fmt: skip
        if upper in fixed:
            if upper == "REQUEST_METHOD":
                ctx.kernel_cacheable = False  # a cached GET answers HEAD too
            return str(fixed[upper])
        if upper.startswith("HTTP_"):
            ctx.kernel_cacheable = False  # the answer depends on a header a cache key leaves out
            return ctx.request.headers.get(upper[5:].replace("_", "-"), "")
        return ""

    def expand(self, text: str) -> str:
        return _VAR.sub(lambda m: self.variable(m.group(1)), text)


def _groups(match: re.Match[str]) -> tuple[str, ...]:
    return (match.group(0), *(g or "" for g in match.groups()))


def _conditions_hold(rule: Rule, state: _Request) -> bool:
    return conditions_hold(rule.conditions, rule.match_any, state)


def conditions_hold(conditions: tuple[Condition, ...], match_any: bool, state: _Request) -> bool:
    """MatchAll / MatchAny over conditions (outbound rules and preconditions use it too)."""
    results = []
    for cond in conditions:
        value = state.expand(cond.input)
        if cond.regex is not None:
            found = cond.regex.search(value)
            ok = (found is not None) != cond.negate
            if found is not None and not cond.negate:
                state.cond = _groups(found)
        else:
            kind = os.path.isfile if cond.match_type == "IsFile" else os.path.isdir
            ok = kind(value) != cond.negate
        results.append(ok)
        if ok and match_any:
            return True
        if not ok and not match_any:
            return False
    return not match_any or not results


def _rewrite(ctx: HttpContext, target: str) -> None:
    """Point the request at another site-relative URL: later modules map and serve that path."""
    path, _, query = target.partition("?")
    ctx.items["rewrite_query"] = query
    url_path = normalize_url_path("/" + path.lstrip("/")) or "/"
    site = ctx.config.server().sites.get(ctx.site.lower())
    app = match_app(site.apps, url_path) if site is not None else None
    ctx.url_path, ctx.app = url_path, app
    ctx.physical_path = map_path(app, url_path) if app is not None else None
    ctx.config_path = ctx.site + url_path.rstrip("/")
    ctx.items.pop("stat", None)


class RewriteModule:
    """Applies inbound rules: rewrite, redirect, custom response, abort or none; stopProcessing ends the set."""

    def begin_request(self, ctx: HttpContext) -> None:
        """Global rules first, then the rules in effect at the request's path."""
        for section in SECTIONS:
            if self._run(ctx, ctx.settings(section, load)) or ctx.completed:
                return

    def _run(self, ctx: HttpContext, rules: tuple[Rule, ...]) -> bool:
        state = _Request(ctx)
        for rule in rules:
            found = rule.regex.search(ctx.url_path.lstrip("/"))
            if (found is not None) == rule.negate:
                continue
            state.rule, state.cond = (_groups(found) if found is not None and not rule.negate else ()), ()
            if not _conditions_hold(rule, state):
                continue
            if self._act(ctx, rule, state) or rule.stop:
                return True
        return False

    def _act(self, ctx: HttpContext, rule: Rule, state: _Request) -> bool:
        """Run the action; True when the request is finished (redirect, custom response, abort)."""
        url = state.expand(rule.url)
        query = ctx.items.get("rewrite_query", ctx.request.query_string)
        if rule.append_query and query and rule.action in ("Rewrite", "Redirect"):
            url += ("&" if "?" in url else "?") + query
        if rule.action == "Rewrite":
            _rewrite(ctx, url)
        elif rule.action == "Redirect":
            location = quote(url, safe="/:?&=#%+@;,~!$'()*[]")
            ctx.response = Response(status=rule.redirect, headers={"Location": location})
            ctx.complete()
        elif rule.action == "CustomResponse":
            ctx.response = Response(status=rule.status or 200, reason=rule.reason or None,
                                        text=rule.description or rule.reason)  # fmt: skip
            ctx.substatus = rule.substatus
            ctx.complete()
        elif rule.action == "AbortRequest":
            ctx.abort()  # IIS drops the connection without an answer
        return ctx.completed
