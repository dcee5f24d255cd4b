"""Talking to agents from services: the mTLS session (shared with the gateway) and a small JSON client.

Errors are sorted once here: connection failures, timeouts and 5xx answers are `TransientError` (worth a
retry), 4xx answers are `PermanentError` (the same request would fail again).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from controller.auth.operators import HEADER as OPERATOR_HEADER
from controller.auth.operators import Operator
from controller.pki import CertificateAuthority
from controller.services.agent_pin import PIN_HEADER, PinnedConnector
from controller.settings import ControllerSettings
from controller.tls import agent_client_context

ANSWER_LIMIT = 32 * 1024 * 1024
"""Bytes of one agent answer a service reads into memory; a bigger answer fails the step (a worker is shared)."""


class StepError(Exception):
    """A step could not do its work; the message goes into the agent's result."""

    transient = False


class TransientError(StepError):
    """Worth retrying: the agent was unreachable, timed out or answered 5xx."""

    transient = True


class PermanentError(StepError):
    """Retrying would not help: the agent refused the request (4xx) or the result is wrong."""


PROBE_TIMEOUT = aiohttp.ClientTimeout(total=15, sock_connect=5)


def open_agent_session(
    settings: ControllerSettings, ca: CertificateAuthority, limit: int = 256
) -> aiohttp.ClientSession:
    """The HTTPS client towards agents: verifies them against the fleet CA and presents our certificate.

    Kept open, it pools keep-alive connections per agent, so a step reuses a TLS session instead of a handshake.
    The connector checks each agent's certificate serial against the registry before anything is sent.
    """
    connector = PinnedConnector(ssl=agent_client_context(settings, ca), limit=limit, limit_per_host=16)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=300)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False)


@asynccontextmanager
async def probe_session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client for requests to the sites themselves (health checks); HTTPS sites are verified as browsers do."""
    async with aiohttp.ClientSession(timeout=PROBE_TIMEOUT) as session:
        yield session


class AgentClient:
    """JSON calls to one agent's IIS Administration API with its API key, for one operator.

    Every call pins the agent's registered certificate serial and names the operator it is made for.
    """

    answer_limit = ANSWER_LIMIT

    def __init__(
        self, session: aiohttp.ClientSession, url: str, api_key: str, name: str, *, serial: str, operator: Operator
    ) -> None:
        self.session = session
        self.url = url.rstrip("/")
        self.name = name
        self._headers = {"Access-Token": f"Bearer {api_key}", "Accept": "application/json", PIN_HEADER: serial}
        if operator.id:  # jobs from before attribution run for the controller itself and name nobody
            self._headers[OPERATOR_HEADER] = operator.header()

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        data: bytes | AsyncIterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        allow: Iterable[int] = (),
    ) -> tuple[int, Any]:
        """(status, decoded JSON or text); 4xx outside `allow` raise PermanentError, 5xx TransientError."""
        sent = {**self._headers, **(headers or {})}
        payload: bytes | AsyncIterable[bytes] | None = data
        if body is not None:
            payload = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        try:
            async with self.session.request(
                method, self.url + path, data=payload, headers=sent, params=params, allow_redirects=False
            ) as response:
                raw = await _read_capped(response, self.answer_limit)
                status = response.status
        except AnswerTooLarge as err:
            raise PermanentError(f"{self.name} answered {method} {path} with {err}") from err
        except (aiohttp.ClientError, ssl.SSLError, TimeoutError, OSError) as err:
            raise TransientError(f"{self.name} is unreachable: {err or type(err).__name__}") from err
        decoded = _decode(raw)
        if status >= 500:
            raise TransientError(f"{self.name} answered {status} to {method} {path}: {_detail(decoded)}")
        if status >= 400 and status not in set(allow):
            raise PermanentError(f"{self.name} answered {status} to {method} {path}: {_detail(decoded)}")
        return status, decoded

    @property
    def host(self) -> str:
        """The agent's address, which `*` site bindings mean."""
        rest = self.url.split("://", 1)[-1].split("/", 1)[0]
        return rest.rsplit(":", 1)[0].strip("[]")


class AnswerTooLarge(Exception):
    """An agent's answer is over the client's limit; the rest is not read."""


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, or AnswerTooLarge once it (or its announced length) passes `limit` bytes."""
    if response.content_length is not None and response.content_length > limit:
        raise AnswerTooLarge(f"{response.content_length} bytes, over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise AnswerTooLarge(f"more than {limit} bytes, over the limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def _detail(body: Any) -> str:
    if isinstance(body, dict):
        parts = [str(body.get(k)) for k in ("title", "name", "detail") if body.get(k) not in (None, "")]
        return " - ".join(parts) or json.dumps(body)[:300]
    return str(body)[:300]
