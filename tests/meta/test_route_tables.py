"""One route table per server: every handler a module exports is routed, and routed once.

A handler on two rows is almost always a copy-paste slip (the second path silently serves the first
one's code), so the few deliberate ones are named here with the reason.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections import Counter
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import agent.api.resources as agent_resources
import controller.api as controller_api
from agent.api.routes import ROUTES as AGENT_ROUTES
from controller.api.routes import ROUTES as CONTROLLER_ROUTES

AGENT_MULTI = {
    "agent.api.resources.webserver.ping": "/api/ping and the browser's /ping",
    "agent.api.resources.monitoring.get_webserver_monitoring": "with and without the web server id",
    "agent.api.resources.copy_move.get_operation": "copy and move jobs poll alike",
    "agent.api.resources.copy_move.not_allowed": "405 for GET/PATCH/PUT on copy and move",
    "agent.api.resources.downloads.downloads_not_allowed": "405 for GET/PATCH/PUT on downloads",
    "agent.api.resources.webserver_files.not_allowed": "405 for POST/PUT/PATCH/DELETE on web files",
}
# Helper modules of each package: no handlers of their own.
AGENT_HELPERS = {"base", "bindings", "file_models", "mixins", "physical_paths", "schemas", "status_changes"}
CONTROLLER_HELPERS = {"http", "middleware", "routes", "routing", "session_auth"}


def _name(handler: Any) -> str:
    return f"{handler.__module__}.{handler.__name__}"


def _handlers(module: ModuleType) -> list[Any]:
    """Public `async def x(request)` functions defined in (or made for) the module."""
    return [
        obj for name, obj in vars(module).items()
        if inspect.iscoroutinefunction(obj) and not name.startswith("_") and obj.__module__ == module.__name__
        and list(inspect.signature(obj).parameters) == ["request"]
    ]  # fmt: skip


def _modules(package: ModuleType, helpers: set[str]) -> Iterable[ModuleType]:
    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in helpers:
            yield importlib.import_module(f"{package.__name__}.{info.name}")


def _feature_modules() -> Iterable[ModuleType]:
    for name in ("modules", "delegation"):
        yield importlib.import_module(f"agent.api.features.custom.{name}")


def test_agent_handlers_are_routed_once() -> None:
    counts = Counter(route.handler for route in AGENT_ROUTES)
    modules = [*_modules(agent_resources, AGENT_HELPERS), *_feature_modules()]
    exported = [h for module in modules for h in _handlers(module)]
    assert len(exported) > 80
    assert [_name(h) for h in exported if h not in counts] == []
    assert {_name(h) for h, n in counts.items() if n > 1} == set(AGENT_MULTI)


def test_controller_handlers_are_routed_once() -> None:
    counts = Counter(route.handler for route in CONTROLLER_ROUTES)
    exported = [h for module in _modules(controller_api, CONTROLLER_HELPERS) for h in _handlers(module)]
    assert len(exported) > 20
    assert [_name(h) for h in exported if h not in counts] == []
    assert [_name(h) for h, n in counts.items() if n > 1] == []


def test_resource_modules_export_no_route_rows() -> None:
    """Rows live in agent/api/routes.py and controller/api/routes.py only."""
    for module in [*_modules(agent_resources, AGENT_HELPERS), *_modules(controller_api, CONTROLLER_HELPERS)]:
        assert not hasattr(module, "ROUTES"), f"{module.__name__} defines ROUTES: move its rows to routes.py"
