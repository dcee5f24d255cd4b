"""Pure helpers: range sets, item paging, name rules, virtual path resolution, runtime location updates."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agent.files import ranges, webtree
from agent.files.errors import InvalidRange
from agent.files.locations import FileLocations
from agent.files.paths import valid_name
from agent.settings import FilesSettings


def test_merge_and_missing() -> None:
    spans: list[tuple[int, int]] = []
    for span in ((10, 19), (0, 4), (5, 9), (30, 39), (35, 44)):
        spans = ranges.merge(spans, span)
    assert spans == [(0, 19), (30, 44)]
    assert ranges.missing(spans, 50) == [(20, 29), (45, 49)]
    assert ranges.format_spans(ranges.missing([], 3)) == "0-2"


def test_page() -> None:
    assert ranges.page([1, 2, 3], "files=0-1") == ([1, 2], "0-1/3")
    assert ranges.page([1, 2, 3], None) == ([1, 2, 3], None)
    with pytest.raises(InvalidRange):
        ranges.page([1, 2, 3], "files=1-3")


def test_valid_names() -> None:
    assert valid_name(".abc") and valid_name("a.b.c-g_r.z")
    assert not any(valid_name(n) for n in (".", "..", "abc.", "", "a|b", "x" * 256))


def element(attrs: dict[str, Any], children: list[Any] = ()) -> Any:  # type: ignore[assignment]
    """A stand-in with get() and collection()."""
    return SimpleNamespace(get=attrs.get, collection=lambda: list(children))


def test_owning_application_is_by_whole_segments() -> None:
    site = element({}, [
        element({"path": "/"}, [element({"path": "/", "physicalPath": "/srv/root"})]),
        element({"path": "/a"}, [element({"path": "/", "physicalPath": "/srv/a"})]),
        element({"path": "/a/b"}, [element({"path": "/", "physicalPath": "/srv/ab"}),
                                   element({"path": "/v", "physicalPath": "/srv/v"})]),
    ])
    assert webtree.physical_path(site, "/a/bc") == "/srv/a/bc"
    assert webtree.physical_path(site, "/A/B/x") == "/srv/ab/x"
    assert webtree.physical_path(site, "/a/b/v/img.png") == "/srv/v/img.png"
    assert webtree.physical_path(site, "/other") == "/srv/root/other"
    assert webtree.normalize("/x/../../y//z/") == "/y/z"
    assert webtree.resolve(site, "/a/bc") == webtree.resolve(site, "/a")


def test_locations_update_in_place(tmp_path: Path) -> None:
    locations = FileLocations(FilesSettings.model_validate({"locations": [{"path": str(tmp_path), "claims": []}]}))
    assert not locations.can_read(str(tmp_path / "x"))
    locations.update(FilesSettings.model_validate({"locations": [{"path": str(tmp_path), "claims": ["read"]}]}))
    assert locations.can_read(str(tmp_path / "x")) and not locations.can_write(str(tmp_path / "x"))
    assert locations.location_of(str(tmp_path)) is not None
