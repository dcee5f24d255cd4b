"""FailedRequestsTracingModule: system.webServer/tracing/traceFailedRequests → FREB-style XML trace files.

A rule applies when its path (a wildcard on the URL's last segment, "*" for all) matches; it fires when the
final status is in its statusCodes (e.g. "404.2,500-599") or the request took at least timeTaken (0 = off).
The first rule that fires writes fr000001.xml, fr000002.xml ... into the site's traceFailedRequestsLogging
directory (enabled on the site, as IIS needs) under W3SVC<site id>, keeping at most maxLogFiles files (the
oldest go). The file has IIS's failedRequest root and Event elements for the request's start and end;
verbosity Information or Verbose adds the request and response headers. The module traces what this host
sees (begin and end of the pipeline, the status and the time taken), not IIS's per-module event stream:
traceAreas select nothing here (docs/compatibility.md).
"""

from __future__ import annotations

import fnmatch
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.hosting.embedded import inetpub
from agent.hosting.embedded.worker.context import HttpContext
from agent.hosting.embedded.worker.markup import escape

SECTION = "system.webServer/tracing/traceFailedRequests"
SITES = "system.applicationHost/sites"
START = "freb.start"
EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"
PROVIDER = '<Provider Name="WWW Server" Guid="{3A2A4E84-4C21-4981-AE10-3FDA0D9B0F83}"/>'
VERBOSE = frozenset({"Information", "Verbose"})
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
# Attribute values keep their line breaks and tabs as character references (a parser would turn them into spaces).
WHITESPACE_REFERENCES = str.maketrans({"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


@dataclass(frozen=True, slots=True)
class TraceRule:
    """One <add path>: when it fires."""

    path: str
    codes: tuple[tuple[int, int, int], ...]  # (from, to, substatus or -1)
    time_taken: float
    verbosity: str


@dataclass(frozen=True, slots=True)
class TraceLogging:
    """A site's traceFailedRequestsLogging."""

    directory: str
    max_files: int


def _codes(text: str) -> tuple[tuple[int, int, int], ...]:
    found = []
    for part in text.replace(" ", "").split(","):
        code, _, sub = part.partition(".")
        low, _, high = code.partition("-")
        try:
            found.append((int(low), int(high or low), int(sub) if sub else -1))
        except ValueError:
            continue
    return tuple(found)


def load(section: Any) -> tuple[TraceRule, ...]:
    """The effective rules at a path."""
    rules = []
    for entry in section.collection():
        failure = entry.child("failureDefinitions")
        taken = failure.get("timeTaken")
        seconds = taken.total_seconds() if hasattr(taken, "total_seconds") else float(taken or 0)
        rules.append(TraceRule(str(entry.get("path") or "*"), _codes(str(failure.get("statusCodes") or "")),
                               seconds, str(failure.get("verbosity"))))  # fmt: skip
    return tuple(rules)


def load_sites(section: Any) -> dict[int, TraceLogging]:
    """Sites with failed-request logging enabled, by id."""
    found = {}
    for site in section.collection():
        logging = site.child("traceFailedRequestsLogging")
        if logging.get("enabled"):
            found[int(site.get("id"))] = TraceLogging(str(logging.get("directory")), int(logging.get("maxLogFiles")))
    return found


def fires(rule: TraceRule, status: int, substatus: int, taken: float) -> str:
    """The failure reason ("STATUS_CODE", "TIME_TAKEN") or "" when the rule does not fire."""
    for low, high, sub in rule.codes:
        if low <= status <= high and sub in (-1, substatus):
            return "STATUS_CODE"
    if rule.time_taken > 0 and taken >= rule.time_taken:
        return "TIME_TAKEN"
    return ""


def _redact(name: str, value: str) -> str:
    """Credentials and cookies stay out of trace files (the scheme name is kept)."""
    if name.lower() in SECRET_HEADERS:
        return value.partition(" ")[0] + " [redacted]" if name.lower().endswith("authorization") else "[redacted]"
    return value


def _event(opcode: str, data: dict[str, str], when: float) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + f".{int(when % 1 * 1000):03d}Z"
    fields = "".join(f"<Data Name={_quoted(k)}>{escape(v, quote=False)}</Data>" for k, v in data.items())
    return (f'<Event xmlns="{EVENT_NS}"><System>{PROVIDER}<TimeCreated SystemTime="{stamp}"/>'
            f"<Execution ProcessID=\"{os.getpid()}\"/></System><EventData>{fields}</EventData>"
            f"<RenderingInfo Culture=\"en-US\"><Opcode>{opcode}</Opcode></RenderingInfo></Event>")  # fmt: skip


def _quoted(value: str) -> str:
    """An XML attribute value in double quotes.

    Not xml.sax.saxutils.quoteattr: saxutils imports urllib.request, and with it http.client, email, tempfile
    and hashlib (which maps libcrypto), ~5 MiB of every worker's RSS for a few replace() calls.
    """
    return '"' + escape(value).translate(WHITESPACE_REFERENCES) + '"'


def document(ctx: HttpContext, rule: TraceRule, reason: str, taken: float) -> str:
    """The trace file's text."""
    import uuid  # only when a trace is written (its C helper is not worth mapping into every worker)

    request, response = ctx.request, ctx.response
    status = response.status if response is not None else 0
    now = time.time()
    events = [_event("GENERAL_REQUEST_START", {"SiteId": str(ctx.site_id), "RequestURL": ctx.url_path,
                                               "RequestVerb": request.method}, now - taken)]  # fmt: skip
    if rule.verbosity in VERBOSE:
        headers = "".join(f"{k}: {_redact(k, v)}\r\n" for k, v in request.headers.items()
                          if not k.lower().startswith("x-iisfleet"))  # fmt: skip
        events.append(_event("GENERAL_REQUEST_HEADERS", {"Headers": headers}, now - taken))
        if response is not None:
            sent = "".join(f"{k}: {_redact(k, v)}\r\n" for k, v in response.headers.items()
                           if not k.startswith("X-IISFleet"))  # fmt: skip
            events.append(_event("GENERAL_RESPONSE_HEADERS", {"Headers": sent}, now))
    events.append(_event("GENERAL_REQUEST_END", {"HttpStatus": str(status), "HttpSubStatus": str(ctx.substatus)}, now))
    scheme = "https" if request.headers.get("X-IISFleet-Https") == "1" else "http"
    url = f"{scheme}://{request.host}{request.raw_path}"
    attrs = {
        "url": url, "siteId": str(ctx.site_id), "appPoolId": ctx.app.pool if ctx.app else "",
        "processId": str(os.getpid()), "verb": request.method, "userName": ctx.user,
        "authenticationType": "Basic" if ctx.user else "anonymous", "activityId": "{" + str(uuid.uuid4()).upper() + "}",
        "failureReason": reason, "statusCode": f"{status}.{ctx.substatus}", "triggerStatusCode": str(status),
        "timeTaken": str(int(taken * 1000)),
    }  # fmt: skip
    root = " ".join(f"{k}={_quoted(v)}" for k, v in attrs.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<?xml-stylesheet type="text/xsl" href="freb.xsl"?>\n'
        f'<failedRequest {root} xmlns:freb="http://schemas.microsoft.com/win/2006/06/iis/freb">\n'
        + "\n".join(events) + "\n</failedRequest>\n"
    )  # fmt: skip


def write(directory: Path, text: str, max_files: int) -> Path:
    """fr<next>.xml (created exclusively: several workers may share the folder), pruning the oldest."""
    directory.mkdir(parents=True, exist_ok=True)
    existing = sorted(p.name for p in directory.glob("fr[0-9]*.xml"))
    number = int(existing[-1][2:-4]) + 1 if existing else 1
    while True:
        path = directory / f"fr{number:06d}.xml"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        except FileExistsError:
            number += 1
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        break
    for name in existing[: max(0, len(existing) + 1 - max_files)]:
        (directory / name).unlink(missing_ok=True)
    return path


class FailedRequestsTracingModule:
    """Times each request and writes a trace when a rule fires."""

    def idle(self, ctx: HttpContext) -> bool:
        """No rules at the path, or failed-request logging is off for the site."""
        if not ctx.settings(SECTION, load):
            return True
        return ctx.site_id not in ctx.config.settings(SITES, "", load_sites)

    def begin_request(self, ctx: HttpContext) -> None:
        """Remember when the request started."""
        ctx.items[START] = time.monotonic()

    def end_request(self, ctx: HttpContext) -> None:
        """Write the trace file of the first rule that fires."""
        rules = ctx.settings(SECTION, load)
        if not rules or ctx.response is None:
            return
        logging = ctx.config.settings(SITES, "", load_sites).get(ctx.site_id)
        if logging is None:
            return
        taken = time.monotonic() - ctx.items.get(START, time.monotonic())
        name = ctx.url_path.rstrip("/").rsplit("/", 1)[-1]
        for rule in rules:
            if not fnmatch.fnmatch(name.lower(), rule.path.lower()):
                continue
            if fires(rule, 200, 0, rule.time_taken):
                ctx.kernel_cacheable = False  # an answer from a cache would skip the trace this rule may write
            reason = fires(rule, ctx.response.status, ctx.substatus, taken)
            if reason:
                root = inetpub.resolve(logging.directory, ctx.config.store.path.parent)
                if root is not None:
                    write(root / f"W3SVC{ctx.site_id}", document(ctx, rule, reason, taken), logging.max_files)
                return
