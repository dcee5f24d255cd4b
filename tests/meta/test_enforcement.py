"""Every feature section the API edits is enforced by a registered module or listed as stored only, and the
compatibility table says the same as agent/hosting/embedded/enforcement.py."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agent.api.features.rows import REWRITE_SECTIONS
from agent.api.features.table import FEATURES
from agent.hosting.embedded.enforcement import BY_SECTION, ENFORCEMENT, render_table, watch_unenforced
from agent.hosting.embedded.worker.registry import MODULES
from tests.agent.hosting.support import edit, make_store

ROOT = Path(__file__).resolve().parents[2]


def test_every_feature_section_has_an_enforcement_row() -> None:
    sections = {entry.section for spec in (*FEATURES, *REWRITE_SECTIONS) for entry in spec.sections}
    missing = sorted(s for s in sections if s not in BY_SECTION)
    assert missing == [], f"add a row to ENFORCEMENT (module or stored-only reason) for {missing}"
    for spec in FEATURES:
        if not spec.sections:  # containers (authentication, url-rewrite) enforce through their children
            assert all(m in MODULES for m in spec.modules), spec.endpoint


def test_rows_name_registered_modules_or_say_why_not() -> None:
    for row in ENFORCEMENT:
        assert all(m in MODULES for m in row.modules), row.section
        if not row.effect:
            assert row.stored_only and not row.modules, f"{row.section}: a stored-only section needs its reason"
    assert len(BY_SECTION) == len(ENFORCEMENT)


def test_compatibility_doc_carries_the_table() -> None:
    doc = (ROOT / "docs" / "compatibility.md").read_text(encoding="utf-8")
    assert render_table() in doc, "regenerate the table: python -c 'from agent.hosting.embedded.enforcement " \
        "import render_table; print(render_table())'"


def test_changing_an_unenforced_section_logs_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = make_store(tmp_path, 8080)
    watch_unenforced(store)
    digest = "system.webServer/security/authentication/digestAuthentication"
    with caplog.at_level(logging.WARNING, logger="iisfleet.hosting.enforcement"):
        edit(store, lambda c: c.section("system.webServer/directoryBrowse", "Default Web Site").set("enabled", True))
        assert caplog.records == []
        edit(store, lambda c: c.section(digest, "Default Web Site").set("enabled", True))
    [record] = caplog.records
    assert digest in record.getMessage() and "does not enforce" in record.getMessage()
