"""Secrets kept at rest (webhook signing secrets, SSO client secrets): Fernet ciphertext under a key derived
from the application's ``SECRET_KEY`` with HKDF-SHA256, one key per purpose so that a ciphertext of one
purpose never opens as another's."""
from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class Unreadable(Exception):
    """The ciphertext was not made under this SECRET_KEY and purpose (the key changed since it was stored)."""


def _fernet(secret_key: str, purpose: bytes) -> Fernet:
    if not secret_key:
        raise RuntimeError("no SECRET_KEY to derive the key of stored secrets from")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"attest secrets at rest: " + purpose)
    return Fernet(base64.urlsafe_b64encode(key.derive(secret_key.encode())))


def seal(plain: str, secret_key: str, purpose: bytes) -> str:
    return _fernet(secret_key, purpose).encrypt(plain.encode()).decode("ascii")


def unseal(token: str, secret_key: str, purpose: bytes) -> str:
    try:
        return _fernet(secret_key, purpose).decrypt(token.encode()).decode()
    except InvalidToken:
        raise Unreadable("a stored secret cannot be read: SECRET_KEY changed since it was stored") from None
