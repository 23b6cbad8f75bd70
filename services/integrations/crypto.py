"""Secrets kept at rest encrypted (webhook signing secrets), with a key derived from ``SECRET_KEY``, and the
integration settings the application hands over at start-up (no Flask here)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from domain import sealing


@dataclass
class Settings:
    secret_key: str = ""
    allow_private: bool = False  # WEBHOOK_ALLOW_PRIVATE: loopback, private and link-local endpoints (and http://)
    ca_bundle: str = ""  # WEBHOOK_CA_BUNDLE: a PEM file of the CAs endpoints' certificates must chain to


settings = Settings()


def configure(secret_key: str, *, allow_private: bool = False, ca_bundle: str = "") -> None:
    """Called once by the application factory with its configuration. A ``ca_bundle`` that is not a readable
    file stops the start (RuntimeError), rather than every delivery failing later."""
    if ca_bundle and not os.access(ca_bundle, os.R_OK):
        raise RuntimeError(f"WEBHOOK_CA_BUNDLE={ca_bundle} is not a readable file of PEM certificates")
    settings.secret_key = secret_key
    settings.allow_private = allow_private
    settings.ca_bundle = ca_bundle


PURPOSE = b"webhook signing secrets"


def encrypt(plain: str) -> str:
    return sealing.seal(plain, _secret_key(), PURPOSE)


def decrypt(token: str) -> str:
    """The plain text; RuntimeError when SECRET_KEY changed since it was encrypted."""
    try:
        return sealing.unseal(token, _secret_key(), PURPOSE)
    except sealing.Unreadable as exc:
        raise RuntimeError(str(exc)) from None


def _secret_key() -> str:
    if not settings.secret_key:
        raise RuntimeError("integrations are not configured: no SECRET_KEY")
    return settings.secret_key
