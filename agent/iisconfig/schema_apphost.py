"""Schema of system.applicationHost: sites and application pools, with IIS 10 schema defaults."""

from __future__ import annotations

from agent.iisconfig.schema_types import (
    CollectionSchema,
    ElementSchema,
    boolean,
    enum,
    flags,
    int64,
    keyed,
    string,
    timespan,
    uint,
)

LOG_EXT_FILE_FLAGS = {
    "Date": 1, "Time": 2, "ClientIP": 4, "UserName": 8, "SiteName": 16, "ComputerName": 32, "ServerIP": 64,
    "Method": 128, "UriStem": 256, "UriQuery": 512, "HttpStatus": 1024, "Win32Status": 2048, "BytesSent": 4096,
    "BytesRecv": 8192, "TimeTaken": 16384, "ServerPort": 32768, "UserAgent": 65536, "Cookie": 131072,
    "Referer": 262144, "ProtocolVersion": 524288, "Host": 1048576, "HttpSubStatus": 2097152,
}  # fmt: skip
LOGON_METHODS = {"Interactive": 0, "Batch": 1, "Network": 2, "ClearText": 3}
SSL_FLAGS = {
    "None": 0, "Sni": 1, "CentralCertStore": 2, "DisableHTTP2": 4, "DisableOCSPStapling": 8, "DisableQUIC": 16,
    "DisableTLS13": 32, "DisableLegacyTLS": 64,
}  # fmt: skip

BINDING = ElementSchema(
    "binding",
    (
        string("protocol", required=True),
        string("bindingInformation", required=True),
        flags("sslFlags", SSL_FLAGS, "None"),
    ),
)
LIMITS = ElementSchema(
    "limits",
    (
        uint("maxBandwidth", 4294967295),
        uint("maxConnections", 4294967295),
        timespan("connectionTimeout", "00:02:00"),
        uint("maxUrlSegments", 32, 0, 16383),
    ),
)
LOG_FILE = ElementSchema(
    "logFile",
    (
        flags(
            "logExtFileFlags",
            LOG_EXT_FILE_FLAGS,
            "Date,Time,ClientIP,UserName,ServerIP,Method,UriStem,UriQuery,HttpStatus,Win32Status,TimeTaken,"
            "ServerPort,UserAgent,Referer,HttpSubStatus",
        ),
        string("customLogPluginClsid"),
        enum("logFormat", {"IIS": 0, "NCSA": 1, "W3C": 2, "Custom": 3}, "W3C"),
        string("directory", r"%SystemDrive%\inetpub\logs\LogFiles"),
        boolean("enabled", True),
        boolean("logSiteId", True),
        flags("logTargetW3C", {"File": 1, "ETW": 2}, "File"),
        enum("period", {"MaxSize": 0, "Daily": 1, "Weekly": 2, "Monthly": 3, "Hourly": 4}, "Daily"),
        int64("truncateSize", 20971520, 1048576, 4294967295),
        boolean("localTimeRollover", False),
    ),
    children=(
        ElementSchema(
            "customFields",
            (uint("maxCustomFieldLength", 4096, 2, 65536),),
            collection=keyed(
                ("logFieldName",),
                string("logFieldName", required=True),
                string("sourceName", required=True),
                enum("sourceType", {"RequestHeader": 0, "ResponseHeader": 1, "ServerVariable": 2}, "RequestHeader"),
            ),
        ),
    ),
)
TRACE_LOGGING = ElementSchema(
    "traceFailedRequestsLogging",
    (
        boolean("enabled", False),
        string("directory", r"%SystemDrive%\inetpub\logs\FailedReqLogFiles"),
        uint("maxLogFiles", 50, 1, 10000),
        uint("maxLogFileSizeKB", 1024),
        boolean("customActionsEnabled", False),
    ),
)
HSTS = ElementSchema(
    "hsts",
    (
        boolean("enabled", False),
        uint("max-age", 0),
        boolean("includeSubDomains", False),
        boolean("preload", False),
        boolean("redirectHttpToHttps", False),
    ),
)
VIRTUAL_DIRECTORY = ElementSchema(
    "virtualDirectory",
    (
        string("path", required=True),
        string("physicalPath"),
        string("userName"),
        string("password"),
        enum("logonMethod", LOGON_METHODS, "ClearText"),
        boolean("allowSubDirConfig", True),
    ),
    defaults="virtualDirectoryDefaults",
)
APPLICATION = ElementSchema(
    "application",
    (
        string("path", required=True),
        string("applicationPool"),
        string("enabledProtocols", "http"),
        boolean("preloadEnabled", False),
        boolean("serviceAutoStartEnabled", False),
        string("serviceAutoStartProvider"),
    ),
    collection=CollectionSchema(VIRTUAL_DIRECTORY, keys=("path",)),
    defaults="applicationDefaults",
)
_SITE_ATTRS = (string("name", required=True), uint("id", required=True), boolean("serverAutoStart", True))
_SITE_CHILDREN = (
    ElementSchema("bindings", collection=CollectionSchema(BINDING, keys=("protocol", "bindingInformation"))),
    LIMITS,
    LOG_FILE,
    TRACE_LOGGING,
    HSTS,
    ElementSchema("applicationDefaults", APPLICATION.attrs),
    ElementSchema("virtualDirectoryDefaults", VIRTUAL_DIRECTORY.attrs),
)
SITE = ElementSchema(
    "site",
    _SITE_ATTRS,
    children=_SITE_CHILDREN,
    collection=CollectionSchema(APPLICATION, keys=("path",)),
    defaults="siteDefaults",
)
SITES = ElementSchema(
    "sites",
    children=(
        ElementSchema("siteDefaults", _SITE_ATTRS, children=_SITE_CHILDREN),
        ElementSchema("applicationDefaults", APPLICATION.attrs),
        ElementSchema("virtualDirectoryDefaults", VIRTUAL_DIRECTORY.attrs),
    ),
    collection=CollectionSchema(SITE, keys=("id",)),
)

