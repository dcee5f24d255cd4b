"""Names an agent may enroll under: a DNS host name or an IP address, never a wildcard or the controller's.

The CA signs what enrollment accepts, and agents trust any certificate of that CA for the name it holds:
a wildcard (`*.corp.example`) or the controller's own name would let a join-token holder pose as others.
"""

from __future__ import annotations

import ipaddress
import re

from controller.services.errors import InvalidRequest, NotPermitted
from shared.fleet_identity import CONTROLLER_COMMON_NAME  # no agent may hold it

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def is_ip(text: str) -> bool:
    """Whether `text` is an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def check_host_name(text: str, *, name: str = "name") -> str:
    """`text` when it is a valid DNS name or IP address; InvalidRequest (400) or NotPermitted (403) otherwise."""
    if "*" in text:
        raise NotPermitted(f"{name} {text!r} is a wildcard; an agent enrolls under one exact name")
    if text.lower() == CONTROLLER_COMMON_NAME:
        raise NotPermitted(f"{name} {text!r} is reserved for the controller's own certificate")
    if is_ip(text):
        return text
    labels = text.rstrip(".").split(".")
    if len(text) > 253 or not all(_LABEL.match(label) for label in labels):
        raise InvalidRequest(f"{name} {text!r} is neither a DNS host name nor an IP address", name=name)
    return text
