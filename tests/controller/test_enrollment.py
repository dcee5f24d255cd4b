"""Enrollment, registry routes, heartbeats, renewal and revocation against a real controller and Redis."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from agent.controller_link import ControllerLink, Refused, backoff, renew_due
from agent.enrollment import Enrollment, EnrollmentError, enroll, gather_facts
from shared.models import HostSummary, PoolSummary, SiteSummary
from tests.controller.conftest import ControllerUnderTest

API_KEY = "agent-api-key-for-the-controller-0001"


async def _enroll(c: ControllerUnderTest, tmp: Path, name: str, labels: dict[str, str] | None = None) -> Enrollment:
    token = await c.join_token(labels)
    return await enroll(
        tmp / name, c.url, token, name=name, url="https://127.0.0.2:9", api_key=API_KEY, facts=gather_facts()
    )


def _summary(requests: int, pool_status: str = "started") -> tuple:  # type: ignore[type-arg]
    return gather_facts(), HostSummary(
        sites=[SiteSummary(name="Default Web Site", status="started", requests_total=requests)],
        pools=[PoolSummary(name="DefaultAppPool", status=pool_status, requests_total=requests, worker_starts_total=1)],
    )


async def test_enroll_lists_agent_with_labels_and_facts(controller: ControllerUnderTest, tmp_path: Path) -> None:
    enrollment = await _enroll(controller, tmp_path, "web1", {"env": "prod"})
    assert (tmp_path / "web1" / "controller" / "enrollment.json").exists()
    assert Enrollment.load(tmp_path / "web1") == enrollment
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{controller.url}/api/agents", headers=controller.auth(), ssl=controller.client_ssl()
        ) as r:
            assert r.status == 200
            agents = (await r.json())["agents"]
    assert [(a["id"], a["name"], a["labels"], a["status"]) for a in agents] == [
        (enrollment.agent_id, "web1", {"env": "prod"}, "online")
    ]
    assert agents[0]["facts"]["os"] and agents[0]["last_seen"]


async def test_patch_get_delete(controller: ControllerUnderTest, tmp_path: Path) -> None:
    agent_id = (await _enroll(controller, tmp_path, "web1", {"env": "prod", "tier": "a"})).agent_id
    url, ssl_ctx = f"{controller.url}/api/agents/{agent_id}", controller.client_ssl()
    async with aiohttp.ClientSession(headers=controller.auth()) as http:
        async with http.patch(url, json={"labels": {"tier": None, "role": "web"}}, ssl=ssl_ctx) as r:
            assert r.status == 200
            assert (await r.json())["labels"] == {"env": "prod", "role": "web"}
        async with http.patch(url, json={"labels": {"__bad": "x"}}, ssl=ssl_ctx) as r:
            assert r.status == 400
        async with http.get(url, ssl=ssl_ctx) as r:
            assert (await r.json())["labels"] == {"env": "prod", "role": "web"}
        async with http.delete(url, ssl=ssl_ctx) as r:
            assert r.status == 204
        async with http.get(url, ssl=ssl_ctx) as r:
            assert r.status == 404


async def test_heartbeats_rates_offline_and_renewal(controller: ControllerUnderTest, tmp_path: Path) -> None:
    enrollment = await _enroll(controller, tmp_path, "web1")
    requests = 0

    def summary() -> tuple:  # type: ignore[type-arg]
        return _summary(requests)

    link = ControllerLink(enrollment, summary)
    first_cert = enrollment.identity_file.read_bytes()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=link.client_ssl)) as session:
        await link.heartbeat(session)
        await asyncio.sleep(0.2)
        requests = 100
        await link.heartbeat(session)
        await link.renew(session)
        assert enrollment.identity_file.read_bytes() != first_cert
        requests = 150
        await link.heartbeat(session)  # the renewed certificate is accepted
    assert link.interval == controller.settings.heartbeat_interval
    async with aiohttp.ClientSession(headers=controller.auth()) as http:
        async with http.get(f"{controller.url}/metrics", ssl=controller.client_ssl()) as r:
            text = await r.text()
    assert 'iisfleet_agents{status="online"} 1.0' in text
    assert 'iisfleet_fleet_app_pools{state="started"} 1.0' in text
    rate_line = next(line for line in text.splitlines() if line.startswith("iisfleet_fleet_site_requests_per_second"))
    assert float(rate_line.split()[-1]) > 0
    await asyncio.sleep(controller.settings.offline_after + 0.3)
    agents = await _agents(controller)
    assert agents[0]["status"] == "offline"


async def test_revoked_agent_is_refused(controller: ControllerUnderTest, tmp_path: Path) -> None:
    enrollment = await _enroll(controller, tmp_path, "web1")
    link = ControllerLink(enrollment, lambda: _summary(0))
    async with aiohttp.ClientSession(headers=controller.auth()) as http:
        async with http.delete(f"{controller.url}/api/agents/{enrollment.agent_id}", ssl=controller.client_ssl()) as r:
            assert r.status == 204
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=link.client_ssl)) as session:
        with pytest.raises(Refused, match="revoked"):
            await link.heartbeat(session)
    await asyncio.wait_for(link.run(), timeout=10)  # run() ends by itself once refused


async def test_restart_reuses_saved_enrollment(controller: ControllerUnderTest, tmp_path: Path) -> None:
    from agent.enrollment import ensure_enrolled

    first = await ensure_enrolled(
        tmp_path / "a",
        controller.url,
        await controller.join_token(),
        name="a",
        url="https://127.0.0.2:9",
        facts=gather_facts(),
    )
    again = await ensure_enrolled(
        tmp_path / "a", controller.url, None, name="a", url="https://127.0.0.2:9", facts=gather_facts()
    )
    assert again == first
    assert len(await _agents(controller)) == 1
    with pytest.raises(EnrollmentError, match="not enrolled yet"):
        await ensure_enrolled(
            tmp_path / "b", controller.url, None, name="b", url="https://127.0.0.2:9", facts=gather_facts()
        )


def test_renew_due_at_two_thirds(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from controller.pki import CertificateAuthority

    ca = CertificateAuthority(tmp_path)
    issued = ca.sign(ec.generate_private_key(ec.SECP256R1()).public_key(), "a", [], timedelta(hours=3))
    now = datetime.now(UTC)
    assert not renew_due(issued.pem.encode(), now + timedelta(hours=1))
    assert renew_due(issued.pem.encode(), now + timedelta(hours=2, minutes=1))


def test_backoff_is_full_jitter_and_capped() -> None:
    samples = [backoff(attempt) for attempt in range(1, 40) for _ in range(20)]
    assert all(0 <= s <= 60 for s in samples)
    assert max(backoff(1) for _ in range(200)) <= 2
    assert len({round(s, 3) for s in samples}) > 100  # spread out, not synchronised


async def _agents(c: ControllerUnderTest) -> list[dict]:  # type: ignore[type-arg]
    async with aiohttp.ClientSession(headers=c.auth()) as http:
        async with http.get(f"{c.url}/api/agents", ssl=c.client_ssl()) as r:
            return list((await r.json())["agents"])