_PROCESS_MODEL = ElementSchema(
    "processModel",
    (
        enum(
            "identityType",
            {"LocalSystem": 0, "LocalService": 1, "NetworkService": 2, "SpecificUser": 3, "ApplicationPoolIdentity": 4},
            "ApplicationPoolIdentity",
        ),
        string("userName"),
        string("password"),
        boolean("loadUserProfile", False),
        boolean("setProfileEnvironment", True),
        boolean("manualGroupMembership", False),
        timespan("idleTimeout", "00:20:00", 0, 43200 * 60),
        enum("idleTimeoutAction", {"Terminate": 0, "Suspend": 1}, "Terminate"),
        flags("logEventOnProcessModel", {"IdleTimeout": 1}, "IdleTimeout"),
        uint("maxProcesses", 1, 0, 2147483647),
        boolean("pingingEnabled", True),
        timespan("pingInterval", "00:00:30", 1, 4294967),
        timespan("pingResponseTime", "00:01:30", 1, 4294967),
        timespan("shutdownTimeLimit", "00:01:30", 1, 4294967),
        timespan("startupTimeLimit", "00:01:30", 1, 4294967),
    ),
)
RECYCLE_EVENTS = {
    "Time": 1, "Requests": 2, "Schedule": 4, "Memory": 8, "IsapiUnhealthy": 16, "OnDemand": 32, "ConfigChange": 64,
    "PrivateMemory": 128,
}  # fmt: skip
_RECYCLING = ElementSchema(
    "recycling",
    (
        boolean("disallowOverlappingRotation", False),
        boolean("disallowRotationOnConfigChange", False),
        flags("logEventOnRecycle", RECYCLE_EVENTS, "Time,Memory,PrivateMemory"),
    ),
    children=(
        ElementSchema(
            "periodicRestart",
            (
                uint("memory", 0),
                uint("privateMemory", 0),
                uint("requests", 0),
                timespan("time", "1.05:00:00", 0, 432000 * 60),
            ),
            children=(ElementSchema("schedule", collection=keyed(("value",), timespan("value", "00:00:00"))),),
        ),
    ),
)
_FAILURE = ElementSchema(
    "failure",
    (
        enum("loadBalancerCapabilities", {"HttpLevel": 1, "TcpLevel": 2}, "HttpLevel"),
        boolean("orphanWorkerProcess", False),
        string("orphanActionExe"),
        string("orphanActionParams"),
        boolean("rapidFailProtection", True),
        timespan("rapidFailProtectionInterval", "00:05:00", 60, 144400 * 60),
        uint("rapidFailProtectionMaxCrashes", 5, 1, 2147483647),
        string("autoShutdownExe"),
        string("autoShutdownParams"),
    ),
)
_CPU = ElementSchema(
    "cpu",
    (
        uint("limit", 0, 0, 100000),
        enum("action", {"NoAction": 0, "KillW3wp": 1, "Throttle": 2, "ThrottleUnderLoad": 3}, "NoAction"),
        timespan("resetInterval", "00:05:00", 0, 1440 * 60),
        boolean("smpAffinitized", False),
        uint("smpProcessorAffinityMask", 4294967295),
        uint("smpProcessorAffinityMask2", 4294967295),
        uint("processorGroup", 0),
        enum("numaNodeAssignment", {"MostAvailableMemory": 0, "WindowsScheduling": 1}, "MostAvailableMemory"),
        enum("numaNodeAffinityMode", {"Soft": 0, "Hard": 1}, "Soft"),
    ),
)
APPLICATION_POOL = ElementSchema(
    "add",
    (
        string("name", required=True),
        boolean("autoStart", True),
        enum("managedPipelineMode", {"Integrated": 0, "Classic": 1}, "Integrated"),
        string("managedRuntimeVersion", "v4.0"),
        string("managedRuntimeLoader", "webengine4.dll"),
        boolean("enable32BitAppOnWin64", False),
        boolean("enableConfigurationOverride", True),
        string("CLRConfigFile"),
        boolean("passAnonymousToken", True),
        uint("queueLength", 1000, 10, 65535),
        enum("startMode", {"OnDemand": 0, "AlwaysRunning": 1}, "OnDemand"),
    ),
    children=(_PROCESS_MODEL, _RECYCLING, _FAILURE, _CPU),
    defaults="applicationPoolDefaults",
)
APPLICATION_POOLS = ElementSchema(
    "applicationPools",
    children=(APPLICATION_POOL.with_name("applicationPoolDefaults"),),
    collection=CollectionSchema(APPLICATION_POOL, keys=("name",)),
)
_CENTRAL_LOG_ATTRS = (
    string("directory", r"%SystemDrive%\inetpub\logs\LogFiles"),
    enum("period", {"MaxSize": 0, "Daily": 1, "Weekly": 2, "Monthly": 3, "Hourly": 4}, "Daily"),
    int64("truncateSize", 20971520, 1048576, 4294967295),
    boolean("localTimeRollover", False),
)
LOG = ElementSchema(
    "log",
    (
        boolean("logInUTF8", True),
        enum("centralLogFileMode", {"Site": 0, "CentralBinary": 1, "CentralW3C": 2}, "Site"),
    ),
    children=(
        ElementSchema("centralBinaryLogFile", (boolean("enabled", False), *_CENTRAL_LOG_ATTRS)),
        ElementSchema(
            "centralW3CLogFile",
            (
                boolean("enabled", True),
                *_CENTRAL_LOG_ATTRS,
                flags(
                    "logExtFileFlags",
                    LOG_EXT_FILE_FLAGS,
                    "Date,Time,ClientIP,UserName,SiteName,ServerIP,Method,UriStem,UriQuery,HttpStatus,Win32Status,"
                    "TimeTaken,ServerPort,UserAgent,Referer,HttpSubStatus",
                ),
            ),
        ),
    ),
)
