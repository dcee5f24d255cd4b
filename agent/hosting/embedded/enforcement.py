"""ENFORCEMENT: what the embedded host does with each feature section the API edits (one row per section).

docs/compatibility.md's "Feature sections and the embedded host" table is rendered from these rows
(`render_table`; tests/meta checks the two agree and that every FEATURES section has a row naming a registered
module or saying why it is stored only). `warn_unenforced` is the config-commit hook: it logs a warning when a
commit changes a section this host stores but does not enforce.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("iisfleet.hosting.enforcement")
WS = "system.webServer/"


@dataclass(frozen=True, slots=True)
class Enforcement:
    """One section: the modules enforcing it, what the host does with it ("" = nothing: stored only), and what
    is stored but not enforced, with the reason."""

    section: str
    modules: tuple[str, ...]
    effect: str
    stored_only: str = ""


ENFORCEMENT: tuple[Enforcement, ...] = (
    Enforcement(WS + "security/authentication/anonymousAuthentication", ("AnonymousAuthenticationModule",),
                "enabled=false and no other scheme logs the caller on → 401.2",
                "userName/password: requests are not run under another account"),
    Enforcement(WS + "security/authentication/basicAuthentication", ("BasicAuthenticationModule",),
                "credentials checked through PAM (service `login`); 401.1 on failure; WWW-Authenticate with realm",
                "defaultLogonDomain and logonMethod: Linux accounts have no domain or logon type"),
    Enforcement(WS + "security/authentication/digestAuthentication", (), "",
                "all: no Digest implementation (needs reversible passwords the host does not have)"),
    Enforcement(WS + "security/authentication/windowsAuthentication", (), "",
                "all: Negotiate/NTLM need a Windows domain or Kerberos keytab"),
    Enforcement(WS + "security/authorization", ("UrlAuthorizationModule",),
                "allow/deny by users, Unix groups (roles) and verbs, deny rules first → 401.2",
                "bypassLoginPages: there are no login pages"),
    Enforcement(WS + "defaultDocument", ("DefaultDocumentModule",), "enabled and the files list, in order"),
    Enforcement(WS + "directoryBrowse", ("DirectoryListingModule",), "enabled and showFlags"),
    Enforcement(WS + "handlers", (), "",
                "all: the host serves static content only; no CGI/FastCGI/ISAPI/managed handlers"),
    Enforcement(WS + "modules", (), "the pipeline runs the implemented modules the <modules> list effective at "
                "a path names (worker/registry.py)", "type and preCondition: there are no managed modules"),
    Enforcement(WS + "httpRedirect", ("HttpRedirectionModule",),
                "destination, exactDestination, childOnly, $S/$V/$Q/$P, wildcard entries, 301/302/307/308"),
    Enforcement(WS + "security/requestFiltering", ("RequestFilteringModule",),
                "404.5-404.19 and 413.1 checks in IIS's order", "applyToWebDAV, removeServerHeader"),
    Enforcement(WS + "httpProtocol", ("ProtocolSupportModule",), "customHeaders on every response",
                "allowKeepAlive and redirectHeaders"),
    Enforcement(WS + "urlCompression", ("StaticCompressionModule", "DynamicCompressionModule"),
                "doStaticCompression, doDynamicCompression", "dynamicCompressionBeforeCache"),
    Enforcement(WS + "httpCompression", ("StaticCompressionModule", "DynamicCompressionModule"),
                "gzip/deflate schemes and levels, staticTypes/dynamicTypes, minFileSizeForComp, directory "
                "(compressed-file cache), noCompressionForRange, Vary: Accept-Encoding",
                "noCompressionForHttp10/ForProxies (the worker sees HTTP/1.1 from the supervisor), disk-space "
                "limits and CPU thresholds, sendCacheHeaders"),
    Enforcement(WS + "security/ipSecurity", ("IpRestrictionModule",),
                "ordered address/subnet entries (IPv4, IPv6), allowUnlisted, denyAction x.503, proxy mode",
                "domainName entries and enableReverseDns: no reverse DNS lookups per request"),
    Enforcement(WS + "security/dynamicIpSecurity", ("DynamicIpRestrictionModule",),
                "denyByConcurrentRequests and denyByRequestRate per client per site, x.502, logging-only mode",
                "counters are per worker process: a web garden multiplies the limits by maxProcesses"),
    Enforcement(WS + "httpLogging", ("HttpLoggingModule",), "dontLog", "selectiveLogging"),
    Enforcement(WS + "security/access", (), "",
                "sslFlags: client certificates are not requested; Ssl (require HTTPS) is not enforced yet"),
    Enforcement(WS + "staticContent", ("StaticFileModule",),
                "mimeMap (unknown extension → 404.3), clientCache (max-age, Expires, no-cache, custom)",
                "defaultDocFooter and setEtag"),
    Enforcement(WS + "tracing/traceFailedRequests", ("FailedRequestsTracingModule",),
                "path, statusCodes, timeTaken → fr######.xml in the site's folder, maxLogFiles",
                "traceAreas and providers: the trace holds request start/end and headers, not IIS's event stream"),
    Enforcement(WS + "rewrite/rules", ("RewriteModule",), "inbound rules at BeginRequest, after the global rules",
                "serverVariables set by a rule"),
    Enforcement(WS + "rewrite/globalRules", ("RewriteModule",), "inbound rules at BeginRequest, first"),
    Enforcement(WS + "rewrite/rewriteMaps", (), "", "all: rules do not expand {MapName:...} lookups yet"),
    Enforcement(WS + "rewrite/providers", (), "", "all: providers are .NET assemblies; there is no CLR host"),
    Enforcement(WS + "rewrite/allowedServerVariables", (), "", "all: rules do not set server variables yet"),
    Enforcement(WS + "rewrite/outboundRules", ("RewriteModule",),
                "header and HTML body rules, preconditions, filterByTags/customTags", "rewriteBeforeCache"),
)  # fmt: skip
BY_SECTION = {row.section: row for row in ENFORCEMENT}


def render_table() -> str:
    """The Markdown table docs/compatibility.md carries."""
    lines = ["| Section | Enforced by | What the host does | Stored, not enforced (why) |", "|---|---|---|---|"]
    for row in ENFORCEMENT:
        modules = ", ".join(row.modules) or "—"
        lines.append(f"| `{row.section}` | {modules} | {row.effect or '—'} | {row.stored_only or '—'} |")
    return "\n".join(lines) + "\n"


def _fingerprint(root: Any, section: str) -> str:
    """Hash of every occurrence of a section (top level and in <location> tags)."""
    digest = hashlib.sha256()
    for prefix in ("", "location/"):
        for element in root.iterfind(prefix + section):
            digest.update(element.getparent().get("path", "").encode() if prefix else b"")
            digest.update(_canonical(element))
    return digest.hexdigest()


def _canonical(element: Any) -> bytes:
    from lxml import etree

    return bytes(etree.tostring(element, method="c14n"))


class UnenforcedWatcher:
    """The commit hook: warns once per commit for each changed section the host stores but does not enforce."""

    def __init__(self) -> None:
        self.sections = tuple(row.section for row in ENFORCEMENT if not row.effect)
        self._seen: dict[str, str] = {}

    def __call__(self, root: Any) -> list[str]:
        """Compare with the last commit; log and return the changed unenforced sections."""
        changed = []
        for section in self.sections:
            mark = _fingerprint(root, section)
            if section in self._seen and self._seen[section] != mark:
                changed.append(section)
                log.warning("%s changed: the embedded host stores this section but does not enforce it (%s)",
                            section, BY_SECTION[section].stored_only)  # fmt: skip
            self._seen[section] = mark
        return changed


def watch_unenforced(store: Any) -> UnenforcedWatcher:
    """Seed a watcher with the store's current document and hook it to every commit."""
    watcher = UnenforcedWatcher()
    watcher(store.document.root)
    store.commit_hooks.append(watcher)
    return watcher
