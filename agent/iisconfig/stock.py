"""write_stock_config: the applicationHost.config a fresh IIS install starts with, adapted to this machine."""

from __future__ import annotations

from html import escape
from pathlib import Path

from agent.iisconfig.schema import SCHEMA
from shared.fsutil import atomic_write_bytes

# (overrideModeDefault, allowDefinition) as registered by a stock install; unlisted sections: Allow, Everywhere.
SECTION_REGISTRATION = {
    "system.applicationHost/sites": ("Deny", "AppHostOnly"),
    "system.applicationHost/applicationPools": ("Deny", "AppHostOnly"),
    "system.applicationHost/log": ("Deny", "AppHostOnly"),
    "system.applicationHost/webLimits": ("Deny", "AppHostOnly"),
    "system.webServer/globalModules": ("Deny", "AppHostOnly"),
    "system.webServer/modules": ("Deny", "MachineToApplication"),
    "system.webServer/handlers": ("Deny", "Everywhere"),
    "system.webServer/httpLogging": ("Deny", "Everywhere"),
    "system.webServer/security/access": ("Deny", "Everywhere"),
    "system.webServer/security/ipSecurity": ("Deny", "Everywhere"),
    "system.webServer/security/dynamicIpSecurity": ("Deny", "Everywhere"),
    "system.webServer/tracing/traceProviderDefinitions": ("Deny", "Everywhere"),
    "system.webServer/rewrite/globalRules": ("Deny", "AppHostOnly"),
    "system.webServer/rewrite/allowedServerVariables": ("Deny", "Everywhere"),
    "system.webServer/security/authentication/anonymousAuthentication": ("Deny", "Everywhere"),
    "system.webServer/security/authentication/basicAuthentication": ("Deny", "Everywhere"),
    "system.webServer/security/authentication/digestAuthentication": ("Deny", "Everywhere"),
    "system.webServer/security/authentication/windowsAuthentication": ("Deny", "Everywhere"),
}
GLOBAL_MODULES = (
    ("HttpLoggingModule", "loghttp.dll"), ("UriCacheModule", "cachuri.dll"), ("TokenCacheModule", "cachtokn.dll"),
    ("StaticCompressionModule", "compstat.dll"), ("DefaultDocumentModule", "defdoc.dll"),
    ("DirectoryListingModule", "dirlist.dll"), ("ProtocolSupportModule", "protsup.dll"),
    ("HttpRedirectionModule", "redirect.dll"), ("StaticFileModule", "static.dll"),
    ("AnonymousAuthenticationModule", "authanon.dll"), ("IpRestrictionModule", "iprestr.dll"),
    ("RequestFilteringModule", "modrqflt.dll"), ("CustomErrorModule", "custerr.dll"),
    ("RequestMonitorModule", "iisreqs.dll"),
)  # fmt: skip
STATIC_TYPES = ("text/*", "message/*", "application/x-javascript", "application/javascript", "application/atom+xml",
                "application/xaml+xml", "image/svg+xml")  # fmt: skip
