"""The worker's side of the file handoff (agent/hosting/embedded/file_handoff.py): pass the open file, not bytes.

Eligibility is decided from the effective configuration, default-deny: the handoff is used only where every
module enabled at the URL is in BODY_PASSTHROUGH, i.e. known not to transform response bodies. A module that
compresses, rewrites outbound content or replaces error bodies is simply left out of that set and keeps the
whole path through the worker; a module that transforms only some responses may be added to the set and call
`forbid(ctx)` on the requests whose body it changes, in any stage.
"""

from __future__ import annotations

import array
import asyncio
import socket
from typing import IO, Any

from agent.hosting.embedded import file_handoff
from agent.hosting.embedded.worker.context import HttpContext
from agent.hosting.embedded.worker.registry import MODULES
from agent.hosting.embedded.worker.response import StreamResponse, Writer

MODULES_SECTION = "system.webServer/modules"
# Modules that never change a StaticFileResponse's body in place. Keep in step with registry.MODULES: a new
# module stays out until it is known to leave bodies alone (or clears the handoff on the responses it changes).
# Compression, outbound rewrite, custom errors, redirects and denials *replace* ctx.response with a response of
# their own (a FileResponse or Response, which never hands a file off), so the file they would have
# altered is not the one sent; header edits travel in the head the worker still writes.
BODY_PASSTHROUGH = frozenset({
    "RequestFilteringModule", "RewriteModule", "AnonymousAuthenticationModule", "DefaultDocumentModule",
    "DirectoryListingModule", "StaticFileModule", "ProtocolSupportModule", "HttpLoggingModule",
    "FailedRequestsTracingModule", "IpRestrictionModule", "DynamicIpRestrictionModule", "BasicAuthenticationModule",
    "UrlAuthorizationModule", "HttpRedirectionModule", "CustomErrorModule", "DynamicCompressionModule",
    "StaticCompressionModule",
})  # fmt: skip
NO_HANDOFF = "no_file_handoff"
"""ctx.items key that `forbid` sets: this request's body stays on the worker's path."""


def _passthrough_only(section: Any) -> bool:
    try:
        configured = {str(item.get("name")) for item in section.collection()}
    except (KeyError, ValueError, AttributeError):
        configured = set(MODULES)  # as the pipeline: no readable list means every module
    return configured & set(MODULES) <= BODY_PASSTHROUGH


def eligible(ctx: HttpContext) -> bool:
    """The supervisor offered the handoff and no enabled module may transform the body at this URL."""
    if ctx.request.headers.get(file_handoff.HEADER) != file_handoff.OFFER or NO_HANDOFF in ctx.items:
        return False
    return ctx.settings(MODULES_SECTION, _passthrough_only)


def forbid(ctx: HttpContext) -> None:
    """Keep this request's body on the worker's path (a module that will transform it calls this)."""
    from agent.hosting.embedded.worker.modules.static_file import StaticFileResponse  # it imports this module

    ctx.items[NO_HANDOFF] = True
    if isinstance(ctx.response, StaticFileResponse):  # already made: a later stage than the handler
        ctx.response.handoff = False


def strip_forged(response: StreamResponse) -> None:
    """Drop the answer header from a response before StaticFileResponse could have set it (content, apps)."""
    response.headers.popall(file_handoff.HEADER, None)


async def send(response: StreamResponse, request: Any, writer: Writer, fobj: IO[Any], offset: int, count: int,
               ) -> bool:  # fmt: skip
    """Answer with the head and the file's descriptor; False (nothing written) when the socket is not idle."""
    transport = writer.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if transport is None or sock is None or transport.get_write_buffer_size():
        return False
    response.headers[file_handoff.HEADER] = file_handoff.encode_range(offset, count)
    writer.write(response.head(request, len(file_handoff.MARKER)))
    while transport.get_write_buffer_size():  # the marker must follow the head on the socket
        if transport.is_closing():
            raise ConnectionResetError("supervisor connection lost")
        await asyncio.sleep(0.001)
    # A socket object over the transport's descriptor (detached, never closed here) for sendmsg.
    carrier = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, sock.fileno())
    try:
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fobj.fileno()]))]
        while True:
            try:
                carrier.sendmsg([file_handoff.MARKER], rights)
                break
            except (BlockingIOError, InterruptedError):
                await asyncio.sleep(0.001)
    finally:
        carrier.detach()
    return True
