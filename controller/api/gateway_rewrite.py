"""Keep the agent's HAL links and Location headers under the gateway prefix `/api/agents/{id}/iis`.

An upstream client (the web manager) follows `_links` hrefs and `Location` headers as the agent wrote them,
`/api/webserver/websites/{id}`. Through the gateway those must read `/api/agents/{id}/iis/api/...`, or the
client would leave the gateway. Only JSON bodies are rewritten (buffered up to MAX_REWRITE); anything else,
an encoded body or a larger one goes through untouched, streamed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDict

MAX_REWRITE = 32 * 1024 * 1024
"""Largest JSON body buffered for rewriting; IIS API answers are far smaller (file contents are not JSON)."""
_LINK_HEADERS = ("Location", "Content-Location")


def gateway_prefix(agent_id: str) -> str:
    """The path every gateway call of this agent starts with."""
    return f"/api/agents/{agent_id}/iis"


@dataclass(frozen=True, slots=True)
class Rewriter:
    """Rewrites agent-relative and agent-absolute references to gateway paths."""

    prefix: str
    agent_url: str

    def href(self, href: str) -> str:
        """`/api/x` or `https://agent:port/api/x` -> `{prefix}/api/x`; anything else stays."""
        base = self.agent_url.rstrip("/")
        if base and (href == base or href.startswith(base + "/") or href.startswith(base + "?")):
            href = href[len(base):] or "/"
        if not href.startswith("/") or href.startswith("//"):
            return href
        if href == self.prefix or href.startswith(self.prefix + "/"):
            return href
        return self.prefix + href

    def links(self, value: Any) -> Any:
        """The JSON value with every `_links` href (at any depth) rewritten."""
        if isinstance(value, list):
            return [self.links(item) for item in value]
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for key, item in value.items():
            out[key] = self._link_table(item) if key == "_links" and isinstance(item, dict) else self.links(item)
        return out

    def _link_table(self, table: Mapping[str, Any]) -> dict[str, Any]:
        return {rel: self._link(link) for rel, link in table.items()}

    def _link(self, link: Any) -> Any:
        if isinstance(link, list):
            return [self._link(item) for item in link]
        if isinstance(link, dict):
            return {k: self.href(v) if k == "href" and isinstance(v, str) else self.links(v) for k, v in link.items()}
        return link

    def headers(self, headers: CIMultiDict[str]) -> CIMultiDict[str]:
        """The response headers with Location and Content-Location rewritten."""
        for name in _LINK_HEADERS:
            if name in headers:
                headers[name] = self.href(headers[name])
        return headers


def is_json(content_type: str, encoding: str) -> bool:
    """Whether an answer is a JSON body this module may rewrite (identity encoding only)."""
    if encoding and encoding.lower() != "identity":
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


@dataclass(frozen=True, slots=True)
class Buffered:
    """A JSON answer read for rewriting: the rewritten body, or (complete=False) the raw start of a large one."""

    body: bytes
    complete: bool


async def read_json(upstream: aiohttp.ClientResponse, rewriter: Rewriter) -> Buffered | None:
    """Read and rewrite a JSON answer; None when the answer is not one (stream it untouched)."""
    if not is_json(upstream.headers.get("Content-Type", ""), upstream.headers.get("Content-Encoding", "")):
        return None
    if upstream.content_length is not None and upstream.content_length > MAX_REWRITE:
        return None
    raw = bytearray()
    async for chunk in upstream.content.iter_chunked(64 * 1024):
        raw.extend(chunk)
        if len(raw) > MAX_REWRITE:
            return Buffered(bytes(raw), complete=False)  # too large: the caller sends it on unchanged
    try:
        value = json.loads(raw)
    except ValueError:
        return Buffered(bytes(raw), complete=True)  # not JSON after all: pass it through as it came
    return Buffered(json.dumps(rewriter.links(value), separators=(",", ":")).encode(), complete=True)
