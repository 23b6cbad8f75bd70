"""Configuration from the environment only (SPEC §5), with the embedded defaults."""
from __future__ import annotations

import contextlib
import os
import secrets
import tempfile

from services.messages.mail import DEFAULT_BASE_URL


def _secret_key(instance_path: str) -> str:
    """SECRET_KEY, or one generated on first start and kept in instance/."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = os.path.join(instance_path, "secret_key")
    os.makedirs(instance_path, exist_ok=True)
    if not os.path.exists(path):
        # Written in full to a private temporary file, then linked to its name: os.link() is atomic and
        # refuses to replace, so another process starting at the same moment sees either no key file or
        # a complete one, never an empty one, and of several racing processes exactly one key wins.
        fd, temporary = tempfile.mkstemp(prefix=".secret_key.", dir=instance_path)  # mode 0600
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another process won: use its key
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    with open(path) as handle:
        key = handle.read().strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable secret key; delete it or set SECRET_KEY")
    return key


def _trusted_proxies() -> int:
    """TRUSTED_PROXIES=N: the app runs behind N reverse proxies that each append the address they saw to
    X-Forwarded-For, so the client address is the Nth entry from the right. Unset or 0 (the default):
    X-Forwarded-For is ignored, since anyone can send one, and the socket's peer address is used
    (it matters: the per-address sign-in lock counts failures by it)."""
    value = os.environ.get("TRUSTED_PROXIES", "").strip() or "0"
    if not (value.isascii() and value.isdigit()):
        raise RuntimeError("TRUSTED_PROXIES must be the number of reverse proxies in front of the app (0 or more)")
    return int(value)


def load_config(instance_path: str) -> dict:
    try:
        max_mb = int(os.environ.get("MAX_UPLOAD_MB", "100"))
    except ValueError:
        raise RuntimeError("MAX_UPLOAD_MB must be a whole number of megabytes") from None
    if max_mb < 1:
        raise RuntimeError("MAX_UPLOAD_MB must be at least 1")
    try:
        pack_embed_mb = float(os.environ.get("PACK_EMBED_MAX_MB", "50"))
    except ValueError:
        raise RuntimeError("PACK_EMBED_MAX_MB must be a number of megabytes") from None
    if pack_embed_mb < 0:
        raise RuntimeError("PACK_EMBED_MAX_MB must be 0 or more")
    return {
        "DATABASE_URL": os.environ.get("DATABASE_URL", "sqlite:///" + os.path.join(instance_path, "attest.db")),
        "EVIDENCE_STORE": os.environ.get("EVIDENCE_STORE", os.path.join(instance_path, "evidence")),
        "SECRET_KEY": _secret_key(instance_path),
        "MAX_UPLOAD_MB": max_mb,
        "MAX_CONTENT_LENGTH": max_mb * 1024 * 1024 + 64 * 1024,  # room for the multipart envelope
        "SMTP_URL": os.environ.get("SMTP_URL", ""),
        "MAIL_CONSOLE": os.environ.get("MAIL_CONSOLE", "0") == "1",  # make run: each mail on the console at once
        "PACK_EMBED_MAX_MB": pack_embed_mb,
        "BASE_URL": (os.environ.get("BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),  # the address in e-mailed links
        "SCHEDULER": os.environ.get("SCHEDULER", "off"),
        # endpoints on loopback, private or link-local addresses (and plain http://): for tests only
        "WEBHOOK_ALLOW_PRIVATE": os.environ.get("WEBHOOK_ALLOW_PRIVATE", "").strip().lower() in ("1", "true", "yes"),
        # the CAs webhook endpoints' certificates must chain to, instead of the system's (a bank's own CA)
        "WEBHOOK_CA_BUNDLE": os.environ.get("WEBHOOK_CA_BUNDLE", "").strip(),
        "TRUSTED_PROXIES": _trusted_proxies(),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("SESSION_COOKIE_SECURE", "1") != "0",
        "REMEMBER_COOKIE_SECURE": True,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "PERMANENT_SESSION_LIFETIME": 8 * 3600,
        "SESSION_ABSOLUTE_SECONDS": 8 * 3600,  # from sign-in, however busy the session (web/auth.py)
        "SESSION_REFRESH_EACH_REQUEST": False,  # the cookie's expiry does not slide either
        "WTF_CSRF_TIME_LIMIT": None,
    }
