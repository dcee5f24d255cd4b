"""Request-body JSON schemas for the OpenAPI document, derived from the resources' field tables."""

from __future__ import annotations

from typing import Any

from agent.api import mapping
from agent.api.resources import app_pools, websites

REF = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
BINDING = {
    "type": "object",
    "required": ["protocol"],
    "properties": {
        "protocol": {"type": "string"},
        "binding_information": {"type": "string"},
        "ip_address": {"type": "string"},
        "port": {"type": ["integer", "string"]},
        "hostname": {"type": "string"},
        "require_sni": {"type": "boolean"},
        "certificate": REF,
    },
}
STATUS = {"type": "string", "enum": ["started", "stopped"]}


def _extend(base: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {**base, "properties": {**base["properties"], **props}}


WEBSITE = _extend(
    mapping.schema(websites.ATTRS),
    name={"type": "string"},
    key={"type": "integer"},
    physical_path={"type": "string"},
    enabled_protocols={"type": "string"},
    bindings={"type": "array", "items": BINDING},
    application_pool=REF,
    status=STATUS,
)
APP_POOL = _extend(
    mapping.schema(app_pools.ATTRS),
    name={"type": "string"},
    status={"type": "string", "enum": ["started", "stopped", "recycling"]},
)
WEBAPP = {
    "type": "object",
    "properties": {
        "path": {"type": "string"},
        "physical_path": {"type": "string"},
        "enabled_protocols": {"type": "string"},
        "preload_enabled": {"type": ["boolean", "string"]},
        "website": REF,
        "application_pool": REF,
    },
}
VDIR = {
    "type": "object",
    "properties": {
        "path": {"type": "string"},
        "physical_path": {"type": "string"},
        "webapp": REF,
        "website": REF,
        "identity": {
            "type": "object",
            "properties": {
                "username": {"type": "string"},
                "password": {"type": "string", "writeOnly": True},
                "logon_method": {"type": "string", "enum": ["interactive", "batch", "network", "network_cleartext"]},
            },
        },
    },
}
