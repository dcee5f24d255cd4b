"""Site bindings: IIS `bindingInformation` strings <-> the upstream JSON binding objects."""

from __future__ import annotations

import ipaddress
from typing import Any

from agent.api.context import Ctx
from agent.certificates import SERVER_AUTH
from agent.certificates.refs import certificate_ref
from agent.ids import Purpose
from agent.iisconfig import ConfigElement
from agent.keys import CERT_STORES
from shared.errors import AlreadyExists, InvalidParameter, NotFound, OutOfRange

HTTP_PROTOCOLS = ("http", "https")  # case-sensitive on purpose: upstream treats "HTTP" as a custom protocol


def split_information(info: str) -> tuple[str | None, int | None, str]:
    """"ip:port:host" -> (ip or None, port or None, host); IPv6 addresses come in brackets."""
    if info.startswith("["):
        end = info.find("]")
        ip, rest = info[1:end], info[end + 2 :] if end > 0 else ""
        port_text, _, host = rest.partition(":")
    else:
        parts = info.split(":")
        if len(parts) != 3:
            return None, None, ""
        ip, port_text, host = parts
    try:
        port: int | None = int(port_text)
    except ValueError:
        port = None
    return (ip or None), port, host


def join_information(ip: str, port: int, host: str) -> str:
    """(ip, port, host) -> "ip:port:host", bracketing IPv6."""
    if ip != "*" and ":" in ip:
        ip = f"[{ip}]"
    return f"{ip}:{port}:{host}"


def to_json(ctx: Ctx, binding: ConfigElement) -> dict[str, Any]:
    """One binding as upstream shows it; member sets differ by protocol."""
    protocol = str(binding.get("protocol"))
    info = str(binding.get("bindingInformation") or "")
    out: dict[str, Any] = {"protocol": protocol, "binding_information": info}
    if protocol not in HTTP_PROTOCOLS:
        return out
    ip, port, host = split_information(info)
    out.update(ip_address=ip, port=port, hostname=host)
    if protocol == "https":
        certificate = _certificate(ctx, binding)
        if certificate is not None:  # upstream shows the member only when the certificate's store is known
            out["certificate"] = certificate
        flags = str(binding.get("sslFlags") or "")
        out["require_sni"] = "sni" in flags.lower()
    return out


def _certificate(ctx: Ctx, binding: ConfigElement) -> dict[str, Any] | None:
    thumbprint = binding.get_raw("certificateHash")
    if not thumbprint:
        return None
    info = ctx.request.app[CERT_STORES].find(binding.get_raw("certificateStoreName") or "My", thumbprint)
    return certificate_ref(ctx.codec, info, ctx.hal) if info is not None else None


def _valid_ip(text: str) -> bool:
    if text == "*":
        return True
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _parse_one(ctx: Ctx, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidParameter("bindings", "Each binding must be an object.")
    protocol = raw.get("protocol")
    if not isinstance(protocol, str) or not protocol:
        raise InvalidParameter("binding.protocol")
    if protocol not in HTTP_PROTOCOLS:
        info = raw.get("binding_information")
        if not isinstance(info, str) or not info:
            raise InvalidParameter("binding.binding_information")
        return {"protocol": protocol, "bindingInformation": info}
    info = raw.get("binding_information")
    if isinstance(info, str):
        ip, port, host = split_information(info)
        if ip is None or not _valid_ip(ip) or port is None or not 0 <= port <= 65535:
            raise InvalidParameter("binding.binding_information")
    else:
        ip_raw = raw.get("ip_address")
        if not isinstance(ip_raw, str) or not _valid_ip(ip_raw.strip()):
            raise InvalidParameter("binding.ip_address")
        ip = ip_raw.strip()
        port_raw = raw.get("port")
        if port_raw is None or isinstance(port_raw, bool):
            raise InvalidParameter("binding.port")
        try:
            port = int(str(port_raw).strip())
        except ValueError as err:
            raise InvalidParameter("binding.port") from err
        if not 1 <= port <= 65535:
            raise OutOfRange("binding.port", 1, 65535)
        hostname = raw.get("hostname")
        host = hostname.strip() if isinstance(hostname, str) else ""
    binding: dict[str, Any] = {"protocol": protocol, "bindingInformation": join_information(ip, port, host)}
    if protocol == "https":
        binding.update(_parse_tls(ctx, raw, host))
    return binding


def _parse_tls(ctx: Ctx, raw: dict[str, Any], host: str) -> dict[str, Any]:
    certificate = raw.get("certificate")
    if not isinstance(certificate, dict):
        raise InvalidParameter("binding.certificate")
    if not isinstance(certificate.get("id"), str) or not certificate["id"]:
        raise InvalidParameter("binding.certificate.id")
    try:
        store, thumbprint = ctx.codec.decode_parts(Purpose.CERTIFICATE, certificate["id"], 2)
    except NotFound as err:
        raise NotFound(name="binding.certificate") from err
    info = ctx.request.app[CERT_STORES].find(store, thumbprint)
    if info is None:
        raise NotFound(name="binding.certificate")
    if SERVER_AUTH not in info.purposes:  # no EKU extension at all is refused too, as upstream does
        raise InvalidParameter("binding.certificate", "Certificate does not support server authentication")
    if not info.has_private_key:
        raise InvalidParameter("binding.certificate", "Certificate must have a private key")
    sni = raw.get("require_sni")
    if isinstance(sni, str) and sni.strip().lower() in ("true", "false"):
        sni = sni.strip().lower() == "true"
    if sni is not None and not isinstance(sni, bool):
        raise InvalidParameter("binding.require_sni")
    if sni and not host:
        raise InvalidParameter("binding.require_sni", "SNI requires a host name.")
    # IIS keeps the thumbprint (hex of the hash bytes) and the store name on the binding element.
    tls = {"certificateHash": info.thumbprint, "certificateStoreName": info.store}
    if sni:
        tls["sslFlags"] = "Sni"
    return tls


def parse_bindings(ctx: Ctx, raw: Any) -> list[dict[str, Any]]:
    """Validate a whole `bindings` array; duplicates inside it answer 409 `binding`."""
    if not isinstance(raw, list):
        raise InvalidParameter("bindings", "Expected an array of bindings.")
    parsed = [_parse_one(ctx, item) for item in raw]
    seen: set[tuple[str, str]] = set()
    for binding in parsed:
        key = (binding["protocol"].lower(), binding["bindingInformation"].lower())
        if key in seen:
            raise AlreadyExists("binding")
        seen.add(key)
    return parsed


def replace_bindings(site: ConfigElement, bindings: list[dict[str, Any]]) -> None:
    """Replace every binding of a site (upstream's PATCH replaces the array)."""
    collection = site.collection("bindings")
    for existing in list(collection):
        collection.remove(existing)
    for binding in bindings:
        collection.add(binding)
