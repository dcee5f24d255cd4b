"""MODULES: IIS module name → "package.module:Class", resolved lazily (adding a module is one file + one row)."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable

log = logging.getLogger("iisfleet.hosting.modules")
_BASE = "agent.hosting.embedded.worker.modules"

# Row order is call order within a stage (IIS runs its StaticFile handler as StaticFile, DefaultDocument,
# DirectoryListing; here the directory handlers come first so StaticFileModule can answer 403.14/404).
# SendResponse order: ProtocolSupport's custom headers first (outbound rules can rewrite them), then outbound
# rewrite, the Basic challenge, custom error pages and compression; a module that swaps the response object
# carries the headers over (context.carried_headers).
MODULES: dict[str, str] = {
    "FailedRequestsTracingModule": f"{_BASE}.failed_request_tracing:FailedRequestsTracingModule",
    "IpRestrictionModule": f"{_BASE}.ip_restriction:IpRestrictionModule",
    "DynamicIpRestrictionModule": f"{_BASE}.dynamic_ip_restriction:DynamicIpRestrictionModule",
    "ProtocolSupportModule": f"{_BASE}.protocol_support:ProtocolSupportModule",
    "RequestFilteringModule": f"{_BASE}.request_filtering:RequestFilteringModule",
    "RewriteModule": f"{_BASE}.url_rewrite_outbound:RewriteModule",
    "BasicAuthenticationModule": f"{_BASE}.basic_auth:BasicAuthenticationModule",
    "AnonymousAuthenticationModule": f"{_BASE}.anonymous_auth:AnonymousAuthenticationModule",
    "UrlAuthorizationModule": f"{_BASE}.url_authorization:UrlAuthorizationModule",
    "HttpRedirectionModule": f"{_BASE}.http_redirect:HttpRedirectionModule",
    "DefaultDocumentModule": f"{_BASE}.default_document:DefaultDocumentModule",
    "DirectoryListingModule": f"{_BASE}.directory_listing:DirectoryListingModule",
    "StaticFileModule": f"{_BASE}.static_file:StaticFileModule",
    "CustomErrorModule": f"{_BASE}.custom_error:CustomErrorModule",
    "DynamicCompressionModule": f"{_BASE}.compression:DynamicCompressionModule",
    "StaticCompressionModule": f"{_BASE}.compression:StaticCompressionModule",
    "HttpLoggingModule": f"{_BASE}.http_logging:HttpLoggingModule",
}
# IIS modules a stock config lists that this host has no implementation of (yet); skipped quietly.
NOT_IMPLEMENTED = frozenset({
    "UriCacheModule", "TokenCacheModule", "RequestMonitorModule", "HttpCacheModule", "FileCacheModule",
    "WindowsAuthenticationModule",
    "DigestAuthenticationModule", "ServerSideIncludeModule", "CgiModule", "FastCgiModule", "IsapiModule",
    "IsapiFilterModule", "ConfigurationValidationModule",
    "CertificateMappingAuthenticationModule", "IISCertificateMappingAuthenticationModule", "ManagedEngine",
    "ManagedEngineV4.0_32bit", "ManagedEngineV4.0_64bit", "ManagedEngine64", "TracingModule", "WebDAVModule",
    "ApplicationInitializationModule", "WebSocketModule", "CustomLoggingModule", "AspNetCoreModuleV2",
    "AspNetCoreModule", "HttpPlatformHandler",
})  # fmt: skip


class UnknownModule(KeyError):
    """A module name neither implemented nor known to IIS; the message suggests the closest name."""


def resolve(name: str) -> type[object]:
    """The class implementing the IIS module `name` (imported on first use)."""
    target = MODULES.get(name)
    if target is None:
        hint = _closest(name, [*MODULES, *NOT_IMPLEMENTED])
        raise UnknownModule(f"unknown IIS module {name!r}" + (f"; did you mean {hint!r}?" if hint else ""))
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    assert isinstance(cls, type)
    return cls


def enabled_modules(configured: Iterable[str] | None) -> list[str]:
    """The implemented modules a <modules> list enables, in call order (all of them when there is no list)."""
    if configured is None:
        return list(MODULES)
    names = set()
    for name in configured:
        if name in MODULES:
            names.add(name)
        elif name not in NOT_IMPLEMENTED:
            hint = _closest(name, list(MODULES))
            log.warning("module %r is not known to this host%s", name, f" (did you mean {hint!r}?)" if hint else "")
    return [name for name in MODULES if name in names]


def _closest(name: str, known: list[str]) -> str | None:
    """The known name most like `name`, for messages (difflib is imported only when a name is wrong)."""
    import difflib

    hint = difflib.get_close_matches(name, known, n=1)
    return hint[0] if hint else None
