"""SCHEMA: every known section keyed by its path; adding a section is adding one entry here."""

from __future__ import annotations

from agent.iisconfig import schema_apphost as apphost
from agent.iisconfig import schema_rewrite as rewrite
from agent.iisconfig import schema_webserver as web
from agent.iisconfig.schema_types import AttrSchema, CollectionSchema, ElementSchema

__all__ = ["SCHEMA", "AttrSchema", "CollectionSchema", "ElementSchema", "section_schema"]

SCHEMA: dict[str, ElementSchema] = {
    "system.applicationHost/sites": apphost.SITES,
    "system.applicationHost/applicationPools": apphost.APPLICATION_POOLS,
    "system.applicationHost/log": apphost.LOG,
    "system.webServer/defaultDocument": web.DEFAULT_DOCUMENT,
    "system.webServer/directoryBrowse": web.DIRECTORY_BROWSE,
    "system.webServer/staticContent": web.STATIC_CONTENT,
    "system.webServer/httpProtocol": web.HTTP_PROTOCOL,
    "system.webServer/httpLogging": web.HTTP_LOGGING,
    "system.webServer/caching": web.CACHING,
    "system.webServer/httpRedirect": web.HTTP_REDIRECT,
    "system.webServer/urlCompression": web.URL_COMPRESSION,
    "system.webServer/globalModules": web.GLOBAL_MODULES,
    "system.webServer/modules": web.MODULES,
    "system.webServer/handlers": web.HANDLERS,
    "system.webServer/httpCompression": web.HTTP_COMPRESSION,
    "system.webServer/httpErrors": web.HTTP_ERRORS,
    "system.webServer/tracing/traceFailedRequests": web.TRACE_FAILED_REQUESTS,
    "system.webServer/tracing/traceProviderDefinitions": web.TRACE_PROVIDER_DEFINITIONS,
    "system.webServer/rewrite/rules": rewrite.REWRITE_RULES,
    "system.webServer/rewrite/globalRules": rewrite.GLOBAL_RULES,
    "system.webServer/rewrite/outboundRules": rewrite.OUTBOUND_RULES,
    "system.webServer/rewrite/rewriteMaps": rewrite.REWRITE_MAPS,
    "system.webServer/rewrite/providers": rewrite.REWRITE_PROVIDERS,
    "system.webServer/rewrite/allowedServerVariables": rewrite.ALLOWED_SERVER_VARIABLES,
    "system.webServer/security/access": web.ACCESS,
    "system.webServer/security/authorization": web.AUTHORIZATION,
    "system.webServer/security/dynamicIpSecurity": web.DYNAMIC_IP_SECURITY,
    "system.webServer/security/ipSecurity": web.IP_SECURITY,
    "system.webServer/security/requestFiltering": web.REQUEST_FILTERING,
    "system.webServer/security/authentication/anonymousAuthentication": web.ANONYMOUS_AUTHENTICATION,
    "system.webServer/security/authentication/basicAuthentication": web.BASIC_AUTHENTICATION,
    "system.webServer/security/authentication/digestAuthentication": web.DIGEST_AUTHENTICATION,
    "system.webServer/security/authentication/windowsAuthentication": web.WINDOWS_AUTHENTICATION,
}


def section_schema(name: str) -> ElementSchema | None:
    """The schema for section path `name` (exact IIS casing), or None for sections we only handle raw."""
    return SCHEMA.get(name.strip("/"))
