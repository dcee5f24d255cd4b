"""Schema of the system.webServer sections the embedded host and the feature API use."""

from __future__ import annotations

from agent.iisconfig.schema_rewrite import FILTERING_RULES
from agent.iisconfig.schema_types import (
    CollectionSchema,
    ElementSchema,
    boolean,
    enum,
    flags,
    int64,
    keyed,
    listing,
    string,
    timespan,
    uint,
)

LOGON_METHODS = {"Interactive": 0, "Batch": 1, "Network": 2, "ClearText": 3}
CACHE_CONTROL_MODES = {"NoControl": 0, "DisableCache": 1, "UseMaxAge": 2, "UseExpires": 3}


DEFAULT_DOCUMENT = ElementSchema(
    "defaultDocument",
    (boolean("enabled", True),),
    children=(listing("files", keyed(("value",), string("value", required=True), merge_append=False)),),
)
DIRECTORY_BROWSE = ElementSchema(
    "directoryBrowse",
    (
        boolean("enabled", False),
        flags(
            "showFlags",
            {"None": 0, "Date": 2, "Time": 4, "Size": 8, "Extension": 16, "LongDate": 32},
            "Date,Time,Size,Extension",
        ),
    ),
)
STATIC_CONTENT = ElementSchema(
    "staticContent",
    (string("defaultDocFooter"), boolean("isDocFooterFileName", False), boolean("enableDocFooter", False)),
    children=(
        ElementSchema(
            "clientCache",
            (
                enum("cacheControlMode", CACHE_CONTROL_MODES, "NoControl"),
                timespan("cacheControlMaxAge", "1.00:00:00"),
                string("httpExpires"),
                string("cacheControlCustom"),
                boolean("setEtag", True),
            ),
        ),
    ),
    collection=keyed(
        ("fileExtension",), string("fileExtension", required=True), string("mimeType", required=True), add="mimeMap"
    ),
)
_HEADERS = keyed(("name",), string("name", required=True), string("value"))
HTTP_PROTOCOL = ElementSchema(
    "httpProtocol",
    (boolean("allowKeepAlive", True),),
    children=(listing("customHeaders", _HEADERS), listing("redirectHeaders", _HEADERS)),
)
REQUEST_FILTERING = ElementSchema(
    "requestFiltering",
    (
        boolean("allowDoubleEscaping", False),
        boolean("allowHighBitCharacters", True),
        boolean("unescapeQueryString", True),
        boolean("removeServerHeader", False),
    ),
    children=(
        ElementSchema(
            "requestLimits",
            (uint("maxAllowedContentLength", 30000000), uint("maxUrl", 4096), uint("maxQueryString", 2048)),
            children=(
                listing("headerLimits", keyed(("header",), string("header", required=True), uint("sizeLimit", 0))),
            ),
        ),
        listing(
            "fileExtensions",
            keyed(("fileExtension",), string("fileExtension", required=True), boolean("allowed", True)),
            boolean("allowUnlisted", True),
            boolean("applyToWebDAV", True),
        ),
        listing(
            "hiddenSegments", keyed(("segment",), string("segment", required=True)), boolean("applyToWebDAV", True)
        ),
        listing("denyUrlSequences", keyed(("sequence",), string("sequence", required=True))),
        listing("denyQueryStringSequences", keyed(("sequence",), string("sequence", required=True))),
        listing("alwaysAllowedUrls", keyed(("url",), string("url", required=True))),
        listing("alwaysAllowedQueryStrings", keyed(("queryString",), string("queryString", required=True))),
        FILTERING_RULES,
        listing(
            "verbs",
            keyed(("verb",), string("verb", required=True), boolean("allowed", True)),
            boolean("allowUnlisted", True),
            boolean("applyToWebDAV", True),
        ),
    ),
)
ANONYMOUS_AUTHENTICATION = ElementSchema(
    "anonymousAuthentication",
    (
        boolean("enabled", True),
        string("userName", "IUSR"),
        string("password"),
        enum("logonMethod", LOGON_METHODS, "ClearText"),
    ),
)
BASIC_AUTHENTICATION = ElementSchema(
    "basicAuthentication",
    (
        boolean("enabled", False),
        string("realm"),
        string("defaultLogonDomain"),
        enum("logonMethod", LOGON_METHODS, "ClearText"),
    ),
)
WINDOWS_AUTHENTICATION = ElementSchema(
    "windowsAuthentication",
    (boolean("enabled", False), boolean("useKernelMode", True), boolean("authPersistNonNTLM", True)),
    children=(
        listing("providers", keyed(("value",), string("value", required=True))),
        ElementSchema(
            "extendedProtection",
            (enum("tokenChecking", {"None": 0, "Allow": 1, "Require": 2}, "None"), flags("flags", {"None": 0,
             "Proxy": 1, "NoServiceNameCheck": 2, "AllowDotlessSpn": 4, "ProxyCohosting": 32}, "None")),
        ),
    ),
)
AUTHORIZATION = ElementSchema(
    "authorization",
    (boolean("bypassLoginPages", True),),
    collection=keyed(
        ("users", "roles", "verbs"),
        enum("accessType", {"Allow": 0, "Deny": 1}, "Allow"),
        string("users"),
        string("roles"),
        string("verbs"),
    ),
)
DIGEST_AUTHENTICATION = ElementSchema("digestAuthentication", (boolean("enabled", False), string("realm")))
ACCESS = ElementSchema(
    "access",
    (
        flags(
            "sslFlags",
            {"None": 0, "Ssl": 8, "SslNegotiateCert": 32, "SslRequireCert": 64, "SslMapCert": 128, "Ssl128": 256},
            "None",
        ),
    ),
)
IP_SECURITY = ElementSchema(
    "ipSecurity",
    (
        boolean("allowUnlisted", True),
        boolean("enableReverseDns", False),
        boolean("enableProxyMode", False),
        enum("denyAction", {"AbortRequest": 0, "Unauthorized": 401, "Forbidden": 403, "NotFound": 404}, "Forbidden"),
    ),
    collection=keyed(
        ("ipAddress", "subnetMask", "domainName"),
        string("ipAddress"),
        string("subnetMask", "255.255.255.255"),
        string("domainName"),
        boolean("allowed", False),
    ),
)
DYNAMIC_IP_SECURITY = ElementSchema(
    "dynamicIpSecurity",
    (
        enum("denyAction", {"AbortRequest": 0, "Unauthorized": 401, "Forbidden": 403, "NotFound": 404}, "Forbidden"),
        boolean("enableProxyMode", False),
        boolean("enableLoggingOnlyMode", False),
    ),
    children=(
        ElementSchema("denyByConcurrentRequests", (boolean("enabled", False), uint("maxConcurrentRequests", 5, 1))),
        ElementSchema(
            "denyByRequestRate",
            (boolean("enabled", False), uint("maxRequests", 20, 1), uint("requestIntervalInMilliseconds", 200, 1)),
        ),
    ),
)
_MIME_TYPES = keyed(("mimeType",), string("mimeType", required=True), boolean("enabled", True))
HTTP_COMPRESSION = ElementSchema(
    "httpCompression",
    (
        string("directory", r"%SystemDrive%\inetpub\temp\IIS Temporary Compressed Files"),
        boolean("doDiskSpaceLimiting", True),
        uint("maxDiskSpaceUsage", 100),
        uint("minFileSizeForComp", 2700),
        boolean("noCompressionForHttp10", True),
        boolean("noCompressionForProxies", True),
        boolean("noCompressionForRange", True),
        boolean("sendCacheHeaders", False),
        uint("staticCompressionDisableCpuUsage", 100, 0, 100),
        uint("dynamicCompressionDisableCpuUsage", 90, 0, 100),
    ),
    children=(
        listing("staticTypes", _MIME_TYPES),
        listing("dynamicTypes", _MIME_TYPES),
    ),
    collection=keyed(
        ("name",),
        string("name", required=True),
        string("dll"),
        boolean("doStaticCompression", True),
        boolean("doDynamicCompression", True),
        uint("staticCompressionLevel", 7, 0, 10),
        uint("dynamicCompressionLevel", 0, 0, 10),
        add="scheme",
    ),
)
_ERROR_MODES = {"DetailedLocalOnly": 0, "Custom": 1, "Detailed": 2}
_RESPONSE_MODES = {"File": 0, "ExecuteURL": 1, "Redirect": 2}
HTTP_ERRORS = ElementSchema(
    "httpErrors",
    (
        enum("errorMode", _ERROR_MODES, "DetailedLocalOnly"),
        enum("existingResponse", {"Auto": 0, "Replace": 1, "PassThrough": 2}, "Auto"),
        string("defaultPath"),
        enum("defaultResponseMode", _RESPONSE_MODES, "File"),
        string("detailedMoreInformationLink"),
        boolean("allowAbsolutePathsWhenDelegated", False),
    ),
    collection=keyed(
        ("statusCode", "subStatusCode"),
        uint("statusCode", 0, 400, 999, required=True),
        int64("subStatusCode", -1, -1, 999),
        string("prefixLanguageFilePath"),
        string("path", required=True),
        enum("responseMode", _RESPONSE_MODES, "File"),
        add="error",
    ),
)
_TRACE_AREAS = keyed(("provider",), string("provider", required=True), string("areas"),
                     enum("verbosity", {"General": 0, "CriticalError": 1, "Error": 2, "Warning": 3,
                                        "Information": 4, "Verbose": 5}, "Warning"))  # fmt: skip
