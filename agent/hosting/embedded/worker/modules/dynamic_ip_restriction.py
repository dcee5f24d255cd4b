"""DynamicIpRestrictionModule: system.webServer/security/dynamicIpSecurity per client address across a site.

denyByConcurrentRequests refuses a client with more than maxConcurrentRequests requests in progress;
denyByRequestRate one with more than maxRequests requests within requestIntervalInMilliseconds (a sliding
window; refused requests count too, so a client that keeps hammering stays refused while a slower one is
served). Refusals answer denyAction with substatus 502 (IIS's "dynamic IP restriction limit reached");
enableLoggingOnlyMode only logs. Counters live in the worker process: a pool with maxProcesses > 1 (a web
garden) counts per worker, so the effective limits are multiplied by the worker count (docs/compatibility.md).
A request is in progress until its response has been sent (the server then runs its done callbacks).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from agent.hosting.embedded.worker.context import HttpContext
from agent.hosting.embedded.worker.modules.ip_restriction import deny, deny_status

SECTION = "system.webServer/security/dynamicIpSecurity"
DYNAMIC_DENIED_SUBSTATUS = 502
# Idle clients are forgotten when the tables grow past this (bounded memory under address scans).
SWEEP_AT = 10000
log = logging.getLogger("iisfleet.hosting.modules")


@dataclass(frozen=True, slots=True)
class DynamicSettings:
    """The limits in force (0 = that check is off)."""

    max_concurrent: int
    max_requests: int
    interval: float
    deny_status: int
    logging_only: bool


def load(section: Any) -> DynamicSettings | None:
    """The effective limits; None when both checks are off."""
    concurrent = section.child("denyByConcurrentRequests")
    rate = section.child("denyByRequestRate")
    max_concurrent = int(concurrent.get("maxConcurrentRequests")) if concurrent.get("enabled") else 0
    max_requests = int(rate.get("maxRequests")) if rate.get("enabled") else 0
    if not max_concurrent and not max_requests:
        return None
    interval = int(rate.get("requestIntervalInMilliseconds")) / 1000.0
    return DynamicSettings(max_concurrent, max_requests, interval, deny_status(section),
                           bool(section.get("enableLoggingOnlyMode")))  # fmt: skip


class DynamicIpRestrictionModule:
    """Counts requests per (site, client address) in this worker and refuses the excess."""

    def __init__(self) -> None:
        self.in_progress: dict[tuple[int, str], int] = {}
        self.recent: dict[tuple[int, str], deque[float]] = {}

    def idle(self, ctx: HttpContext) -> bool:
        """Both checks off."""
        return ctx.settings(SECTION, load) is None

    def begin_request(self, ctx: HttpContext) -> None:
        """Count the request and refuse it when a limit is exceeded."""
        settings = ctx.settings(SECTION, load)
        if settings is None:
            return
        ctx.kernel_cacheable = False  # every request has to be counted
        key = (ctx.site_id, ctx.client_ip())
        now = time.monotonic()
        over = self._track_concurrency(ctx, key) > settings.max_concurrent > 0
        if settings.max_requests:
            over = self._track_rate(key, now, settings) or over
        if len(self.recent) > SWEEP_AT:
            self._sweep(now, settings.interval)
        if not over:
            return
        if settings.logging_only:
            log.warning("dynamic IP restriction: %s over the limit on site %d (logging only)", key[1], key[0])
            return
        deny(ctx, settings.deny_status, DYNAMIC_DENIED_SUBSTATUS)

    def _track_concurrency(self, ctx: HttpContext, key: tuple[int, str]) -> int:
        count = self.in_progress[key] = self.in_progress.get(key, 0) + 1
        request = ctx.request

        def done(_: object) -> None:
            left = self.in_progress.get(key, 1) - 1
            if left > 0:
                self.in_progress[key] = left
            else:
                self.in_progress.pop(key, None)

        request.add_done_callback(done)
        return count

    def _track_rate(self, key: tuple[int, str], now: float, settings: DynamicSettings) -> bool:
        times = self.recent.get(key)
        if times is None or times.maxlen != settings.max_requests + 1:
            times = self.recent[key] = deque(maxlen=settings.max_requests + 1)
        times.append(now)
        while times and now - times[0] > settings.interval:
            times.popleft()
        return len(times) > settings.max_requests

    def _sweep(self, now: float, interval: float) -> None:
        for key in [k for k, t in self.recent.items() if not t or now - t[-1] > interval]:
            del self.recent[key]
