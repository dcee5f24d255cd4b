"""Secrets out of stored job data: password, token, key and secret members become "{HIDDEN}".

`iis.request` bodies and answers can carry credentials (an app pool identity's password, a new API key's
token). The job history keeps a redacted copy; the real params a step needs are sealed with the controller's
SecretBox (`params_sealed` on the job), so Redis holds no secret in the clear.
"""

from __future__ import annotations

import re
from typing import Any

HIDDEN = "{HIDDEN}"
_SECRET_WORD = re.compile(r"password|passwd|passphrase|secret|token|credential", re.IGNORECASE)
_CAMEL_KEY = re.compile(r"[a-z0-9]Key$")


def is_secret_name(name: str) -> bool:
    """Whether a JSON member with this name holds a credential ("key", "api_key", "privateKey", "password", ...)."""
    if _SECRET_WORD.search(name):
        return True
    lowered = name.lower()
    return lowered == "key" or bool(re.search(r"[_.-]key$", lowered)) or bool(_CAMEL_KEY.search(name))


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
