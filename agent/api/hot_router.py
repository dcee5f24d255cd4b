"""HotRouter: aiohttp's UrlDispatcher, remembering where each GET/HEAD path resolved.

The agent registers ~400 routes; resolving `/api/webserver/websites/{id}` tries every route filed under
`/api/webserver/websites` (the collection, its slash form, `{id}`, `{id}/` ...) with a regular expression
each, on every request. The table never changes once the application runs (aiohttp freezes it), so the
(method, path) -> (match, route) answer of a successful resolution stays true: later requests for the
same path build their match info from it directly. Only GET and HEAD, only successes; bounded.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp.web_urldispatcher import UrlMappingMatchInfo

MAX_PATHS = 8192
"""Paths remembered; past this the memo starts over (ids make paths unbounded)."""
_HOT_METHODS = frozenset({"GET", "HEAD"})


class HotRouter(web.UrlDispatcher):
    """A UrlDispatcher with a memo of resolved GET/HEAD paths."""

    def __init__(self) -> None:
        super().__init__()
        self._hot: dict[tuple[str, str], tuple[dict[str, str], web.AbstractRoute]] = {}

    async def resolve(self, request: web.Request) -> UrlMappingMatchInfo:
        """The route for `request`: from the memo when this method and path resolved before."""
        method = request.method
        if method not in _HOT_METHODS:
            return await super().resolve(request)
        key = (method, request.rel_url.path_safe)
        hit = self._hot.get(key)
        if hit is not None:
            return UrlMappingMatchInfo(dict(hit[0]), hit[1])
        info = await super().resolve(request)
        if type(info) is UrlMappingMatchInfo and not info.apps:
            if len(self._hot) >= MAX_PATHS:
                self._hot.clear()
            self._hot[key] = (dict(info), info.route)
        return info


def hot_application(middlewares: Sequence[Middleware], client_max_size: int) -> web.Application:
    """web.Application with a HotRouter (aiohttp marks the router argument deprecated; it is still supported)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return web.Application(router=HotRouter(), middlewares=middlewares, client_max_size=client_max_size)
