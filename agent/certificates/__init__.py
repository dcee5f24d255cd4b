"""The agent's certificate stores: PEM files (certificate + key) under `<state>/certificates/<store>/`."""

from __future__ import annotations

from agent.certificates.model import SERVER_AUTH, CertificateInfo, read_certificate
from agent.certificates.store import CertificateStores, StoreInfo

__all__ = ["SERVER_AUTH", "CertificateInfo", "CertificateStores", "StoreInfo", "read_certificate"]
