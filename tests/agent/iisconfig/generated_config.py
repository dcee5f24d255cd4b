"""A generated applicationHost.config with the shapes that make effective sections hard, for differential tests.

Many sites with applications three levels deep; <location> tags at server (path "" and "."), site, application
and sub-directory level, some repeated for the same path, some spelled in another case or with slashes and
backslashes; collections with <add>, <remove> and <clear> at every level; siteDefaults that sites inherit from;
comments, a processing instruction, text and a namespaced element the reader must keep or skip like lxml does.
"""

from __future__ import annotations

from pathlib import Path

SITE_COUNT = 60


def _site(i: int) -> str:
    limits = f'<limits connectionTimeout="00:0{i % 10}:30" maxConnections="{100 + i}" />' if i % 4 == 0 else ""
    log = f'<logFile directory="D:\\logs\\site{i}" period="Hourly" />' if i % 5 == 0 else ""
    https = f'<binding protocol="https" bindingInformation="*:{9000 + i}:" sslFlags="1" />' if i % 3 == 0 else ""
    return f"""
      <site name="Site{i}" id="{i + 1}" serverAutoStart="{"false" if i % 7 == 0 else "true"}">
        <application path="/" applicationPool="Pool{i % 3}">
          <virtualDirectory path="/" physicalPath="%SystemDrive%\\inetpub\\site{i}" />
          <virtualDirectory path="/media" physicalPath="D:\\media\\{i}" />
        </application>
        <application path="/app">
          <virtualDirectory path="/" physicalPath="%SystemDrive%\\inetpub\\site{i}\\app" />
        </application>
        <application path="/app/sub" applicationPool="Pool{(i + 1) % 3}">
          <virtualDirectory path="/" physicalPath="%SystemDrive%\\inetpub\\site{i}\\sub" />
        </application>
        <bindings>
          <binding protocol="http" bindingInformation="*:{8000 + i}:site{i}.example.test" />{https}
        </bindings>{limits}{log}
      </site>"""


def _site_locations(i: int) -> str:
    """Location tags for one site: site, app and deeper levels, with every collection directive."""
    site = f"Site{i}" if i % 2 else f"site{i}"  # location paths match case-insensitively
    return f"""
  <location path="{site}">
    <system.webServer>
      <defaultDocument enabled="{"false" if i % 6 == 0 else "true"}">
        <files>
          <remove value="index.htm" />
          <add value="site{i}.html" />
        </files>
      </defaultDocument>
      <staticContent>
        <remove fileExtension=".svg" />
        <mimeMap fileExtension=".site{i}" mimeType="text/plain" />
      </staticContent>
      <httpProtocol>
        <customHeaders>
          <add name="X-Site" value="{i}" />
        </customHeaders>
      </httpProtocol>
      <rewrite>
        <rules>
          <rule name="to-https-{i}" stopProcessing="true">
            <match url="^old/(.*)" />
            <conditions logicalGrouping="MatchAny">
              <add input="{{HTTP_HOST}}" pattern="^www\\." />
            </conditions>
            <action type="Redirect" url="/new/{{R:1}}" />
          </rule>
        </rules>
      </rewrite>
    </system.webServer>
  </location>
  <location path="/Site{i}/app/" overrideMode="Allow">
    <system.webServer>
      <defaultDocument>
        <files>
          <clear />
          <add value="app.html" />
        </files>
      </defaultDocument>
      <security>
        <requestFiltering allowDoubleEscaping="true">
          <fileExtensions>
            <remove fileExtension=".config" />
          </fileExtensions>
          <hiddenSegments>
            <add segment="private{i}" />
          </hiddenSegments>
        </requestFiltering>
        <authorization>
          <clear />
          <add accessType="Allow" users="*" verbs="GET" />
        </authorization>
      </security>
      <httpErrors errorMode="Custom">
        <remove statusCode="404" subStatusCode="-1" />
        <error statusCode="404" path="/app/404.html" responseMode="ExecuteURL" />
      </httpErrors>
    </system.webServer>
  </location>
  <location path="SITE{i}\\APP\\sub">
    <system.webServer>
      <directoryBrowse enabled="true" showFlags="Date, Size" />
      <staticContent>
        <clear />
        <mimeMap fileExtension=".only" mimeType="application/x-only" />
        <clientCache cacheControlMode="UseMaxAge" cacheControlMaxAge="01:00:00" />
      </staticContent>
      <httpRedirect enabled="true" destination="https://example.test/{i}" httpResponseStatus="Permanent" />
    </system.webServer>
  </location>
  <location path="Site{i}/app">
    <system.webServer>
      <httpProtocol>
        <customHeaders>
          <remove name="X-Site" />
          <add name="X-App" value="{i}" />
        </customHeaders>
      </httpProtocol>
      <caching enabled="{"false" if i % 4 == 1 else "true"}" enableKernelCache="false" />
    </system.webServer>
  </location>"""


def generated_config(site_count: int = SITE_COUNT) -> bytes:
    """The generated file's bytes."""
    sites = "".join(_site(i) for i in range(site_count))
    locations = "".join(_site_locations(i) for i in range(0, site_count, 3))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- generated for the reader's differential tests -->
