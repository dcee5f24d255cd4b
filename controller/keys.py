"""Every typed web.AppKey and web.RequestKey of the controller application."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from controller.auth.guard import AuthGuard
from controller.auth.operators import Operator
from controller.pki import CertificateAuthority
from controller.services.sessions import Session
from controller.settings import ControllerSettings
from controller.store import FleetStore
from shared.secretbox import SecretBox

SETTINGS = web.AppKey("settings", ControllerSettings)
STORE = web.AppKey("store", FleetStore)
CA = web.AppKey("ca", CertificateAuthority)
SECRET_BOX = web.AppKey("secret_box", SecretBox)
CELERY: web.AppKey[Any] = web.AppKey("celery")
"""The Celery app the API enqueues job tasks with (typed loosely: Celery ships no type information)."""
AGENT_SESSION = web.AppKey("agent_session", aiohttp.ClientSession)
"""HTTPS client towards agents: verifies them against the CA and presents the controller's certificate."""

AUTH_GUARD = web.AppKey("auth_guard", AuthGuard)
"""Failed-authentication limits and token caches of this process."""

OPERATOR = web.RequestKey("operator", Operator)
"""The operator key that authenticated this request (id, purpose, role, scope)."""
AGENT_ID = web.RequestKey("agent_id", str)
"""The agent whose client certificate authenticated this request."""
SESSION = web.RequestKey("session", Session)
"""The console session that authenticated this request (absent for bearer tokens)."""
