"""Single sign-on: an organisation's SSO settings, the e-mail domains it declares, and the one-time
values of sign-ins in flight (OIDC state and nonce, SAML request ids) and SAML responses already used."""
from __future__ import annotations

import peewee as pw

from .base import BaseModel, utcnow
from .org import Organisation, User

SSO_PROTOCOLS = ("oidc", "saml")


class SsoConfig(BaseModel):
    """One organisation's single sign-on. ``client_secret_enc`` is Fernet ciphertext under a key derived
    from SECRET_KEY (services.identity.sso); it is never shown back."""
    organisation = pw.ForeignKeyField(Organisation, unique=True, on_delete="CASCADE", backref="sso")
    slug = pw.CharField(max_length=64, unique=True)
    protocol = pw.CharField(max_length=8, choices=[(p, p) for p in SSO_PROTOCOLS])
    enabled = pw.BooleanField(default=False)
    issuer = pw.CharField(max_length=500, default="")  # OIDC issuer, or the SAML IdP's entity id
    client_id = pw.CharField(max_length=255, default="")
    client_secret_enc = pw.TextField(default="")
    idp_metadata = pw.TextField(default="")  # SAML: the IdP's metadata XML
    default_role = pw.CharField(max_length=32, default="")
    group_claim = pw.CharField(max_length=100, default="")
    group_roles = pw.TextField(default="{}")  # JSON: {"group value": "role"}
    create_users = pw.BooleanField(default=False)
    password_allowed = pw.BooleanField(default=False)
    updated_at = pw.DateTimeField(default=utcnow)
    updated_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")


class SsoDomain(BaseModel):
    """An e-mail domain an organisation declares it owns (the admin's declaration, recorded): unique, so
    that no two organisations can route or sign in the same addresses."""
    config = pw.ForeignKeyField(SsoConfig, backref="domains", on_delete="CASCADE")
    domain = pw.CharField(max_length=253, unique=True)
    declared_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    declared_at = pw.DateTimeField(default=utcnow)


class SsoFlow(BaseModel):
    """A sign-in sent to an IdP and not yet back: OIDC ``state`` (hashed), ``nonce`` and PKCE verifier, or
    the SAML AuthnRequest id. Spent (``used_at``) by the first answer; a replay finds it spent."""
    config = pw.ForeignKeyField(SsoConfig, backref="flows", on_delete="CASCADE")
    key = pw.CharField(max_length=64, unique=True)  # SHA-256 of the OIDC state, or the SAML request id
    nonce = pw.CharField(max_length=64, default="")
    code_verifier = pw.CharField(max_length=128, default="")
    next_path = pw.CharField(max_length=500, default="")
    test_only = pw.BooleanField(default=False)  # the settings page's "test sign-in": checks, signs nobody in
    created_at = pw.DateTimeField(default=utcnow, index=True)
    used_at = pw.DateTimeField(null=True)


class SsoResponseSeen(BaseModel):
    """A SAML response (and assertion) id already accepted or refused: never accepted again."""
    config = pw.ForeignKeyField(SsoConfig, backref="+", on_delete="CASCADE")
    response_id = pw.CharField(max_length=255, unique=True)
    seen_at = pw.DateTimeField(default=utcnow, index=True)
