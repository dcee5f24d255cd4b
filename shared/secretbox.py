"""Encryption at rest for credentials (app-pool and virtual-directory passwords, controller secrets).

Values are Fernet tokens (AES-128-CBC + HMAC-SHA256, from `cryptography`) wrapped the way IIS marks
encrypted attributes, `[enc:IisFleetFernet:<token>:enc]`, so a reader can tell a secret from plain text.
The key lives in a 0600 file of the owner's state directory.
"""

from __future__ import annotations

import base64
import binascii
import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from shared.fsutil import atomic_write_bytes

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

PREFIX = "[enc:IisFleetFernet:"
SUFFIX = ":enc]"


class SecretBox:
    """Encrypts and decrypts short secrets with one persisted key."""

    def __init__(self, key_file: Path) -> None:
        if not key_file.exists():  # what Fernet.generate_key() makes: 32 random bytes, base64url
            atomic_write_bytes(key_file, base64.urlsafe_b64encode(os.urandom(32)), mode=0o600)
        os.chmod(key_file, 0o600)
        self._key = key_file.read_bytes().strip()
        try:  # Fernet's own check, here so that a bad key still fails at start-up
            valid = len(base64.urlsafe_b64decode(self._key)) == 32
        except (binascii.Error, ValueError):
            valid = False
        if not valid:
            raise ValueError("Fernet key must be 32 url-safe base64-encoded bytes.")

    @cached_property
    def _fernet(self) -> Fernet:
        # Imported on first use: most agents never seal a secret, and cryptography costs ~7 MiB resident.
        from cryptography.fernet import Fernet

        return Fernet(self._key)

    def seal(self, plaintext: str) -> str:
        """The marked ciphertext of `plaintext` ("" stays "")."""
        if not plaintext:
            return ""
        return PREFIX + self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii") + SUFFIX

    def open(self, stored: str) -> str:
        """The plaintext of a sealed value; unmarked text is returned as it is."""
        if not is_sealed(stored):
            return stored
        token = stored[len(PREFIX) : -len(SUFFIX)]
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as err:
            raise ValueError("the secret was sealed with another key") from err


def is_sealed(stored: str | None) -> bool:
    """Whether a stored value is one of our sealed secrets."""
    return stored is not None and stored.startswith(PREFIX) and stored.endswith(SUFFIX)
