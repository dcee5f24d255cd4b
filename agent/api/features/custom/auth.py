"""Authentication: the container resource's links, anonymous password handling and Windows providers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.api.features.target import Target
from shared.errors import InvalidParameter, NotFound

# Security packages a Windows machine typically offers for negotiation; Linux has none, so a fixed list.
AVAILABLE_PROVIDERS = ("Negotiate", "NTLM", "Negotiate:Kerberos", "Negotiate:PKU2U")


def anonymous_write(target: Target, body: dict[str, Any]) -> Callable[[], None] | None:
    """`password` is write-only; an empty or IUSR user (run as the pool identity) drops the password."""
    password = body.get("password")
    user = body.get("user")
    if password is not None and not isinstance(password, str):
        raise InvalidParameter("password")
    if password is None and not (isinstance(user, str) and user.strip().lower() in ("", "iusr")):
        return None

    def write() -> None:
        section = target.local()
        if isinstance(user, str) and user.strip().lower() in ("", "iusr"):
            section.unset("password")
        elif password is not None:
            section.set("password", password)

    return write


def windows_read(target: Target) -> dict[str, Any]:
    """Configured providers (enabled) then the other available ones (disabled)."""
    configured = [str(p.get("value")) for p in target.effective().collection("providers")]
    lowered = {name.lower() for name in configured}
    rest = [name for name in AVAILABLE_PROVIDERS if name.lower() not in lowered]
    return {"providers": [{"name": n, "enabled": True} for n in configured]
            + [{"name": n, "enabled": False} for n in rest]}  # fmt: skip


def windows_write(target: Target, body: dict[str, Any]) -> Callable[[], None] | None:
    """Enable (append) or disable (remove) the listed providers; the local list is rewritten whole."""
    raw = body.get("providers")
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InvalidParameter("providers")
    current = [str(p.get("value")) for p in target.effective().collection("providers")]
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidParameter("provider")
        name, enabled = item.get("name"), item.get("enabled")
        if not isinstance(name, str) or not name.strip():
            raise InvalidParameter("provider.name")
        if not isinstance(enabled, bool):
            raise InvalidParameter("provider.enabled")
        present = next((c for c in current if c.lower() == name.lower()), None)
        if enabled and present is None:
            if name.lower() not in {p.lower() for p in AVAILABLE_PROVIDERS}:
                raise NotFound(name=f"provider: {name}")
            current.append(name)
        elif not enabled and present is not None:
            current.remove(present)

    def write() -> None:
        providers = target.local().collection("providers")
        providers.clear()
        for name in current:
            providers.add(value=name)

    return write
