"""Refusals: wrong operator token, reused/expired/unknown join tokens, CSRs for other names, foreign certificates."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import aiohttp
import pytest

from agent.controller_link import ControllerLink
from agent.enrollment import EnrollmentError, enroll, gather_facts, new_identity
from agent.security.tls import create_self_signed
from shared.models import EnrollRequest, HostSummary
from tests.controller.conftest import ControllerUnderTest

API_KEY = "agent-api-key-that-must-not-leak-77"


async def _enroll(c: ControllerUnderTest, tmp: Path, name: str, token: str | None = None):  # type: ignore[no-untyped-def]
    return await enroll(
        tmp / name,
        c.url,
        token or await c.join_token(),
        name=name,
        url="https://127.0.0.2:9",
        api_key=API_KEY,
        facts=gather_facts(),
    )


@pytest.mark.parametrize(
    "header", ["Bearer nope", "Bearer 0123456789abcdef.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", ""]
)
async def test_wrong_operator_token_is_refused(controller: ControllerUnderTest, header: str) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/api/agents", "/metrics", "/api/prometheus/targets", "/api/agents/x/iis/api/webserver/websites"):
            async with http.get(
                controller.url + path, headers={"Authorization": header}, ssl=controller.client_ssl()
            ) as r:
                assert r.status == 401, path
                assert (await r.json())["title"] == "Unauthorized"


async def test_reused_join_token_is_refused_on_both_sides(controller: ControllerUnderTest, tmp_path: Path) -> None:
    token = await controller.join_token()
    await _enroll(controller, tmp_path, "a", token)
    with pytest.raises(EnrollmentError, match="already been used"):
        await _enroll(controller, tmp_path, "b", token)


async def test_expired_and_unknown_join_tokens_are_refused(controller: ControllerUnderTest, tmp_path: Path) -> None:
    token = await controller.join_token(ttl=0.2)
    await asyncio.sleep(0.4)
    with pytest.raises(EnrollmentError, match="unknown or has expired"):
        await _enroll(controller, tmp_path, "a", token)
    token_id, _secret, pin = (await controller.join_token()).split(".")
    forged = f"{token_id}.{'A' * 43}.{pin}"  # right id, wrong secret: refused, and the real token survives
    with pytest.raises(EnrollmentError, match="unknown or has expired"):
        await _enroll(controller, tmp_path, "b", forged)


async def test_join_token_pinning_another_ca_is_refused(controller: ControllerUnderTest, tmp_path: Path) -> None:
    token_id, secret, _pin = (await controller.join_token()).split(".")
    with pytest.raises(EnrollmentError, match="refusing to enroll"):
        await _enroll(controller, tmp_path, "a", f"{token_id}.{secret}.{'0' * 64}")


async def test_csr_for_another_agents_name_is_refused(controller: ControllerUnderTest, tmp_path: Path) -> None:
    await _enroll(controller, tmp_path, "web1")
    with pytest.raises(EnrollmentError, match="already enrolled"):
        await _enroll(controller, tmp_path, "web1")
    # A CSR naming web1 sent by an agent enrolling as web2.
    _key, csr = new_identity("web1")
    body = EnrollRequest(
        token=await controller.join_token(), name="web2", url="https://127.0.0.3:9", csr=csr, api_key=API_KEY
    )
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{controller.url}/api/enroll", data=body.model_dump_json(), ssl=controller.client_ssl()
        ) as r:
            assert r.status == 403
            assert "web1" in (await r.json())["detail"]
    # An enrolled agent renewing with a CSR for someone else's name.
    web3 = await _enroll(controller, tmp_path, "web3")
    link = ControllerLink(web3, lambda: (gather_facts(), HostSummary()))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=link.client_ssl)) as session:
        async with session.post(f"{controller.url}/api/agent/renew", json={"csr": new_identity("web1")[1]}) as r:
            assert r.status == 403


async def test_enrollment_hides_taken_names_without_a_valid_token(controller: ControllerUnderTest,
                                                                 tmp_path: Path) -> None:
    """Security review: a name clash (409) was answered before the join token was checked."""
    await _enroll(controller, tmp_path, "web1")
    token_id, _secret, pin = (await controller.join_token()).split(".")
    for name in ("web1", "nobody"):  # taken or not: the same refusal for a forged token
        with pytest.raises(EnrollmentError, match="unknown or has expired"):
            await _enroll(controller, tmp_path, name, f"{token_id}.{'A' * 43}.{pin}")
    # With a valid token the clash is reported, and the token stays usable for another name.
    token = await controller.join_token()
    with pytest.raises(EnrollmentError, match="already enrolled"):
        await _enroll(controller, tmp_path, "web1", token)
    assert (await _enroll(controller, tmp_path, "web2", token)).name == "web2"


async def test_client_certificate_not_signed_by_ca_is_refused(controller: ControllerUnderTest, tmp_path: Path) -> None:
    create_self_signed(tmp_path / "rogue.crt", tmp_path / "rogue.key", ["web1"])
    context = controller.client_ssl()
    context.load_cert_chain(tmp_path / "rogue.crt", tmp_path / "rogue.key")
    async with aiohttp.ClientSession() as http:
        with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
            async with http.post(f"{controller.url}/api/agent/heartbeat", json={}, ssl=context) as r:
                await r.read()
        # Without any certificate the agent routes answer 403.
        async with http.post(f"{controller.url}/api/agent/heartbeat", json={}, ssl=controller.client_ssl()) as r:
            assert r.status == 403


async def test_credentials_in_redis_are_not_plaintext(controller: ControllerUnderTest, tmp_path: Path) -> None:
    await _enroll(controller, tmp_path, "web1")
    join = await controller.join_token()
    secrets = [API_KEY, controller.token, controller.token.split(".")[1], join.split(".")[1]]
    redis = controller.store.redis
    dump = []
    for key in await controller.store.keys():
        kind = await redis.type(key)
        if kind == "string":
            dump.append(await redis.get(key))
        elif kind == "hash":
            dump.extend(f"{k}={v}" for k, v in (await redis.hgetall(key)).items())
        elif kind == "set":
            dump.extend(await redis.smembers(key))
        elif kind == "zset":
            dump.extend(await redis.zrange(key, 0, -1))
        elif kind == "stream":
            dump.extend(str(entry) for entry in await redis.xrange(key))
    text = "\n".join(dump)
    assert "api_key=[enc:IisFleetFernet:" in text
    for secret in secrets:
        assert secret not in text
