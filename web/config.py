"""Configuration from the environment only (SPEC §5), with the embedded defaults."""
from __future__ import annotations

import os
import secrets


def _secret_key(instance_path: str) -> str:
    """SECRET_KEY, or one generated on first start and kept in instance/."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = os.path.join(instance_path, "secret_key")
    os.makedirs(instance_path, exist_ok=True)
    try:  # O_EXCL: of several processes starting at once, exactly one writes the key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    with open(path) as handle:
        key = handle.read().strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable secret key; delete it or set SECRET_KEY")
    return key


def load_config(instance_path: str) -> dict:
    try:
        max_mb = int(os.environ.get("MAX_UPLOAD_MB", "100"))
    except ValueError:
        raise RuntimeError("MAX_UPLOAD_MB must be a whole number of megabytes") from None
    if max_mb < 1:
        raise RuntimeError("MAX_UPLOAD_MB must be at least 1")
    return {
        "DATABASE_URL": os.environ.get("DATABASE_URL", "sqlite:///" + os.path.join(instance_path, "attest.db")),
        "EVIDENCE_STORE": os.environ.get("EVIDENCE_STORE", os.path.join(instance_path, "evidence")),
        "SECRET_KEY": _secret_key(instance_path),
        "MAX_UPLOAD_MB": max_mb,
        "MAX_CONTENT_LENGTH": max_mb * 1024 * 1024 + 64 * 1024,  # room for the multipart envelope
        "SMTP_URL": os.environ.get("SMTP_URL", ""),
        "SCHEDULER": os.environ.get("SCHEDULER", "off"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("SESSION_COOKIE_SECURE", "1") != "0",
        "REMEMBER_COOKIE_SECURE": True,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "PERMANENT_SESSION_LIFETIME": 8 * 3600,
        "WTF_CSRF_TIME_LIMIT": None,
    }
