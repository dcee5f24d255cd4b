"""W3C extended log files, written by the supervisor as HTTP.sys does for IIS's centralized logging.

The worker's HttpLoggingModule decides whether a request is logged (httpLogging dontLog) and its
sc-substatus; the supervisor owns the file, so one writer per site needs no cross-process locking.
"""

from __future__ import annotations

import logging
import operator
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from agent.hosting.embedded.model import LogSpec, SiteSpec, log_directory

log = logging.getLogger("iisfleet.hosting.w3c")

# (logExtFileFlags name, W3C field) in the order IIS writes them, whatever order the flags are listed in.
FIELDS: tuple[tuple[str, str], ...] = (
    ("Date", "date"), ("Time", "time"), ("SiteName", "s-sitename"), ("ComputerName", "s-computername"),
    ("ServerIP", "s-ip"), ("Method", "cs-method"), ("UriStem", "cs-uri-stem"), ("UriQuery", "cs-uri-query"),
    ("ServerPort", "s-port"), ("UserName", "cs-username"), ("ClientIP", "c-ip"), ("ProtocolVersion", "cs-version"),
    ("UserAgent", "cs(User-Agent)"), ("Cookie", "cs(Cookie)"), ("Referer", "cs(Referer)"), ("Host", "cs-host"),
    ("HttpStatus", "sc-status"), ("HttpSubStatus", "sc-substatus"), ("Win32Status", "sc-win32-status"),
    ("BytesSent", "sc-bytes"), ("BytesRecv", "cs-bytes"), ("TimeTaken", "time-taken"),
)  # fmt: skip
DEFAULT_FLAGS = (
    "Date", "Time", "ClientIP", "UserName", "ServerIP", "Method", "UriStem", "UriQuery", "HttpStatus",
    "Win32Status", "TimeTaken", "ServerPort", "UserAgent", "Referer", "HttpSubStatus",
)  # fmt: skip
SOFTWARE = "Microsoft Internet Information Services 10.0"


@dataclass(slots=True)
class LogEntry:
    """What one request contributes to a log line."""

    when: datetime
    site_id: int
    server_ip: str
    server_port: int
    method: str
    uri_stem: str
    uri_query: str
    client_ip: str
    version: str
    user_agent: str
    cookie: str
    referer: str
    host: str
    status: int
    substatus: int
    win32: int
    bytes_sent: int
    bytes_received: int
    time_taken_ms: int
    username: str = ""


def _token(value: str) -> str:
    # W3C fields are space-separated: IIS writes '+' for spaces and '-' for empty values.
    return value.replace(" ", "+") if value else "-"


def fields_for(flags: tuple[str, ...]) -> list[tuple[str, str]]:
    """The (flag, field) pairs a logExtFileFlags value selects, in IIS order."""
    wanted = {f.lower() for f in (flags or DEFAULT_FLAGS)}
    return [(flag, name) for flag, name in FIELDS if flag.lower() in wanted]


def file_name(spec: LogSpec, when: datetime) -> str:
    """u_exYYMMDD.log (Daily), u_exYYMMDDHH.log (Hourly), u_exYYMMWW (Weekly), u_exYYMM (Monthly)."""
    local = when.astimezone() if spec.local_time_rollover else when
    period = spec.period.lower()
    if period == "hourly":
        return f"u_ex{local:%y%m%d%H}.log"
    if period == "weekly":
        return f"u_ex{local:%y%m}{(local.day - 1) // 7 + 1:02d}.log"
    if period == "monthly":
        return f"u_ex{local:%y%m}.log"
    if period == "maxsize":
        return "u_extend1.log"
    return f"u_ex{local:%y%m%d}.log"


