"""The API-key store: `api-keys.json` in upstream's format, shared safely with other processes.

Writers (this agent, `iisfleet agent key create` in another process) serialise on an flock'd sibling
lock file, re-read the file under the lock and replace it atomically. Readers need no lock: before a
lookup the store compares the file's inode/size/mtime with what it last loaded and re-reads on change
(at most once per event-loop turn, shared.loop_turn), so a key minted by the CLI is accepted at once.
Plaintext tokens are never stored, only their PBKDF2 hashes. A verified token is cached under the
sha256 of the token for as long as its key lives: each hit checks that the key still exists with the
same token hash and has not expired, so a deleted, renewed or expired key fails on the very next
request (deletions by other processes too, through the stat above).
Failed checks are remembered for FAILED_CACHE_SECONDS (until the keys change), so replaying one bad token
costs no PBKDF2.
Within one event-loop turn a token verified once is answered from a memo keyed by the token itself (no
sha256, no expiry check): the requests of one turn arrived together (shared.loop_turn), so they may share
one answer. The memo is emptied when the next turn starts and by every change of the keys (_install), so a
revoked, renewed or expired key is refused from the next turn on, and never after a change this process made.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from agent.security import scopes
from agent.security.hashing import DEFAULT_POOL, HashPool
from agent.security.tokens import TOKEN_TYPE, b64url, fingerprint, hash_token, new_key_id, new_token
from shared import filelock
from shared.dates import format_date, parse_optional, utcnow
from shared.fsutil import atomic_write_bytes
from shared.loop_turn import TURN

log = logging.getLogger("iisfleet.agent.security")

FAILED_CACHE_SECONDS = 5.0
_CACHE_LIMIT = 4096
_T = TypeVar("_T")


class KeyStoreError(Exception):
    """api-keys.json cannot be read or written."""


class UnknownKey(KeyError):
    """No API key has this id."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One API key: metadata plus the hash of its current token."""

    id: str
    purpose: str
    created_on: datetime
    last_modified: datetime
    expires_on: datetime | None
    token_hash: str
    token_type: str = TOKEN_TYPE
    read_only: bool = False
    """Defined in appsettings `api_keys.keys`: usable and renewable, never written to api-keys.json."""
    scope: str = scopes.DEFAULT
    """Which access policies the key may satisfy (agent.security.scopes)."""

    def expired(self, now: datetime | None = None) -> bool:
        """Upstream: a key is invalid once `expires_on` <= now."""
        return self.expires_on is not None and self.expires_on <= (now or utcnow())

    def to_json(self) -> dict[str, str]:
        """The api-keys.json entry."""
        return {
            "id": self.id,
            "purpose": self.purpose,
            "created_on": format_date(self.created_on),
            "last_modified": format_date(self.last_modified),
            "expires_on": format_date(self.expires_on),
            "token_hash": self.token_hash,
            "token_type": self.token_type,
            # Always written, so a later purpose never changes how the key is read back.
            "scope": self.scope,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], *, read_only: bool = False) -> ApiKey:
        """Parse an entry (also upstream's legacy `hash` member); raises ValueError/KeyError/TypeError."""
        token_hash = str(raw.get("token_hash") or raw.get("hash") or "")
        if not token_hash:
            raise ValueError("an API key entry has no token_hash")
        created = parse_optional(raw.get("created_on")) or datetime(2000, 1, 1, tzinfo=UTC)
        # Settings keys may omit their id; derive a stable one from the hash so it survives restarts.
        key_id = str(raw.get("id") or b64url(hashlib.sha256(token_hash.encode()).digest()[:16]))
        purpose = str(raw.get("purpose") or "")
        return cls(
            id=key_id,
            purpose=purpose,
            created_on=created,
            last_modified=parse_optional(raw.get("last_modified")) or created,
            expires_on=parse_optional(raw.get("expires_on")),
            token_hash=token_hash,
            token_type=str(raw.get("token_type") or TOKEN_TYPE),
            read_only=read_only,
            scope=scopes.stored_scope(raw.get("scope"), purpose),
        )


