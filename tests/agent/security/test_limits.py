"""Denial-of-service limits of the agent's API server, over real sockets on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from agent.security.hashing import THREAD_PREFIX, HashPool, HashPoolBusy
from agent.security.keys import KEY_STORE
from agent.security.keystore import ApiKeyStore
from agent.security.server_limits import LimitedSite
from agent.security.tls import server_ssl_context
from agent.security.tokens import new_token
from agent.settings import AgentSettings, ServerLimits
from tests.agent.security.conftest import bearer, build_test_app, make_settings

Serve = Callable[..., Awaitable["Agent"]]


class Agent:
    """The security test app behind a LimitedSite."""

    def __init__(self, app: web.Application, site: LimitedSite, scheme: str) -> None:
        self.app, self.site = app, site
        self.url = f"{scheme}://127.0.0.1:{site.port}"

    @property
    def store(self) -> ApiKeyStore:
        return self.app[KEY_STORE]

    async def get(self, token: str, source: str = "127.0.0.1") -> tuple[int, dict[str, Any], dict[str, str]]:
        """GET /api/things with `token`, connecting from the loopback address `source`."""
        connector = aiohttp.TCPConnector(local_addr=(source, 0), ssl=False)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(f"{self.url}/api/things", headers=bearer(token)) as response,
        ):
            return response.status, await response.json(content_type=None), dict(response.headers)


@pytest.fixture
async def serve(state_dir: Path) -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(*, tls: bool = False, **limits: Any) -> Agent:
        settings: AgentSettings = make_settings(iisfleet={"limits": limits})
        app = build_test_app(state_dir, settings)
        runner = web.AppRunner(app, keepalive_timeout=settings.iisfleet.limits.keepalive_timeout)
        await runner.setup()
        runners.append(runner)
        context = server_ssl_context(state_dir, settings, ["127.0.0.1"]) if tls else None
        site = LimitedSite(runner, "127.0.0.1", 0, settings.iisfleet.limits, ssl_context=context)
        await site.start()
        return Agent(app, site, "https" if tls else "http")

    yield start
    for runner in runners:
        await runner.cleanup()


def count_hashes(store: ApiKeyStore) -> list[str]:
    """Record every token the store hashes."""
    hashed: list[str] = []
    original = store.hasher.hash

    async def counting(token: str) -> str | None:
        hashed.append(token)
        return await original(token)

    store.hasher.hash = counting  # type: ignore[method-assign]
    return hashed


async def test_50_bad_tokens_are_throttled_while_good_tokens_work(serve: Serve) -> None:
    agent = await serve()
    _, used = agent.store.create("controller", None)
    _, fresh = agent.store.create("operator elsewhere", None)
    assert (await agent.get(used))[0] == 200  # verified once: in the store's 30 s cache
    hashed = count_hashes(agent.store)
    statuses = [(await agent.get(new_token()))[0] for _ in range(50)]
    assert statuses[:20] == [403] * 20
    assert statuses[20:] == [429] * 30
    status, body, headers = await agent.get(new_token())
    assert (status, body["title"], body["status"]) == (429, "Too many requests", 429)
    assert "failed authentications" in body["detail"] and 1 <= int(headers["Retry-After"]) <= 60
    assert len(hashed) == 20  # throttled requests cost no PBKDF2
    # A token verified within the cache period keeps working; a token not yet proved waits like any guess.
    assert (await agent.get(used))[0] == 200
    assert (await agent.get(fresh))[0] == 429
    # Another address is not affected at all.
    assert (await agent.get(fresh, source="127.0.0.2"))[0] == 200
    assert (await agent.get(new_token(), source="127.0.0.2"))[0] == 403


async def test_throttle_window_expires(serve: Serve) -> None:
    agent = await serve(auth_failures=3, auth_window=0.5)
    _, token = agent.store.create("k", None)
    for _ in range(3):
        assert (await agent.get(new_token()))[0] == 403
    assert (await agent.get(token))[0] == 429
    await asyncio.sleep(0.6)
    assert (await agent.get(token))[0] == 200


def test_failed_checks_are_cached_briefly(tmp_path: Path) -> None:
    store = ApiKeyStore(tmp_path / "api-keys.json")
    bad = new_token()
    started = time.perf_counter()
    assert store.verify(bad) is None
    first = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(20):
        assert store.verify(bad) is None
    assert time.perf_counter() - started < first * 5  # 20 replays cost less than 5 PBKDF2s
    # A change to the keys forgets failures (a new expiry may make a refused token good again).
    store.create("other", None)
    assert not store._failed


async def test_failed_checks_skip_the_hash_pool(tmp_path: Path) -> None:
    store = ApiKeyStore(tmp_path / "api-keys.json")
    hashed = count_hashes(store)
    bad = new_token()
    for _ in range(10):
        assert await store.averify(bad) is None
    assert hashed == [bad]


async def test_pbkdf2_runs_in_its_own_bounded_pool(tmp_path: Path) -> None:
    pool = HashPool(workers=1, queue=2)
    store = ApiKeyStore(tmp_path / "api-keys.json", hasher=pool)
    key, token = store.create("k", None)
    threads: list[str] = []
    from agent.security import hashing

    original = hashing.hash_token

    def slow_hash(value: str) -> str | None:
        threads.append(threading.current_thread().name)
        time.sleep(0.3)
        return original(value)

    hashing.hash_token = slow_hash  # type: ignore[assignment]
    try:
        checks = [asyncio.ensure_future(store.averify(t)) for t in (token, new_token())]
        await asyncio.sleep(0.05)
        with pytest.raises(HashPoolBusy):
            await store.averify(new_token())
        # The default executor (config and file I/O) is not stuck behind the hashes.
        started = time.perf_counter()
        await asyncio.to_thread(lambda: None)
        assert time.perf_counter() - started < 0.2
        assert await checks[0] == key and await checks[1] is None
    finally:
        hashing.hash_token = original
        pool.close()
    assert threads and all(name.startswith(THREAD_PREFIX) for name in threads)


async def test_busy_hash_pool_answers_503(serve: Serve) -> None:
    agent = await serve(hash_queue=1)
    pool = agent.store.hasher
    pool._pending = 1  # as if one check were running
    try:
        status, body, _ = await agent.get(new_token())
    finally:
        pool._pending = 0
    assert (status, body["title"]) == (503, "Service unavailable")


async def test_connection_cap(serve: Serve) -> None:
    agent = await serve(max_connections=2)
    held = [await asyncio.open_connection("127.0.0.1", agent.site.port) for _ in range(2)]
    await asyncio.sleep(0.1)
    reader, writer = await asyncio.open_connection("127.0.0.1", agent.site.port)
    answer = await asyncio.wait_for(reader.read(), 5)
    assert answer.startswith(b"HTTP/1.1 503 ") and b'"Too many connections' in answer
    writer.close()
    for _, w in held:
        w.close()
    await asyncio.sleep(0.1)
    assert (await agent.get(new_token()))[0] == 403  # served again once connections closed


async def test_slow_headers_are_cut_off(serve: Serve) -> None:
    """Slowloris: a request whose headers trickle in never completes and the connection is closed."""
    agent = await serve(keepalive_timeout=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", agent.site.port)
    started = time.monotonic()
    writer.write(b"GET /api/things HTTP/1.1\r\nHost: x\r\n")
    with contextlib.suppress(ConnectionError):
        for _ in range(40):  # one header byte every 0.1 s for up to 4 s
            if await _closed_within(reader, 0.1):
                break
            writer.write(b"X")
    assert reader.at_eof() and time.monotonic() - started < 3
    writer.close()


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), seconds) == b""
    except TimeoutError:
        return False


async def test_tls_handshake_timeout(serve: Serve) -> None:
    agent = await serve(tls=True, handshake_timeout=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", agent.site.port)
    started = time.monotonic()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed without a handshake
    assert time.monotonic() - started < 3
    writer.close()
    assert (await agent.get(new_token()))[0] == 403  # real clients still get through


def test_limits_have_safe_defaults() -> None:
    limits = ServerLimits()
    assert limits.keepalive_timeout <= 30 and limits.max_connections >= 64 and limits.auth_failures <= 50
