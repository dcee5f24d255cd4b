"""Whole answers of config-backed GETs (the final body and headers), valid for one state of the world.

An answer depends on the configuration document (journal position: every change inside it moves the
position), on runtime state (the host's runtime_version: every status change bumps it), and on the
request (raw path with the query, and whether the client asked for HAL). The cache keeps the answers of
one such state per store; a read that finds another state drops them all. So a read after a 2xx write
(the write moved the journal before answering) and after an external edit of applicationHost.config
(reloaded into a new document by current_store) never sees an older answer. A host that cannot version
its runtime state (IIS: appcmd is polled) gets no whole-answer caching. The key does not hold the caller:
the routes cached here answer every authorised caller alike (scope checks run before the handler).
"""

from __future__ import annotations

import weakref

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from agent.api.http import wants_hal
from agent.hosting.base import Host
from agent.iisconfig import ConfigStore
from agent.iisconfig.document import Document

MAX_ANSWERS = 4096
"""Answers kept per store and state; past this the cache starts over (each is one answer body)."""

Stamp = tuple[Document, int, int]
Key = tuple[str, bool]


class AnswerCache:
    """The answers of one store for its current (document, journal position, runtime version)."""

    __slots__ = ("__weakref__", "_stamp", "_answers")

    def __init__(self) -> None:
        self._stamp: Stamp | None = None
        self._answers: dict[Key, tuple[bytes, CIMultiDictProxy[str], int]] = {}

    def lookup(self, stamp: Stamp, key: Key) -> web.Response | None:
        """A fresh response for `key` when one was kept in this state; drops everything on a new state."""
        if stamp != self._stamp:
            self._stamp = stamp
            self._answers.clear()
            return None
        answer = self._answers.get(key)
        if answer is None:
            return None
        body, headers, status = answer
        # Kept as a read-only multidict: Response copies it once (a tuple of pairs cost a second copy).
        return web.Response(body=body, status=status, headers=headers)

    def keep(self, stamp: Stamp, key: Key, response: web.Response) -> None:
        """Keep `response` (a plain bytes body) as the answer for `key` in state `stamp`."""
        if stamp != self._stamp or not isinstance(response.body, bytes):
            return
        if len(self._answers) >= MAX_ANSWERS:
            self._answers.clear()
        self._answers[key] = (response.body, CIMultiDictProxy(CIMultiDict(response.headers)), response.status)


_CACHES: weakref.WeakKeyDictionary[ConfigStore, AnswerCache] = weakref.WeakKeyDictionary()


def answer_cache(store: ConfigStore) -> AnswerCache:
    """The store's answer cache."""
    cache = _CACHES.get(store)
    if cache is None:
        cache = _CACHES[store] = AnswerCache()
    return cache


def answer_state(store: ConfigStore, host: Host) -> Stamp | None:
    """The state answers depend on; None when the host cannot version its runtime state."""
    runtime = host.runtime_version
    if runtime is None:
        return None
    doc = store.document
    return (doc, doc.journal_end, runtime)


def answer_key(request: web.Request) -> Key:
    """What of the request an answer depends on."""
    return (request.raw_path, wants_hal(request))
