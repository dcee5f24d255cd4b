"""IP restrictions: the computed `enabled` member and what `enabled: false` resets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.api.features.target import Target
from agent.api.mapping import Bool

IP = "system.webServer/security/ipSecurity"
DYNAMIC = "system.webServer/security/dynamicIpSecurity"


def ip_read(target: Target) -> dict[str, Any]:
    """`enabled`: any entry, reverse DNS, a denied default, proxy mode or a dynamic deny is in effect."""
    ip = target.effective(IP)
    dynamic = target.effective(DYNAMIC)
    enabled = (
        len(ip.collection()) > 0
        or bool(ip.get("enableReverseDns"))
        or not ip.get("allowUnlisted")
        or bool(ip.get("enableProxyMode"))
        or bool(dynamic.child("denyByConcurrentRequests").get("enabled"))
        or bool(dynamic.child("denyByRequestRate").get("enabled"))
    )
    return {"enabled": enabled}


def ip_write(target: Target, body: dict[str, Any]) -> Callable[[], None] | None:
    """`enabled: false` restores the open defaults and clears the entries; `true` alone changes nothing."""
    if body.get("enabled") is None or Bool().from_json(body["enabled"], "enabled"):
        return None

    def write() -> None:
        ip = target.local(IP)
        dynamic = target.local(DYNAMIC)
        ip.set("allowUnlisted", True)
        ip.set("enableReverseDns", False)
        ip.set("enableProxyMode", False)
        dynamic.child("denyByConcurrentRequests").set("enabled", False)
        dynamic.child("denyByRequestRate").set("enabled", False)
        ip.collection().clear()

    return write
