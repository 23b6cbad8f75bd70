"""Identity: single sign-on settings and SCIM 2.0 provisioning of an organisation's own users.

Single sign-on: an organisation's SSO settings, the e-mail domains it declares, and the one-time
values of sign-ins in flight (OIDC state and nonce, SAML request ids) and SAML responses already used."""
from __future__ import annotations

import peewee as pw

from .base import BaseModel, utcnow
from .org import Organisation, User

# SCIM


class ScimToken(BaseModel):
    """An organisation-scoped bearer token for ``/scim/v2`` (an IdP's provisioning client); only the SHA-256
    of its secret is kept. It reaches the organisation's own users and groups, nothing else."""
    organisation = pw.ForeignKeyField(Organisation, backref="scim_tokens", on_delete="CASCADE")
    name = pw.CharField(max_length=100, default="")
    token_hash = pw.CharField(max_length=64, unique=True)
    prefix = pw.CharField(max_length=12)
    created_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL", backref="+")
    created_at = pw.DateTimeField(default=utcnow)
    last_used_at = pw.DateTimeField(null=True)
    revoked_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("organisation", "revoked_at"), False),)


class ScimUser(BaseModel):
    """What the IdP said of a provisioned user, besides what the ``user`` row holds (e-mail, name, active):
    its ``userName`` (unique in the organisation, compared without case), ``externalId`` and the rest of its
    SCIM document, returned as given. ``deleted_at``: the IdP deleted it (the user stays, deactivated)."""
    user = pw.ForeignKeyField(User, backref="scim", unique=True, on_delete="CASCADE")
    organisation = pw.ForeignKeyField(Organisation, backref="+", on_delete="CASCADE")
    user_name = pw.CharField(max_length=254)
    user_name_key = pw.CharField(max_length=254)  # lower case: the uniqueness and the filter's key
    external_id = pw.CharField(max_length=254, null=True)
    document = pw.TextField(default="{}")
    version = pw.IntegerField(default=1)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)
    deleted_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("organisation", "user_name_key"), False),)


class ScimGroup(BaseModel):
    """A group the IdP provisions into the organisation: its ``displayName``, members (users of the same
    organisation) and the rest of its SCIM document."""
    organisation = pw.ForeignKeyField(Organisation, backref="+", on_delete="CASCADE")
    display_name = pw.CharField(max_length=254)
    external_id = pw.CharField(max_length=254, null=True)
    document = pw.TextField(default="{}")
    version = pw.IntegerField(default=1)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("organisation", "display_name"), False),)


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
    ip = pw.CharField(max_length=64, null=True)  # who started it: starts are limited per address

    class Meta:
        indexes = ((("ip", "created_at"), False),)


class SsoResponseSeen(BaseModel):
    """A SAML response (and assertion) id already accepted or refused: never accepted again."""
    config = pw.ForeignKeyField(SsoConfig, backref="+", on_delete="CASCADE")
    response_id = pw.CharField(max_length=255, unique=True)
    seen_at = pw.DateTimeField(default=utcnow, index=True)
    keep_until = pw.DateTimeField(null=True, index=True)  # NotOnOrAfter + skew; NULL: a day after seen_at
