"""AES-CBC with PKCS#7 padding, from the OpenSSL that Python's own `ssl` module has already loaded.

The agent's resource ids (agent/ids.py) are AES-CBC, and every API answer carries some. Importing
`cryptography` for that costs ~7 MiB resident in every agent (its Rust extension), while libcrypto is mapped
anyway for TLS; so this calls libcrypto's EVP interface through ctypes. Where that library cannot be found
(not Linux, OpenSSL linked statically) it falls back to `cryptography`, which gives the same bytes
(tests/shared/test_aes_cbc.py compares the two). `decrypt` raises ValueError on a bad length or padding,
as the cryptography unpadder does (OpenSSL checks every padding byte too).
"""

from __future__ import annotations

import ctypes
import os
import ssl  # noqa: F401 - maps _ssl, and so libcrypto, before _loaded_libcrypto looks for it
from collections.abc import Callable
from pathlib import Path

BLOCK = 16
Cipher = Callable[[bytes, bytes, bytes], bytes]  # (key, iv, data) -> data


def _loaded_libcrypto() -> ctypes.CDLL | None:
    """The libcrypto shared object mapped into this process by `ssl` (Linux: read from /proc/self/maps)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        path = line.split(maxsplit=5)[-1] if line.count(" ") >= 5 else ""
        if os.path.basename(path).startswith("libcrypto.so"):
            try:
                lib = ctypes.CDLL(path)
                lib.EVP_CIPHER_CTX_new.restype = ctypes.c_void_p
                lib.EVP_CIPHER_CTX_free.argtypes = [ctypes.c_void_p]
                lib.ERR_clear_error.restype = None
                for name in ("EVP_aes_128_cbc", "EVP_aes_192_cbc", "EVP_aes_256_cbc"):
                    getattr(lib, name).restype = ctypes.c_void_p
                lib.EVP_CipherInit_ex.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                                  ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]  # fmt: skip
                out, length = ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)  # out: an address into our buffer
                lib.EVP_CipherUpdate.argtypes = [ctypes.c_void_p, out, length, ctypes.c_char_p, ctypes.c_int]
                lib.EVP_CipherFinal_ex.argtypes = [ctypes.c_void_p, out, length]
            except (OSError, AttributeError):
                return None
            return lib
    return None


def _openssl(lib: ctypes.CDLL, encrypt: bool) -> Cipher:
    ciphers = {16: lib.EVP_aes_128_cbc, 24: lib.EVP_aes_192_cbc, 32: lib.EVP_aes_256_cbc}

    def run(key: bytes, iv: bytes, data: bytes) -> bytes:
        if len(key) not in ciphers or len(iv) != BLOCK:
            raise ValueError("AES needs a 16, 24 or 32 byte key and a 16 byte IV")
        if not encrypt and (not data or len(data) % BLOCK):
            raise ValueError("not a whole number of blocks")
        ctx = lib.EVP_CIPHER_CTX_new()
        if not ctx:
            raise MemoryError("EVP_CIPHER_CTX_new")
        try:
            out = ctypes.create_string_buffer(len(data) + BLOCK)
            used, last = ctypes.c_int(0), ctypes.c_int(0)
            ok = (
                lib.EVP_CipherInit_ex(ctx, ciphers[len(key)](), None, key, iv, int(encrypt)) == 1
                and lib.EVP_CipherUpdate(ctx, ctypes.addressof(out), ctypes.byref(used), data, len(data)) == 1
                and lib.EVP_CipherFinal_ex(ctx, ctypes.addressof(out) + used.value, ctypes.byref(last)) == 1
            )
            if not ok:
                # OpenSSL queued the reason on this thread, where the event loop's TLS calls would read it.
                lib.ERR_clear_error()
                raise ValueError("AES-CBC failed (bad padding)")
            return out.raw[: used.value + last.value]
        finally:
            lib.EVP_CIPHER_CTX_free(ctx)

    return run


def _with_cryptography(encrypt: bool) -> Cipher:
    def run(key: bytes, iv: bytes, data: bytes) -> bytes:
        from cryptography.hazmat.primitives import padding
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
        if encrypt:
            padder = padding.PKCS7(128).padder()
            padded = padder.update(data) + padder.finalize()
            encryptor = cipher.encryptor()
            return encryptor.update(padded) + encryptor.finalize()
        if not data or len(data) % BLOCK:
            raise ValueError("not a whole number of blocks")
        decryptor = cipher.decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(plain) + unpadder.finalize()

    return run


_LIB = _loaded_libcrypto()
BACKEND = "openssl" if _LIB is not None else "cryptography"
encrypt: Cipher = _openssl(_LIB, True) if _LIB is not None else _with_cryptography(True)
"""PKCS#7-pad `data` and encrypt it with AES-CBC under `key` and `iv`."""
decrypt: Cipher = _openssl(_LIB, False) if _LIB is not None else _with_cryptography(False)
"""Decrypt AES-CBC `data` and strip its PKCS#7 padding; ValueError when either is wrong."""
