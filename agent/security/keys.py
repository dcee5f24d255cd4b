"""The typed application and request keys of the security package."""

from __future__ import annotations

from aiohttp import web

from agent.security.audit_log import AuditLog
from agent.security.cors_policy import CorsPolicy
from agent.security.keystore import ApiKey, ApiKeyStore
from agent.security.xsrf_tokens import XsrfProtector
from agent.settings import SecuritySettings

KEY_STORE = web.AppKey("iisfleet.security.key_store", ApiKeyStore)
XSRF = web.AppKey("iisfleet.security.xsrf", XsrfProtector)
AUDIT = web.AppKey("iisfleet.security.audit", AuditLog)
CORS = web.AppKey("iisfleet.security.cors", CorsPolicy)
SECURITY = web.AppKey("iisfleet.security.settings", SecuritySettings)

PRINCIPAL = web.RequestKey("iisfleet.security.principal", ApiKey)
"""The API key whose token authenticated this request (absent on public routes and OPTIONS)."""
CORS_ORIGIN = web.RequestKey("iisfleet.security.cors_origin", str)
"""The allowed Origin of a cross-origin /api request; its response gets the CORS headers."""
