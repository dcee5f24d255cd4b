"""Request tracing: the site's traceFailedRequestsLogging members and a trace rule's computed members."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from agent.api import mapping
from agent.api.features.custom.rewrite import _replace as replace_entries
from agent.api.features.custom.trace_providers import traces_read, traces_write
from agent.api.features.target import Target
from agent.api.mapping import Attr, Bool, Int, Str
from agent.iisconfig import ConfigElement
from agent.security.confine import validate_write_directory
from shared.errors import InvalidParameter

SITES = "system.applicationHost/sites"
LOGGING = (Attr("directory", "directory", Str()), Attr("maximum_number_trace_files", "maxLogFiles", Int(1, 10000)))
NEVER = 2147483647
"""min_request_execution_time shown for timeTaken 00:00:00 (the time trigger is off)."""


def _logging(target: Target, sites: ConfigElement) -> ConfigElement:
    """The site's traceFailedRequestsLogging, or siteDefaults' at server level."""
    if target.site is None:
        return sites.child("siteDefaults").child("traceFailedRequestsLogging")
    site = sites.collection().find(id=target.site_key)
    if site is None:
        raise InvalidParameter("website")
    return site.child("traceFailedRequestsLogging")


def tracing_read(target: Target) -> dict[str, Any]:
    """`enabled` (always true at server), `directory`, `maximum_number_trace_files`."""
    element = _logging(target, target.ctx.store.section(SITES))
    enabled = True if target.site is None else bool(element.get("enabled"))
    return {"enabled": enabled, **mapping.read(element, LOGGING)}


def tracing_write(target: Target, body: dict[str, Any]) -> Callable[[], None] | None:
    """The three logging members are written at the site root only; elsewhere upstream ignores them."""
    if target.site is None or target.path != "/":
        return None
    changes = mapping.parse(body, (Attr("enabled", "enabled", Bool()), *LOGGING))
    if body.get("directory") is not None:  # the host writes trace files there: a writable location only
        validate_write_directory(target.ctx.locations, body["directory"])
    if not changes:
        return None
    return lambda: mapping.apply(_logging(target, target.ctx.store.section(SITES)), changes)


def rule_read(_target: Target, entry: ConfigElement) -> dict[str, Any]:
    """`status_codes` (array), `min_request_execution_time` (seconds) and `traces` of a trace rule."""
    failure = entry.child("failureDefinitions")
    codes = [c.strip() for c in str(failure.get("statusCodes") or "").split(",") if c.strip()]
    taken = failure.get("timeTaken")
    seconds = int(taken.total_seconds()) if isinstance(taken, timedelta) else 0
    traces = traces_read(_target, entry)
    return {"status_codes": codes, "min_request_execution_time": seconds or NEVER, "traces": traces}


def rule_write(target: Target, body: dict[str, Any], _create: bool) -> Callable[[ConfigElement], None] | None:
    """Validate `status_codes` ("404", "400-499"), `min_request_execution_time` (>= NEVER stores 0), `traces`."""
    writes: list[Callable[[ConfigElement], None]] = []
    traces = traces_write(target, body.get("traces"))
    if traces is not None:
        writes.append(lambda e: replace_entries(e.collection("traceAreas"), traces))
    codes = body.get("status_codes")
    if codes is not None:
        if not isinstance(codes, list):
            raise InvalidParameter("status_codes")
        for code in codes:
            if not isinstance(code, str) or not all(p.strip().isdigit() for p in code.split("-")):
                raise InvalidParameter("model.status_codes")
        text = ",".join(codes)
        writes.append(lambda e: e.child("failureDefinitions").set("statusCodes", text))
    taken = body.get("min_request_execution_time")
    if taken is not None:
        seconds = Int(1, 2**63).from_json(taken, "min_request_execution_time")
        span = timedelta(seconds=0 if seconds >= NEVER else seconds)
        writes.append(lambda e: e.child("failureDefinitions").set("timeTaken", span))
    if not writes:
        return None

    def write_all(entry: ConfigElement) -> None:
        for write in writes:
            write(entry)

    return write_all


def tracing_links(target: Target, fid: str) -> dict[str, str]:
    """self, rules, providers and the site's trace files (`traces`), as upstream links them."""
    base = target.spec.path
    query = f"?{target.spec.parent}.id={fid}"
    return {"self": f"{base}/{fid}", **{name: f"{base}/{name}{query}" for name in ("providers", "rules", "traces")}}
