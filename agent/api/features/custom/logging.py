"""Logging: system.applicationHost/log, the site's (or siteDefaults') logFile and httpLogging's dontLog."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.api import mapping
from agent.api.features.target import Target
from agent.api.mapping import Attr, Bool, Choice, Flags, Int, Str
from agent.iisconfig import ConfigElement
from agent.iisconfig.schema_apphost import LOG_EXT_FILE_FLAGS
from agent.security.confine import validate_write_directory
from shared.errors import InvalidParameter

LOG = "system.applicationHost/log"
SITES = "system.applicationHost/sites"
HTTP_LOGGING = "system.webServer/httpLogging"
PERIOD = Choice((("max_size", "MaxSize"), ("daily", "Daily"), ("weekly", "Weekly"), ("monthly", "Monthly"),
                 ("hourly", "Hourly")))  # fmt: skip
FORMAT = Choice((("w3c", "W3C"), ("iis", "IIS"), ("ncsa", "NCSA"), ("custom", "Custom")))
ENCODING = Choice((("utf-8", "true"), ("ansi", "false")))
SOURCE_TYPE = Choice((("request_header", "RequestHeader"), ("response_header", "ResponseHeader"),
                      ("server_variable", "ServerVariable")))  # fmt: skip
_JSON_FIELD = {"ClientIP": "client_ip", "UserName": "username", "Win32Status": "win_32_status",
               "BytesRecv": "bytes_recv",
               "ServerIP": "server_ip", "UriStem": "uri_stem", "UriQuery": "uri_query", "HttpStatus": "http_status",
               "SiteName": "site_name", "ComputerName": "computer_name", "BytesSent": "bytes_sent",
               "TimeTaken": "time_taken", "ServerPort": "server_port", "UserAgent": "user_agent",
               "ProtocolVersion": "protocol_version", "HttpSubStatus": "http_sub_status"}  # fmt: skip
LOG_FIELDS = Flags(tuple((_JSON_FIELD.get(flag, flag.lower()), flag) for flag in LOG_EXT_FILE_FLAGS))
ROLLOVER = (
    Attr("rollover.period", "period", PERIOD),
    Attr("rollover.truncate_size", "truncateSize", Int(1048576, 4294967295)),
    Attr("rollover.use_local_time", "localTimeRollover", Bool()),
)
SITE_FILE = (Attr("directory", "directory", Str()), *ROLLOVER, Attr("log_fields", "logExtFileFlags", LOG_FIELDS),
             Attr("log_target", "logTargetW3C", Flags((("etw", "ETW"), ("file", "File")))))  # fmt: skip


def _log_file(target: Target, section: ConfigElement) -> ConfigElement:
    """The logFile element of the site, or of siteDefaults at server level."""
    if target.site is None:
        return section.child("siteDefaults").child("logFile")
    site = section.collection().find(id=target.site_key)
    if site is None:
        raise InvalidParameter("website")
    return site.child("logFile")


def _central(log: ConfigElement) -> ConfigElement | None:
    mode = str(log.get("centralLogFileMode"))
    return {"CentralW3C": log.child("centralW3CLogFile"), "CentralBinary": log.child("centralBinaryLogFile")}.get(mode)


def logging_read(target: Target) -> dict[str, Any]:
    """The logging model for the server (siteDefaults) or a site, in the mode log/@centralLogFileMode says."""
    store = target.ctx.store
    log = store.section(LOG)
    dont_log = bool(target.effective(HTTP_LOGGING).get("dontLog"))
    central = _central(log)
    out: dict[str, Any] = {"log_per_site": central is None}
    if central is None:
        element = _log_file(target, store.section(SITES))
        out.update(mapping.read(element, SITE_FILE))
        out["enabled"] = bool(element.get("enabled")) and not dont_log
        out["log_file_format"] = FORMAT.to_json(element.get("logFormat"))
        out["custom_log_fields"] = [
            {"field_name": str(f.get("logFieldName")), "source_name": str(f.get("sourceName")),
             "source_type": SOURCE_TYPE.to_json(f.get("sourceType"))}
            for f in element.child("customFields").collection()
        ]  # fmt: skip
    else:
        binary = central.tag == "centralBinaryLogFile"
        out.update(mapping.read(central, SITE_FILE[:4]))
        out["enabled"] = bool(central.get("enabled")) and not dont_log
        out["log_file_format"] = "binary" if binary else "w3c"
        out["log_fields"] = None if binary else LOG_FIELDS.to_json(central.get("logExtFileFlags"))
        out["log_target"] = None
        out["custom_log_fields"] = None
    out["log_file_encoding"] = "utf-8" if log.get("logInUTF8") else "ansi"
    return out


def _custom_fields(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise InvalidParameter("custom_log_fields")
    fields = []
    for item in raw:
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) and item[k]
                                                 for k in ("field_name", "source_name", "source_type")):
            raise InvalidParameter("custom_log_fields")
        fields.append({"logFieldName": item["field_name"], "sourceName": item["source_name"],
                       "sourceType": SOURCE_TYPE.from_json(item["source_type"], "custom_log_fields.source_type")})
    return fields  # fmt: skip


def logging_write(target: Target, body: dict[str, Any]) -> Callable[[], None] | None:
    """Validate the body and return the writes (log and sites always live in applicationHost.config)."""
    if "rollover" in body and body["rollover"] is not None and not isinstance(body["rollover"], dict):
        raise InvalidParameter("rollover")
    server = target.site is None
    per_site = Bool().from_json(body["log_per_site"], "log_per_site") if server and "log_per_site" in body else None
    fmt = body.get("log_file_format")
    encoding = ENCODING.from_json(body["log_file_encoding"], "log_file_encoding") \
        if server and body.get("log_file_encoding") is not None else None  # fmt: skip
    enabled = Bool().from_json(body["enabled"], "enabled") if body.get("enabled") is not None else None
    if body.get("directory") is not None:  # the host creates it and writes there: a writable location only
        validate_write_directory(target.ctx.locations, body["directory"])
    file_changes = mapping.parse(body, SITE_FILE)
    custom = _custom_fields(body["custom_log_fields"]) if body.get("custom_log_fields") is not None else None

    def write() -> None:
        store = target.ctx.store
        log = store.section(LOG)
        if per_site is not None:
            log.set("centralLogFileMode", "Site" if per_site else "CentralW3C")
        central = _central(log)
        if isinstance(fmt, str) and server and central is not None:
            modes = {"w3c": "CentralW3C", "binary": "CentralBinary"}
            if fmt.lower() not in modes:
                raise InvalidParameter("log_file_format")
            log.set("centralLogFileMode", modes[fmt.lower()])
            central = _central(log)
        if encoding is not None:
            log.set("logInUTF8", encoding)
        element = central if central is not None else _log_file(target, store.section(SITES))
        if central is None and isinstance(fmt, str):
            element.set("logFormat", FORMAT.from_json(fmt, "log_file_format"))
        allowed: tuple[Attr, ...]
        if central is None:
            allowed = SITE_FILE
        else:  # central files are server-wide: only the server level edits them
            allowed = () if not server else SITE_FILE[:5] if central.tag == "centralW3CLogFile" else SITE_FILE[:4]
        mapping.apply(element, [(a, v) for a, v in file_changes if a in allowed])
        if custom is not None and central is None:
            fields = element.child("customFields").collection()
            fields.clear()
            for item in custom:
                fields.add(item)
        if enabled is not None:
            element.set("enabled", enabled)
            if server or not target.is_locked(HTTP_LOGGING):
                target.local(HTTP_LOGGING).set("dontLog", not enabled)
            if server and central is None:
                for name in ("centralW3CLogFile", "centralBinaryLogFile"):
                    log.child(name).set("enabled", enabled)

    return write
