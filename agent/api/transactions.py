"""Configuration transactions: one server-wide staging copy of applicationHost.config.

While a transaction is open, requests under /api/webserver that carry its `Transaction-Id` read and write a
private copy of the configuration (a ConfigStore on `<state>/transactions/`); writes without the header are
refused, and reads without it see the committed state. Committing replaces applicationHost.config with the
staged copy in one atomic save; aborting, or 60 s without a request that names it, drops the copy.
"""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web

from agent.api.routing import Handler
from agent.ids import Purpose
from agent.iisconfig import ConfigStore
from agent.keys import CONFIG_STORE, ID_CODEC, STATE_DIR
from shared.errors import AlreadyExists, NotFound

IDLE_TIMEOUT = timedelta(seconds=60)
HEADER = "Transaction-Id"
SCOPE = "/api/webserver"
OWN_PATH = "/api/webserver/transactions"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(slots=True)
class Transaction:
    """The open transaction: its id (plaintext), staged store and the main file it started from."""

    key: str
    store: ConfigStore
    base: bytes
    created_on: datetime = field(default_factory=lambda: datetime.now(UTC))
    expires_on: datetime = field(default_factory=lambda: datetime.now(UTC) + IDLE_TIMEOUT)
    state: str = "Started"

    def touch(self) -> None:
        """Push the idle deadline forward."""
        self.expires_on = datetime.now(UTC) + IDLE_TIMEOUT


class TransactionManager:
    """Opens, finds, commits and aborts the single server-wide transaction."""

    def __init__(self, main: ConfigStore, folder: Path) -> None:
        self.main = main
        self.folder = folder
        self._current: Transaction | None = None

    def current(self) -> Transaction | None:
        """The open transaction, after dropping one that sat idle too long."""
        txn = self._current
        if txn is not None and datetime.now(UTC) >= txn.expires_on:
            self._discard()
        return self._current

    def begin(self) -> Transaction:
        """Open a transaction on a copy of the committed configuration (or return the open one, as upstream)."""
        existing = self.current()
        if existing is not None:
            return existing
        self.main.refresh_if_changed()
        base = self.main.committed_bytes
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        staged_path = self.folder / self.main.path.name
        staged_path.write_bytes(base)
        store = ConfigStore(staged_path, keep_backups=0)
        store.load()
        self._current = Transaction(key=secrets.token_hex(5), store=store, base=base)
        return self._current

    async def commit(self) -> Transaction:
        """Save the staged configuration over the main file in one atomic write."""
        txn = self._require()
        async with self.main.write() as main:
            if main.committed_bytes != txn.base:
                self._discard()
                raise AlreadyExists("transaction", "The configuration changed outside the transaction; it was aborted.")
            main.replace_document(txn.store.serialize())
        txn.state = "Committed"
        self._discard()
        return txn

    def abort(self) -> Transaction:
        """Drop every staged change."""
        txn = self._require()
        txn.state = "Aborted"
        self._discard()
        return txn

    def _require(self) -> Transaction:
        txn = self.current()
        if txn is None:
            raise NotFound(name="transaction")
        return txn

    def _discard(self) -> None:
        self._current = None
        shutil.rmtree(self.folder, ignore_errors=True)


# Not in agent.keys: the type lives in agent.api, above agent.keys (tests/meta/test_layers.py).
TRANSACTIONS = web.AppKey("transactions", TransactionManager)
STAGED_STORE = web.RequestKey("staged_store", ConfigStore)


def install_transactions(app: web.Application) -> None:
    """Add the manager; call after CONFIG_STORE and STATE_DIR are set."""
    app[TRANSACTIONS] = TransactionManager(app[CONFIG_STORE], app[STATE_DIR] / "transactions")


@web.middleware
async def transaction_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Route /api/webserver requests to the staged copy, and refuse unstaged writes while one is open."""
    path = request.path
    if not path.startswith(SCOPE) or path.startswith(OWN_PATH):
        return await handler(request)
    txn = request.app[TRANSACTIONS].current()
    named = request.headers.get(HEADER)
    if named is not None:
        if txn is None or named != txn_id(request, txn):
            raise NotFound(name="transaction")
        txn.touch()
        request[STAGED_STORE] = txn.store
    elif txn is not None and request.method not in READ_METHODS:
        raise NotFound(name="transaction", detail="A transaction is open; send its Transaction-Id header.")
    return await handler(request)


def txn_id(request: web.Request, txn: Transaction) -> str:
    """The opaque id of a transaction."""
    return request.app[ID_CODEC].encode(Purpose.TRANSACTION, txn.key)
