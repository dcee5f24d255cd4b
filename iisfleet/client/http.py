"""A small synchronous HTTPS client for the controller API: JSON calls, streamed uploads, SSE events.

Where to connect comes from flags or, when a flag is absent, `IISFLEET_CONTROLLER`, `IISFLEET_TOKEN` and
`IISFLEET_CAFILE` (read once here, the client's settings loader).
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_CONTROLLER = "https://127.0.0.1:55540"


class ClientError(Exception):
    """An HTTP error answer or an unreachable controller; the message is for the operator."""

    def __init__(self, message: str, status: int = 0, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def add_connection_flags(parser: argparse.ArgumentParser) -> None:
    """--controller, --token, --cafile and --json."""
    parser.add_argument("--controller", default=None, help="controller URL (env IISFLEET_CONTROLLER)")
    parser.add_argument("--token", default=None, help="operator token (env IISFLEET_TOKEN)")
    parser.add_argument("--cafile", default=None, help="fleet CA certificate to trust (env IISFLEET_CAFILE)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


@dataclass(frozen=True, slots=True)
class Controller:
    """Where the controller is and how to authenticate."""

    url: str
    token: str
    cafile: str | None

    @classmethod
    def from_args(cls, args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Controller:
        """Flags first, then the IISFLEET_* environment."""
        env = os.environ if environ is None else environ
        token = args.token or env.get("IISFLEET_TOKEN") or ""
        if not token:
            raise ClientError("no operator token: pass --token or set IISFLEET_TOKEN")
        url = (args.controller or env.get("IISFLEET_CONTROLLER") or DEFAULT_CONTROLLER).rstrip("/")
        return cls(url, token, args.cafile or env.get("IISFLEET_CAFILE") or None)

    def _ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cafile) if self.cafile else ssl.create_default_context()

    def _open(self, request: urllib.request.Request, timeout: float) -> Any:
        request.add_header("Authorization", f"Bearer {self.token}")
        try:
            return urllib.request.urlopen(request, context=self._ssl(), timeout=timeout)
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
            detail = body.get("detail") or body.get("title") if isinstance(body, dict) else body
            name = f" ({body['name']})" if isinstance(body, dict) and body.get("name") else ""
            raise ClientError(f"{err.code}{name}: {detail}", err.code, body) from err
        except OSError as err:
            raise ClientError(f"cannot reach the controller at {self.url}: {err}") from err

    def call(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        """One JSON request; the decoded answer."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with self._open(request, timeout) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def upload(self, path: Path, name: str) -> dict[str, Any]:
        """Stream a file to POST /api/artifacts."""
        size = path.stat().st_size
        with path.open("rb") as handle:
            request = urllib.request.Request(f"{self.url}/api/artifacts?name={urllib.parse.quote(name)}",
                                             data=handle, method="POST")
            request.add_header("Content-Length", str(size))
            request.add_header("Content-Type", "application/octet-stream")
            with self._open(request, 3600) as response:
                return dict(json.loads(response.read()))

    def send(self, method: str, path: str, body: Iterator[bytes], length: int, content_type: str) -> Any:
        """Stream a body of known length (a generator of blocks); the decoded JSON answer."""
        request = urllib.request.Request(self.url + path, data=body, method=method)
        request.add_header("Content-Length", str(length))
        request.add_header("Content-Type", content_type)
        with self._open(request, 3600) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def events(self, job_id: str) -> Iterator[dict[str, Any]]:
        """The job's server-sent events, history first, until it finishes."""
        url = f"{self.url}/api/jobs/{job_id}/events"
        request = urllib.request.Request(url, headers={"Accept": "text/event-stream"})
        with self._open(request, 60) as response:
            data: list[str] = []
            for raw in response:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    yield dict(json.loads("\n".join(data)))
                    data = []