class SiteLog:
    """The W3C log of one site: buffered lines, flushed by the supervisor's tick."""

    def __init__(self, site: SiteSpec, state_dir: Path) -> None:
        self.spec = site.log
        self.site_id = site.id
        self.site_name = f"W3SVC{site.id}"
        self.directory = log_directory(site.log, state_dir) / self.site_name
        self.fields = fields_for(site.log.fields)
        self._default_fields = self.fields == fields_for(DEFAULT_FLAGS)
        names = [name for _flag, name in FIELDS]
        chosen = [names.index(name) for _flag, name in self.fields]
        self._select: Callable[[tuple[str, ...]], tuple[str, ...]] = (
            operator.itemgetter(*chosen) if len(chosen) != 1 else lambda values: (values[chosen[0]],)
        )
        self.computer = socket.gethostname()
        self._pending: list[tuple[datetime, str]] = []
        self._file: IO[str] | None = None
        self._path: Path | None = None
        # The date and time fields of the last second logged: formatting them costs more than the rest of a line.
        self._second: datetime | None = None
        self._date_time = ("", "")
        self._epoch_second = -1  # write_values: the UTC second of `_now`
        self._now = datetime.fromtimestamp(0, UTC)

    @property
    def enabled(self) -> bool:
        """W3C logging is on for this site."""
        return self.spec.enabled and self.spec.log_format.upper() == "W3C"

    def write(self, entry: LogEntry) -> None:
        """Queue one line."""
        if self.enabled:
            e = entry
            self._queue(e.when.replace(microsecond=0), e.server_ip, e.method, e.uri_stem, e.uri_query, e.server_port,
                        e.username, e.client_ip, e.version, e.user_agent, e.cookie, e.referer, e.host, e.status,
                        e.substatus, e.win32, e.bytes_sent, e.bytes_received, e.time_taken_ms)  # fmt: skip

    def write_values(self, server_ip: str, method: str, uri_stem: str, uri_query: str, server_port: int,
                     username: str, client_ip: str, version: str, user_agent: str, cookie: str, referer: str,
                     host: str, status: int, substatus: int, win32: int, bytes_sent: int, bytes_received: int,
                     time_taken_ms: int) -> None:  # fmt: skip
        """Queue one line of a request that ended now, its fields given in FIELDS order (no LogEntry to build:
        this runs for every request a worker serves on a handed-off connection)."""
        if not self.enabled:
            return
        second = int(time.time())
        if second != self._epoch_second:
            self._epoch_second, self._now = second, datetime.fromtimestamp(second, UTC)
        if not self._default_fields:
            self._queue(self._now, server_ip, method, uri_stem, uri_query, server_port, username, client_ip, version,
                        user_agent, cookie, referer, host, status, substatus, win32, bytes_sent, bytes_received,
                        time_taken_ms)  # fmt: skip
            return
        # The default logExtFileFlags, which nearly every site keeps, written directly (a third of the cost).
        date, clock = self._clock(self._now)
        self._pending.append((self._now, (
            f"{date} {clock} {server_ip} {method} {_token(uri_stem)} {_token(uri_query)} {server_port} "
            f"{_token(username)} {client_ip} {_token(user_agent)} {_token(referer)} {status} {substatus} {win32} "
            f"{time_taken_ms}\n"
        )))  # fmt: skip

    def _queue(self, second: datetime, server_ip: str, method: str, uri_stem: str, uri_query: str,
               server_port: int, username: str, client_ip: str, version: str, user_agent: str, cookie: str,
               referer: str, host: str, status: int, substatus: int, win32: int, bytes_sent: int,
               bytes_received: int, time_taken_ms: int) -> None:  # fmt: skip
        date, clock = self._clock(second)
        values = (
            date, clock, self.site_name, self.computer, server_ip, method, _token(uri_stem), _token(uri_query),
            str(server_port), _token(username), client_ip, version, _token(user_agent), _token(cookie),
            _token(referer), _token(host), str(status), str(substatus), str(win32), str(bytes_sent),
            str(bytes_received), str(time_taken_ms),
        )  # fmt: skip
        self._pending.append((second, " ".join(self._select(values)) + "\n"))

    def _clock(self, second: datetime) -> tuple[str, str]:
        """The date and time fields of `second`, formatted once per second."""
        if second != self._second:
            self._second, self._date_time = second, (f"{second:%Y-%m-%d}", f"{second:%H:%M:%S}")
        return self._date_time

    def flush(self) -> None:
        """Write queued lines, rolling the file over by period and size."""
        pending, self._pending = self._pending, []
        try:
            # One file lookup and one write per second of lines, not per line (this runs for every request).
            batches: list[tuple[datetime, list[str]]] = []
            for when, line in pending:
                if not batches or batches[-1][0] != when:
                    batches.append((when, []))
                batches[-1][1].append(line)
            for when, lines in batches:
                self._target(when).write("".join(lines))
            if self._file is not None:
                self._file.flush()
        except OSError as err:
            log.error("cannot write the log of %s: %s", self.site_name, err)

    def _target(self, when: datetime) -> IO[str]:
        path = self.directory / file_name(self.spec, when)
        if path != self._path or self._file is None:
            self.close()
            self.directory.mkdir(parents=True, exist_ok=True)
            # O_NOFOLLOW: a link planted as today's log file must not redirect the agent's writes elsewhere.
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640)
            fresh = os.fstat(fd).st_size == 0
            self._file = open(fd, "a", encoding="utf-8", newline="\r\n")  # noqa: SIM115 - kept open across flushes
            self._path = path
            if fresh:
                self._header(when)
        return self._file

    def _header(self, when: datetime) -> None:
        assert self._file is not None
        self._file.write(f"#Software: {SOFTWARE}\n#Version: 1.0\n#Date: {when:%Y-%m-%d %H:%M:%S}\n")
        self._file.write("#Fields: " + " ".join(name for _flag, name in self.fields) + "\n")

    def close(self) -> None:
        """Close the current file."""
        if self._file is not None:
            self._file.close()
            self._file = None


def now() -> datetime:
    """The current UTC time (W3C logs are always in UTC)."""
    return datetime.now(UTC)
