"""Import layers: every import arrow in the product points down (docs/architecture.md has the drawing).

    iisfleet                      may import anything of ours
    agent.{app,cli,controller_link}   the agent's composition: may import agent.api
    agent.api                     may import the agent's lower packages, never the other way
    agent.{security,files,hosting,monitoring,certificates,...}
    agent.iisconfig               shared only
    controller                    shared only
    shared                        nothing of ours

Imports inside functions and under TYPE_CHECKING count too: a lazy import is still an arrow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OURS = ("agent", "controller", "shared", "iisfleet")
# The agent's top: the modules that build the application and so may reach into agent.api.
AGENT_TOP = ("agent.app", "agent.cli", "agent.controller_link")


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[str]:
    """Every absolute module name imported anywhere in the file (relative imports stay in their package)."""
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def _edges() -> list[tuple[str, str]]:
    edges = []
    for top in OURS:
        for path in sorted((REPO / top).rglob("*.py")):
            source = _module(path)
            edges += [(source, target) for target in _imports(path) if target.split(".")[0] in OURS]
    return edges


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _violation(source: str, target: str) -> str | None:
    """Why the arrow source -> target runs up a layer, or None when it is allowed."""
    top = target.split(".")[0]
    if _within(source, "shared") and top != "shared":
        return "shared imports nothing of ours"
    if _within(source, "agent.iisconfig") and not (_within(target, "agent.iisconfig") or top == "shared"):
        return "agent.iisconfig imports only shared"
    if _within(source, "controller") and top != "controller" and top != "shared":
        return "controller imports only shared"
    if _within(source, "agent") and top in ("controller", "iisfleet"):
        return "agent imports neither controller nor iisfleet"
    below_api = _within(source, "agent") and not _within(source, "agent.api") and source not in AGENT_TOP
    if below_api and _within(target, "agent.api"):
        return "nothing below agent.api imports it"
    if _within(source, "agent.api.features") and _within(target, "agent.api.resources"):
        return "resources use features, not the other way"
    return None


def test_the_walk_sees_the_tree() -> None:
    edges = _edges()
    assert len(edges) > 500
    assert ("iisfleet.cli", "agent.cli") in edges
    assert any(_within(s, "agent.api.resources") and _within(t, "agent.iisconfig") for s, t in edges)


def test_no_import_runs_back_up() -> None:
    wrong = [f"{s} -> {t}: {why}" for s, t in _edges() if (why := _violation(s, t))]
    assert wrong == []


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("shared.errors", "agent.ids"),
        ("agent.iisconfig.store", "agent.settings"),
        ("agent.security.auth", "agent.api.routing"),
        ("agent.files.paths", "agent.api.refs"),
        ("controller.api.routes", "agent.iisconfig"),
        ("controller.cli", "iisfleet.client.http"),
        ("agent.cli", "controller.settings"),
        ("agent.api.features.target", "agent.api.resources.websites"),
    ],
)
def test_the_rules_catch_upward_arrows(source: str, target: str) -> None:
    assert _violation(source, target) is not None


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("iisfleet.demo", "controller.settings"),
        ("agent.app", "agent.api.routes"),
        ("agent.api.resources.websites", "agent.iisconfig"),
        ("agent.security.auth", "shared.handler"),
        ("controller.keys", "shared.secretbox"),
    ],
)
def test_the_rules_allow_downward_arrows(source: str, target: str) -> None:
    assert _violation(source, target) is None
