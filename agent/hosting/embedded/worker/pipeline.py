"""The integrated request pipeline: IIS stages in order, modules called by stage-named methods.

Stages are IIS's request notifications (BeginRequest ... EndRequest) spelled as method names. A module is a
plain class with methods for the stages it cares about; dispatch is getattr, so one file + one registry row
adds a module. Every call is guarded: a failing module is logged by name and answers 500, and
the worker keeps serving.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from agent.hosting.embedded.worker.context import HttpContext
from agent.hosting.embedded.worker.registry import enabled_modules, resolve
from agent.hosting.embedded.worker.response import StreamResponse

log = logging.getLogger("iisfleet.hosting.pipeline")

STAGES = (
    "begin_request", "authenticate_request", "authorize_request", "resolve_request_cache", "map_request_handler",
    "acquire_request_state", "pre_execute_request_handler", "execute_request_handler", "release_request_state",
    "update_request_cache", "send_response", "log_request", "end_request",
)  # fmt: skip
# After ctx.complete() IIS skips to these notifications.
FINAL_STAGES = frozenset({"send_response", "log_request", "end_request"})
MODULES_SECTION = "system.webServer/modules"
PATH_CACHE_LIMIT = 8192

Handler = Callable[[HttpContext], Any]


class Pipeline:
    """The stage table of one ordered module list."""

    def __init__(self, modules: list[object]) -> None:
        self.modules = modules
        self.table: dict[str, list[tuple[str, Handler]]] = {
            stage: [(type(m).__name__, getattr(m, stage)) for m in modules if callable(getattr(m, stage, None))]
            for stage in STAGES
        }
        # The stages that do anything, in order: (stage, runs after completion, handlers). This runs per request.
        self.steps = [
            (stage, stage in FINAL_STAGES, handlers)
            for stage, handlers in self.table.items()
            if handlers or stage == "execute_request_handler"
        ]

    async def run(self, ctx: HttpContext) -> StreamResponse:
        """Run every stage; the response a module set (404 when no handler answered)."""
        for stage, final, handlers in self.steps:
            if ctx.completed and not final:
                continue
            ctx.stage = stage
            for name, method in handlers:
                try:  # most stage methods are plain functions that return None: no coroutine to await
                    result = method(ctx)
                    if result is not None and inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("module %s failed in %s for %s", name, ctx.stage, ctx.request.path)
                    ctx.error(500)
                if ctx.completed and not final:
                    break
            if stage == "execute_request_handler" and ctx.response is None:
                ctx.error(404)
        assert ctx.response is not None
        return ctx.response


def _module_names(section: Any) -> tuple[str, ...] | None:
    try:
        return tuple(str(item.get("name")) for item in section.collection())
    except (KeyError, ValueError, AttributeError):
        return None


def _idle(module: object, ctx: HttpContext) -> bool:
    """Whether a module has nothing to do at the request's path (its optional `idle(ctx)`)."""
    idle = getattr(module, "idle", None)
    return bool(idle(ctx)) if callable(idle) else False


class PipelineFactory:
    """Module instances (one per worker) and pipelines per enabled-module list.

    The pipeline for a config path is worked out once per configuration generation: a module whose section is
    off there (`idle(ctx)` true, e.g. Basic authentication disabled, no IP entries) is left out, so a disabled
    feature costs a request nothing. An active RewriteModule may move the request to another path with other
    settings, so with one nothing is left out.
    """

    def __init__(self) -> None:
        self._instances: dict[str, object] = {}
        self._pipelines: dict[tuple[str, ...], Pipeline] = {}
        self._by_path: dict[str, Pipeline] = {}
        self._generation = -1

    def for_request(self, ctx: HttpContext) -> Pipeline:
        """The pipeline for the <modules> list effective at the request's path, idle modules left out."""
        generation = ctx.config.store.generation
        if generation != self._generation or len(self._by_path) >= PATH_CACHE_LIMIT:
            self._by_path.clear()
            self._generation = generation
        pipeline = self._by_path.get(ctx.config_path)
        if pipeline is None:
            pipeline = self._by_path[ctx.config_path] = self._build(ctx)
        return pipeline

    def _build(self, ctx: HttpContext) -> Pipeline:
        names = enabled_modules(ctx.settings(MODULES_SECTION, _module_names))
        modules = {name: self._instance(name) for name in names}
        rewriting = "RewriteModule" in modules and not _idle(modules["RewriteModule"], ctx)
        active = tuple(name for name, module in modules.items() if rewriting or not _idle(module, ctx))
        pipeline = self._pipelines.get(active)
        if pipeline is None:
            pipeline = self._pipelines[active] = Pipeline([modules[name] for name in active])
        return pipeline

    def _instance(self, name: str) -> object:
        instance = self._instances.get(name)
        if instance is None:
            instance = self._instances[name] = resolve(name)()
        return instance
