"""BootstrapError: a bootstrap step failed; the message (never a credential) goes into the status record."""

from __future__ import annotations


class BootstrapError(Exception):
    """A bootstrap step failed; the message says which and why."""