@contextlib.contextmanager
def _file_lock(lock_path: Path) -> Iterator[None]:
    """An exclusive cross-process lock on a sibling file, so the CLI and the running agent never interleave."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as handle:
        filelock.lock(handle)
        try:
            yield
        finally:
            filelock.unlock(handle)


class ApiKeyStore:
    """API keys from api-keys.json plus read-only keys from appsettings, with token verification."""

    def __init__(
        self, path: Path, readonly_keys: Iterable[Mapping[str, Any]] = (), *, hasher: HashPool | None = None
    ) -> None:
        self.path = path
        self.hasher = hasher or DEFAULT_POOL
        self._lock_path = path.with_name(path.name + ".lock")
        self._mutex = threading.RLock()
        self._readonly: dict[str, ApiKey] = {}
        for raw in readonly_keys:
            try:
                key = ApiKey.from_json(raw, read_only=True)
            except (ValueError, KeyError, TypeError) as err:
                log.warning("ignoring an api_keys.keys entry in appsettings: %s", err)
                continue
            self._readonly[key.id] = key
        self._file_keys: dict[str, ApiKey] = {}
        self._by_hash: dict[str, str] = {}
        self._signature: tuple[int, int, int] | None = None
        self._merged: dict[str, ApiKey] = {}
        self._cache: dict[str, tuple[str, str]] = {}
        self._failed: dict[str, float] = {}
        # Read without the mutex on the loop thread; written (and emptied on key changes) under it.
        self._turn: dict[str, ApiKey] = {}
        with self._mutex:
            self._install({}, None)
            self._refresh_if_changed()

    # -- reading -----------------------------------------------------------------------------------

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _read_file(self) -> dict[str, ApiKey]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as err:
            raise KeyStoreError(f"{self.path}: {err}") from err
        if not data.strip():
            return {}
        try:
            doc = json.loads(data.decode("utf-8-sig"))
            entries = doc.get("keys") or []
            keys = [ApiKey.from_json(entry) for entry in entries]
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise KeyStoreError(f"{self.path} is not a valid api-keys.json: {err}") from err
        return {key.id: key for key in keys}

    def _install(self, keys: dict[str, ApiKey], signature: tuple[int, int, int] | None) -> None:
        self._file_keys = keys
        self._signature = signature
        self._merged = {**self._readonly, **self._file_keys}
        self._by_hash = {key.token_hash: key.id for key in self._merged.values()}
        # A changed key (a new expiry, say) may make a refused token good again.
        self._failed = {}
        # Every change goes through here: no verification of this turn outlives it.
        self._turn.clear()

    def _all(self) -> dict[str, ApiKey]:
        """Every key by id (rebuilt by _install, which every change goes through)."""
        return self._merged

    def _refresh_if_changed(self) -> None:
        signature = self._stat()
        if signature == self._signature:
            return
        try:
            keys = self._read_file()
        except KeyStoreError as err:
            # Keep serving the keys we had; a half-edited file must not lock everybody out.
            log.error("%s", err)
            return
        self._install(keys, signature)

    def get(self, key_id: str) -> ApiKey | None:
        """The key with this id, or None."""
        with self._mutex:
            self._refresh_if_changed()
            return self._all().get(key_id)

    def list(self) -> list[ApiKey]:
        """Every key, oldest first."""
        with self._mutex:
            self._refresh_if_changed()
            return sorted(self._all().values(), key=lambda key: (key.created_on, key.id))

    # -- writing -----------------------------------------------------------------------------------

    def _mutate(self, change: Callable[[dict[str, ApiKey]], _T]) -> _T:
        """Apply `change` to the freshest file contents under the cross-process lock, then save."""
        with self._mutex, _file_lock(self._lock_path):
            keys = self._read_file()
            result = change(keys)
            doc = {"keys": [key.to_json() for key in sorted(keys.values(), key=lambda k: (k.created_on, k.id))]}
            atomic_write_bytes(self.path, (json.dumps(doc, indent=2) + "\n").encode("utf-8"), mode=0o600)
            self._install(keys, self._stat())
            self._cache.clear()
            return result

    def create(self, purpose: str, expires_on: datetime | None, *, scope: str = scopes.DEFAULT) -> tuple[ApiKey, str]:
        """A new key; returns it with its plaintext token (shown once, never stored)."""
        if scope not in scopes.SCOPES:
            raise ValueError(f"unknown API key scope {scope!r}; expected one of {', '.join(scopes.SCOPES)}")
        token = new_token()
        token_hash = hash_token(token)
        assert token_hash is not None
        now = utcnow()
        key = ApiKey(
            id=new_key_id(),
            purpose=purpose,
            created_on=now,
            last_modified=now,
            expires_on=expires_on.astimezone(UTC) if expires_on else None,
            token_hash=token_hash,
            scope=scope,
        )

        def add(keys: dict[str, ApiKey]) -> None:
            keys[key.id] = key

        self._mutate(add)
        return key, token

    def renew(self, key_id: str) -> tuple[ApiKey, str]:
        """Give the key a new token; the old one stops working at once. Raises UnknownKey."""
        token = new_token()
        token_hash = hash_token(token)
        assert token_hash is not None
        return self._replace(key_id, token_hash=token_hash), token

    def update(self, key_id: str, *, purpose: str | None = None, expires_on: datetime | None = None) -> ApiKey:
        """Change purpose and/or expiry (None leaves a member unchanged). Raises UnknownKey."""
        changes: dict[str, Any] = {}
        if purpose is not None:
            changes["purpose"] = purpose
        if expires_on is not None:
            changes["expires_on"] = expires_on.astimezone(UTC)
        return self._replace(key_id, **changes)

    def _replace(self, key_id: str, **changes: Any) -> ApiKey:
        with self._mutex:
            self._refresh_if_changed()
            if key_id in self._readonly and key_id not in self._file_keys:
                # Settings keys change in memory only, as upstream (they are not persisted).
                key = replace(self._readonly[key_id], last_modified=utcnow(), **changes)
                self._readonly[key_id] = key
                self._install(self._file_keys, self._signature)
                self._cache.clear()
                return key

            def change(keys: dict[str, ApiKey]) -> ApiKey:
                if key_id not in keys:
                    raise UnknownKey(key_id)
                keys[key_id] = replace(keys[key_id], last_modified=utcnow(), **changes)
                return keys[key_id]

            return self._mutate(change)

    def delete(self, key_id: str) -> bool:
        """Remove the key (its token dies at once); False if there was none."""
        with self._mutex:
            self._refresh_if_changed()
            removed = self._readonly.pop(key_id, None) is not None
            if key_id in self._file_keys:
                removed = self._mutate(lambda keys: keys.pop(key_id, None) is not None) or removed
            else:
                self._install(self._file_keys, self._signature)
            self._cache.clear()
            return removed

    # -- verification ------------------------------------------------------------------------------

    def _cached(self, token: str) -> ApiKey | None:
        """The key a token was verified for, while that key exists with the same token hash and is live."""
        fp = fingerprint(token)
        entry = self._cache.get(fp)
        if entry is None:
            return None
        key_id, token_hash = entry
        key = self._merged.get(key_id)
        if key is None or key.token_hash != token_hash or key.expired():
            del self._cache[fp]
            return None
        return key

    def _resolve(self, token: str, token_hash: str | None) -> ApiKey | None:
        if token_hash is None:
            return None
        with self._mutex:
            self._refresh_if_changed()
            key_id = self._by_hash.get(token_hash)
            key = self._all().get(key_id) if key_id else None
            if key is None or key.expired():
                return None
            if len(self._cache) >= _CACHE_LIMIT:
                self._prune()
            self._cache[fingerprint(token)] = (key.id, token_hash)
            return key

    def _prune(self) -> None:
        """Drop entries of keys that are gone, renewed or expired; start over if that is not enough."""
        live = {key.id: key.token_hash for key in self._merged.values() if not key.expired()}
        self._cache = {fp: entry for fp, entry in self._cache.items() if live.get(entry[0]) == entry[1]}
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()

    def _fast_path(self, token: str) -> ApiKey | None:
        if TURN.first(self):
            with self._mutex:
                # A new turn forgets the last one's tokens, then stats the file once: deletions and renewals
                # by other processes take effect by the next request.
                self._turn.clear()
                self._refresh_if_changed()
                return self._memoised(token)
        key = self._turn.get(token)
        if key is not None:
            return key
        with self._mutex:
            return self._memoised(token)

    def _memoised(self, token: str) -> ApiKey | None:
        """_cached, remembered for the rest of this loop turn (call under the mutex: _install empties the memo)."""
        key = self._cached(token)
        if key is not None:
            self._turn[token] = key
        return key

    def cached(self, token: str) -> ApiKey | None:
        """The live key for a token verified before, without hashing (None otherwise)."""
        return self._fast_path(token)

    def _failed_recently(self, token: str) -> bool:
        with self._mutex:
            if TURN.first(self):
                self._refresh_if_changed()
            stamp = self._failed.get(fingerprint(token))
            return stamp is not None and time.monotonic() - stamp <= FAILED_CACHE_SECONDS

    def _remember_failure(self, token: str) -> None:
        with self._mutex:
            now = time.monotonic()
            if len(self._failed) >= _CACHE_LIMIT:
                self._failed = {fp: t for fp, t in self._failed.items() if now - t <= FAILED_CACHE_SECONDS}
                if len(self._failed) >= _CACHE_LIMIT:
                    self._failed.clear()
            self._failed[fingerprint(token)] = now

    def verify(self, token: str) -> ApiKey | None:
        """The live key for this token; None when unknown, expired or malformed."""
        key = self._fast_path(token)
        if key is not None or self._failed_recently(token):
            return key
        key = self._resolve(token, hash_token(token))
        if key is None:
            self._remember_failure(token)
        return key

    async def averify(self, token: str) -> ApiKey | None:
        """verify() for async code: the PBKDF2 runs in the store's bounded pool (may raise HashPoolBusy)."""
        key = self._fast_path(token)
        if key is not None or self._failed_recently(token):
            return key
        key = self._resolve(token, await self.hasher.hash(token))
        if key is None:
            self._remember_failure(token)
        return key
