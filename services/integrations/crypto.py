"""Secrets kept at rest encrypted (webhook signing secrets), with a key derived from ``SECRET_KEY``, and the
integration settings the application hands over at start-up (no Flask here)."""
from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HKDF_INFO = b"attest integrations: secrets at rest v1"


@dataclass
class Settings:
    secret_key: str = ""
    allow_private: bool = False  # WEBHOOK_ALLOW_PRIVATE: loopback, private and link-local endpoints (and http://)


settings = Settings()


def configure(secret_key: str, *, allow_private: bool = False) -> None:
    """Called once by the application factory with its configuration."""
    settings.secret_key = secret_key
    settings.allow_private = allow_private


def _fernet() -> Fernet:
    if not settings.secret_key:
        raise RuntimeError("integrations are not configured: no SECRET_KEY")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(settings.secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    """The plain text; RuntimeError when SECRET_KEY changed since it was encrypted."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise RuntimeError("a stored secret cannot be decrypted: SECRET_KEY changed since it was stored") from None
