"""FEATURES: one FeatureSpec row per IIS feature section (reference/iis-api-features.md section 3)."""

from __future__ import annotations

from agent.api.features.custom import directories, filtering, ip, logging, modules, ssl
from agent.api.features.rows import RF_CHILDREN, TRACING, URL_REWRITE
from agent.api.features.rows_auth import AUTH_SPECS, container_links
from agent.api.features.spec import EntrySpec, Extension, FeatureSpec, SectionMap
from agent.api.mapping import Attr, Bool, Choice, Enum, Flags, Int, Minutes, Str
from agent.ids import Purpose as P
from agent.security.confine import FileName

WS = "system.webServer/"
UINT = Int(0, 4294967295)
NAME = Attr("name", "name", Str())
LOWER = {"lower": True}
MS = "Microsoft.WebServer."



FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec(
        endpoint="authentication", link="authentication", resource=MS + "Authentication",
        purpose=P.AUTHENTICATION, sections=(), located=False, server_default=True, id_has_local=False,
        links=container_links, output=("id", "scope"),
    ),
    *AUTH_SPECS,
    FeatureSpec(
        endpoint="authorization", link="authorization", resource=MS + "Authorization",
        purpose=P.AUTHORIZATION, parent="authorization", located=False, server_default=True,
        sections=(SectionMap(WS + "security/authorization",
                             (Attr("bypass_login_pages", "bypassLoginPages", Bool()),)),),
        modules=("UrlAuthorizationModule",), display="Authorization", installable=True,
        install_name="IIS-URLAuthorization", images=("urlauthz.dll",),
        children=(EntrySpec(
            route="rules", plural="rules", purpose=P.AUTHORIZATION_RULE, resource=MS + "Authorization.Rule",
            holder="", keys=(Attr("users", "users", Str()), Attr("roles", "roles", Str()),
                             Attr("verbs", "verbs", Str())),
            fields=(Attr("access_type", "accessType", Enum(("Allow", "Deny"), **LOWER)),),
            ref_fields=("roles", "verbs", "access_type"), required=("access_type",), conflict="rule",
        ),),
    ),
    FeatureSpec(
        endpoint="default-documents", link="default_document", resource=MS + "DefaultDocuments",
        purpose=P.DEFAULT_DOCUMENTS, parent="default_document",
        sections=(SectionMap(WS + "defaultDocument", (Attr("enabled", "enabled", Bool()),)),),
        modules=("DefaultDocumentModule",), display="Default Document", installable=True,
        install_name="IIS-DefaultDocument", images=("defdoc.dll",),
        children=(EntrySpec(
            route="files", plural="files", purpose=P.DEFAULT_DOCUMENT_FILE, resource=MS + "DefaultDocuments.File",
            holder="files", keys=(Attr("name", "value", FileName()),), required=("name",), first=True, count=False,
        ),),
    ),
    FeatureSpec(
        endpoint="directory-browsing", link="directory_browsing", resource=MS + "DirectoryBrowsing",
        purpose=P.DIRECTORY_BROWSING, modules=("DirectoryListingModule",), display="Directory Browsing",
        installable=True, install_name="IIS-DirectoryBrowsing", images=("dirlist.dll",),
        sections=(SectionMap(WS + "directoryBrowse", (
            Attr("enabled", "enabled", Bool()),
            Attr("allowed_attributes", "showFlags", Flags((("date", "Date"), ("time", "Time"), ("size", "Size"),
                                                           ("extension", "Extension"), ("long_date", "LongDate")))),
        )),),
    ),
    FeatureSpec(
        endpoint="http-handlers", link="handlers", resource=MS + "Handlers", purpose=P.HANDLERS,
        parent="handler",
        sections=(SectionMap(WS + "handlers", (
            Attr("allowed_access", "accessPolicy", Flags((("read", "Read"), ("write", "Write"), ("execute", "Execute"),
                                                          ("source", "Source"), ("script", "Script")))),
            Attr("remote_access_prevention", "accessPolicy", Flags((
                ("write", "NoRemoteWrite"), ("read", "NoRemoteRead"), ("execute", "NoRemoteExecute"),
                ("script", "NoRemoteScript")))),
        )),),
        children=(EntrySpec(
            route="entries", plural="entries", purpose=P.HANDLER_MAPPING, resource=MS + "Handlers.Entry",
            holder="", keys=(NAME,), ref_fields=("path",), required=("name", "path"), conflict="mapping",
            fields=(
                Attr("path", "path", Str()), Attr("verbs", "verb", Str()), Attr("type", "type", Str()),
                Attr("modules", "modules", Str()), Attr("script_processor", "scriptProcessor", Str()),
                Attr("resource_type", "resourceType", Enum(("File", "Directory", "Either", "Unspecified"), **LOWER)),
                Attr("require_access", "requireAccess", Enum(("None", "Read", "Write", "Script", "Execute"), **LOWER)),
                Attr("allow_path_info", "allowPathInfo", Bool()), Attr("precondition", "preCondition", Str()),
                Attr("response_buffer_limit", "responseBufferLimit", UINT),
            ),
        ),),
    ),
    FeatureSpec(
        endpoint="http-modules", link="modules", resource=MS + "Modules", purpose=P.MODULES,
        parent="modules", scopes="app",
        sections=(SectionMap(WS + "modules", (
            Attr("run_all_managed_modules_for_all_requests", "runAllManagedModulesForAllRequests", Bool()),)),),
        children=(EntrySpec(
            route="entries", plural="entries", purpose=P.MODULE_ENTRY, resource=MS + "Modules.Entry",
            holder="", keys=(NAME,), required=("name",), on_create=modules.module_create,
            fields=(Attr("type", "type", Str()), Attr("precondition", "preCondition", Str()),
                    Attr("locked", "lockItem", Bool())),
        ),),
    ),
    FeatureSpec(
        endpoint="http-redirect", link="http_redirect", resource=MS + "HttpRedirect",
        purpose=P.HTTP_REDIRECT, modules=("HttpRedirectionModule",), display="HTTP Redirect", installable=True,
        install_name="IIS-HttpRedirect", images=("redirect.dll",),
        sections=(SectionMap(WS + "httpRedirect", (
            Attr("enabled", "enabled", Bool()), Attr("preserve_filename", "childOnly", Bool()),
            Attr("destination", "destination", Str()), Attr("absolute", "exactDestination", Bool()),
            Attr("status_code", "httpResponseStatus",
                 Choice(((301, "Permanent"), (302, "Found"), (307, "Temporary"), (308, "PermRedirect")))),
        )),),
    ),
    FeatureSpec(
        endpoint="http-request-filtering", link="request_filtering", resource=MS + "RequestFiltering",
        purpose=P.REQUEST_FILTERING, parent="request_filtering", modules=("RequestFilteringModule",),
        display="IIS Request Filtering", installable=True, install_name="IIS Request Filtering",
        images=("modrqflt.dll",), read=filtering.verbs_read, write=filtering.verbs_write,
        sections=(SectionMap(WS + "security/requestFiltering", (
            Attr("allow_unlisted_file_extensions", "fileExtensions/allowUnlisted", Bool()),
            Attr("allow_unlisted_verbs", "verbs/allowUnlisted", Bool()),
            Attr("allow_high_bit_characters", "allowHighBitCharacters", Bool()),
            Attr("allow_double_escaping", "allowDoubleEscaping", Bool()),
            Attr("max_content_length", "requestLimits/maxAllowedContentLength", UINT),
            Attr("max_url_length", "requestLimits/maxUrl", UINT),
            Attr("max_query_string_length", "requestLimits/maxQueryString", UINT),
        )),),
        children=(
            EntrySpec(route="file-extensions", plural="file_extensions", purpose=P.RF_EXTENSION,
                      resource=MS + "RequestFiltering.FileExtension", holder="fileExtensions",
                      keys=(Attr("extension", "fileExtension", Extension()),),
                      fields=(Attr("allow", "allowed", Bool()),),
                      required=("extension",), count=False),
            EntrySpec(route="http-headers", plural="header_limits", purpose=P.RF_HEADER_LIMIT,
                      resource=MS + "RequestFiltering.HeaderLimit", holder="requestLimits/headerLimits",
                      keys=(Attr("header", "header", Str()),), fields=(Attr("size_limit", "sizeLimit", UINT),),
                      required=("header",), conflict="headerLimit", count=False),
            EntrySpec(route="hidden-segments", plural="hidden_segments", purpose=P.RF_SEGMENT,
                      resource=MS + "RequestFiltering.HiddenSegment", holder="hiddenSegments",
                      keys=(Attr("segment", "segment", Str()),), required=("segment",), count=False),
            *RF_CHILDREN,
        ),
    ),  # fmt: skip
    FeatureSpec(
        endpoint="http-response-headers", link="response_headers", resource=MS + "ResponseHeaders",
        purpose=P.RESPONSE_HEADERS, parent="http_response_headers",
        sections=(SectionMap(WS + "httpProtocol", (Attr("allow_keep_alive", "allowKeepAlive", Bool()),)),),
        children=tuple(
            EntrySpec(route=f"{kind}-headers", plural=f"{kind}_headers", purpose=purpose, holder=f"{kind}Headers",
                      resource=f"Microsoft.WebServer.ResponseHeaders.{kind.capitalize()}Header", keys=(NAME,),
                      fields=(Attr("value", "value", Str()),), ref_fields=("value",), required=("name",),
                      conflict="header")
            for kind, purpose in (("custom", P.CUSTOM_HEADER), ("redirect", P.REDIRECT_HEADER))
        ),
    ),  # fmt: skip
    FeatureSpec(
        endpoint="http-response-compression", link="response_compression", resource=MS + "Compression",
        purpose=P.COMPRESSION, modules=("StaticCompressionModule", "DynamicCompressionModule"), display="Compression",
        installable=True, install_name="Compression", images=("compstat.dll", "compdyn.dll"),
        write=directories.check_directory,  # the compressed-file cache directory
        sections=(
            SectionMap(WS + "urlCompression", (Attr("do_dynamic_compression", "doDynamicCompression", Bool()),
                                               Attr("do_static_compression", "doStaticCompression", Bool()))),
            SectionMap(WS + "httpCompression", (
                Attr("directory", "directory", Str()), Attr("do_disk_space_limitting", "doDiskSpaceLimiting", Bool()),
                Attr("max_disk_space_usage", "maxDiskSpaceUsage", UINT),
                Attr("min_file_size", "minFileSizeForComp", UINT),
            ), revert=False),
        ),
    ),  # fmt: skip
    FeatureSpec(
        endpoint="ip-restrictions", link="ip_restrictions", resource=MS + "IpRestrictions",
        purpose=P.IP_RESTRICTIONS, parent="ip_restriction", modules=("IpRestrictionModule",),
        display="IP and Domain Restrictions", installable=True, install_name="IIS-IPSecurity", images=("iprestr.dll",),
        read=ip.ip_read, write=ip.ip_write,
        sections=(
            SectionMap(WS + "security/ipSecurity", (
                Attr("allow_unlisted", "allowUnlisted", Bool()), Attr("enable_reverse_dns", "enableReverseDns", Bool()),
                Attr("enable_proxy_mode", "enableProxyMode", Bool()),
                Attr("deny_action", "denyAction", Choice((("Abort", "AbortRequest"), ("Unauthorized", "Unauthorized"),
                                                          ("Forbidden", "Forbidden"), ("NotFound", "NotFound")))),
            )),
            SectionMap(WS + "security/dynamicIpSecurity", (
                Attr("deny_by_concurrent_requests.enabled", "denyByConcurrentRequests/enabled", Bool()),
                Attr("deny_by_concurrent_requests.max_concurrent_requests",
                     "denyByConcurrentRequests/maxConcurrentRequests", Int(1, 4294967295)),
                Attr("deny_by_request_rate.enabled", "denyByRequestRate/enabled", Bool()),
                Attr("deny_by_request_rate.max_requests", "denyByRequestRate/maxRequests", Int(1, 4294967295)),
                Attr("deny_by_request_rate.time_period", "denyByRequestRate/requestIntervalInMilliseconds",
                     Int(1, 4294967295)),
                Attr("logging_only_mode", "enableLoggingOnlyMode", Bool()),
            )),
        ),
        children=(EntrySpec(
            route="entries", plural="entries", purpose=P.IP_RESTRICTION_RULE, resource=MS + "IpRestrictions.Entry",
            holder="", keys=(Attr("ip_address", "ipAddress", Str()),), required=("ip_address", "allowed"),
            fields=(Attr("allowed", "allowed", Bool()), Attr("subnet_mask", "subnetMask", Str()),
                    Attr("domain_name", "domainName", Str())),
        ),),
    ),  # fmt: skip
    FeatureSpec(
        endpoint="logging", link="logging", resource=MS + "Logging", purpose=P.LOGGING, scopes="site",
        modules=("HttpLoggingModule",), display="IIS Logging Tools", installable=True, install_name="IIS Logging Tools",
        images=("loghttp.dll",), links_from=("webserver", "site"), read=logging.logging_read,
        write=logging.logging_write, sections=(SectionMap(WS + "httpLogging", guard=False),),
    ),
    FeatureSpec(
        endpoint="ssl-settings", link="ssl", resource=MS + "SslSettings", purpose=P.SSL_SETTINGS,
        site_required=True, links_from=("site", "app"), read=ssl.ssl_read, write=ssl.ssl_write,
        sections=(SectionMap(WS + "security/access"),),
    ),
    FeatureSpec(
        endpoint="static-content", link="static_content", resource=MS + "StaticContent",
        purpose=P.STATIC_CONTENT, parent="static_content", modules=("StaticFileModule",), display="Static Content",
        installable=True, install_name="Static Content", images=("static.dll",),
        sections=(SectionMap(WS + "staticContent", (
            Attr("client_cache.control_mode", "clientCache/cacheControlMode", Choice((
                ("no_control", "NoControl"), ("disable_cache", "DisableCache"), ("use_max_age", "UseMaxAge"),
                ("use_expires", "UseExpires")))),
            Attr("client_cache.max_age", "clientCache/cacheControlMaxAge", Minutes(0, 2**31 - 1)),
            Attr("client_cache.http_expires", "clientCache/httpExpires", Str()),
            Attr("client_cache.control_custom", "clientCache/cacheControlCustom", Str()),
            Attr("client_cache.set_e_tag", "clientCache/setEtag", Bool()),
            Attr("default_doc_footer", "defaultDocFooter", Str()),
            Attr("is_doc_footer_file_name", "isDocFooterFileName", Bool()),
            Attr("enable_doc_footer", "enableDocFooter", Bool()),
        )),),
        children=(EntrySpec(
            route="mime-maps", plural="mime_maps", purpose=P.MIME_MAP, resource=MS + "StaticContent.MimeMap",
            holder="", keys=(Attr("file_extension", "fileExtension", Extension()),),
            fields=(Attr("mime_type", "mimeType", Str()),), ref_fields=("mime_type",),
            required=("file_extension", "mime_type"), created_status=200,
        ),),
    ),  # fmt: skip
    TRACING,
    URL_REWRITE,
)
