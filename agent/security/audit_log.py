"""The audit log file (reference 1.14): `audit-{Date}.txt`, one file per UTC day, oldest pruned.

Entries are appended synchronously without fsync: each is a few hundred bytes, so the write costs
microseconds and never waits on the disk. Sensitive members are masked before anything is written.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from shared.dates import format_date, utcnow

HIDDEN = "{HIDDEN}"
SECRET_MEMBERS = frozenset({"password", "private_key_password", "access_token"})
"""Masked wherever they appear in a body."""
TOKEN_MEMBERS = frozenset({"value", "token"})
"""Also masked at the top level of bodies on security routes (they carry tokens there)."""

log = logging.getLogger("iisfleet.audit")


def mask(body: Any, *, security_route: bool = False) -> Any:
    """A copy of a JSON body with secrets replaced by {HIDDEN} and the top-level `_links` nulled."""
    masked = _mask(body)
    if isinstance(masked, dict):
        if "_links" in masked:
            masked["_links"] = None
        if security_route:
            for name in TOKEN_MEMBERS & masked.keys():
                masked[name] = HIDDEN
    return masked


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: HIDDEN if str(k).lower() in SECRET_MEMBERS else _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(item) for item in value]
    return value


def entry_text(
    key_id: str, method: str, path: str, arguments: Mapping[str, str], *, operator: str | None = None
) -> str:
    """The upstream entry: key id, method, path, then one `name: value` line per argument.

    `operator` (the controller's X-IISFleet-Operator, canonical JSON) follows the key id when present.
    """
    lines = [f"API Key ID: {key_id}"]
    if operator is not None:
        lines.append(f"Operator: {operator}")
    lines += [f"Method: {method}", f"Path: {path}"]
    lines += [f"{name}: {value}" for name, value in arguments.items()]
    return "\n".join(lines)


def model_argument(body: Any, *, security_route: bool) -> str:
    """The `model` argument: the masked body as compact JSON."""
    return json.dumps(mask(body, security_route=security_route), separators=(",", ":"), ensure_ascii=False)


class AuditLog:
    """Appends audit entries to the day's file and keeps at most `max_files` files."""

    def __init__(
        self, directory: Path, *, file_name: str = "audit-{Date}.txt", max_files: int = 100, enabled: bool = True
    ) -> None:
        self.directory = directory
        self.file_name = file_name if "{Date}" in file_name else file_name + "{Date}"
        self.max_files = max_files
        self.enabled = enabled
        self._day = ""
        self._handle: IO[str] | None = None
        prefix, _, suffix = self.file_name.partition("{Date}")
        self._pattern = re.compile(re.escape(prefix) + r"\d{8}" + re.escape(suffix) + "$")

    def path_for(self, when: datetime) -> Path:
        """The file that holds entries of `when`'s day."""
        return self.directory / self.file_name.replace("{Date}", when.strftime("%Y%m%d"))

    def write(self, text: str, *, when: datetime | None = None) -> None:
        """Append one entry, preceded by its timestamp line."""
        if not self.enabled:
            return
        when = when or utcnow()
        log.info("%s", text)
        try:
            handle = self._open(when)
            handle.write(f"{format_date(when)}\n{text}\n\n")
            handle.flush()
        except OSError as err:
            # Auditing must not turn a successful change into a failure; say so loudly instead.
            log.error("cannot write the audit log in %s: %s", self.directory, err)

    def _open(self, when: datetime) -> IO[str]:
        day = when.strftime("%Y%m%d")
        if self._handle is None or day != self._day:
            self.close()
            self.directory.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path_for(when), "a", encoding="utf-8")  # noqa: SIM115 - kept open all day
            self._day = day
            self._prune()
        return self._handle

    def _prune(self) -> None:
        files = sorted(p for p in self.directory.iterdir() if self._pattern.match(p.name))
        for old in files[: max(0, len(files) - self.max_files)]:
            old.unlink(missing_ok=True)

    def close(self) -> None:
        """Close the current file (at shutdown or when the day rolls over)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
