"""Secrets out of stored job data: password, token, key, secret and value members become "{HIDDEN}".

`iis.request` bodies and answers can carry credentials (an app pool identity's password, a new API key's
token). The job history keeps a redacted copy; the real params a step needs are sealed with the controller's
SecretBox (`params_sealed` on the job), so Redis holds no secret in the clear. `value` is hidden too: it is
where the agent returns a new token, and where app settings keep connection strings. Answers from credential
endpoints (CREDENTIAL_PATHS) are not kept at all.
"""

from __future__ import annotations

import re
from typing import Any

HIDDEN = "{HIDDEN}"
_SECRET_WORD = re.compile(r"password|passwd|passphrase|secret|token|credential", re.IGNORECASE)
_CAMEL_KEY = re.compile(r"[a-z0-9]Key$")
_EXACT = frozenset({"key", "value"})
CREDENTIAL_PATHS = ("/api/access-token", "/security")
"""Agent paths whose answers are credentials or key metadata: a job result keeps only their status."""


def is_secret_name(name: str) -> bool:
    """Whether a JSON member with this name holds a credential ("key", "api_key", "privateKey", "password", ...)."""
    if _SECRET_WORD.search(name):
        return True
    lowered = name.lower()
    return lowered in _EXACT or bool(re.search(r"[_.-]key$", lowered)) or bool(_CAMEL_KEY.search(name))


def redact(value: Any) -> Any:
    """A copy of `value` with every secret member's value replaced by HIDDEN (recursively)."""
    if isinstance(value, dict):
        return {
            key: HIDDEN if is_secret_name(str(key)) and value[key] not in (None, "") else redact(value[key])
            for key in value
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def is_credential_path(path: str) -> bool:
    """Whether an agent path (query and fragment ignored, any case) is under one of CREDENTIAL_PATHS."""
    lowered = path.split("?", 1)[0].split("#", 1)[0].lower().rstrip("/")
    return any(lowered == prefix or lowered.startswith(prefix + "/") for prefix in CREDENTIAL_PATHS)