<configuration>
  <configSections>
    <sectionGroup name="system.webServer">
      <section name="defaultDocument" overrideModeDefault="Allow" />
      <section name="httpRedirect" overrideModeDefault="Deny" />
      <sectionGroup name="security">
        <section name="requestFiltering" overrideModeDefault="Allow" />
        <section name="ipSecurity" overrideModeDefault="Deny" />
      </sectionGroup>
    </sectionGroup>
  </configSections>
  <system.applicationHost>
    <applicationPools>
      <add name="Pool0" />
      <add name="Pool1" startMode="AlwaysRunning">
        <processModel maxProcesses="3" idleTimeout="00:01:00" />
        <recycling disallowRotationOnConfigChange="true"><periodicRestart requests="1000" /></recycling>
      </add>
      <add name="Pool2" autoStart="false"><failure rapidFailProtection="false" /></add>
      <applicationPoolDefaults><processModel idleTimeout="00:30:00" /></applicationPoolDefaults>
    </applicationPools>
    <sites>{sites}
      <siteDefaults>
        <logFile logFormat="W3C" directory="%SystemDrive%\\inetpub\\logs\\LogFiles" localTimeRollover="true" />
        <limits connectionTimeout="00:01:10" />
        <traceFailedRequestsLogging enabled="true" directory="C:\\traces" />
      </siteDefaults>
      <applicationDefaults applicationPool="Pool0" />
      <virtualDirectoryDefaults allowSubDirConfig="true" />
    </sites>
  </system.applicationHost>
  <?iisfleet-test a processing instruction?>
  <system.webServer>
    <defaultDocument enabled="true">
      <files>
        <add value="index.html" />
        <add value="index.htm" />
        <add value="default.aspx" />
        <add value="default.asp" />
        <remove value="default.asp" />
      </files>
    </defaultDocument>
    <directoryBrowse enabled="false" />
    <staticContent>
      <mimeMap fileExtension=".css" mimeType="text/css" />
      <mimeMap fileExtension=".html" mimeType="text/html" />
      <mimeMap fileExtension=".svg" mimeType="image/svg+xml" />
      <x:extension xmlns:x="urn:iisfleet:test" x:flag="1">text the reader ignores</x:extension>
    </staticContent>
    <httpCompression directory="%SystemDrive%\\inetpub\\temp\\IIS Temporary Compressed Files">
      <scheme name="gzip" dll="%Windir%\\system32\\inetsrv\\gzip.dll" />
      <staticTypes><add mimeType="text/*" enabled="true" /><add mimeType="*/*" enabled="false" /></staticTypes>
    </httpCompression>
    <urlCompression doDynamicCompression="true" />
    <httpErrors>
      <error statusCode="404" prefixLanguageFilePath="%SystemDrive%\\inetpub\\custerr" path="404.htm" />
      <error statusCode="500" prefixLanguageFilePath="%SystemDrive%\\inetpub\\custerr" path="500.htm" />
    </httpErrors>
    <modules>
      <add name="StaticFileModule" />
      <add name="DefaultDocumentModule" />
      <add name="HttpRedirectionModule" />
    </modules>
    <security>
      <requestFiltering>
        <fileExtensions allowUnlisted="true">
          <add fileExtension=".config" allowed="false" />
          <add fileExtension=".mdb" allowed="false" />
        </fileExtensions>
        <verbs allowUnlisted="true"><add verb="TRACE" allowed="false" /></verbs>
        <requestLimits maxAllowedContentLength="1000000" />
      </requestFiltering>
      <ipSecurity allowUnlisted="true">
        <add ipAddress="10.9.9.8" allowed="false" />
        <clear />
        <add ipAddress="10.9.9.9" allowed="false" />
      </ipSecurity>
      <authentication>
        <anonymousAuthentication enabled="true" userName="IUSR" />
        <basicAuthentication enabled="false" realm="fleet" />
      </authentication>
    </security>
    <tracing>
      <traceFailedRequests>
        <add path="*"><failureDefinitions statusCodes="500-599" /></add>
      </traceFailedRequests>
    </tracing>
  </system.webServer>
  <location path="" overrideMode="Allow">
    <system.webServer>
      <httpProtocol>
        <customHeaders>
          <clear />
          <add name="X-Powered-By" value="ASP.NET" />
        </customHeaders>
      </httpProtocol>
      <rewrite>
        <globalRules>
          <rule name="global-block" patternSyntax="Wildcard">
            <match url="*.bak" />
            <action type="CustomResponse" statusCode="403" />
          </rule>
        </globalRules>
        <rules>
          <rule name="server-rule">
            <match url="^legacy$" />
            <conditions><add input="{{QUERY_STRING}}" pattern="id=(\\d+)" /></conditions>
            <action type="Rewrite" url="/modern" />
          </rule>
        </rules>
        <outboundRules>
          <rule name="strip-server">
            <match serverVariable="RESPONSE_Server" pattern=".+" />
            <action type="Rewrite" value="" />
          </rule>
        </outboundRules>
      </rewrite>
    </system.webServer>
  </location>
  <location path=".">
    <system.webServer>
      <staticContent>
        <mimeMap fileExtension=".json" mimeType="application/json" />
      </staticContent>
    </system.webServer>
  </location>{locations}
  <location path="Site3">
    <!-- a second tag for the same path: merged after the first, in document order -->
    <system.webServer>
      <defaultDocument><files><add value="second-tag.html" /></files></defaultDocument>
      <httpRedirect enabled="true" destination="/moved" />
    </system.webServer>
  </location>
</configuration>
""".encode()


def write_generated_config(path: Path, site_count: int = SITE_COUNT) -> Path:
    """Write the generated file to `path`."""
    path.write_bytes(generated_config(site_count))
    return path
