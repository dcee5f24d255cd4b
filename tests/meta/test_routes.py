"""Registry invariants: one route per method and path, every resource module routed, docs for every row."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections import Counter

import agent.api.resources as resources_pkg
from agent.api.routes import ROUTES

# Modules of helpers that resources share; they have no routes of their own.
HELPER_MODULES = {"base", "bindings", "file_models", "mixins", "physical_paths", "schemas", "status_changes"}


def test_method_and_path_are_unique() -> None:
    counts = Counter((route.method, route.path) for route in ROUTES)
    assert [key for key, n in counts.items() if n > 1] == []


def test_every_public_handler_is_routed() -> None:
    routed = {route.handler for route in ROUTES}
    for info in pkgutil.iter_modules(resources_pkg.__path__):
        if info.name in HELPER_MODULES:
            continue
        module = importlib.import_module(f"agent.api.resources.{info.name}")
        handlers = [
            obj for name, obj in vars(module).items()
            if inspect.iscoroutinefunction(obj) and not name.startswith("_") and obj.__module__ == module.__name__
            and list(inspect.signature(obj).parameters) == ["request"]
        ]
        assert handlers, f"{info.name} has no handlers; add it to HELPER_MODULES if it is a helper"
        for handler in handlers:
            assert handler in routed, f"{info.name}.{handler.__name__} is not in ROUTES"


def test_every_row_documents_itself() -> None:
    for route in ROUTES:
        assert route.summary and route.tag, route.path
        if route.method in ("POST", "PATCH", "PUT") and route.path.startswith("/api/webserver") \
                and route.statuses != (405,):
            assert route.body is not None, f"{route.method} {route.path} has no body schema"
