"""Opaque resource ids, as upstream makes them.

The plaintext (a site key, a pool name, "siteKey\\napp path", ...) is AES-CBC encrypted with a key derived
from the host_id in appsettings and an IV fixed per purpose, then base64url encoded. The same object always
has the same id on the same host, ids survive restarts, and an id that does not decode answers 404.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from enum import StrEnum
from functools import lru_cache

from shared import aes_cbc
from shared.errors import NotFound


class Purpose(StrEnum):
    """The upstream purpose string of each id family."""

    WEBSERVER = "IIS.WebServer"
    SITE = "Webserver.Site"
    APP_POOL = "WebServer.AppPools"
    APPLICATION = "WebServer.Application"
    VDIR = "WebServer.VirtualDirectories"
    WORKER_PROCESS = "WebServer.WorkerProcesses"
    REQUEST = "WebServer.WorkerProcesses.Request"
    REQUEST_MONITOR = "WebServer.RequestMonitoring"
    SERVICE_CONTROLLER = "WebServer.Scm"
    TRANSACTION = "transaction"
    FILE = "Files"
    WEBSERVER_FILE = "WebServer.Files"
    CERTIFICATE = "Certificates"
    CERTIFICATE_STORE = "Certificates.Store"
    # Feature sections (reference/iis-api-features.md 1.3).
    AUTHENTICATION = "WebServer.Authentication"
    ANONYMOUS_AUTH = "WebServer.Authentication.AnonymousAuthentication"
    BASIC_AUTH = "WebServer.Authentication.BasicAuthentication"
    DIGEST_AUTH = "WebServer.Authentication.DigestAuthentication"
    WINDOWS_AUTH = "WebServer.Authentication.WindowsAuthentication"
    AUTHORIZATION = "WebServer.Authorization"
    AUTHORIZATION_RULE = "WebServer.Authorization.Rule"
    DEFAULT_DOCUMENTS = "WebServer.DefaultDocuments"
    DEFAULT_DOCUMENT_FILE = "WebServer.DefaultDocuments.File"
    DIRECTORY_BROWSING = "WebServer.DirectoryBrowsing"
    HANDLERS = "WebServer.Handlers"
    HANDLER_MAPPING = "WebServer.Handlers.Mappings"
    MODULES = "WebServer.Modules"
    MODULE_ENTRY = "WebServer.Modules.Entries"
    GLOBAL_MODULE = "WebServer.GlobalModules"
    HTTP_REDIRECT = "WebServer.HttpRedirect"
    REQUEST_FILTERING = "WebServer.RequestFiltering"
    RF_EXTENSION = "WebServer.RequestFiltering.Extension"
    RF_HEADER_LIMIT = "WebServer.RequestFiltering.HeaderLimits"
    RF_SEGMENT = "WebServer.RequestFiltering.Segments"
    RF_QUERY_STRING = "WebServer.RequestFiltering.QueryStrings"
    RF_RULE = "WebServer.RequestFiltering.Rule"
    RF_URL = "WebServer.RequestFiltering.Urls"
    REQUEST_TRACING = "WebServer.HttpRequestTracing"
    TRACE_PROVIDER = "WebServer.HttpRequestTracing.Provider"
    TRACE_RULE = "WebServer.HttpRequestTracing.Rule"
    RESPONSE_HEADERS = "WebServer.HttpResponseHeaders"
    CUSTOM_HEADER = "WebServer.HttpResponseHeaders.CustomHeader"
    REDIRECT_HEADER = "WebServer.HttpResponseHeaders.RedirectHeader"
    COMPRESSION = "WebServer.Compression"
    IP_RESTRICTIONS = "WebServer.IPRestrictions"
    IP_RESTRICTION_RULE = "WebServer.IPRestrictions.Rule"
    LOGGING = "WebServer.Logging"
    SSL_SETTINGS = "WebServer.SslSettings"
    STATIC_CONTENT = "WebServer.StaticContent"
    MIME_MAP = "WebServer.StaticContent.MimeMaps"
    TRACE = "WebServer.HttpRequestTracing.Trace"
    URL_REWRITE = "WebServer.UrlRewrite"
    REWRITE_INBOUND_RULE = "WebServer.UrlRewrite.InboundRule"
    REWRITE_OUTBOUND_RULE = "WebServer.UrlRewrite.OutboundRule"
    REWRITE_PRECONDITION = "WebServer.UrlRewrite.PreCondition"
    REWRITE_CUSTOM_TAGS = "WebServer.UrlRewrite.CustomTags"
    REWRITE_PROVIDER = "WebServer.UrlRewrite.Provider"
    REWRITE_MAP = "WebServer.UrlRewrite.RewriteMap"
    DELEGATION_SECTION = "WebServer.Delegation.Section"


class IdCodec:
    """Encodes and decodes ids for one host_id."""

    def __init__(self, host_id: str) -> None:
        self._key = uuid.UUID(host_id).bytes

    @lru_cache(maxsize=64)  # noqa: B019 - one codec per app; the cache is bounded by the purposes
    def _iv(self, purpose: str) -> bytes:
        return hmac.new(self._key, purpose.encode(), hashlib.sha256).digest()[:16]

    @lru_cache(maxsize=65536)  # noqa: B019 - ids are rendered on every list; AES per item dominated list cost
    def encode(self, purpose: Purpose, plaintext: str) -> str:
        """The id of `plaintext` for `purpose`."""
        raw = aes_cbc.encrypt(self._key, self._iv(purpose), plaintext.encode("utf-8"))
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    @lru_cache(maxsize=65536)  # noqa: B019 - every GET by id decodes; only ids that decode are kept (bounded LRU)
    def decode(self, purpose: Purpose, resource_id: str) -> str:
        """The plaintext behind `resource_id`; NotFound when it is not an id of this purpose."""
        try:
            raw = base64.urlsafe_b64decode(resource_id + "=" * (-len(resource_id) % 4))
            return aes_cbc.decrypt(self._key, self._iv(purpose), raw).decode("utf-8")
        except (ValueError, binascii.Error, UnicodeDecodeError) as err:
            raise NotFound() from err

    def decode_parts(self, purpose: Purpose, resource_id: str, count: int) -> list[str]:
        """Decode an id whose plaintext holds `count` newline-separated parts."""
        parts = self.decode(purpose, resource_id).split("\n")
        if len(parts) != count:
            raise NotFound()
        return parts
