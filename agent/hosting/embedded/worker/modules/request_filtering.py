"""RequestFilteringModule: system.webServer/security/requestFiltering, with IIS's 404.x / 413.1 substatus codes.

404.5 URL sequence denied, 404.6 verb denied, 404.7 file extension denied, 404.8 hidden segment,
404.10 request header too long, 404.11 double escaping, 404.12 high-bit characters, 404.14 URL too long,
404.15 query string too long, 404.18 query string sequence denied, 404.19 denied by a filteringRule,
413.1 content length too large (IIS 10; chunked bodies are counted as they stream). A URL in
alwaysAllowedUrls skips the URL checks and a query string in alwaysAllowedQueryStrings the query string
checks; verbs, headers and content length still apply.
"""

from __future__ import annotations

import posixpath
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from agent.hosting.embedded.worker.context import HttpContext

SECTION = "system.webServer/security/requestFiltering"
URL_VERDICTS = 4096  # remembered URL verdicts per settings object (cleared when full)


@dataclass(frozen=True, slots=True)
class FilteringSettings:
    """The parts of requestFiltering this module enforces (names and sequences lower-case)."""

    max_content_length: int
    max_url: int
    max_query_string: int
    allow_double_escaping: bool
    allow_high_bit: bool
    unescape_query_string: bool
    allow_unlisted_extensions: bool
    extensions: dict[str, bool]
    hidden_segments: frozenset[str]
    allow_unlisted_verbs: bool
    verbs: dict[str, bool]
    deny_url_sequences: tuple[str, ...]
    deny_query_sequences: tuple[str, ...]
    always_allowed_urls: frozenset[str]
    always_allowed_queries: frozenset[str]
    header_limits: tuple[tuple[str, int], ...]
    rules: tuple[FilteringRule, ...] = ()
    # Whether a verdict may differ between two requests for the same URL: header checks, or GET and HEAD judged
    # apart (a cached GET answers HEAD). Such requests stay out of the worker's answer caches.
    varies: bool = False
    # _url_check's verdicts by (raw path, decoded path): a pure function of these settings and the two paths,
    # which repeat request after request. Lives as long as the settings (one configuration generation).
    url_verdicts: dict[tuple[str, str], int] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class FilteringRule:
    """One filteringRules entry: where to look (lower-case names) and the strings that deny (404.19)."""

    scan_url: bool
    scan_query: bool
    scan_all_raw: bool
    headers: tuple[str, ...]
    applies_to: frozenset[str]
    deny: tuple[str, ...]


def _filtering_rules(section: Any) -> tuple[FilteringRule, ...]:
    try:
        entries = list(section.collection("filteringRules"))
    except (KeyError, ValueError, AttributeError):  # a schema without filteringRules
        return ()
    found = []
    for entry in entries:
        deny = tuple(s.lower() for s in _values(entry, "denyStrings", "string") if s)
        if not deny:
            continue
        found.append(FilteringRule(
            scan_url=bool(entry.get("scanUrl")), scan_query=bool(entry.get("scanQueryString")),
            scan_all_raw=bool(entry.get("scanAllRaw")),
            headers=tuple(h.strip().rstrip(":").lower() for h in _values(entry, "scanHeaders", "requestHeader")),
            applies_to=frozenset(e.lower() for e in _values(entry, "appliesTo", "fileExtension") if e), deny=deny,
        ))  # fmt: skip
    return tuple(found)


def _values(section: Any, name: str, key: str) -> list[str]:
    try:
        return [str(e.get(key)) for e in section.collection(name)]
    except (KeyError, ValueError, AttributeError):
        return []


def load(section: Any) -> FilteringSettings:
    """Read the effective section once per generation and path."""
    limits = section.child("requestLimits")
    extensions = section.child("fileExtensions")
    verbs = section.child("verbs")
    headers: dict[str, int] = {}
    for entry in limits.collection("headerLimits"):
        size = int(entry.get("sizeLimit") or 0)
        if size > 0:
            headers[str(entry.get("header")).strip().rstrip(":").strip().lower()] = size
    allow_unlisted_verbs = bool(verbs.get("allowUnlisted"))
    verb_rules = {str(v.get("verb")).upper(): bool(v.get("allowed")) for v in verbs.collection()}
    rules = _filtering_rules(section)
    head_as_get = verb_rules.get("HEAD", allow_unlisted_verbs) == verb_rules.get("GET", allow_unlisted_verbs)
    varies = bool(headers) or any(r.headers or r.scan_all_raw for r in rules) or not head_as_get
    return FilteringSettings(
        max_content_length=int(limits.get("maxAllowedContentLength")),
        max_url=int(limits.get("maxUrl")),
        max_query_string=int(limits.get("maxQueryString")),
        allow_double_escaping=bool(section.get("allowDoubleEscaping")),
        allow_high_bit=bool(section.get("allowHighBitCharacters")),
        unescape_query_string=bool(section.get("unescapeQueryString")),
        allow_unlisted_extensions=bool(extensions.get("allowUnlisted")),
        extensions={str(e.get("fileExtension")).lower(): bool(e.get("allowed")) for e in extensions.collection()},
        hidden_segments=frozenset(str(s.get("segment")).lower() for s in section.collection("hiddenSegments")),
        allow_unlisted_verbs=allow_unlisted_verbs,
        verbs=verb_rules,
        deny_url_sequences=tuple(s.lower() for s in _values(section, "denyUrlSequences", "sequence") if s),
        deny_query_sequences=tuple(s.lower() for s in _values(section, "denyQueryStringSequences", "sequence") if s),
        always_allowed_urls=frozenset(u.lower() for u in _values(section, "alwaysAllowedUrls", "url") if u),
        always_allowed_queries=frozenset(
            q.lstrip("?").lower() for q in _values(section, "alwaysAllowedQueryStrings", "queryString") if q
        ),
        header_limits=tuple(headers.items()),
        rules=rules,
        varies=varies,
    )


