"""One request and its response, proxied from the client connection to a worker of the request's pool."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import aiohttp
from yarl import URL

from agent.hosting.embedded import http1
from agent.hosting.embedded.pool import AppPool, PoolUnavailable
from agent.hosting.embedded.runtime import InFlight, SiteRuntime, new_request_id
from agent.hosting.embedded.w3c import LogEntry, now

if TYPE_CHECKING:
    from agent.hosting.embedded.connection import Connection

log = logging.getLogger("iisfleet.hosting.http")
CHUNK = 65536


class ClientGone(Exception):
    """The client closed the connection or stopped sending mid-request."""


class Exchange:
    """One request and its response."""

    def __init__(self, conn: Connection, site: SiteRuntime, head: http1.RequestHead, head_size: int) -> None:
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
        self.started = time.monotonic()

    async def run(self) -> bool:
        """Serve the request; True to keep the connection open."""
        counters = self.site.counters
        counters.requests_total += 1
        counters.requests_active += 1
        counters.bytes_received += self.received
        head = self.head
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
                return await self._forward(worker.session, record)
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as err:
                if self.status or not self.body_done or attempt:
                    log.warning("worker pid %d failed mid-request: %s", worker.pid, err)
                    if not self.status:
                        self.status = 503
                        await self._write(http1.service_unavailable(close=True))
                    return False
            finally:
                worker.end()
        return False

    def _upstream_headers(self, record: InFlight) -> list[tuple[str, str]]:
        skip = http1.HOP_BY_HOP | {"expect"}
        headers = [(k, v) for k, v in self.head.headers
                   if k.lower() not in skip and not k.lower().startswith(http1.INTERNAL_PREFIX)]  # fmt: skip
        conn = self.conn
        headers += [
            ("X-IISFleet-Site", self.site.spec.name), ("X-IISFleet-Site-Id", str(self.site.spec.id)),
            ("X-IISFleet-Client", f"{conn.client_ip}:{conn.client_port}"),
            ("X-IISFleet-Local", f"{conn.local_ip}:{conn.local_port}"),
            ("X-IISFleet-Https", "1" if self.conn.tls else "0"),
            ("X-IISFleet-Config", self.conn.dispatch.config_version),
            ("X-IISFleet-Request-Id", str(record.id)),
        ]  # fmt: skip
        return headers

    async def _forward(self, session: aiohttp.ClientSession | None, record: InFlight) -> bool:
        if session is None:
            raise aiohttp.ClientConnectionError("worker is gone")
        head = self.head
        body = None if self.body_done else self._body()
        record.stage = "ExecuteRequestHandler"
        url = URL("http://worker" + head.target, encoded=True)
        async with session.request(
            head.method, url, headers=self._upstream_headers(record), data=body, allow_redirects=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        ) as resp:  # fmt: skip
            record.stage = "SendResponse"
            return await self._relay(resp)

    async def _body(self) -> AsyncIterator[bytes]:
        if (self.head.header("expect") or "").lower() == "100-continue":
            await self._write(b"HTTP/1.1 100 Continue\r\n\r\n")
        reader = self.conn.reader
        limit = self.conn.listener.timeout()
        if self.head.chunked:
            async for chunk in self._chunks(reader, limit):
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

    async def _chunks(self, reader: asyncio.StreamReader, limit: float) -> AsyncIterator[bytes]:
        while True:
            async with asyncio.timeout(limit):
                line = await reader.readuntil(b"\r\n")
            self._received(len(line))
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as err:
                raise ClientGone() from err
            if size == 0:
                while True:  # trailers up to the empty line
                    async with asyncio.timeout(limit):
                        trailer = await reader.readuntil(b"\r\n")
                    self._received(len(trailer))
                    if trailer == b"\r\n":
                        return
            async with asyncio.timeout(limit):
                data = await reader.readexactly(size + 2)
            self._received(len(data))
            yield data[:-2]

    def _received(self, size: int) -> None:
        self.received += size
        self.site.counters.bytes_received += size

    async def _relay(self, resp: aiohttp.ClientResponse) -> bool:
        head = self.head
        self.status = resp.status
        internal = resp.headers
        self.substatus = int(internal.get("X-IISFleet-Substatus", "0") or 0)
        self.win32 = int(internal.get("X-IISFleet-Win32", "0") or 0)
        self.log_it = internal.get("X-IISFleet-Log", "1") != "0"
        lines = [f"HTTP/1.1 {resp.status} {resp.reason or http1.reason_phrase(resp.status)}"]
        for raw_key, raw_value in resp.raw_headers:
            key = raw_key.decode("latin-1")
            if key.lower() in http1.HOP_BY_HOP or key.lower().startswith(http1.INTERNAL_PREFIX):
                continue
            lines.append(f"{key}: {raw_value.decode('latin-1')}")
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
        await self._write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if not no_body:
            async for data in resp.content.iter_chunked(CHUNK):
                await self._write(b"%x\r\n%b\r\n" % (len(data), data) if chunked else data)
            if chunked:
                await self._write(b"0\r\n\r\n")
        return keep

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
        ))  # fmt: skip
