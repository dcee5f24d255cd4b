"""Worker processes: /api/webserver/worker-processes (live workers of the embedded host, read via psutil)."""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
import zlib
from datetime import datetime
from typing import Any

from aiohttp import web

from agent.api.context import Ctx, context
from agent.api.http import Nested, json_response, list_response, render
from agent.api.refs import find_pool, pool_nested
from agent.hosting.runtime_types import WorkerSnapshot
from agent.ids import Purpose
from agent.monitoring.processes import ProcessStats, read_process
from shared.errors import NotFound

PATH = "/api/webserver/worker-processes"
REQUESTS_PATH = "/api/webserver/http-request-monitor/requests"
RESOURCE = "Microsoft.WebServer.WorkerProcess"
REF_FIELDS = ("name", "id", "process_id")
# The role's name: clients look for "w3wp"; the executable itself is the agent's Python interpreter.
PROCESS_NAME = "w3wp"
STATUS = {"starting": "starting", "running": "running", "draining": "stopping"}
_GUIDS = uuid.UUID("5c6f1f0e-8a4c-4d0b-9a57-1f1e2d3c4b5a")


class WorkerView:
    """A worker from the host snapshot, with its OS statistics read on first use."""

    def __init__(self, worker: WorkerSnapshot) -> None:
        self.worker = worker
        self._stats: ProcessStats | None = None
        self._read = False

    @property
    def stats(self) -> ProcessStats | None:
        """psutil statistics (None when the process is gone)."""
        if not self._read:
            self._stats, self._read = read_process(self.worker.pid), True
        return self._stats


def process_guid(worker: WorkerSnapshot) -> str:
    """A stable GUID for one worker process (IIS gives each w3wp one)."""
    return str(uuid.uuid5(_GUIDS, f"{worker.pool}\n{worker.pid}\n{worker.started_at}"))


def worker_id(ctx: Ctx, worker: WorkerSnapshot) -> str:
    """`{pid}\\n{hash of the process GUID}`; lookups use the pid only."""
    return ctx.codec.encode(Purpose.WORKER_PROCESS, f"{worker.pid}\n{zlib.crc32(process_guid(worker).encode())}")


def workers(ctx: Ctx) -> list[WorkerSnapshot]:
    """Every worker process the host runs (including ones draining after a recycle)."""
    snap = ctx.host.snapshot()
    return [w for pool in snap.pools.values() for w in pool.workers if w.pid] if snap else []


def find_worker(ctx: Ctx, resource_id: str, name: str = "worker_process") -> WorkerSnapshot:
    """The live worker behind an id; 404 when the id does not decode or the process is gone."""
    try:
        pid_text, _hash = ctx.codec.decode_parts(Purpose.WORKER_PROCESS, resource_id, 2)
    except NotFound as err:
        raise NotFound(name=name) from err
    for worker in workers(ctx):
        if str(worker.pid) == pid_text:
            return worker
    raise NotFound(name=name)


def worker_ref(ctx: Ctx, worker: WorkerSnapshot) -> dict[str, Any]:
    """`{name, id, process_id}` of a worker."""
    wid = worker_id(ctx, worker)
    ref: dict[str, Any] = {"name": PROCESS_NAME, "id": wid, "process_id": worker.pid}
    if ctx.hal:
        ref["_links"] = {"self": {"href": f"{PATH}/{wid}"}}
    return ref


def worker_nested(ctx: Ctx, worker: WorkerSnapshot) -> Nested:
    """A worker as a nested member (`worker_process` of a request): its reference, or the dotted `fields=`."""
    return Nested(worker_ref(ctx, worker), lambda sub: render(ctx, WorkerView(worker), GETTERS, sub, REF_FIELDS,
                                                              links, hal=ctx.hal, ref_links_only=True))  # fmt: skip


