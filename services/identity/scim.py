"""SCIM 2.0 provisioning (RFC 7643, RFC 7644; SPEC §10) of an organisation's own users and groups.

An identity provider holds an organisation-scoped bearer token (``ScimToken``); every operation takes the
organisation that token belongs to and touches only its users and groups: another organisation's id answers
exactly like a missing one (404). Parsing, patching and serialising are ``scim2-models``'; what Attest keeps:

- a user's e-mail (its sign-in name: ``userName`` when it is an address, else its primary e-mail), display
  name, role and ``active`` live on the ``user`` row; the rest of its SCIM document is kept as given and
  returned as given (``ScimUser``), so an IdP reads back what it wrote;
- ``active: false`` deactivates at once: the user's sessions end and its tokens and open links are revoked, in
  the same transaction (``services.people.users.end_access``); DELETE does the same and hides the resource
  (users are never deleted: the audit trail names them);
- a role comes from the ``roles`` values that name a role of the organisation's side, else the side's least
  privileged role (``DEFAULT_ROLE``); a value naming another side's role is refused (400 ``invalidValue``,
  recorded as ``scim.refused``), never granted; values that name no Attest role are ignored;
- group membership maps to roles through the organisation's group → role map, the one OIDC and SAML sign-ins
  use (``SsoConfig.group_roles``, keyed by the group's ``displayName``): when a mapped group is written or
  deleted, each user it held or holds gets the highest role its mapped groups give, or the organisation's
  default role when it is in none any more (``user.role_change``, ``by: scim group map``). A group whose
  name maps to another side's role is refused like such a ``roles`` value.

Every write records an audit event (actor ``scim:<token prefix>``) in its transaction.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import peewee as pw
import pydantic
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    ETag,
    Filter,
    Group,
    InvalidFilterException,
    InvalidValueException,
    ListResponse,
    NotFoundException,
    Patch,
    PatchOp,
    ResourceType,
    ResponseParameters,
    SCIMException,
    ServiceProviderConfig,
    Sort,
    UniquenessException,
    User,
)

from domain.errors import Conflict, NotFound
from domain.names import clean_name
from models import ROLE_ORG_KIND, Organisation, ScimGroup, ScimToken, ScimUser, serialise_writers, transaction, utcnow
from models import User as Account
from services import scope
from services.audit import audit_log
from services.people.accounts import normalise_email
from services.people.users import end_access

from . import sso

DEFAULT_ROLE = {"client": "risk_reviewer", "provider": "provider_contributor", "audit_firm": "auditor"}
MAX_RESULTS = 200
TOUCH_EVERY = dt.timedelta(minutes=1)
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
FILTER = re.compile(r'^\s*(userName|externalId|displayName|id)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)
MAX_TOKENS = 10


# ------------------------------------------------------------------------------------------ tokens

@dataclass(frozen=True)
class Caller:
    """Who is provisioning: the token's organisation, and the name its audit events carry."""
    organisation: Organisation
    token_id: int
    actor: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_token(organisation_id: int, name: str, created_by: int | None) -> tuple[ScimToken, str]:
    secret = "scim_" + secrets.token_urlsafe(32)
    row = ScimToken.create(organisation=organisation_id, name=name, token_hash=_hash(secret), prefix=secret[:12],
                           created_by=created_by, created_at=utcnow())
    return row, secret


def list_tokens(admin: Account):
    scope.require_user_admin(admin)
    return (ScimToken.select().where(ScimToken.organisation == admin.organisation_id)
            .order_by(ScimToken.revoked_at.is_null(False), ScimToken.created_at.desc(), ScimToken.id.desc()))


def create_token(admin: Account, name: object, *, ip: str = "") -> tuple[ScimToken, str]:
    """A new SCIM token of the admin's organisation and its secret (shown this once)."""
    scope.require_user_admin(admin)
    name = clean_name(name, "name", limit=100)
    with transaction():
        live = list_tokens(admin).where(ScimToken.revoked_at.is_null())
        if live.where(ScimToken.name == name).exists():
            raise Conflict(f"a live SCIM token is already named {name!r}; pick another name", field="name")
        if live.count() >= MAX_TOKENS:
            raise Conflict(f"at most {MAX_TOKENS} live SCIM tokens; revoke one first")
        row, secret = _new_token(admin.organisation_id, name, admin.id)
        audit_log.record("scim.token.create", actor=admin, object_type="scim_token", object_id=row.id, ip=ip,
                         details={"name": name, "prefix": row.prefix})
    return row, secret


