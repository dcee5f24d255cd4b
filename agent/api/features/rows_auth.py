"""The four authentication-type rows of FEATURES and the links of their container resource."""

from __future__ import annotations

from dataclasses import replace

from agent.api.features.custom import auth
from agent.api.features.spec import FeatureSpec, SectionMap
from agent.api.features.target import Target
from agent.api.mapping import Attr, Bool, Enum, Str
from agent.ids import Purpose as P

AUTH = "system.webServer/security/authentication/"
LOWER = {"lower": True}
MS = "Microsoft.WebServer."
AUTH_TYPES = ("anonymous", "basic", "digest", "windows")


def _auth(kind: str, purpose: P, display: str, dll: str, *fields: Attr, installable: bool = True) -> FeatureSpec:
    """One of the four authentication-type rows."""
    section = f"{kind}Authentication"
    return FeatureSpec(
        endpoint=f"authentication/{kind}-authentication", link=kind, purpose=purpose,
        resource=f"{MS}{kind.capitalize()}Authentication", sections=(SectionMap(AUTH + section, fields),),
        modules=(f"{kind.capitalize()}AuthenticationModule",), display=display, installable=installable,
        install_name=f"IIS-{kind.capitalize()}Authentication", images=(dll,), located=False, server_default=True,
        links_from=(),
    )  # fmt: skip


ANONYMOUS = _auth("anonymous", P.ANONYMOUS_AUTH, "Anonymous Authentication", "authanon.dll",
                  Attr("enabled", "enabled", Bool()), Attr("user", "userName", Str()), installable=False)  # fmt: skip
ANONYMOUS = replace(ANONYMOUS, write=auth.anonymous_write)
BASIC = _auth("basic", P.BASIC_AUTH, "Basic Authentication", "authbas.dll", Attr("enabled", "enabled", Bool()),
              Attr("default_logon_domain", "defaultLogonDomain", Str()), Attr("realm", "realm", Str()))  # fmt: skip
DIGEST = _auth("digest", P.DIGEST_AUTH, "Digest Authentication", "authmd5.dll", Attr("enabled", "enabled", Bool()),
               Attr("realm", "realm", Str()))  # fmt: skip
WINDOWS = _auth("windows", P.WINDOWS_AUTH, "Windows Authentication", "authsspi.dll",
                Attr("enabled", "enabled", Bool()), Attr("use_kernel_mode", "useKernelMode", Bool()),
                Attr("token_checking", "extendedProtection/tokenChecking", Enum(("None", "Allow", "Require"), **LOWER)))
WINDOWS = replace(WINDOWS, read=auth.windows_read, write=auth.windows_write)
AUTH_SPECS = (ANONYMOUS, BASIC, DIGEST, WINDOWS)


def container_links(target: Target, _fid: str) -> dict[str, str]:
    """One link per authentication type, each with the id of that type at the same path (no self)."""
    links: dict[str, str] = {}
    for name, spec in zip(AUTH_TYPES, AUTH_SPECS, strict=True):
        links[name] = Target(target.ctx, spec, target.site, target.path).href()
    return links