def local_time(timestamp: float) -> str:
    """.NET round-trip text in machine-local time with its offset (upstream's `start_time`)."""
    value = datetime.fromtimestamp(timestamp).astimezone()
    fraction = f"{value.microsecond * 10:07d}".rstrip("0")
    return f"{value:%Y-%m-%dT%H:%M:%S}{'.' + fraction if fraction else ''}{value.isoformat()[-6:]}"


def timespan(seconds: float) -> str:
    """.NET TimeSpan constant format `[d.]hh:mm:ss[.fffffff]`."""
    ticks = round(seconds * 10_000_000)
    whole, fraction = divmod(ticks, 10_000_000)
    days, rest = divmod(whole, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return (f"{days}." if days else "") + text + (f".{fraction:07d}" if fraction else "")


def _stat(name: str) -> Any:
    return lambda ctx, v: int(getattr(v.stats, name)) if v.stats is not None else 0


def _pool(ctx: Ctx, v: WorkerView) -> Nested | None:
    pool = ctx.index.pool(v.worker.pool)
    return pool_nested(ctx, pool) if pool is not None else None


GETTERS: dict[str, Any] = {
    "name": lambda ctx, v: PROCESS_NAME,
    "id": lambda ctx, v: worker_id(ctx, v.worker),
    "status": lambda ctx, v: STATUS.get(v.worker.state, "unknown"),
    "process_id": lambda ctx, v: v.worker.pid,
    "process_guid": lambda ctx, v: process_guid(v.worker),
    "start_time": lambda ctx, v: local_time(v.stats.create_time if v.stats else v.worker.started_at),
    "working_set": _stat("working_set"),
    "peak_working_set": _stat("peak_working_set"),
    "private_memory_size": _stat("private_bytes"),
    "virtual_memory_size": _stat("virtual_bytes"),
    "peak_virtual_memory_size": _stat("peak_virtual_bytes"),
    "total_processor_time": lambda ctx, v: timespan(v.stats.cpu_seconds if v.stats else 0.0),
    "application_pool": _pool,
}


def links(ctx: Ctx, view: WorkerView) -> dict[str, str]:
    """The `_links` of a worker process."""
    wid = worker_id(ctx, view.worker)
    return {"self": f"{PATH}/{wid}", "requests": f"{REQUESTS_PATH}?wp.id={wid}"}


async def list_worker_processes(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver/worker-processes[?application_pool.id=]."""
    ctx = context(request)
    found = workers(ctx)
    if "application_pool.id" in request.query:
        pool = str(find_pool(ctx, request.query["application_pool.id"]).get("name")).lower()
        found = [w for w in found if w.pool.lower() == pool]
    items = [render(ctx, WorkerView(w), GETTERS, ctx.fields, REF_FIELDS, links, hal=ctx.hal, ref_links_only=True)
             for w in found]  # fmt: skip
    return list_response(request, "worker_processes", items, resource="Microsoft.WebServer.WorkerProcesses")


async def get_worker_process(request: web.Request) -> web.StreamResponse:
    """GET /api/webserver/worker-processes/{id}: live memory and CPU of the process."""
    ctx = context(request)
    view = WorkerView(find_worker(ctx, request.match_info["id"]))
    return json_response(request, render(ctx, view, GETTERS, ctx.fields, GETTERS.keys(), links, hal=ctx.hal),
                         resource=RESOURCE)  # fmt: skip


async def delete_worker_process(request: web.Request) -> web.StreamResponse:
    """DELETE /api/webserver/worker-processes/{id}: kill the process (its pool starts another); 204 always."""
    ctx = context(request)
    ctx.codec.decode_parts(Purpose.WORKER_PROCESS, request.match_info["id"], 2)  # undecodable ids are 404
    with contextlib.suppress(NotFound):
        worker = find_worker(ctx, request.match_info["id"])
        # Only pids the host runs as workers are ever signalled, never an arbitrary pid from an id.
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGKILL)
    return web.Response(status=204)
