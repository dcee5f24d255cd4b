"""W3C lines: a handed-off request's line (write_values) equals the relay's (write) for the same request, with
the default fields (their direct formatter) and with a custom field list (the generic one)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.hosting.embedded.model import LogSpec, SiteSpec
from agent.hosting.embedded.supervisor.w3c import FIELDS, LogEntry, SiteLog

VALUES = ("10.0.0.5", "GET", "/a b/c.html", "q=1 2", 8080, "dom\\user", "10.0.0.9", "HTTP/1.1", "Mozilla/5.0 (X)",
          "c=1", "http://r/", "example.test", 404, 3, 2, 1234, 56, 17)  # fmt: skip


def site_log(tmp_path: Path, fields: tuple[str, ...]) -> SiteLog:
    spec = LogSpec(True, "W3C", str(tmp_path / "logs"), "Daily", fields, False, 0)
    return SiteLog(SiteSpec(3, "Site", True, (), (), spec, 0, 100, 120), tmp_path)


@pytest.mark.parametrize("fields", [(), tuple(flag for flag, _ in FIELDS), ("Date", "UriStem", "Cookie")],
                         ids=["default", "all", "three"])  # fmt: skip
def test_both_ways_of_writing_a_line_agree(tmp_path: Path, fields: tuple[str, ...]) -> None:
    log = site_log(tmp_path, fields)
    log.write_values(*VALUES)
    when, line = log._pending[-1]
    s_ip, method, stem, query, port, user, c_ip, version, agent, cookie, referer, host, *numbers = VALUES
    entry = LogEntry(when, 3, s_ip, port, method, stem, query, c_ip, version, agent, cookie, referer, host,
                     *numbers, username=user)  # fmt: skip
    log.write(entry)
    assert log._pending[-1] == (when, line)
    assert when.tzinfo is UTC and abs((datetime.now(UTC) - when).total_seconds()) < 2
    written = dict(zip([name for _, name in log.fields], line.split(), strict=True))
    assert written["cs-uri-stem"] == "/a+b/c.html" and written.get("cs-uri-query", "q=1+2") == "q=1+2"
    if "cs(User-Agent)" in written:
        assert (written["cs(User-Agent)"], written["cs-username"], written["sc-status"]) == (
            "Mozilla/5.0+(X)", "dom\\user", "404",
        )  # fmt: skip
