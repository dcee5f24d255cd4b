"""The typed web.AppKey and web.RequestKey of the agent application, in one place.

A few keys stay beside their type because that module reads the key itself and this module imports the type
(an import loop otherwise): files.state.FILES_RUNTIME, security.throttle.THROTTLE,
security.metrics_cert.SCRAPE_REVOCATIONS; and api.transactions' TRANSACTIONS/STAGED_STORE, whose type lives
in agent.api, above this module (tests/meta/test_layers.py).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from agent.certificates.store import CertificateStores
from agent.files.locations import FileLocations
from agent.hosting.base import Host
from agent.ids import IdCodec
from agent.iisconfig import ConfigStore
from agent.security.api_key_store import ApiKey, ApiKeyStore
from agent.security.audit_log import AuditLog
from agent.security.cors_policy import CorsPolicy
from agent.security.xsrf_tokens import XsrfProtector
from agent.settings import AgentSettings, SecuritySettings
from shared.secretbox import SecretBox

SETTINGS = web.AppKey("settings", AgentSettings)
STATE_DIR = web.AppKey("state_dir", Path)
CONFIG_STORE = web.AppKey("config_store", ConfigStore)
ID_CODEC = web.AppKey("id_codec", IdCodec)
HOST = web.AppKey("host", Host)
FILE_LOCATIONS = web.AppKey("file_locations", FileLocations)
SECRET_BOX = web.AppKey("secret_box", SecretBox)
CERT_STORES = web.AppKey("certificate_stores", CertificateStores)

KEY_STORE = web.AppKey("iisfleet.security.key_store", ApiKeyStore)
XSRF = web.AppKey("iisfleet.security.xsrf", XsrfProtector)
AUDIT = web.AppKey("iisfleet.security.audit", AuditLog)
CORS = web.AppKey("iisfleet.security.cors", CorsPolicy)
SECURITY = web.AppKey("iisfleet.security.settings", SecuritySettings)
REQUIRE_CONTROLLER_CERTIFICATE = web.AppKey("iisfleet.security.require_controller_certificate", bool)
"""Set when the agent runs enrolled: the operator header then also needs the controller's client certificate."""

PRINCIPAL = web.RequestKey("iisfleet.security.principal", ApiKey)
"""The API key whose token authenticated this request (absent on public routes and OPTIONS)."""
CORS_ORIGIN = web.RequestKey("iisfleet.security.cors_origin", str)
"""The allowed Origin of a cross-origin /api request; its response gets the CORS headers."""
OPERATOR = web.RequestKey("iisfleet.security.operator", str)
"""The operator named by the controller, as canonical compact JSON (absent when none was named)."""
