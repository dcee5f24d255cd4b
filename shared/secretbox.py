"""Encryption at rest for credentials (app-pool and virtual-directory passwords, controller secrets).

Values are Fernet tokens (AES-128-CBC + HMAC-SHA256, from `cryptography`) wrapped the way IIS marks
encrypted attributes, `[enc:IisFleetFernet:<token>:enc]`, so a reader can tell a secret from plain text.
The key lives in a 0600 file of the owner's state directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from shared.fsutil import atomic_write_bytes

PREFIX = "[enc:IisFleetFernet:"
SUFFIX = ":enc]"


class SecretBox:
    """Encrypts and decrypts short secrets with one persisted key."""

    def __init__(self, key_file: Path) -> None:
        if not key_file.exists():
            atomic_write_bytes(key_file, Fernet.generate_key(), mode=0o600)
        os.chmod(key_file, 0o600)
        self._fernet = Fernet(key_file.read_bytes().strip())

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
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as err:
            raise ValueError("the secret was sealed with another key") from err


def is_sealed(stored: str | None) -> bool:
    """Whether a stored value is one of our sealed secrets."""
    return stored is not None and stored.startswith(PREFIX) and stored.endswith(SUFFIX)
