"""appcmd.exe: argument lists for the runtime verbs and parsers for its `/xml` listings.

Sources (documentation we relied on; nothing here was run against a real IIS):
- Verbs and their selectors, `appcmd start|stop apppool /apppool.name:NAME`, `appcmd recycle apppool
  /apppool.name:NAME`: "Start or Stop an Application Pool (IIS 7)", learn.microsoft.com cc732742, and
  "Recycle an Application Pool on Demand (IIS 7)", go.microsoft.com/fwlink/p/?LinkId=168806.
- `appcmd start|stop site`, `list sites /state:Stopped`, `list wp PID /apppool.name:`, `list request
  /elapsed: /site.name: /wp.name:`: "IIS 7.0: Using Command Line Tools", programming4.us/website/7766.aspx
  and 6646.aspx; "Getting Started with AppCmd.exe", learn.microsoft.com/en-us/iis/get-started/
  getting-started-with-iis/getting-started-with-appcmdexe (objects SITE, APPPOOL, WP, REQUEST).
- `/xml` "Generate output in XML format": appcmd's general parameters, programming4.us/website/7646.aspx.
  The element layout, `<appcmd><SITE SITE.NAME=".." SITE.ID=".." bindings=".." state=".."/></appcmd>`,
  `<APPPOOL APPPOOL.NAME=".." PipelineMode=".." RuntimeVersion=".." state=".."/>` and
  `<WP WP.NAME="pid" APPPOOL.NAME=".."/>`, is the one public tools record from real servers (for example
  the telegraf win_iisproc tests); attribute names are matched case-insensitively because the REQUEST
  attributes were not found in any documentation.
- A parameter holding spaces is passed as one argument (`/site.name:Default Web Site`); Windows quotes it
  whole, which appcmd accepts (geekybob.com, "AppCmd 80070057 errors when configuring site-level settings").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from agent.hosting.base import RuntimeStatus
from agent.hosting.iis.appcmd_errors import E_NOTIMPL, api_error, parse_error
from agent.hosting.iis.runner import ToolFailed, run_tool
from shared.errors import NotFound, ServerError

DEFAULT_PATH = Path(r"C:\Windows\System32\inetsrv\appcmd.exe")
_STATES = {s.value: s for s in RuntimeStatus}


class FeatureNotInstalled(NotFound):
    """appcmd answered E_NOTIMPL: the IIS role service behind the verb (Request Monitor) is not installed."""


@dataclass(frozen=True, slots=True)
class SiteRecord:
    """One `<SITE>` of `appcmd list site /xml`."""

    name: str
    id: int
    bindings: str
    state: RuntimeStatus


@dataclass(frozen=True, slots=True)
class PoolRecord:
    """One `<APPPOOL>` of `appcmd list apppool /xml`."""

    name: str
    state: RuntimeStatus
    pipeline_mode: str
    runtime_version: str


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """One `<WP>` of `appcmd list wp /xml`: a w3wp.exe process and its pool."""

    pid: int
    pool: str


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One `<REQUEST>` of `appcmd list request /xml`: a request executing now."""

    id: str
    pid: int
    site_id: int
    verb: str
    url: str
    client: str
    elapsed_ms: int
    stage: str
    pool: str = ""


def status_of(text: str) -> RuntimeStatus:
    """appcmd's `state` attribute as a RuntimeStatus (`unknown` for anything else).

    The attribute carries the ObjectState enum's names (Starting, Started, Stopping, Stopped, Unknown),
    which appcmd prints untranslated on every display language (it is an attribute value, not a message).
    """
    return _STATES.get(text.strip().lower(), RuntimeStatus.UNKNOWN)


def _records(xml: str, tag: str) -> list[dict[str, str]]:
    # appcmd prints an XML declaration; lxml refuses a str that has one, so parse the UTF-8 bytes.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(xml.strip().encode("utf-8"), parser)
    except etree.XMLSyntaxError as err:
        raise ServerError(name="status", detail=f"appcmd printed unreadable XML: {err}") from err
    if root.tag != "appcmd":
        raise ServerError(name="status", detail=f"appcmd printed <{root.tag}>, not <appcmd>.")
    return [{str(k).lower(): str(v) for k, v in el.attrib.items()} for el in root if el.tag == tag]


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def parse_sites(xml: str) -> list[SiteRecord]:
    """Sites with their runtime state."""
    return [
        SiteRecord(a.get("site.name", ""), _int(a.get("site.id")), a.get("bindings", ""), status_of(a.get("state", "")))
        for a in _records(xml, "SITE")
    ]