class RequestFilteringModule:
    """Rejects requests the way IIS request filtering does, before anything else runs."""

    def begin_request(self, ctx: HttpContext) -> Awaitable[None] | None:
        """Apply the checks in IIS's order; the first failure answers with its substatus. Only a chunked body,
        counted as it streams, makes this a coroutine."""
        rules = ctx.settings(SECTION, load)
        request = ctx.request
        raw_path = request.raw_path.partition("?")[0]
        once = ctx.url_path
        query = request.query_string
        url_exempt = bool(rules.always_allowed_urls) and (
            once.lower() in rules.always_allowed_urls or unquote(raw_path).lower() in rules.always_allowed_urls
        )
        query_exempt = bool(query) and query.lower() in rules.always_allowed_queries
        allowed = rules.verbs.get(request.method.upper())
        if allowed is False or (allowed is None and not rules.allow_unlisted_verbs):
            ctx.error(404, 6)
            return None
        if not url_exempt:
            verdicts = rules.url_verdicts
            substatus = verdicts.get((raw_path, once), -1)
            if substatus < 0:
                if len(verdicts) >= URL_VERDICTS:
                    verdicts.clear()
                substatus = verdicts[raw_path, once] = _url_check(rules, raw_path, once)
            if substatus:
                ctx.error(404, substatus)
                return None
        for name, size in rules.header_limits:
            if any(len(value) > size for value in request.headers.getall(name, ())):
                ctx.error(404, 10)
                return None
        length = request.content_length
        if length is not None and length > rules.max_content_length:
            ctx.error(413, 1)
            return None
        if not url_exempt and len(raw_path) > rules.max_url:
            ctx.error(404, 14)
            return None
        if not query_exempt:
            if len(query) > rules.max_query_string:
                ctx.error(404, 15)
                return None
            if rules.deny_query_sequences:
                forms = {query.lower()}
                if rules.unescape_query_string:
                    forms.add(unquote(query).lower())
                if any(seq in form for seq in rules.deny_query_sequences for form in forms):
                    ctx.error(404, 18)
                    return None
        if rules.rules and _denied_by_rule(rules, request, once, raw_path):
            ctx.error(404, 19)
            return None
        if rules.varies:
            ctx.kernel_cacheable = False
        if length is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            return _count_chunked(ctx, rules.max_content_length)
        return None


async def _count_chunked(ctx: HttpContext, limit: int) -> None:
    """A chunked body has no Content-Length: count it as it streams and stop at the limit. The bytes are consumed
    here (no handler in the worker reads request bodies)."""
    received = 0
    while chunk := await ctx.request.content.readany():
        received += len(chunk)
        if received > limit:
            return ctx.error(413, 1)
    return None


def _denied_by_rule(settings: FilteringSettings, request: Any, once: str, raw_path: str) -> bool:
    """Whether a filteringRule finds one of its denyStrings where it scans (case-insensitive)."""
    extension = posixpath.splitext(once.rstrip("/").rsplit("/", 1)[-1])[1].lower()
    query = request.query_string
    for rule in settings.rules:
        if rule.applies_to and extension not in rule.applies_to:
            continue
        targets: list[str] = []
        if rule.scan_url:
            targets += [once, raw_path]
        if rule.scan_query:
            targets += [query, unquote(query)] if settings.unescape_query_string else [query]
        for name in rule.headers:
            targets += request.headers.getall(name, ())
        if rule.scan_all_raw:
            targets += [request.raw_path, *request.headers.values()]
        lowered = [t.lower() for t in targets if t]
        if any(deny in target for deny in rule.deny for target in lowered):
            return True
    return False


def _url_check(rules: FilteringSettings, raw_path: str, once: str) -> int:
    """The 404 substatus a URL path fails with (0 when it passes)."""
    if not rules.allow_double_escaping and ("+" in once or unquote(once) != once):
        return 11
    if not rules.allow_high_bit and not (once.isascii() and raw_path.isascii()):
        return 12
    extension = posixpath.splitext(once.rstrip("/").rsplit("/", 1)[-1])[1].lower()
    if extension:
        allowed = rules.extensions.get(extension)
        if allowed is False or (allowed is None and not rules.allow_unlisted_extensions):
            return 7
    if rules.deny_url_sequences:
        forms = (once.lower(), raw_path.lower())
        if any(seq in form for seq in rules.deny_url_sequences for form in forms):
            return 5
    segments = {s.lower() for s in once.split("/") if s}
    if segments & rules.hidden_segments:
        return 8
    return 0
