"""escape: HTML and XML escaping for the worker's generated pages and trace files.

The same five replacements as the stdlib's html.escape, without importing `html`: it loads html.entities, a
table of 2,000+ named entities used only for unescaping, ~0.5 MiB in every worker for a function that
never reads it.
"""

from __future__ import annotations


def escape(text: str, quote: bool = True) -> str:
    """&, < and > as entities, and with `quote` also " and ' (html.escape's output, character for character)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if quote:
        text = text.replace('"', "&quot;").replace("'", "&#x27;")
    return text
