"""The console's static files and cookie sessions: caching headers, cookie attributes, CSRF, hashed storage."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from http.cookies import SimpleCookie
from typing import Any

import aiohttp

from controller.api.session_auth import COOKIE
from tests.controller.conftest import ControllerUnderTest


async def _request(
    controller: ControllerUnderTest, method: str, path: str, **kwargs: Any
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, controller.url + path, ssl=controller.client_ssl(), **kwargs) as r:
            body = await r.json() if r.content_type.endswith("json") else await r.read()
            return r.status, body, r.headers


async def _sign_in(controller: ControllerUnderTest) -> tuple[str, str, dict[str, Any]]:
    status, body, headers = await _request(controller, "POST", "/api/session", json={"token": controller.token})
    assert status == 201, body
    cookie = SimpleCookie(headers["Set-Cookie"])[COOKIE]
    return cookie.value, body["csrf_token"], {"cookie": cookie, "body": body}


async def test_static_files_have_caching_headers_and_revalidate(controller: ControllerUnderTest) -> None:
    status, body, headers = await _request(controller, "GET", "/")
    assert status == 200 and headers["Cache-Control"] == "no-cache" and headers["ETag"].startswith('"')
    match = re.search(rb'<script type="module" src="/console/js/main.js\?v=([0-9a-f]{20})">', body)
    assert match, body
    # The import map is the one inline script, allowed by its hash; it maps every module to its version.
    import_map = re.search(rb'<script type="importmap">(.*?)</script>', body)
    assert import_map
    digest = base64.b64encode(hashlib.sha256(import_map.group(1)).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}';" in headers["Content-Security-Policy"]
    modules = json.loads(import_map.group(1))["imports"]
    assert modules["/console/js/api.js"].startswith("/console/js/api.js?v=")
    status, _, again = await _request(controller, "GET", "/", headers={"If-None-Match": headers["ETag"]})
    assert status == 304 and again["ETag"] == headers["ETag"]
    status, body, headers = await _request(controller, "GET", f"/console/js/main.js?v={match.group(1).decode()}")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript") and b"import" in body
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert headers["ETag"] == f'"{hashlib.sha256(body).hexdigest()[:20]}"'
    status, _, headers = await _request(controller, "GET", "/console/js/main.js?v=old")
    assert status == 200 and headers["Cache-Control"] == "no-cache"
    for bad in ("/console/../pyproject.toml", "/console/js/%2e%2e/%2e%2e/app.py", "/console/nope.js"):
        status, _, _ = await _request(controller, "GET", bad)
        assert status == 404, bad


async def test_session_cookie_is_httponly_strict_secure_and_stored_hashed(controller: ControllerUnderTest) -> None:
    session_id, csrf, info = await _sign_in(controller)
    cookie = info["cookie"]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert int(cookie["max-age"]) > 0 and len(csrf) >= 40
    body = info["body"]
    assert body["key_id"] == controller.token.split(".")[0] and body["role"] == "admin" and body["auth"] == "session"
    keys = await controller.store.keys()
    session_keys = [k for k in keys if ":session:" in k]
    assert len(session_keys) == 1 and session_id not in session_keys[0]
    stored = await controller.store.redis.hgetall(session_keys[0])
    assert session_id not in stored.values() and controller.token not in str(stored)


async def test_session_reads_freely_and_writes_only_with_the_csrf_token(controller: ControllerUnderTest) -> None:
    session_id, csrf, _ = await _sign_in(controller)
    cookie = {"Cookie": f"{COOKIE}={session_id}"}
    status, body, _ = await _request(controller, "GET", "/api/agents", headers=cookie)
    assert status == 200 and body == {"agents": []}
    status, body, _ = await _request(controller, "GET", "/api/session", headers=cookie)
    assert status == 200 and body["csrf_token"] == csrf
    # A forged write: the cookie rides along, but the page that sent it cannot know the CSRF token.
    status, body, _ = await _request(controller, "POST", "/api/join-tokens", headers=cookie, json={"ttl": "5m"})
    assert status == 403 and body["name"] == "X-CSRF-Token", body
    status, body, _ = await _request(controller, "POST", "/api/join-tokens", json={"ttl": "5m"},
                                     headers={**cookie, "X-CSRF-Token": "x" * 43})
    assert status == 403, body
    status, body, _ = await _request(controller, "POST", "/api/join-tokens", json={"ttl": "5m"},
                                     headers={**cookie, "X-CSRF-Token": csrf})
    assert status == 201 and body["token"], body
    # Another site's page is never authenticated by the cookie, even with the token.
    status, _, _ = await _request(controller, "GET", "/api/agents",
                                  headers={**cookie, "Origin": "https://evil.example"})
    assert status == 401


async def test_sign_in_refusals_and_sign_out(controller: ControllerUnderTest) -> None:
    status, body, _ = await _request(controller, "POST", "/api/session", json={"token": "0123456789abcdef." + "A" * 43})
    assert status == 401 and body["title"] == "Unauthorized", body
    status, body, _ = await _request(controller, "POST", "/api/session", json={})
    assert status == 400 and body["name"] == "token"
    status, _, _ = await _request(controller, "POST", "/api/session", json={"token": controller.token},
                                  headers={"Origin": "https://evil.example"})
    assert status == 403
    session_id, csrf, _ = await _sign_in(controller)
    cookie = {"Cookie": f"{COOKIE}={session_id}"}
    status, _, _ = await _request(controller, "DELETE", "/api/session", headers=cookie)
    assert status == 403  # signing out is a write too
    status, _, headers = await _request(controller, "DELETE", "/api/session", headers={**cookie, "X-CSRF-Token": csrf})
    assert status == 204 and COOKIE in headers["Set-Cookie"]
    status, _, _ = await _request(controller, "GET", "/api/agents", headers=cookie)
    assert status == 401
    assert not [k for k in await controller.store.keys() if ":session:" in k]


async def test_session_ends_with_an_expired_key(controller: ControllerUnderTest) -> None:
    session_id, _, _ = await _sign_in(controller)
    key_id = controller.token.split(".")[0]
    await controller.store.redis.hset(f"{controller.settings.redis_prefix}operator:{key_id}", "expires", "946684800")
    status, _, _ = await _request(controller, "GET", "/api/agents", headers={"Cookie": f"{COOKIE}={session_id}"})
    assert status == 401


async def test_whoami_with_a_bearer_token(controller: ControllerUnderTest) -> None:
    status, body, _ = await _request(controller, "GET", "/api/session", headers=controller.auth())
    assert status == 200 and body["auth"] == "bearer" and "csrf_token" not in body
    assert body["purpose"] == "tests" and body["role"] == "admin" and body["scope"] == {}


async def test_a_viewer_session_reads_but_cannot_write_and_revocation_ends_it(controller: ControllerUnderTest) -> None:
    from controller.auth.operators import create_key, revoke_key

    token, view = await create_key(controller.store, "console viewer", "viewer", {"env": "prod"}, 3600)
    status, body, headers = await _request(controller, "POST", "/api/session", json={"token": token})
    assert status == 201 and (body["role"], body["scope"], body["key_id"]) == ("viewer", {"env": "prod"}, view["id"])
    assert body["expires_on"] and body["session_expires_on"] <= body["expires_on"]
    cookie = SimpleCookie(headers["Set-Cookie"])[COOKIE]
    assert int(cookie["max-age"]) <= 3600  # the session ends with the key
    auth = {"Cookie": f"{COOKIE}={cookie.value}"}
    status, _, _ = await _request(controller, "GET", "/api/agents", headers=auth)
    assert status == 200
    job = {"action": "pool.recycle", "target": {"labels": {"env": "prod"}}, "params": {"name": "x"}}
    status, body, _ = await _request(controller, "POST", "/api/jobs", json=job,
                                     headers={**auth, "X-CSRF-Token": body["csrf_token"]})
    assert status == 403 and body["name"] == "role", body
    await revoke_key(controller.store, view["id"])
    status, _, _ = await _request(controller, "GET", "/api/agents", headers=auth)
    assert status == 401
