"""IpRestrictionModule: system.webServer/security/ipSecurity allow/deny by address and subnet, IPv4 and IPv6.

Entries are tried in configuration order and the first one whose network holds the client decides (IIS's
"ordered list"); no match falls back to allowUnlisted. subnetMask is a dotted mask or, as IIS accepts for
IPv6, a prefix length. A denied client gets denyAction: Unauthorized 401.503, Forbidden 403.503, NotFound
404.503, or AbortRequest (the connection is dropped). With enableProxyMode the X-Forwarded-For addresses are
checked too. domainName entries need enableReverseDns, which this host does not do (docs/compatibility.md).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import Any

from agent.hosting.embedded.worker.context import HttpContext

SECTION = "system.webServer/security/ipSecurity"
DENY_STATUS = {"unauthorized": 401, "forbidden": 403, "notfound": 404, "abortrequest": 0}
IP_DENIED_SUBSTATUS = 503
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
log = logging.getLogger("iisfleet.hosting.modules")


@dataclass(frozen=True, slots=True)
class IpSettings:
    """The ordered entries and what happens to the rest."""

    entries: tuple[tuple[Network, bool], ...]
    allow_unlisted: bool
    deny_status: int
    proxy_mode: bool


def network(address: str, mask: str) -> Network:
    """The network of an ipSecurity entry: a dotted mask or a prefix length (IPv6 or IPv4)."""
    ip = ipaddress.ip_address(address.strip())
    mask = mask.strip() or ("255.255.255.255" if ip.version == 4 else str(ip.max_prefixlen))
    if ip.version == 6 and mask == "255.255.255.255":  # the schema's default means "this address"
        mask = "128"
    return ipaddress.ip_network(f"{ip}/{mask}", strict=False)


def deny_status(section: Any) -> int:
    """denyAction as a status code (0 = abort the connection)."""
    return DENY_STATUS.get(str(section.get("denyAction")).lower(), 403)


def load(section: Any) -> IpSettings | None:
    """The effective rules; None when everything is allowed (no entries, allowUnlisted)."""
    entries = []
    for entry in section.collection():
        address = str(entry.get("ipAddress") or "")
        if not address:
            continue  # a domainName entry: needs reverse DNS
        try:
            entries.append((network(address, str(entry.get("subnetMask") or "")), bool(entry.get("allowed"))))
        except ValueError:
            log.warning("ipSecurity entry %s/%s is not an address and mask; ignored", address, entry.get("subnetMask"))
    allow_unlisted = bool(section.get("allowUnlisted"))
    if not entries and allow_unlisted:
        return None
    return IpSettings(tuple(entries), allow_unlisted, deny_status(section), bool(section.get("enableProxyMode")))


def client_addresses(ctx: HttpContext, proxy_mode: bool) -> list[str]:
    """The client address, plus the X-Forwarded-For chain in proxy mode."""
    found = [ctx.client_ip()]
    if proxy_mode:
        for header in ctx.request.headers.getall("X-Forwarded-For", ()):
            found += [part.strip() for part in header.split(",") if part.strip()]
    return found


def deny(ctx: HttpContext, status: int, substatus: int) -> None:
    """Answer a denied client as denyAction says."""
    if status == 0:
        ctx.abort()
    else:
        ctx.error(status, substatus)


def allowed(settings: IpSettings, address: str) -> bool:
    """Whether one address passes the ordered list."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return settings.allow_unlisted
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for net, allow in settings.entries:
        if ip.version == net.version and ip in net:
            return allow
    return settings.allow_unlisted


class IpRestrictionModule:
    """Refuses clients the ipSecurity list denies, before any other module runs."""

    def idle(self, ctx: HttpContext) -> bool:
        """Nothing to check: no entries and allowUnlisted."""
        return ctx.settings(SECTION, load) is None

    def begin_request(self, ctx: HttpContext) -> None:
        """Check the client (and, in proxy mode, every forwarded address)."""
        settings = ctx.settings(SECTION, load)
        if settings is None:
            return
        ctx.kernel_cacheable = False  # the next client may be one the list denies
        if not all(allowed(settings, a) for a in client_addresses(ctx, settings.proxy_mode)):
            deny(ctx, settings.deny_status, IP_DENIED_SUBSTATUS)
