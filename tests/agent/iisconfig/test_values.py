"""Typed get/set: bool, integers with ranges, timeSpan, enums and flags."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agent.iisconfig import ConfigStore, ConfigValueError
from agent.iisconfig.schema import SCHEMA
from agent.iisconfig.timespan import format_timespan, parse_timespan

POOLS = "system.applicationHost/applicationPools"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("00:20:00", timedelta(minutes=20)),
        ("1.05:00:00", timedelta(days=1, hours=5)),
        ("00:00:01.5000000", timedelta(seconds=1.5)),
        ("10", timedelta(days=10)),
    ],
)
def test_parse_timespan(text: str, value: timedelta) -> None:
    assert parse_timespan(text) == value


def test_format_timespan() -> None:
    assert format_timespan(timedelta(minutes=20)) == "00:20:00"
    assert format_timespan(timedelta(days=1, hours=5)) == "1.05:00:00"
    assert format_timespan(timedelta(seconds=1, microseconds=250000)) == "00:00:01.2500000"


def test_set_writes_canonical_text(store: ConfigStore) -> None:
    pool = store.section(POOLS).collection().find(name="IntranetPool")
    assert pool is not None
    with store.write_sync():
        pool.set("autoStart", False)
        pool.set("managedPipelineMode", "integrated")
        pool.set("startMode", 1)
        pool.child("processModel").set("idleTimeout", 90)
        pool.child("recycling").child("periodicRestart").set("time", timedelta(days=2))
        pool.child("recycling").set("logEventOnRecycle", "time, requests")
        pool.child("cpu").set("action", "killw3wp")
    assert pool.get_raw("autoStart") == "false"
    assert pool.get("autoStart") is False
    assert pool.get_raw("managedPipelineMode") == "Integrated"
    assert pool.get("startMode") == "AlwaysRunning"
    assert pool.child("processModel").get_raw("idleTimeout") == "00:01:30"
    assert pool.child("recycling").child("periodicRestart").get_raw("time") == "2.00:00:00"
    assert pool.child("recycling").get("logEventOnRecycle") == "Time,Requests"
    assert pool.child("cpu").get("action") == "KillW3wp"
    # Existing attributes keep their place; new ones are appended.
    assert list(pool.attributes())[:3] == ["name", "managedRuntimeVersion", "managedPipelineMode"]


def test_lenient_reads_of_file_values(store: ConfigStore) -> None:
    pool = store.section(POOLS).collection().find(name="IntranetPool")
    assert pool is not None
    raw = pool.element
    assert raw is not None
    raw.set("managedPipelineMode", "CLASSIC")
    raw.set("enable32BitAppOnWin64", "True")
    raw.set("startMode", "1")
    assert pool.get("managedPipelineMode") == "Classic"
    assert pool.get("enable32BitAppOnWin64") is True
    assert pool.get("startMode") == "AlwaysRunning"
    raw.set("queueLength", "not a number")
    assert pool.get("queueLength") == 1000


def test_flags_accept_numbers_and_lists(store: ConfigStore) -> None:
    browse = store.section("system.webServer/directoryBrowse")
    with store.write_sync():
        browse.set("showFlags", ["Date", "longdate"])
    assert browse.get("showFlags") == "Date,LongDate"
    with store.write_sync():
        browse.set("showFlags", 0)
    assert browse.get("showFlags") == "None"
    site_level = store.section("system.webServer/directoryBrowse", "Storefront")
    assert site_level.get("showFlags") == "Date,Time,Size,Extension"


def test_range_errors_carry_limits(store: ConfigStore) -> None:
    pool = store.section(POOLS).collection().find(name="IntranetPool")
    assert pool is not None
    with pytest.raises(ConfigValueError) as info:
        pool.set("queueLength", 5)
    assert info.value.attribute == "queueLength"
    assert (info.value.min_value, info.value.max_value) == (10, 65535)
    assert "between 10 and 65535" in str(info.value)
    with pytest.raises(ConfigValueError) as info:
        pool.child("cpu").set("limit", 100001)
    assert info.value.max_value == 100000
    with pytest.raises(ConfigValueError) as info:
        pool.child("processModel").set("pingInterval", 0)
    assert info.value.min_value == 1


@pytest.mark.parametrize(
    ("attr", "value"),
    [("autoStart", "maybe"), ("queueLength", "many"), ("queueLength", True), ("managedPipelineMode", "Hybrid")],
)
def test_bad_values_raise(store: ConfigStore, attr: str, value: object) -> None:
    pool = store.section(POOLS).collection().find(name="IntranetPool")
    assert pool is not None
    with pytest.raises(ConfigValueError) as info:
        pool.set(attr, value)
    assert info.value.attribute == attr
    assert info.value.min_value is None


def test_unknown_section_is_raw(store: ConfigStore) -> None:
    asp = store.section("system.webServer/asp")
    assert asp.get("scriptErrorSentToBrowser") == "true"
    assert asp.child("cache").get("diskTemplateCacheDirectory") == r"%SystemDrive%\inetpub\temp\ASP Compiled Templates"
    with store.write_sync():
        asp.set("enableParentPaths", True)
    assert asp.get_raw("enableParentPaths") == "true"


def test_every_schema_default_has_its_type() -> None:
    def walk(schema: object) -> None:
        for attr in schema.attrs:  # type: ignore[attr-defined]
            if attr.type == "bool":
                assert isinstance(attr.default, bool), attr
            elif attr.type in ("enum",):
                assert attr.default in dict(attr.enum_items()), attr
        for child in schema.children:  # type: ignore[attr-defined]
            walk(child)
        if schema.collection is not None:  # type: ignore[attr-defined]
            walk(schema.collection.item)  # type: ignore[attr-defined]

    for section in SCHEMA.values():
        walk(section)
