"""`iisfleet controller scrape-credentials create|list|revoke`: Prometheus's certificate for the whole fleet."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from controller.settings import ControllerSettings, SettingsError, parse_duration
from controller.store import FleetStore

if TYPE_CHECKING:
    from controller.services.scrape_credentials import ScrapeCredential

Common = Callable[[argparse.ArgumentParser], None]
Settings = Callable[[argparse.Namespace], ControllerSettings]
WithStore = Callable[[ControllerSettings, Callable[[FleetStore], Awaitable[str]]], str]


def add_scrape_commands(
    csub: argparse._SubParsersAction[argparse.ArgumentParser], common: Common, settings: Settings, with_store: WithStore
) -> None:
    """Register the three commands under `controller` (the controller CLI passes its shared helpers)."""
    parser = csub.add_parser("scrape-credentials", help="Prometheus scrape credentials (metrics-role certificates)")
    sub = parser.add_subparsers(dest="scrape_command", required=True)

    create = sub.add_parser("create", help="write CA, client certificate + key and prometheus.yml into --out")
    common(create)
    create.add_argument("--out", type=Path, required=True, help="directory for the files (created, mode 0700)")
    create.add_argument("--controller-address", default="controller:55540", help="HOST:PORT Prometheus reaches")
    create.add_argument("--name", default="prometheus", help="the certificate's common name")
    create.add_argument("--ttl", default="365d", help="lifetime, e.g. 90d (default 365d)")
    create.set_defaults(func=lambda args: _create(args, settings(args), with_store))

    listing = sub.add_parser("list", help="valid scrape credentials as JSON, by serial")
    common(listing)
    listing.set_defaults(func=lambda args: _list(settings(args), with_store))

    revoke = sub.add_parser("revoke", help="refuse a scrape credential (agents learn it at their next heartbeat)")
    common(revoke)
    revoke.add_argument("serial", help="the serial printed by create or list")
    revoke.set_defaults(func=lambda args: _revoke(args, settings(args), with_store))


def _create(args: argparse.Namespace, settings: ControllerSettings, with_store: WithStore) -> int:
    from controller.pki import CertificateAuthority
    from controller.prometheus_config import check_address
    from controller.services import scrape_credentials

    try:
        address = check_address(args.controller_address)
        ttl = timedelta(seconds=parse_duration(args.ttl))
    except (ValueError, SettingsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    ca = CertificateAuthority(settings.pki_dir)

    async def issue(store: FleetStore) -> str:
        credential = await scrape_credentials.create(store, ca, args.name, ttl)
        write_credential_dir(args.out.resolve(), ca.cert_pem, credential, address)
        return credential.certificate.serial

    out = args.out.resolve()
    return _report(settings, with_store, issue, lambda serial: f"scrape credential {serial} written to {out}", 2)


def _report(
    settings: ControllerSettings,
    with_store: WithStore,
    action: Callable[[FleetStore], Awaitable[str]],
    message: Callable[[str], str],
    failure: int,
) -> int:
    """Run `action` against the store; print `message` with its result, or the service error (exit `failure`)."""
    from controller.services.errors import ServiceError

    try:
        result = with_store(settings, action)
    except ServiceError as err:
        print(f"error: {err}", file=sys.stderr)
        return failure
    print(message(result))
    return 0


def write_credential_dir(out: Path, ca_pem: bytes, credential: ScrapeCredential, controller: str) -> None:
    """CA, certificate, key (0600) and prometheus.yml pointing at them, each written atomically."""
    from controller.prometheus_config import CA_FILE, CERT_FILE, KEY_FILE, PrometheusConfig, config_path
    from shared.fsutil import atomic_write_bytes, atomic_write_text

    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write_bytes(out / KEY_FILE, credential.key_pem, mode=0o600)
    atomic_write_bytes(out / CERT_FILE, credential.certificate.pem.encode(), mode=0o644)
    atomic_write_bytes(out / CA_FILE, ca_pem, mode=0o644)
    atomic_write_text(config_path(out), PrometheusConfig(directory=str(out), controller=controller).render())


def _list(settings: ControllerSettings, with_store: WithStore) -> int:
    async def scrapers(store: FleetStore) -> str:
        return json.dumps(await store.scrapers(), indent=2)

    print(with_store(settings, scrapers))
    return 0


def _revoke(args: argparse.Namespace, settings: ControllerSettings, with_store: WithStore) -> int:
    from controller.services import scrape_credentials

    async def revoke(store: FleetStore) -> str:
        await scrape_credentials.revoke(store, args.serial)
        return str(args.serial).strip().lower()

    return _report(settings, with_store, revoke, lambda serial: f"scrape credential {serial} revoked", 1)
