"""Identity: single sign-on settings and SCIM 2.0 provisioning of an organisation's own users."""
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
