"""The worker's escape (worker/markup.py) is html.escape without the `html` import, and trace XML stays parseable."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET  # noqa: S405 - parses our own output

import pytest

from agent.hosting.embedded.worker.markup import escape
from agent.hosting.embedded.worker.modules.failed_request_tracing import _quoted

SAMPLES = ["", "plain", "a & b", "<script>alert('x')</script>", 'say "hi"', "&amp; already", "é ü ☃", "\t\r\n"]


@pytest.mark.parametrize("text", SAMPLES)
@pytest.mark.parametrize("quote", [True, False])
def test_it_matches_the_stdlib(text: str, quote: bool) -> None:
    assert escape(text, quote) == html.escape(text, quote)


@pytest.mark.parametrize("text", SAMPLES)
def test_quoted_attribute_values_read_back_exactly(text: str) -> None:
    element = ET.fromstring(f"<a v={_quoted(text)}/>")  # noqa: S314 - our own output
    assert element.get("v") == text