def parse_pools(xml: str) -> list[PoolRecord]:
    """Application pools with their runtime state."""
    return [
        PoolRecord(
            a.get("apppool.name", ""),
            status_of(a.get("state", "")),
            a.get("pipelinemode", ""),
            a.get("runtimeversion", ""),
        )  # fmt: skip
        for a in _records(xml, "APPPOOL")
    ]


def parse_workers(xml: str) -> list[WorkerRecord]:
    """Worker processes: WP.NAME is the process id."""
    return [WorkerRecord(_int(a.get("wp.name")), a.get("apppool.name", "")) for a in _records(xml, "WP")]


def parse_requests(xml: str) -> list[RequestRecord]:
    """Executing requests. Real captures spell the attributes `Url`, `Verb`, `ClientIp` and add
    `APPPOOL.NAME`; names are matched case-insensitively (the elapsed-time spelling is unverified)."""
    return [
        RequestRecord(
            id=a.get("request.name", ""),
            pid=_int(a.get("wp.name")),
            site_id=_int(a.get("site.id")),
            verb=a.get("verb", ""),
            url=a.get("url", ""),
            client=a.get("clientip", a.get("client", "")),
            elapsed_ms=_int(a.get("time", a.get("timeelapsed"))),
            stage=a.get("stage", a.get("pipelinestate", "")),
            pool=a.get("apppool.name", ""),
        )  # fmt: skip
        for a in _records(xml, "REQUEST")
    ]


@dataclass(frozen=True, slots=True)
class Appcmd:
    """appcmd.exe at `path` (after an optional launcher), each call bounded by `timeout` seconds."""

    path: Path = DEFAULT_PATH
    timeout: float = 15.0
    launcher: tuple[str, ...] = ()
    codepage: str | None = None  # None: the console's (codepage.console_codepage)

    def argv(self, *args: str) -> list[str]:
        """The full argument list for `appcmd <args>`."""
        return [*self.launcher, str(self.path), *args]

    async def _run(self, args: Sequence[str]) -> str:
        return (await run_tool(self.argv(*args), seconds=self.timeout, codepage=self.codepage)).stdout

    async def list_sites(self) -> list[SiteRecord]:
        """`appcmd list site /xml`."""
        return parse_sites(await self._run(["list", "site", "/xml"]))

    async def list_pools(self) -> list[PoolRecord]:
        """`appcmd list apppool /xml`."""
        return parse_pools(await self._run(["list", "apppool", "/xml"]))

    async def list_workers(self) -> list[WorkerRecord]:
        """`appcmd list wp /xml`."""
        return parse_workers(await self._run(["list", "wp", "/xml"]))

    async def list_requests(self) -> list[RequestRecord]:
        """`appcmd list request /xml`; FeatureNotInstalled without the Request Monitor role service."""
        try:
            return parse_requests(await self._run(["list", "request", "/xml"]))
        except ToolFailed as failed:
            error = parse_error(failed.output.stdout + "\n" + failed.output.stderr)
            if error is not None and error.hresult == E_NOTIMPL:
                raise FeatureNotInstalled(name="Request Monitor", detail="IIS feature not installed") from failed
            raise

    async def site(self, verb: str, name: str) -> None:
        """`appcmd start|stop site /site.name:NAME`."""
        await self._change(verb, "site", "Site", name)

    async def pool(self, verb: str, name: str) -> None:
        """`appcmd start|stop|recycle apppool /apppool.name:NAME`."""
        await self._change(verb, "apppool", "Application pool", name)

    async def _change(self, verb: str, kind: str, label: str, name: str) -> None:
        try:
            await self._run([verb, kind, f"/{kind}.name:{name}"])
        except ToolFailed as failed:
            answer = api_error(failed, verb, "application_pool" if kind == "apppool" else kind, label, name)
            if answer is not None:  # None: already in the requested state, which is what was asked
                raise answer from failed