_VERBOSITY = {"Ignore": 0, "CriticalError": 1, "Error": 2, "Warning": 3, "Information": 4, "Verbose": 5}
TRACE_FAILED_REQUESTS = ElementSchema(
    "traceFailedRequests",
    collection=CollectionSchema(
        ElementSchema(
            "add",
            (string("path", required=True), string("customActionExe"), string("customActionParams"),
             uint("customActionTriggerLimit", 1, 0, 10000)),
            children=(
                listing("traceAreas", _TRACE_AREAS),
                ElementSchema("failureDefinitions", (timespan("timeTaken", "00:00:00"), string("statusCodes"),
                                                     enum("verbosity", _VERBOSITY, "Ignore"))),
            ),
        ),
        keys=("path",), add="add",
    ),
)  # fmt: skip
TRACE_PROVIDER_DEFINITIONS = ElementSchema(
    "traceProviderDefinitions",
    collection=CollectionSchema(
        ElementSchema("add", (string("name", required=True), string("guid", required=True)),
                      children=(listing("areas", keyed(("name",), string("name", required=True), uint("value", 0))),)),
        keys=("name",), add="add",
    ),
)  # fmt: skip
# Output and kernel caching switches; the embedded host's response cache honours both (IIS defaults: on).
CACHING = ElementSchema(
    "caching",
    (
        boolean("enabled", True),
        boolean("enableKernelCache", True),
        uint("maxCacheSize", 0),
        uint("maxResponseSize", 262144),
    ),
)
HTTP_LOGGING = ElementSchema(
    "httpLogging",
    (boolean("dontLog", False), enum("selectiveLogging", {"LogAll": 0, "LogSuccessful": 1, "LogError": 2}, "LogAll")),
)
HTTP_REDIRECT = ElementSchema(
    "httpRedirect",
    (
        boolean("enabled", False),
        string("destination"),
        boolean("exactDestination", False),
        boolean("childOnly", False),
        enum("httpResponseStatus", {"Permanent": 301, "Found": 302, "Temporary": 307, "PermRedirect": 308}, "Found"),
    ),
    collection=keyed(("wildcard",), string("wildcard", required=True), string("destination", required=True)),
)
URL_COMPRESSION = ElementSchema(
    "urlCompression",
    (
        boolean("doStaticCompression", True),
        boolean("doDynamicCompression", True),
        boolean("dynamicCompressionBeforeCache", False),
    ),
)
GLOBAL_MODULES = ElementSchema(
    "globalModules",
    collection=keyed(("name",), string("name", required=True), string("image", required=True), string("preCondition")),
)
MODULES = ElementSchema(
    "modules",
    (boolean("runAllManagedModulesForAllRequests", False), boolean("runManagedModulesForWebDavRequests", False)),
    collection=keyed(
        ("name",), string("name", required=True), string("type"), string("preCondition"), boolean("lockItem", False)
    ),
)
_ACCESS_POLICY = {
    "None": 0, "Read": 1, "Write": 2, "Execute": 4, "Source": 16, "Script": 512, "NoRemoteWrite": 1024,
    "NoRemoteRead": 4096, "NoRemoteExecute": 8192, "NoRemoteScript": 16384,
}  # fmt: skip
HANDLERS = ElementSchema(
    "handlers",
    (flags("accessPolicy", _ACCESS_POLICY, "Read"),),
    collection=keyed(
        ("name",),
        string("name", required=True),
        string("path", required=True),
        string("verb", required=True),
        string("type"),
        string("modules", "ManagedPipelineHandler"),
        string("scriptProcessor"),
        enum("resourceType", {"File": 0, "Directory": 1, "Either": 2, "Unspecified": 3}, "Unspecified"),
        enum("requireAccess", {"None": 0, "Read": 1, "Write": 2, "Script": 3, "Execute": 4}, "Script"),
        boolean("allowPathInfo", False),
        string("preCondition"),
        uint("responseBufferLimit", 4194304),
        merge_append=False,
    ),
)
