"""The one URL mapper: the rule itself, and the embedded host and the files API agreeing through it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from agent.files import webtree
from agent.hosting.embedded.model import AppSpec, VdirSpec
from agent.hosting.embedded.urlmap import map_path, match_app
from agent.iisconfig import urlmap

# One site, three applications; "/a/b" has its own vdir "/v". Apps listed shortest first on purpose: the
# mapper must not rely on the order (the embedded model sorts, the configuration does not).
LAYOUT = (
    ("/", (("/", "/srv/root"),)),
    ("/a", (("/", "/srv/a"),)),
    ("/a/b", (("/", "/srv/ab"), ("/v", "/srv/v"))),
)


def _element(attrs: dict[str, Any], children: list[Any]) -> Any:
    return SimpleNamespace(get=attrs.get, collection=lambda: list(children))


def _site_elements() -> Any:
    apps = [_element({"path": app}, [_element({"path": p, "physicalPath": phys}, []) for p, phys in vdirs])
            for app, vdirs in LAYOUT]  # fmt: skip
    return _element({}, apps)


def _site_specs() -> tuple[AppSpec, ...]:
    return tuple(AppSpec(app, "Pool", tuple(VdirSpec(p, phys) for p, phys in vdirs)) for app, vdirs in LAYOUT)


def test_prefixes_match_whole_segments_case_insensitively() -> None:
    assert urlmap.covers("/a/b", "/A/B/c") and urlmap.covers("/a/b/", "/a/b") and urlmap.covers("/", "/x")
    assert not urlmap.covers("/a/b", "/a/bc") and not urlmap.covers("/a/b", "/a")
    paths = ["/", "/a", "/a/b"]
    assert urlmap.longest(paths, "/a/bc", str) == "/a"
    assert urlmap.longest(paths, "/a/b/x", str) == "/a/b"
    assert urlmap.longest(["/a"], "/b", str) is None
    assert urlmap.below("/a/", "/a/x/y") == "/x/y" and urlmap.below("/a", "/a") == "/"


@pytest.mark.parametrize(("url", "physical"), [
    ("/a/bc", "/srv/a/bc"),
    ("/A/B/x", "/srv/ab/x"),
    ("/a/b/v/img.png", "/srv/v/img.png"),
    ("/a/b/v", "/srv/v"),
    ("/other/deep/file.txt", "/srv/root/other/deep/file.txt"),
    ("/", "/srv/root"),
])  # fmt: skip
def test_the_embedded_host_and_the_files_api_map_alike(url: str, physical: str) -> None:
    specs = _site_specs()
    app = match_app(specs, url)
    assert app is not None
    assert map_path(app, url) == physical
    assert webtree.physical_path(_site_elements(), url) == physical
    found = webtree.resolve(_site_elements(), url)
    assert found is not None and str(found.app.get("path")) == app.path


def test_nothing_serves_a_path_outside_every_application() -> None:
    specs = (AppSpec("/only", "Pool", (VdirSpec("/", "/srv/only"),)),)
    assert match_app(specs, "/elsewhere") is None
    site = _element({}, [_element({"path": "/only"}, [_element({"path": "/", "physicalPath": "/srv/only"}, [])])])
    assert webtree.physical_path(site, "/elsewhere") is None