DYNAMIC_TYPES = ("text/*", "message/*", "application/x-javascript", "application/javascript")
DEFAULT_DOCUMENTS = ("Default.htm", "Default.asp", "index.htm", "index.html", "iisstart.htm")
MIME_MAPS = (
    (".htm", "text/html"), (".html", "text/html"), (".txt", "text/plain"), (".css", "text/css"),
    (".csv", "text/csv"), (".xml", "text/xml"), (".xsl", "text/xml"), (".js", "application/javascript"),
    (".mjs", "application/javascript"), (".json", "application/json"), (".map", "application/json"),
    (".wasm", "application/wasm"), (".pdf", "application/pdf"), (".zip", "application/x-zip-compressed"),
    (".gz", "application/x-gzip"), (".tar", "application/x-tar"), (".rtf", "application/rtf"),
    (".doc", "application/msword"), (".xls", "application/vnd.ms-excel"),
    (".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    (".bin", "application/octet-stream"), (".exe", "application/octet-stream"),
    (".png", "image/png"), (".jpg", "image/jpeg"), (".jpeg", "image/jpeg"), (".gif", "image/gif"),
    (".bmp", "image/bmp"), (".ico", "image/x-icon"), (".svg", "image/svg+xml"), (".webp", "image/webp"),
    (".tif", "image/tiff"), (".tiff", "image/tiff"), (".mp3", "audio/mpeg"), (".wav", "audio/wav"),
    (".ogg", "audio/ogg"), (".mp4", "video/mp4"), (".webm", "video/webm"), (".avi", "video/x-msvideo"),
    (".mov", "video/quicktime"), (".woff", "font/x-woff"), (".woff2", "application/font-woff2"),
    (".ttf", "application/octet-stream"), (".otf", "font/otf"), (".eot", "application/vnd.ms-fontobject"),
    (".appcache", "text/cache-manifest"), (".manifest", "application/x-ms-manifest"),
    (".webmanifest", "application/manifest+json"), (".rss", "application/rss+xml"),
    (".atom", "application/atom+xml"), (".md", "text/markdown"),
)  # fmt: skip
DENIED_EXTENSIONS = (".asa", ".asax", ".ascx", ".master", ".skin", ".browser", ".sitemap", ".config", ".cs",
                     ".csproj", ".vb", ".vbproj", ".webinfo", ".licx", ".resx", ".resources", ".mdb", ".ldb",
                     ".mdf", ".ldf", ".exclude", ".refresh", ".compiled", ".rules")  # fmt: skip
HIDDEN_SEGMENTS = ("web.config", "bin", "App_code", "App_GlobalResources", "App_LocalResources",
                   "App_WebReferences", "App_Data", "App_Browsers")  # fmt: skip
IISSTART = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>IIS Fleet</title>
<style>body{font-family:Segoe UI,Helvetica,Arial,sans-serif;margin:4em;color:#222}</style></head>
<body><h1>It works</h1><p>This site is served by IIS Fleet. Replace this page with your content.</p></body>
</html>
"""


def _a(value: str) -> str:
    """Escape an attribute value."""
    return escape(value, quote=True)


def _config_sections() -> list[str]:
    """<configSections> registering every section in the schema (plus log and webLimits)."""
    names = sorted({*SCHEMA, "system.applicationHost/webLimits"})
    lines = ["  <configSections>"]
    open_groups: list[str] = []
    for name in names:
        *groups, leaf = name.split("/")
        common = 0
        while common < min(len(groups), len(open_groups)) and groups[common] == open_groups[common]:
            common += 1
        for depth in range(len(open_groups) - 1, common - 1, -1):
            lines.append("  " * (depth + 2) + "</sectionGroup>")
        for depth in range(common, len(groups)):
            lines.append("  " * (depth + 2) + f'<sectionGroup name="{groups[depth]}">')
        open_groups = groups
        mode, definition = SECTION_REGISTRATION.get(name, ("Allow", "Everywhere"))
        extra = f' allowDefinition="{definition}"' if definition != "Everywhere" else ""
        lines.append("  " * (len(groups) + 2) + f'<section name="{leaf}"{extra} overrideModeDefault="{mode}" />')
    for depth in range(len(open_groups) - 1, -1, -1):
        lines.append("  " * (depth + 2) + "</sectionGroup>")
    lines.append("  </configSections>")
    return lines


def _compression(directory: Path) -> list[str]:
    """IIS's stock <httpCompression>: the gzip scheme and its MIME lists, the cache under inetpub/temp."""
    lines = [f'    <httpCompression directory="{_a(str(directory))}">',
             '      <scheme name="gzip" dll="%Windir%\\system32\\inetsrv\\gzip.dll" />']  # fmt: skip
    for kind, types in (("staticTypes", STATIC_TYPES), ("dynamicTypes", DYNAMIC_TYPES)):
        lines.append(f"      <{kind}>")
        lines += [f'        <add mimeType="{t}" enabled="true" />' for t in types]
        lines += ['        <add mimeType="*/*" enabled="false" />', f"      </{kind}>"]
    return [*lines, "    </httpCompression>"]


def stock_config_bytes(content_root: Path) -> bytes:
    """The stock file's bytes; logs go to <content_root's parent>/logs."""
    root = _a(str(content_root))
    logs = content_root.parent / "logs"
    log_dir, trace_dir = _a(str(logs / "LogFiles")), _a(str(logs / "FailedReqLogFiles"))
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<configuration>", *_config_sections()]
    lines += f"""  <system.applicationHost>
    <applicationPools>
      <add name="DefaultAppPool" />
      <applicationPoolDefaults managedRuntimeVersion="v4.0">
        <processModel identityType="ApplicationPoolIdentity" />
      </applicationPoolDefaults>
    </applicationPools>
    <sites>
      <site name="Default Web Site" id="1">
        <application path="/" applicationPool="DefaultAppPool">
          <virtualDirectory path="/" physicalPath="{root}" />
        </application>
        <bindings>
          <binding protocol="http" bindingInformation="*:80:" />
        </bindings>
      </site>
      <siteDefaults>
        <logFile logFormat="W3C" directory="{log_dir}" />
        <traceFailedRequestsLogging directory="{trace_dir}" />
      </siteDefaults>
      <applicationDefaults applicationPool="DefaultAppPool" />
      <virtualDirectoryDefaults allowSubDirConfig="true" />
    </sites>
    <webLimits />
  </system.applicationHost>
  <system.webServer>
    <globalModules>""".split("\n")
    lines += [f'      <add name="{n}" image="%windir%\\System32\\inetsrv\\{dll}" />' for n, dll in GLOBAL_MODULES]
    lines += ["    </globalModules>", *_compression(content_root.parent / "temp" / "IIS Temporary Compressed Files")]
    lines += ['    <defaultDocument enabled="true">', "      <files>"]
    lines += [f'        <add value="{name}" />' for name in DEFAULT_DOCUMENTS]
    lines += ["      </files>", "    </defaultDocument>", '    <directoryBrowse enabled="false" />']
    lines += ["    <staticContent>"] + [f'      <mimeMap fileExtension="{e}" mimeType="{m}" />' for e, m in MIME_MAPS]
    lines += """    </staticContent>
    <httpProtocol>
      <customHeaders>
        <clear />
        <add name="X-Powered-By" value="ASP.NET" />
      </customHeaders>
      <redirectHeaders>
        <clear />
      </redirectHeaders>
    </httpProtocol>
    <httpLogging dontLog="false" />
    <security>
      <requestFiltering>
        <fileExtensions allowUnlisted="true" applyToWebDAV="true">""".split("\n")
    lines += [f'          <add fileExtension="{e}" allowed="false" />' for e in DENIED_EXTENSIONS]
    lines += ["        </fileExtensions>", '        <verbs allowUnlisted="true" applyToWebDAV="true" />']
    lines += ['        <hiddenSegments applyToWebDAV="true">']
    lines += [f'          <add segment="{s}" />' for s in HIDDEN_SEGMENTS]
    lines += """        </hiddenSegments>
      </requestFiltering>
      <authentication>
        <anonymousAuthentication enabled="true" userName="IUSR" />
      </authentication>
      <authorization>
        <add accessType="Allow" users="*" />
      </authorization>
    </security>
  </system.webServer>
  <location path="" overrideMode="Allow">
    <system.webServer>
      <modules>""".split("\n")
    lines += [f'        <add name="{n}" lockItem="true" />' for n, _ in GLOBAL_MODULES]
    lines += ["      </modules>", "    </system.webServer>", "  </location>", "</configuration>", ""]
    return b"\xef\xbb\xbf" + "\n".join(lines).encode("utf-8")


def write_stock_config(path: Path, content_root: Path) -> None:
    """Write a stock applicationHost.config (DefaultAppPool, Default Web Site on *:80:) and its welcome page."""
    content_root.mkdir(parents=True, exist_ok=True)
    page = content_root / "iisstart.htm"
    if not page.exists():
        atomic_write_bytes(page, IISSTART.encode("utf-8"))
    atomic_write_bytes(path, stock_config_bytes(content_root))
