"""install_security: put the key store, XSRF secret, audit log, CORS rules and policies into the app."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from agent.security.audit_log import AuditLog
from agent.security.cors import cors_on_prepare
from agent.security.cors_policy import CorsPolicy
from agent.security.hashing import HashPool
from agent.security.keys import AUDIT, CORS, KEY_STORE, SECURITY, XSRF
from agent.security.keystore import ApiKeyStore
from agent.security.throttle import THROTTLE, AuthThrottle
from agent.security.xsrf_tokens import XsrfProtector, load_or_create_secret
from agent.settings import AgentSettings, expand_path

API_KEYS_FILE = "api-keys.json"
XSRF_KEY_FILE = "xsrf.key"


def audit_directory(settings: AgentSettings, state_dir: Path) -> Path:
    """`auditing.path` (with %VARS% expanded), else `<state dir>/logs`."""
    if settings.auditing.path:
        return Path(expand_path(settings.auditing.path))
    return state_dir / "logs"


def install_security(app: web.Application, settings: AgentSettings, state_dir: Path) -> None:
    """Create the security objects for `app` from its settings and state directory."""
    app[SECURITY] = settings.security
    limits = settings.iisfleet.limits
    hasher = HashPool(limits.hash_workers, limits.hash_queue)
    app[KEY_STORE] = ApiKeyStore(state_dir / API_KEYS_FILE, settings.api_keys.keys, hasher=hasher)
    app[THROTTLE] = AuthThrottle(limits.auth_failures, limits.auth_window)
    app[XSRF] = XsrfProtector(load_or_create_secret(state_dir / XSRF_KEY_FILE))
    app[CORS] = CorsPolicy(settings.cors.rules)
    audit = AuditLog(
        audit_directory(settings, state_dir),
        file_name=settings.auditing.file_name,
        max_files=settings.auditing.max_files,
        enabled=settings.auditing.enabled,
    )
    app[AUDIT] = audit
    app.on_response_prepare.append(cors_on_prepare)

    async def close_audit(_: web.Application) -> None:
        audit.close()
        hasher.close()

    app.on_cleanup.append(close_audit)