def create_token_for(organisation_name: str, name: str = "cli") -> str:
    """``flask --app app create-scim-token --org O``: the secret of a new token of that organisation."""
    with transaction():
        organisation = Organisation.get_or_none(Organisation.name == (organisation_name or "").strip())
        if organisation is None:
            raise NotFound(f"no organisation {organisation_name!r}")
        row, secret = _new_token(organisation.id, name, None)
        audit_log.record("scim.token.create", actor_email="cli", object_type="scim_token", object_id=row.id,
                         details={"name": name, "prefix": row.prefix, "organisation": organisation.name})
    return secret


def revoke_token(admin: Account, token_id: int | str, *, ip: str = "") -> ScimToken:
    with transaction():
        try:
            key = int(token_id)
        except (TypeError, ValueError):
            key = 0
        token = list_tokens(admin).where(ScimToken.id == key).first()
        if token is None:
            raise NotFound("SCIM token not found")
        if token.revoked_at is None:
            ScimToken.update(revoked_at=utcnow()).where(ScimToken.id == token.id).execute()
            audit_log.record("scim.token.revoke", actor=admin, object_type="scim_token", object_id=token.id, ip=ip,
                             details={"name": token.name, "prefix": token.prefix})
    return ScimToken.get_by_id(token.id)


def caller_for(secret: str) -> Caller | None:
    """The organisation a live token provisions; None for an unknown or revoked one."""
    if not secret or len(secret) > 200:
        return None
    token = ScimToken.get_or_none(ScimToken.token_hash == _hash(secret), ScimToken.revoked_at.is_null())
    if token is None:
        return None
    now = utcnow()
    if token.last_used_at is None or token.last_used_at < now - TOUCH_EVERY:
        with transaction():
            ScimToken.update(last_used_at=now).where(ScimToken.id == token.id).execute()
    return Caller(Organisation.get_by_id(token.organisation_id), token.id, f"scim:{token.prefix}")


# ------------------------------------------------------------------------------------------ documents

def _stamp(value: dt.datetime) -> str:
    return value.replace(tzinfo=dt.UTC).isoformat(timespec="seconds")


def _meta(kind: str, key: int, created: dt.datetime, updated: dt.datetime, version: int, base: str) -> dict:
    return {"resourceType": kind, "created": _stamp(created), "lastModified": _stamp(updated),
            "location": f"{base}/{kind}s/{key}", "version": f'W/"{version}"'}


def user_document(account: Account, row: ScimUser | None, base: str) -> dict:
    """The SCIM User of an account: what the IdP wrote, with what Attest holds laid over it."""
    doc = json.loads(row.document) if row else {}
    created = row.created_at if row else account.created_at
    updated = row.updated_at if row else account.created_at
    said_active = not row or "active" in doc
    doc.update({"schemas": doc.get("schemas") or [User.__schema__], "id": str(account.id),
                "userName": row.user_name if row else account.email,
                "meta": _meta("User", account.id, created, updated, row.version if row else 1, base)})
    if said_active:
        doc["active"] = bool(account.active)
    if not row:
        doc.update({"emails": [{"value": account.email, "primary": True}], "displayName": account.full_name or None,
                    "roles": [{"value": account.role, "primary": True}]})
    if row and row.external_id:
        doc["externalId"] = row.external_id
    return {k: v for k, v in doc.items() if v is not None}


def group_document(group: ScimGroup, base: str) -> dict:
    doc = json.loads(group.document)
    doc.update({"schemas": doc.get("schemas") or [Group.__schema__], "id": str(group.id),
                "displayName": group.display_name,
                "meta": _meta("Group", group.id, group.created_at, group.updated_at, group.version, base)})
    for member in doc.get("members") or []:
        member["$ref"] = f"{base}/Users/{member.get('value')}"
    if group.external_id:
        doc["externalId"] = group.external_id
    return doc


