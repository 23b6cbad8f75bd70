"""Organisations, users, API tokens and login attempts."""
from __future__ import annotations

import secrets

import peewee as pw

from .base import BaseModel, utcnow

ORG_KINDS = ("client", "provider", "audit_firm")
ROLES = ("client_admin", "risk_reviewer", "provider_admin", "provider_contributor", "auditor")
ROLE_ORG_KIND = {
    "client_admin": "client",
    "risk_reviewer": "client",
    "provider_admin": "provider",
    "provider_contributor": "provider",
    "auditor": "audit_firm",
}


def new_session_nonce() -> str:
    return secrets.token_hex(16)


class Organisation(BaseModel):
    name = pw.CharField(max_length=200, unique=True)
    kind = pw.CharField(max_length=20, choices=[(k, k) for k in ORG_KINDS])
    created_at = pw.DateTimeField(default=utcnow)


class User(BaseModel):
    email = pw.CharField(max_length=254, unique=True)
    password_hash = pw.CharField(max_length=255)
    role = pw.CharField(max_length=32, choices=[(r, r) for r in ROLES])
    organisation = pw.ForeignKeyField(Organisation, backref="users", on_delete="RESTRICT")
    full_name = pw.CharField(max_length=200, default="")
    active = pw.BooleanField(default=True)
    deactivated_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    last_login_at = pw.DateTimeField(null=True)
    # Part of the id kept in the session cookie (get_id); a new one (services.people.accounts.end_sessions, at
    # sign-out) makes every session cookie issued before it worthless.
    session_nonce = pw.CharField(max_length=32, default=new_session_nonce)

    # Flask-Login protocol, kept here so the model is the one place that knows it.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return bool(self.active)

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_nonce}"

    @property
    def side(self) -> str:
        return ROLE_ORG_KIND[self.role]


class ApiToken(BaseModel):
    user = pw.ForeignKeyField(User, backref="tokens", on_delete="CASCADE")
    name = pw.CharField(max_length=100, default="")
    token_hash = pw.CharField(max_length=64, unique=True)
    prefix = pw.CharField(max_length=12)
    created_at = pw.DateTimeField(default=utcnow)
    last_used_at = pw.DateTimeField(null=True)
    revoked_at = pw.DateTimeField(null=True)


class Invitation(BaseModel):
    """A one-time link to set a password (a new user's invitation); only the SHA-256 of its secret is kept."""
    user = pw.ForeignKeyField(User, backref="invitations", on_delete="CASCADE")
    token_hash = pw.CharField(max_length=64, unique=True)
    invited_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="sent_invitations")
    created_at = pw.DateTimeField(default=utcnow)
    expires_at = pw.DateTimeField()
    used_at = pw.DateTimeField(null=True)


class LoginAttempt(BaseModel):
    """Every login attempt; throttling counts recent failures here so it holds across processes."""
    email = pw.CharField(max_length=254, index=True)
    ip = pw.CharField(max_length=64, default="")
    at = pw.DateTimeField(default=utcnow)
    success = pw.BooleanField(default=False)

    class Meta:
        indexes = ((("email", "at"), False), (("ip", "at"), False))
