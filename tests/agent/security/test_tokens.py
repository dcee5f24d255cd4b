"""Token format, hashing and date text."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

from agent.security.tokens import b64url_decode, hash_token, new_key_id, new_token
from shared.dates import format_date, parse_date


def test_token_is_54_chars_of_40_bytes() -> None:
    token = new_token()
    assert len(token) == 54
    assert "=" not in token
    assert len(b64url_decode(token)) == 40
    assert len(new_key_id()) == 22


def test_hash_is_upstream_pbkdf2() -> None:
    token = new_token()
    raw = b64url_decode(token)
    expected = hashlib.pbkdf2_hmac("sha1", raw[8:], raw[:8], 100_000, 32)
    assert hash_token(token) == base64.urlsafe_b64encode(expected).rstrip(b"=").decode()
    assert hash_token(f"  {token} ") == hash_token(token)


def test_malformed_tokens_have_no_hash() -> None:
    assert hash_token("") is None
    assert hash_token("short") is None
    assert hash_token("!" * 54) is None
    assert hash_token(new_token() + "A") is None


def test_dates_look_like_dotnet() -> None:
    assert format_date(datetime(2017, 1, 9, 18, 8, 33, 513011, tzinfo=UTC)) == "2017-01-09T18:08:33.513011Z"
    assert format_date(datetime(2017, 1, 9, 18, 8, 33, tzinfo=UTC)) == "2017-01-09T18:08:33Z"
    assert format_date(None) == ""
    assert parse_date("2017-01-09T18:08:33.5130112Z") == datetime(2017, 1, 9, 18, 8, 33, 513011, tzinfo=UTC)
    assert parse_date("2017-01-09T20:08:33+02:00") == datetime(2017, 1, 9, 18, 8, 33, tzinfo=UTC)