def render(document: dict, kind: type[User] | type[Group], params: ResponseParameters | None = None) -> dict:
    """A stored document as the response says (``attributes``/``excludedAttributes`` honoured)."""
    model = kind.model_validate(document, scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    return model.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=params)


def _parse(kind: type[User] | type[Group], payload: object, context: Context) -> Any:
    if not isinstance(payload, dict):
        raise InvalidValueException(detail="expected a JSON object")
    try:
        return kind.model_validate(payload, scim_ctx=context)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidValueException(detail=f"{where}: {first.get('msg')}".strip(": ")) from None


def _stored(model: User | Group) -> dict:
    """What is kept of a document: everything but the server's own fields and the password."""
    doc = model.model_dump(scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
    for key in ("id", "meta", "password", "groups"):
        doc.pop(key, None)
    return doc


# ------------------------------------------------------------------------------------------ users

@dataclass
class Facts:
    """What a User document means for the account."""
    user_name: str
    email: str
    full_name: str
    active: bool | None
    role: str | None
    external_id: str | None


def _facts(model: User, organisation: Organisation) -> Facts:
    user_name = (model.user_name or "").strip()
    if not user_name or len(user_name) > 254:
        raise InvalidValueException(detail="userName is required (at most 254 characters)")
    emails = list(model.emails or [])
    addresses = [user_name] + [e.value for e in sorted(emails, key=lambda e: not e.primary) if e.value]
    email = next((normalise_email(a) for a in addresses if a and EMAIL.match(a.strip()) and len(a) <= 254), None)
    if email is None:  # an account needs an address: one that reaches no one and no organisation owns
        digest = hashlib.sha256(f"{organisation.id}:{user_name.lower()}".encode()).hexdigest()[:24]
        email = f"scim-{organisation.id}-{digest}@users.invalid"
    name = model.name
    full_name = (model.display_name or (name.formatted if name else None)
                 or " ".join(p for p in ((name.given_name, name.family_name) if name else ()) if p) or "")
    wanted = [r.value or r.display for r in (model.roles or [])]
    role = next((r for r in wanted if ROLE_ORG_KIND.get(r) == organisation.kind), None)
    # ``active`` left out (or removed) says nothing: the account keeps its state
    return Facts(user_name, email, full_name.strip()[:200], model.active, role,
                 (model.external_id or "").strip()[:254] or None)


def _visible_users(caller: Caller):
    """The organisation's accounts, with their SCIM row when they have one, less those the IdP deleted."""
    return (Account.select(Account, ScimUser)
            .join(ScimUser, join_type=pw.JOIN.LEFT_OUTER, on=(ScimUser.user == Account.id))
            .where(Account.organisation == caller.organisation.id, ScimUser.deleted_at.is_null()))


def _user(caller: Caller, user_id: str) -> tuple[Account, ScimUser | None]:
    try:
        key = int(user_id)
    except (TypeError, ValueError):
        key = 0
    account = _visible_users(caller).where(Account.id == key).first() if 0 < key < 2**63 else None
    if account is None:
        _refused(caller, "user", key, Account.select().where(Account.id == key).exists())
        raise NotFoundException(detail=f"User {user_id} not found")
    return account, (account.scimuser if _has_row(account) else None)


def _refused(caller: Caller, object_type: str, key: int, exists_elsewhere: bool) -> None:
    """A token reaching for another organisation's user or group: answered like a missing one, and recorded
    (an unknown id is not: that is a typo, not an attempt)."""
    if exists_elsewhere:
        with transaction():
            audit_log.record("scim.refused", actor_email=caller.actor, object_type=object_type, object_id=key,
                             details={"organisation": caller.organisation.id, "why": "another organisation's"})


def _has_row(account: Account) -> bool:
    row = getattr(account, "scimuser", None)
    return row is not None and row.id is not None


def _unique(caller: Caller, facts: Facts, account_id: int | None) -> None:
    taken = ScimUser.select().where(ScimUser.organisation == caller.organisation.id,
                                    ScimUser.user_name_key == facts.user_name.lower(), ScimUser.deleted_at.is_null())
    if account_id is not None:
        taken = taken.where(ScimUser.user != account_id)
    email_taken = Account.select().where(Account.email == facts.email)
    if account_id is not None:
        email_taken = email_taken.where(Account.id != account_id)
    if taken.exists() or email_taken.exists():
        raise UniquenessException(detail="a user with that userName or e-mail address already exists")


def _set_active(account: Account, active: bool, caller: Caller, now: dt.datetime) -> None:
    """Deactivation (or its reversal) at once: sessions, tokens and open links end in this transaction."""
    if bool(account.active) == active:
        return
    Account.update(active=active, deactivated_at=None if active else now).where(Account.id == account.id).execute()
    revoked = end_access(account)
    audit_log.record("user.reactivate" if active else "user.deactivate", actor_email=caller.actor,
                     object_type="user", object_id=account.id, details={"email": account.email, "via": "scim",
                                                                        "tokens_revoked": revoked})


def _refuse_other_side(caller: Caller, roles: list, what: str, object_type: str, key: int | None) -> None:
    """A role of the other side asked for (a ``roles`` value, or a group the map sends there): refused with
    400 ``invalidValue`` before anything is written, and recorded."""
    side = caller.organisation.kind
    other = next((r for r in roles if isinstance(r, str) and ROLE_ORG_KIND.get(r) not in (None, side)), None)
    if other is None:
        return
    with transaction():
        audit_log.record("scim.refused", actor_email=caller.actor, object_type=object_type, object_id=key,
                         details={"organisation": caller.organisation.id, "why": "role of the other side",
                                  "role": other, "asked_by": what[:254]})
    raise InvalidValueException(detail=f"{what} asks for {other}, a role of the {ROLE_ORG_KIND[other]} side; this "
                                       f"organisation is a {caller.organisation.kind}: refused")


def _user_roles(caller: Caller, model: User, key: int | None) -> None:
    _refuse_other_side(caller, [r.value or r.display for r in (model.roles or [])], "roles", "user", key)


def create_user(caller: Caller, payload: object, base: str) -> dict:
    model = _parse(User, payload, Context.RESOURCE_CREATION_REQUEST)
    _user_roles(caller, model, None)
    facts = _facts(model, caller.organisation)
    now = utcnow()
    with transaction():
        serialise_writers(f"scim-users:{caller.organisation.id}")
        _unique(caller, facts, None)
        active = facts.active is not False
        account = Account.create(email=facts.email, password_hash="", organisation=caller.organisation.id,
                                 role=facts.role or DEFAULT_ROLE[caller.organisation.kind], full_name=facts.full_name,
                                 active=active, deactivated_at=None if active else now, created_at=now)
        row = ScimUser.create(user=account.id, organisation=caller.organisation.id, user_name=facts.user_name,
                              user_name_key=facts.user_name.lower(), external_id=facts.external_id,
                              document=json.dumps(_stored(model)), created_at=now, updated_at=now)
        audit_log.record("scim.user.create", actor_email=caller.actor, object_type="user", object_id=account.id,
                         details={"email": account.email, "role": account.role, "active": facts.active})
    return user_document(account, row, base)


def _save_user(caller: Caller, account: Account, row: ScimUser | None, model: User, base: str, action: str) -> dict:
    _user_roles(caller, model, account.id)
    facts = _facts(model, caller.organisation)
    now = utcnow()
    with transaction():
        serialise_writers(f"scim-users:{caller.organisation.id}")
        _unique(caller, facts, account.id)
        changes = {"email": facts.email, "full_name": facts.full_name}
        if facts.role:
            changes["role"] = facts.role
        Account.update(changes).where(Account.id == account.id).execute()
        if facts.active is not None:
            _set_active(account, facts.active, caller, now)
        fields = {"user_name": facts.user_name, "user_name_key": facts.user_name.lower(),
                  "external_id": facts.external_id, "document": json.dumps(_stored(model)), "updated_at": now}
        if row is None:
            row = ScimUser.create(user=account.id, organisation=caller.organisation.id, created_at=account.created_at,
                                  **fields)
        else:
            ScimUser.update(version=ScimUser.version + 1, **fields).where(ScimUser.id == row.id).execute()
        audit_log.record(action, actor_email=caller.actor, object_type="user", object_id=account.id,
                         details={"email": facts.email, "role": changes.get("role", account.role),
                                  "active": facts.active})
    return user_document(Account.get_by_id(account.id), ScimUser.get_by_id(row.id), base)


def replace_user(caller: Caller, user_id: str, payload: object, base: str) -> dict:
    account, row = _user(caller, user_id)
    model = _parse(User, payload, Context.RESOURCE_REPLACEMENT_REQUEST)
    return _save_user(caller, account, row, model, base, "scim.user.replace")


def patch_user(caller: Caller, user_id: str, payload: object, base: str) -> dict:
    account, row = _user(caller, user_id)
    current = _parse(User, user_document(account, row, base), Context.RESOURCE_QUERY_RESPONSE)
    _apply_patch(User, current, payload)
    return _save_user(caller, account, row, current, base, "scim.user.patch")


def delete_user(caller: Caller, user_id: str) -> None:
    """The IdP deletes a user: deactivated at once and hidden from SCIM; the account stays for the trail."""
    account, row = _user(caller, user_id)
    now = utcnow()
    with transaction():
        _set_active(account, False, caller, now)
        if row is None:
            ScimUser.create(user=account.id, organisation=caller.organisation.id, user_name=account.email,
                            user_name_key=account.email.lower(), created_at=account.created_at, updated_at=now,
                            deleted_at=now)
        else:
            ScimUser.update(deleted_at=now, updated_at=now).where(ScimUser.id == row.id).execute()
        audit_log.record("scim.user.delete", actor_email=caller.actor, object_type="user", object_id=account.id,
                         details={"email": account.email})


def get_user(caller: Caller, user_id: str, base: str) -> dict:
    account, row = _user(caller, user_id)
    return user_document(account, row, base)


def _filter(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    match = FILTER.match(text)
    if match is None:
        raise InvalidFilterException(detail='supported filters: userName, externalId, displayName or id eq "value"')
    try:
        return match[1].lower(), json.loads(f'"{match[2]}"')
    except ValueError:
        raise InvalidFilterException(detail="the filter's value is not a valid JSON string") from None


def list_users(caller: Caller, filter_text: str | None, start: int, count: int, base: str) -> tuple[int, list[dict]]:
    query = _visible_users(caller)
    condition = _filter(filter_text)
    if condition:
        attribute, value = condition
        if attribute == "username":
            query = query.where((ScimUser.user_name_key == value.lower())
                                | (ScimUser.id.is_null() & (Account.email == value.strip().lower())))
        elif attribute == "externalid":
            query = query.where(ScimUser.external_id == value)
        elif attribute == "id":
            query = query.where(Account.id == (int(value) if value.isdigit() and len(value) < 19 else 0))
        else:
            raise InvalidFilterException(detail="displayName is a filter of Groups")
    total = query.count()
    rows = list(query.order_by(Account.id).offset(start - 1).limit(count)) if count else []
    return total, [user_document(a, a.scimuser if _has_row(a) else None, base) for a in rows]


# ------------------------------------------------------------------------------------------ groups

def _members(caller: Caller, model: Group) -> None:
    ids = [m.value for m in (model.members or [])]
    keys = {int(i) for i in ids if isinstance(i, str) and i.isdigit() and len(i) < 19}
    known = {a.id for a in _visible_users(caller).where(Account.id.in_(sorted(keys) or [0]))}
    unknown = [i for i in ids if not (isinstance(i, str) and i.isdigit() and len(i) < 19 and int(i) in known)]
    if unknown:
        raise InvalidValueException(detail=f"members must be users of this organisation: {unknown[0]!r} is not")


def _group(caller: Caller, group_id: str) -> ScimGroup:
    try:
        key = int(group_id)
    except (TypeError, ValueError):
        key = 0
    group = (ScimGroup.get_or_none(ScimGroup.id == key, ScimGroup.organisation == caller.organisation.id)
             if 0 < key < 2**63 else None)
    if group is None:
        _refused(caller, "scim_group", key, ScimGroup.select().where(ScimGroup.id == key).exists())
        raise NotFoundException(detail=f"Group {group_id} not found")
    return group


def _group_name(model: Group) -> str:
    name = (model.display_name or "").strip()
    if not name or len(name) > 254:
        raise InvalidValueException(detail="displayName is required (at most 254 characters)")
    return name


def _member_ids(document: str) -> set[int]:
    members = json.loads(document or "{}").get("members") or []
    return {int(m["value"]) for m in members if isinstance(m, dict) and str(m.get("value", "")).isdigit()}


def _group_role(caller: Caller, name: str, key: int | None) -> None:
    """Refuse a group the map sends to a role of the other side (the map is checked when saved; this
    catches one saved before the organisation's side was known, or a stale one)."""
    role = sso.group_map(sso.config_of(caller.organisation)).get(name)
    _refuse_other_side(caller, [role], f"group {name!r}", "scim_group", key)


def _remap_roles(caller: Caller, names: set[str], members: set[int]) -> None:
    """Inside a group write, after it: when one of the group's names (before, after) is in the organisation's
    group → role map, each of ``members`` (the group's members before and after) gets the role its mapped
    groups now give, or the default role when it is in none of them."""
    config = sso.config_of(caller.organisation)
    mapping = sso.group_map(config)
    if not members or not names & mapping.keys():
        return
    groups_of: dict[int, list[str]] = {}
    for name, document in (ScimGroup.select(ScimGroup.display_name, ScimGroup.document)
                           .where(ScimGroup.organisation == caller.organisation.id,
                                  ScimGroup.display_name.in_(sorted(mapping))).tuples()):
        for member in _member_ids(document) & members:
            groups_of.setdefault(member, []).append(name)
    fallback = config.default_role or DEFAULT_ROLE[caller.organisation.kind]
    for account in _visible_users(caller).where(Account.id.in_(sorted(members))):
        role = sso.mapped_role(config, caller.organisation, groups_of.get(account.id, [])) or fallback
        if role != account.role:
            Account.update(role=role).where(Account.id == account.id).execute()
            audit_log.record("user.role_change", actor_email=caller.actor, object_type="user", object_id=account.id,
                             details={"email": account.email, "role": [account.role, role], "by": "scim group map",
                                      "groups": sorted(groups_of.get(account.id, []))[:50]})


def create_group(caller: Caller, payload: object, base: str) -> dict:
    model = _parse(Group, payload, Context.RESOURCE_CREATION_REQUEST)
    name = _group_name(model)
    _group_role(caller, name, None)
    with transaction():
        serialise_writers(f"scim-groups:{caller.organisation.id}")
        _members(caller, model)
        now = utcnow()
        group = ScimGroup.create(organisation=caller.organisation.id, display_name=name,
                                 external_id=(model.external_id or None), document=json.dumps(_stored(model)),
                                 created_at=now, updated_at=now)
        audit_log.record("scim.group.create", actor_email=caller.actor, object_type="scim_group", object_id=group.id,
                         details={"name": name, "members": len(model.members or [])})
        _remap_roles(caller, {name}, _member_ids(group.document))
    return group_document(group, base)


def _save_group(caller: Caller, group: ScimGroup, model: Group, base: str, action: str) -> dict:
    name = _group_name(model)
    _group_role(caller, name, group.id)
    document = json.dumps(_stored(model))
    with transaction():
        serialise_writers(f"scim-groups:{caller.organisation.id}")  # two membership changes: one after the other
        before = ScimGroup.get_by_id(group.id)
        _members(caller, model)
        (ScimGroup.update(display_name=name, external_id=model.external_id or None, document=document,
                          updated_at=utcnow(), version=ScimGroup.version + 1).where(ScimGroup.id == group.id).execute())
        audit_log.record(action, actor_email=caller.actor, object_type="scim_group", object_id=group.id,
                         details={"name": name, "members": len(model.members or [])})
        _remap_roles(caller, {before.display_name, name}, _member_ids(before.document) | _member_ids(document))
    return group_document(ScimGroup.get_by_id(group.id), base)


def replace_group(caller: Caller, group_id: str, payload: object, base: str) -> dict:
    group = _group(caller, group_id)
    return _save_group(caller, group, _parse(Group, payload, Context.RESOURCE_REPLACEMENT_REQUEST), base,
                       "scim.group.replace")


def patch_group(caller: Caller, group_id: str, payload: object, base: str) -> dict:
    group = _group(caller, group_id)
    current = _parse(Group, group_document(group, base), Context.RESOURCE_QUERY_RESPONSE)
    _apply_patch(Group, current, payload)
    return _save_group(caller, group, current, base, "scim.group.patch")


def delete_group(caller: Caller, group_id: str) -> None:
    group = _group(caller, group_id)
    with transaction():
        serialise_writers(f"scim-groups:{caller.organisation.id}")
        group = ScimGroup.get_or_none(ScimGroup.id == group.id) or group  # its members as committed last
        ScimGroup.delete().where(ScimGroup.id == group.id).execute()
        audit_log.record("scim.group.delete", actor_email=caller.actor, object_type="scim_group", object_id=group.id,
                         details={"name": group.display_name})
        _remap_roles(caller, {group.display_name}, _member_ids(group.document))


def get_group(caller: Caller, group_id: str, base: str) -> dict:
    return group_document(_group(caller, group_id), base)


def list_groups(caller: Caller, filter_text: str | None, start: int, count: int, base: str) -> tuple[int, list[dict]]:
    query = ScimGroup.select().where(ScimGroup.organisation == caller.organisation.id)
    condition = _filter(filter_text)
    if condition:
        attribute, value = condition
        column = {"displayname": ScimGroup.display_name, "externalid": ScimGroup.external_id}.get(attribute)
        if attribute == "id":
            query = query.where(ScimGroup.id == (int(value) if value.isdigit() and len(value) < 19 else 0))
        elif column is None:
            raise InvalidFilterException(detail="userName is a filter of Users")
        else:
            query = query.where(column == value)
    total = query.count()
    rows = list(query.order_by(ScimGroup.id).offset(start - 1).limit(count)) if count else []
    return total, [group_document(g, base) for g in rows]


# ------------------------------------------------------------------------------------------ patch, lists, discovery

def _apply_patch(kind: type[User] | type[Group], current: User | Group, payload: object) -> None:
    if not isinstance(payload, dict):
        raise InvalidValueException(detail="expected a PatchOp JSON object")
    try:
        operation = PatchOp[kind].model_validate(payload, scim_ctx=Context.RESOURCE_PATCH_REQUEST)
        operation.patch(current)
    except SCIMException:
        raise
    except pydantic.ValidationError as exc:
        raise InvalidValueException(detail=str(exc.errors()[0].get("msg"))) from None
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:  # a path or value it cannot apply
        raise InvalidValueException(detail=f"the patch cannot be applied: {exc}"[:300]) from None


def list_response(total: int, start: int, documents: Iterable[dict], kind: type[User] | type[Group],
                  params: ResponseParameters | None) -> dict:
    resources = [render(d, kind, params) for d in documents]
    return {"schemas": [ListResponse.__schema__], "totalResults": total, "startIndex": start,
            "itemsPerPage": len(resources), "Resources": resources}


def service_provider_config(base: str) -> dict:
    config = ServiceProviderConfig(
        documentation_uri=None, patch=Patch(supported=True), bulk=Bulk(supported=False, max_operations=0,
                                                                       max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS), change_password=ChangePassword(supported=False),
        sort=Sort(supported=False), etag=ETag(supported=False),
        authentication_schemes=[AuthenticationScheme(type="oauthbearertoken", name="OAuth Bearer Token",
                                                     description="An organisation's SCIM token", primary=True)])
    doc = config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    doc["meta"] = {"resourceType": "ServiceProviderConfig", "location": f"{base}/ServiceProviderConfig"}
    return doc


def resource_types(base: str) -> list[dict]:
    out = []
    for kind in (User, Group):
        doc = ResourceType.from_resource(kind).model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        doc["meta"] = {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/{doc['id']}"}
        out.append(doc)
    return out


def schemas(base: str) -> list[dict]:
    out = []
    for kind in (User, Group):
        doc = kind.to_schema().model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        doc["meta"] = {"resourceType": "Schema", "location": f"{base}/Schemas/{doc['id']}"}
        out.append(doc)
    return out


def one_of(documents: list[dict], key: str) -> dict:
    for doc in documents:
        if doc["id"] == key:
            return doc
    raise NotFoundException(detail=f"{key} not found")

