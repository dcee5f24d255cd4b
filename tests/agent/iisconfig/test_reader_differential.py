"""The worker's reader (litexml, no lxml) answers exactly as the agent's store (lxml) on the same file.

For the project's fixture, the stock configuration and a generated file (generated_config.py), every section a
worker module or the server model reads is compared at many configuration paths: typed attribute values (with
siteDefaults and schema defaults), explicit attributes, child elements, collection entries, recursively, and
the delegation answers. read_server is compared whole.
"""

from __future__ import annotations

import importlib
import pkgutil
import shutil
from pathlib import Path
from typing import Any

import pytest

from agent.hosting.embedded import cache_policy, model
from agent.hosting.embedded.worker import handoff, modules, pipeline
from agent.iisconfig import ConfigElement, ConfigReader, ConfigStore, write_stock_config
from tests.agent.iisconfig.conftest import SAMPLE
from tests.agent.iisconfig.generated_config import SITE_COUNT, write_generated_config

# Sections read once for the whole server, not per request path.
SERVER_ONLY = {model.SITES, model.POOLS}


def _section_names() -> list[str]:
    """Every section name a worker module, the pipeline, the cache policy or the server model refers to."""
    sources = [cache_policy, model, handoff, pipeline]
    sources += [importlib.import_module(m.name) for m in pkgutil.iter_modules(modules.__path__, modules.__name__ + ".")]
    names: set[str] = set()
    for source in sources:
        for value in vars(source).values():
            for text in value if isinstance(value, tuple) else (value,):
                if isinstance(text, str) and text.startswith("system.") and "/" in text and " " not in text:
                    names.add(text)
    return sorted(names)


SECTIONS = _section_names()


def _paths(reader: ConfigReader) -> list[str]:
    """Server, every location path, every application of the first sites, deeper and differently spelled ones."""
    paths = {"", "NoSuchSite", "NoSuchSite/app"}
    for location in reader.locations():
        paths |= {location, location.upper(), location.lower(), location + "/deeper/still", "/" + location + "/"}
    sites = reader.section(model.SITES).collection().items()
    for site in sites[:8]:
        name = str(site.get("name"))
        for app in site.collection():
            path = name + str(app.get("path")).rstrip("/")
            paths |= {path, path + "/dir", path.swapcase()}
    return sorted(paths)


def _dump(view: ConfigElement) -> dict[str, Any]:
    """Everything a reader of `view` can see, recursively (schema children that are absent too: defaults)."""
    schema = view.schema
    attributes = view.attributes()
    names = [a.name for a in schema.attrs] if schema is not None else []
    absent = [c.name for c in schema.children] if schema is not None else []
    return {
        "tag": view.tag,
        "exists": view.exists,
        "attributes": attributes,
        "values": {name: view.get(name) for name in [*names, *attributes]},
        "children": [_dump(child) for child in view.children()],
        "absent": {name: _dump(view.child(name)) for name in absent if not view.child(name).exists},
        "entries": [_dump(entry) for entry in view.collection()],
    }


@pytest.fixture(params=["fixture", "stock", "generated"])
def config_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / "applicationHost.config"
    if request.param == "fixture":
        shutil.copyfile(SAMPLE, path)
    elif request.param == "stock":
        write_stock_config(path, tmp_path / "wwwroot")
    else:
        write_generated_config(path)
    return path


def _both(path: Path) -> tuple[ConfigReader, ConfigStore]:
    reader, store = ConfigReader(path), ConfigStore(path)
    reader.load()
    store.load()
    assert type(reader.document.root).__module__ == "agent.iisconfig.litexml"
    assert type(store.document.root).__module__ == "lxml.etree"
    return reader, store


def test_the_sections_come_from_the_worker_modules() -> None:
    assert {model.SITES, cache_policy.SECTION, "system.webServer/staticContent"} <= set(SECTIONS)
    assert {"system.webServer/rewrite/rules", "system.webServer/rewrite/globalRules"} <= set(SECTIONS)
    assert len(SECTIONS) >= 20


def test_every_effective_section_matches_lxml(config_file: Path) -> None:
    reader, store = _both(config_file)
    paths = _paths(store)
    assert _paths(reader) == paths
    compared = 0
    for name in SECTIONS:
        for path in [""] if name in SERVER_ONLY else paths:
            lite, full = reader.effective_section(name, path), store.effective_section(name, path)
            assert _dump(lite) == _dump(full), f"{name} at {path!r}"
            compared += 1
    assert compared >= len(SECTIONS) * 3


def test_the_generated_file_exercises_merging(tmp_path: Path) -> None:
    """Guards the differential test itself: the generated file really has multi-level merges and directives."""
    reader, _ = _both(write_generated_config(tmp_path / "applicationHost.config"))
    files = reader.effective_section("system.webServer/defaultDocument", "Site3/app").child("files").collection()
    assert [str(f.get("value")) for f in files] == ["app.html"]  # <clear/> below two site-level tags
    files = reader.effective_section("system.webServer/defaultDocument", "site3").child("files").collection()
    # Each later level's entries go first (defaultDocument does not merge-append); <remove/> drops index.htm.
    assert [str(f.get("value")) for f in files] == ["second-tag.html", "site3.html", "index.html", "default.aspx"]
    mime = reader.effective_section("system.webServer/staticContent", "SITE3/app/sub/x").collection()
    assert [str(m.get("fileExtension")) for m in mime] == [".only"]
    extension = reader.effective_section("system.webServer/staticContent", "").children()[0]
    assert (extension.tag, extension.attributes()) == ("{urn:iisfleet:test}extension", {"{urn:iisfleet:test}flag": "1"})


def test_read_server_matches_lxml(config_file: Path) -> None:
    reader, store = _both(config_file)
    assert model.read_server(reader, "127.0.0.1") == model.read_server(store, "127.0.0.1")


def test_read_server_sees_every_generated_site(tmp_path: Path) -> None:
    reader, _ = _both(write_generated_config(tmp_path / "applicationHost.config"))
    server = model.read_server(reader, "127.0.0.1")
    assert len(server.sites) == SITE_COUNT
    assert server.sites["site4"].connection_timeout == 30.0 + 4 * 60
    assert server.sites["site5"].connection_timeout == 70.0  # siteDefaults/limits
    assert server.pools["pool1"].max_processes == 3


def test_delegation_matches_lxml(config_file: Path) -> None:
    reader, store = _both(config_file)
    for name in SECTIONS:
        for path in _paths(store):
            assert reader.effective_override_mode(name, path) == store.effective_override_mode(name, path)
            assert reader.is_locked(name, path) == store.is_locked(name, path)
