"""Bindings, application matching and virtual-directory mapping."""

from __future__ import annotations

from pathlib import Path

from agent.hosting.embedded.model import AppSpec, BindingSpec, VdirSpec, parse_binding, read_server
from agent.hosting.embedded.urlmap import map_path, match_app, normalize_url_path
from tests.agent.hosting.support import make_store


def test_wildcard_binding_means_the_agent_address() -> None:
    assert parse_binding("http", "*:8080:", "127.0.0.9") == BindingSpec("http", "127.0.0.9", 8080, "")
    assert parse_binding("https", "10.0.0.1:443:Shop.Example", "x") == BindingSpec(
        "https", "10.0.0.1", 443, "shop.example"
    )
    assert parse_binding("net.tcp", "808:*", "x") is None


def test_longest_application_and_vdir_win() -> None:
    apps = (
        AppSpec("/shop/admin", "p3", (VdirSpec("/", "/srv/admin"),)),
        AppSpec("/shop", "p2", (VdirSpec("/img", "/srv/img"), VdirSpec("/", "/srv/shop"))),
        AppSpec("/", "p1", (VdirSpec("/", "/srv/root"),)),
    )
    assert match_app(apps, "/SHOP/Admin/x") is apps[0]
    assert match_app(apps, "/shopping") is apps[2]
    assert map_path(apps[1], "/shop/img/a.png") == "/srv/img/a.png"
    assert map_path(apps[1], "/shop/x/y.html") == "/srv/shop/x/y.html"
    assert map_path(apps[1], "/shop") == "/srv/shop"


def test_normalize_rejects_climbing_above_root() -> None:
    assert normalize_url_path("/a/./b/../c/") == "/a/c/"
    assert normalize_url_path("/a\\b") == "/a/b"
    assert normalize_url_path("/../etc/passwd") is None


def test_reads_stock_config(tmp_path: Path) -> None:
    store = make_store(tmp_path, 18080)
    spec = read_server(store, "127.0.0.3")
    site = spec.sites["default web site"]
    assert site.bindings == (BindingSpec("http", "127.0.0.3", 18080, ""),)
    assert site.apps[0].vdirs[0].physical_path == str(tmp_path / "wwwroot")
    pool = spec.pools["defaultapppool"]
    assert (pool.max_processes, pool.idle_timeout, pool.rapid_fail_max_crashes) == (1, 1200.0, 5)
