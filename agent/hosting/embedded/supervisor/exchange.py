"""One request and its response, proxied from the client connection to a worker of the request's pool."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from urllib.parse import unquote

from agent.hosting.embedded import cache_policy, http1
from agent.hosting.embedded.cache_policy import CACHE_HEADER, MAX_BODY, FileIdentity, decode_identities, open_identity
from agent.hosting.embedded.supervisor import file_send
from agent.hosting.embedded.supervisor.dispatch import Client, ClientGone
from agent.hosting.embedded.supervisor.pool import AppPool, PoolUnavailable
from agent.hosting.embedded.supervisor.request_body import chunked_body
from agent.hosting.embedded.supervisor.response_cache import DATE, Entry, Key, ResponseCache
from agent.hosting.embedded.supervisor.sites import UNLIMITED, InFlight, SiteRuntime, new_request_id
from agent.hosting.embedded.supervisor.splice import SPLICE, splice_body
from agent.hosting.embedded.supervisor.upstream import ResponseHead, Upstream, UpstreamConnection, UpstreamError
from agent.hosting.embedded.supervisor.w3c import LogEntry, now
from agent.hosting.embedded.supervisor.worker_process import WorkerState
from agent.hosting.embedded.wire import ABORT_HEADER
from agent.hosting.runtime_types import COUNTED_METHODS, RuntimeStatus

log = logging.getLogger("iisfleet.hosting.http")
CHUNK = 65536
# Content-Length bodies with at least this much left after the first read go worker -> client by splice(2).
SPLICE_MIN = 65536


class Exchange:
    """One request and its response."""

    def __init__(self, conn: Client, site: SiteRuntime, head: http1.RequestHead, head_size: int) -> None:
        self.conn = conn
        self.site = site
        self.head = head
        self.received = head_size
        self.sent = 0
        self.body_done = head.content_length in (None, 0) and not head.chunked
        self.status = 0
        self.substatus = 0
        self.win32 = 0
        self.log_it = True
        self.username = ""  # the user a worker module authenticated (W3C cs-username)
        self.started = time.monotonic()
        self.upstream_clean = False  # the worker connection is at a response boundary (reusable)
        self.cache_key: Key | None = None  # set when the request may be answered from / stored in the cache
        self.cache_epoch = 0
        self.pool_name = ""
        self.sent_version = ""
        self.offer_file = False  # the worker may hand a large static file over for us to sendfile (file_handoff)
        self.cached_fd = -1  # the open file of a file-entry cache hit (open_file), closed when it was sent

    def begin(self, *, lookup: bool = True) -> Entry | None:
        """Count the request and look it up in the response cache: the servable entry, or None for a worker.
        Without `lookup` (the connection goes to a worker, whose own copy of the cache answers it) it is a miss."""
        counters = self.site.counters
        counters.requests_total += 1
        if (method := self.head.method) in COUNTED_METHODS:
            counters.method_counts[method] = counters.method_counts.get(method, 0) + 1
        counters.requests_active += 1
        counters.bytes_received += self.received
        cache = self.conn.dispatch.cache
        if not cache.enabled:
            return None
        if not lookup:
            cache.misses += 1
            counters.cache_misses += 1
            return None
        return self._cache_lookup(cache)

    async def run(self) -> bool:
        """Serve the request; True to keep the connection open."""
        entry = self.begin()
        if entry is not None:
            return await self._serve_cached(entry)
        return await self.proceed()

    async def resume(self, entry: Entry | None) -> bool:
        """Serve a request `begin` already counted and looked up (cache_hit.py); True to keep the connection."""
        return await (self._serve_cached(entry) if entry is not None else self.proceed())

    async def proceed(self) -> bool:
        """Serve a request `begin` found no cache entry for, by a worker; True to keep the connection open."""
        head = self.head
        counters = self.site.counters
        app = self.site.match_app(head.path)
        record = InFlight(new_request_id(), head.method, head.target, head.host,
                          f"{self.conn.client_ip}:{self.conn.client_port}", self.site.spec.name,
                          app.pool if app else "", time.time())  # fmt: skip
        self.conn.dispatch.inflight[record.id] = record
        keep = False
        try:
            keep = await self._dispatch(record)
        finally:
            counters.requests_active -= 1
            del self.conn.dispatch.inflight[record.id]
            self.site.count_status(self.status)
            self._log()
        return keep and self.body_done and head.keep_alive

    async def _dispatch(self, record: InFlight) -> bool:
        pool: AppPool | None = self.conn.dispatch.pool(record.pool) if record.pool else None
        self.pool_name = record.pool.lower()
        for attempt in range(2):
            try:
                if pool is None:
                    raise PoolUnavailable(record.pool)
                record.stage = "WaitingForWorker"
                worker = await pool.acquire()
            except PoolUnavailable:
                self.status, self.log_it = 503, False  # HTTP.sys logs these to httperr, not the site log
                await self._write(http1.service_unavailable(close=not self.body_done))
                return True
            record.worker_pid = worker.pid
            try:
                return await self._forward(worker.upstream, record)
            except UpstreamError as err:
                if self.status or not self.body_done or attempt:
                    log.warning("worker pid %d failed mid-request: %s", worker.pid, err)
                    if not self.status:
                        self.status = 503
                        await self._write(http1.service_unavailable(close=True))
                    return False
            finally:
                worker.end()
        return False

    def _cache_lookup(self, cache: ResponseCache) -> Entry | None:
        """A servable cached response, counting the lookup as a hit or a miss (every request is one or the other)."""
        head = self.head
        site = self.site
        entry = None
        if self.body_done and cache_policy.request_cacheable(head.method, [key for key, _ in head.headers]):
            conn = self.conn
            self.cache_key = (site.spec.id, conn.local_ip, conn.local_port, conn.tls, head.host.lower(), head.target)
            self.cache_epoch = cache.epoch
            accept = (head.header("accept-encoding") or "").lower()
            entry = cache.lookup(self.cache_key, conn.dispatch.config_version, accept)
            pool = self._serving_pool(entry) if entry is not None else None
            if pool is not None and entry is not None and entry.dev >= 0:
                self.cached_fd = open_file(entry)
                if self.cached_fd < 0:
                    pool = None
            if pool is None:
                entry = None
            else:
                # The pool counts requests for its applications, hits included (monitoring's pool requests.total
                # then matches the sites'); worker counters count only what a worker served. A hit also keeps
                # the pool from idling out.
                pool.requests_total += 1
                pool.last_request = time.monotonic()
        if entry is None:
            cache.misses += 1
            site.counters.cache_misses += 1
        else:
            cache.hits += 1
            site.counters.cache_hits += 1
        return entry

    def _serving_pool(self, entry: Entry) -> AppPool | None:
        # A stopped pool answers 503 even for a cached URL: check state before every hit. Hits also wait for a
        # running worker (on-demand start and crash replacement behave as without the cache) and stay away from
        # pools that recycle after N requests (that count is of requests a worker served).
        pool = self.conn.dispatch.pool(entry.pool)
        if pool is None or pool.state != RuntimeStatus.STARTED or pool.spec.recycle_requests > 0:
            return None
        if self.site.state != RuntimeStatus.STARTED or entry.site != self.site.spec.name.lower():
            return None
        for worker in pool.workers:  # a loop, not any(<genexpr>): this runs on every hit
            if worker.state == WorkerState.RUNNING:
                return pool
        return None

    def _cached_answer(self, entry: Entry) -> bytes:
        """The bytes of a cache hit: one write, with a fresh Date."""
        head = self.head
        self.status, self.substatus, self.win32, self.log_it = 200, entry.substatus, entry.win32, entry.log_it
        out = entry.status_line + DATE.line() + entry.headers
        if not head.keep_alive:
            out += b"Connection: close\r\n"
        elif head.version < (1, 1):
            out += b"Connection: keep-alive\r\n"
        out += b"\r\n"
        if head.method != "HEAD":
            out += entry.body
        return out

    def _end_cached(self) -> None:
        self.site.counters.requests_active -= 1
        self.site.count_status(self.status)
        self._log()

    async def _serve_cached(self, entry: Entry) -> bool:
        """Answer from the cache: one write (plus the file of a descriptor entry), the same counters and W3C line
        as a worker's answer."""
        try:
            await self._write(self._cached_answer(entry))
            if self.cached_fd >= 0 and self.head.method != "HEAD":
                await self._send_cached_file(self.cached_fd, entry)
        finally:
            if self.cached_fd >= 0:
                os.close(self.cached_fd)
                self.cached_fd = -1
            self._end_cached()
        return self.head.keep_alive

    async def _send_cached_file(self, fd: int, entry: Entry) -> None:
        limit = self.conn.listener.timeout()
        if file_send.SENDFILE is not None and self._can_splice():
            try:
                await file_send.send_file(fd, self.conn.stream, 0, entry.length, limit, self._moved)
            except UpstreamError as err:
                raise ClientGone() from err  # the file shrank: the Content-Length cannot be met
            return
        offset = 0
        while offset < entry.length:  # TLS or maxBandwidth: through Python, as the relay would
            data = os.pread(fd, min(CHUNK, entry.length - offset), offset)
            if not data:
                raise ClientGone()
            offset += len(data)
            await self._write(data)

    def serve_cached_now(self, entry: Entry) -> None:
        """`_serve_cached` without awaiting, for cache_hit.py: the caller checked that the site has no
        maxBandwidth and that the transport takes writes (the task drains before its next request)."""
        out = self._cached_answer(entry)
        self.sent += len(out)
        self.site.counters.bytes_sent += len(out)
        self.conn.stream.write(out)
        self._end_cached()

    def _cache_files(self, resp: ResponseHead, handed: tuple[int, int] | None) -> tuple[FileIdentity, ...] | None:
        """The files a worker response depends on when it may be stored; None when it may not. A handed-over
        file (`handed`) may be stored whatever its size, as its descriptor, when it is the whole file."""
        if self.cache_key is None or self.head.method != "GET" or resp.status != 200:
            return None
        if resp.content_length is None or resp.chunked:
            return None
        if handed is None and resp.content_length > MAX_BODY or handed is not None and handed[0] != 0:
            return None
        marker = resp.header(CACHE_HEADER)
        if not marker or resp.header("set-cookie") or resp.header("vary"):
            return None
        return decode_identities(marker)

    def _store_file(self, resp: ResponseHead, files: tuple[FileIdentity, ...], headers: list[str],
                    st: os.stat_result, length: int) -> None:  # fmt: skip
        """Store a handed-over file (`st`: the fstat of the descriptor) as a file entry, when it is the whole
        file that `files[0]` names."""
        first = files[0] if files else None
        if first is not None and (st.st_ino, st.st_size, st.st_mtime_ns) == (first.ino, length, first.mtime_ns):
            self._store(resp, files, headers, b"", st.st_dev, length)

    def _store(self, resp: ResponseHead, files: tuple[FileIdentity, ...], headers: list[str], body: bytes,
               dev: int = -1, length: int = 0) -> None:  # fmt: skip
        cache = self.conn.dispatch.cache
        assert self.cache_key is not None
        status = f"HTTP/1.1 {resp.status} {resp.reason or http1.reason_phrase(resp.status)}\r\n"
        entry = Entry(
            site=self.site.spec.name.lower(), pool=self.pool_name, version=self.sent_version, files=files,
            status_line=status.encode("latin-1"),
            headers="".join(f"{h}\r\n" for h in headers).encode("latin-1"), body=body, substatus=self.substatus,
            win32=self.win32, log_it=self.log_it, expires=time.monotonic() + cache.ttl, dev=dev, length=length,
        )  # fmt: skip
        cache.store(self.cache_key, entry, self.cache_epoch, self.conn.dispatch.config_version)

    def _upstream_headers(self, record: InFlight) -> list[tuple[str, str]]:
        headers = http1.forwarded(self.head.headers)
        conn = self.conn
        self.sent_version = conn.dispatch.config_version
        headers += [
            ("X-IISFleet-Site", self.site.spec.name), ("X-IISFleet-Site-Id", str(self.site.spec.id)),
            ("X-IISFleet-Client", f"{conn.client_ip}:{conn.client_port}"),
            ("X-IISFleet-Local", f"{conn.local_ip}:{conn.local_port}"),
            ("X-IISFleet-Https", "1" if self.conn.tls else "0"),
            ("X-IISFleet-Config", self.sent_version),
            ("X-IISFleet-Request-Id", str(record.id)),
        ]  # fmt: skip
        self.offer_file = self.head.method == "GET" and file_send.SENDFILE is not None and self._can_splice()
        headers += [file_send.OFFER] if self.offer_file else []
        return headers

    def _request_bytes(self, record: InFlight) -> bytes:
        head = self.head
        target = head.target
        if target.lower().startswith(("http://", "https://")):  # absolute-form: the worker gets origin-form
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        lines = [f"{head.method} {target} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in self._upstream_headers(record)]
        if head.header("host") is None:
            lines.append(f"Host: {head.host or 'worker'}")
        if head.chunked:
            lines.append("Transfer-Encoding: chunked")
        # aiohttp's client encoded header strings as UTF-8 (surrogateescape); the worker decodes them so.
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")

    async def _forward(self, upstream: Upstream | None, record: InFlight) -> bool:
        if upstream is None:
            raise UpstreamError("worker is gone", before_response=True)
        record.stage = "ExecuteRequestHandler"
        request = self._request_bytes(record)
        had_body = not self.body_done
        fresh = False
        while True:
            conn = await upstream.connect(fresh=fresh)
            self.upstream_clean = False
            try:
                try:
                    await conn.send(request)
                    if had_body:
                        await self._send_body(conn)
                    resp = await conn.read_head()
                except UpstreamError as err:
                    # A pooled connection the worker had already closed: once more on a new one.
                    if conn.reused and err.before_response and not had_body and not fresh:
                        fresh = True
                        continue
                    raise
                record.stage = "SendResponse"
                keep = await self._relay(conn, resp)
                self.upstream_clean = self.upstream_clean and resp.keep_alive
                return keep
            finally:
                upstream.release(conn, self.upstream_clean)

    async def _send_body(self, conn: UpstreamConnection) -> None:
        chunked = self.head.chunked
        async for chunk in self._body():
            await conn.send(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
        if chunked:
            await conn.send(b"0\r\n\r\n")

    async def _body(self) -> AsyncIterator[bytes]:
        if (self.head.header("expect") or "").lower() == "100-continue":
            await self._write(b"HTTP/1.1 100 Continue\r\n\r\n")
        reader = self.conn.stream
        limit = self.conn.listener.timeout()
        if self.head.chunked:
            async for chunk in chunked_body(reader, limit, self._received):
                yield chunk
        else:
            remaining = self.head.content_length or 0
            while remaining:
                async with asyncio.timeout(limit):
                    chunk = await reader.read(min(CHUNK, remaining))
                if not chunk:
                    raise ClientGone()
                remaining -= len(chunk)
                self._received(len(chunk))
                yield chunk
        self.body_done = True

    def _received(self, size: int) -> None:
        self.received += size
        self.site.counters.bytes_received += size

    async def _relay(self, conn: UpstreamConnection, resp: ResponseHead) -> bool:
        head = self.head
        handed = await file_send.accept(conn, resp) if self.offer_file else None  # (offset, count) of a passed file
        self.status = resp.status
        self.substatus = int(resp.header("X-IISFleet-Substatus", "0") or 0)
        self.win32 = int(resp.header("X-IISFleet-Win32", "0") or 0)
        self.log_it = resp.header("X-IISFleet-Log", "1") != "0"
        self.username = unquote(resp.header("X-IISFleet-User", "") or "")
        if resp.header(ABORT_HEADER):  # a worker module's AbortRequest: drop the client without an answer
            self.conn.stream.transport.abort()
            return False
        lines = [f"HTTP/1.1 {resp.status} {resp.reason or http1.reason_phrase(resp.status)}"]
        lines += [f"{key}: {value}" for key, value in resp.headers if http1.end_to_end(key)]
        files = self._cache_files(resp, handed)
        # What a cache hit replays: the same end-to-end headers, with a fresh Date each time.
        cached_lines = [line for line in lines[1:] if not line.lower().startswith("date:")] if files else []
        no_body = head.method == "HEAD" or resp.status in (204, 304) or resp.status < 200
        chunked = False
        keep = head.keep_alive
        if not no_body and resp.content_length is None:
            chunked = head.version >= (1, 1)
            keep = keep and chunked
            if chunked:
                lines.append("Transfer-Encoding: chunked")
        if not keep or not self.body_done:
            lines.append("Connection: close")
        elif head.version < (1, 1):
            lines.append("Connection: keep-alive")
        out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if no_body:
            await self._write(out)
        elif handed is not None:
            await self._write(out)
            st = os.fstat(conn.fds[0]) if files else None  # the identity of what the cache may send later
            await file_send.send(conn, self.conn.stream, *handed, self.conn.listener.timeout(), self._moved)
            if files and st is not None:
                self._store_file(resp, files, cached_lines, st, handed[1])
        elif resp.content_length is not None:
            # The head and whatever body bytes came with it leave in one write (a small file: one send).
            length = resp.content_length
            first = bytes(conn.buf[:length])
            del conn.buf[:length]
            await self._write(out + first)
            remaining = length - len(first)
            body = [first] if files else None
            if remaining >= SPLICE_MIN and self._can_splice():
                # worker -> pipe -> client in the kernel, counting what the client got
                await splice_body(conn, self.conn.stream, remaining, self.conn.listener.timeout(), self._moved)
            else:
                while remaining:
                    data = await conn.read_some(min(CHUNK, remaining))
                    remaining -= len(data)
                    await self._write(data)
                    if body is not None:
                        body.append(data)
            if files and body is not None:
                self._store(resp, files, cached_lines, b"".join(body))
        else:
            await self._write(out)
            async for data in conn.body(resp):
                await self._write(b"%x\r\n%b\r\n" % (len(data), data) if chunked else data)
            if chunked:
                await self._write(b"0\r\n\r\n")
        self.upstream_clean = resp.content_length is not None or resp.chunked or no_body
        return keep

    def _can_splice(self) -> bool:
        """splice(2) straight from the worker socket to the client socket: plain TCP, no bandwidth limit."""
        rate = self.site.throttle.rate
        return (
            SPLICE is not None and not self.conn.tls and (rate <= 0 or rate >= UNLIMITED)
            and self.conn.stream.get_extra_info("socket") is not None
        )  # fmt: skip

    def _moved(self, size: int) -> None:
        """Count body bytes the kernel moved to the client outside `_write`."""
        self.sent += size
        self.site.counters.bytes_sent += size

    async def _write(self, data: bytes) -> None:
        self.sent += len(data)
        try:
            await self.conn.send(data, self.site)
        except (ConnectionError, TimeoutError) as err:
            raise ClientGone() from err

    def _log(self) -> None:
        if not self.log_it or not self.status:
            return
        head = self.head
        self.site.log.write(LogEntry(
            when=now(), site_id=self.site.spec.id, server_ip=self.conn.local_ip, server_port=self.conn.local_port,
            method=head.method, uri_stem=head.path, uri_query=head.query, client_ip=self.conn.client_ip,
            version=f"HTTP/{head.version[0]}.{head.version[1]}", user_agent=head.header("user-agent") or "",
            cookie=head.header("cookie") or "", referer=head.header("referer") or "", host=head.host,
            status=self.status, substatus=self.substatus, win32=self.win32, bytes_sent=self.sent,
            bytes_received=self.received, time_taken_ms=int((time.monotonic() - self.started) * 1000),
            username=self.username,
        ))  # fmt: skip


def open_file(entry: Entry) -> int:
    """The file of a file entry (`cache_policy.open_identity`, whose size must be the entry's length too)."""
    identity = entry.files[0]
    return open_identity(identity, entry.dev) if identity.size == entry.length else -1
