"""shared/aes_cbc.py: libcrypto's AES-CBC through ctypes gives exactly cryptography's bytes, and refuses alike."""

from __future__ import annotations

import ctypes
import os
import random
import sys

import pytest

from shared import aes_cbc


@pytest.mark.skipif(sys.platform != "linux", reason="the libcrypto lookup reads /proc/self/maps")
def test_linux_uses_the_libcrypto_that_ssl_loaded() -> None:
    assert aes_cbc.BACKEND == "openssl"


@pytest.mark.parametrize("key_size", [16, 24, 32])
def test_same_ciphertext_and_plaintext_as_cryptography(key_size: int) -> None:
    encrypt, decrypt = aes_cbc._with_cryptography(True), aes_cbc._with_cryptography(False)
    for length in range(0, 70):
        key, iv, data = os.urandom(key_size), os.urandom(16), os.urandom(length)
        sealed = aes_cbc.encrypt(key, iv, data)
        assert sealed == encrypt(key, iv, data)
        assert len(sealed) == (length // 16 + 1) * 16
        assert aes_cbc.decrypt(key, iv, sealed) == data == decrypt(key, iv, sealed)


def test_bad_blocks_and_padding_are_refused_as_cryptography_refuses_them() -> None:
    decrypt = aes_cbc._with_cryptography(False)
    rng = random.Random(13)
    refused = 0
    for _ in range(2000):
        key, iv = rng.randbytes(16), rng.randbytes(16)
        data = rng.randbytes(rng.choice([0, 5, 16, 17, 32, 48]))
        answers = []
        for run in (aes_cbc.decrypt, decrypt):
            try:
                answers.append(run(key, iv, data))
            except ValueError:
                answers.append(None)
        assert answers[0] == answers[1]
        refused += answers[0] is None
    assert refused > 1800  # random blocks rarely end in valid padding; both sides refuse the same ones


def test_wrong_key_or_iv_sizes_are_errors() -> None:
    with pytest.raises(ValueError):
        aes_cbc.encrypt(b"k" * 15, b"i" * 16, b"data")
    with pytest.raises(ValueError):
        aes_cbc.decrypt(b"k" * 16, b"i" * 8, b"d" * 16)


@pytest.mark.skipif(aes_cbc._LIB is None, reason="the cryptography fallback keeps its own error queue clean")
def test_a_refused_id_leaves_no_openssl_error_behind_for_tls() -> None:
    lib = aes_cbc._LIB
    assert lib is not None
    lib.ERR_peek_error.restype = ctypes.c_ulong
    lib.ERR_clear_error()
    key, iv = bytes(16), bytes(16)
    bad = bytes(15) + b"\x00"  # decrypts to a block whose padding is wrong for this key
    refused = 0
    for n in range(64):
        try:
            aes_cbc.decrypt(key, iv, bytes([n]) + bad[1:])
        except ValueError:
            refused += 1
        assert lib.ERR_peek_error() == 0  # Python's ssl reads this thread's queue after a failed TLS call
    assert refused > 0
