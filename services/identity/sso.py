"""Single sign-on, whatever the protocol: an organisation's settings, which organisation's IdP an e-mail is
sent to, the flows in flight, and the last step of every sign-in (who the IdP vouched for, which user that
is, which role the groups give).

The rules that keep tenants apart live here, once, for OIDC and SAML alike:

- an e-mail domain belongs to at most one organisation (a unique row), and a domain with users of another
  organisation cannot be declared at all;
- an IdP signs in only addresses of its organisation's declared domains, and only users of its own
  organisation: an address that is another organisation's user is refused, whatever the IdP says;
- a deactivated user is refused even with a valid assertion;
- a group → role map grants only roles of the organisation's own side.

Every refusal is recorded in the audit trail (``auth.login_failed`` with ``method`` and ``reason``) and
changes nothing else. The client secret is kept as Fernet ciphertext under a key derived (HKDF-SHA256)
from SECRET_KEY, and never returned.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import secrets
import unicodedata
from collections.abc import Iterator
from typing import NoReturn
from urllib.parse import urlsplit

import peewee as pw
from argon2 import PasswordHasher
from peewee import IntegrityError

from domain import sealing
from domain.errors import Conflict, DomainError, ValidationError
from models import (
    ROLE_ORG_KIND,
    Organisation,
    SsoConfig,
    SsoDomain,
    SsoFlow,
    SsoResponseSeen,
    User,
    transaction,
    utcnow,
)
from models.identity import SSO_PROTOCOLS
from services import scope
from services.audit import audit_log
from services.people import accounts

FLOW_TTL = dt.timedelta(minutes=10)  # an IdP round trip takes seconds; a link kept longer is refused
STARTS_PER_ADDRESS = accounts.IP_FAILURES  # sign-ins started per client address in FLOW_TTL (a busy office)
PURGE_BATCH = 500
# a SAML response id is kept until its NotOnOrAfter plus this skew (our clock against the IdP's), at most
# REMEMBER_RESPONSES (an IdP's far-off NotOnOrAfter cannot keep rows for ever: a replay is refused anyway,
# its flow being spent), and REMEMBER_RESPONSES without a NotOnOrAfter
RESPONSE_SKEW = dt.timedelta(minutes=5)
REMEMBER_RESPONSES = dt.timedelta(days=1)
ROLE_RANK = {"client_admin": 2, "provider_admin": 2, "risk_reviewer": 1, "provider_contributor": 1, "auditor": 1}
DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
SETTINGS_FIELDS = ("protocol", "enabled", "issuer", "client_id", "client_secret", "idp_metadata", "domains",
                   "default_role", "group_claim", "group_roles", "create_users", "password_allowed")
_unusable = PasswordHasher()
log = logging.getLogger("attest.sso")


class SsoRefused(DomainError):
    """A sign-in the IdP answered but Attest refuses (or a flow that is spent, expired or unknown)."""
    status = 400
    code = "sso_refused"


# ------------------------------------------------------------------------------------------ the secret

PURPOSE = b"sso client secrets"


def encrypt_secret(secret: str, secret_key: str) -> str:
    return sealing.seal(secret, secret_key, PURPOSE)


def decrypt_secret(config: SsoConfig, secret_key: str) -> str:
    """The client secret in clear, for the token request only. A SECRET_KEY changed since it was saved
    cannot read it: the admin enters the secret again."""
    if not config.client_secret_enc:
        return ""
    try:
        return sealing.unseal(config.client_secret_enc, secret_key, PURPOSE)
    except sealing.Unreadable:
        raise SsoRefused("the organisation's client secret cannot be read (SECRET_KEY changed?): "
                         "its admin must enter it again") from None


# ------------------------------------------------------------------------------------------ settings

def config_of(organisation: Organisation) -> SsoConfig | None:
    return SsoConfig.get_or_none(SsoConfig.organisation == organisation.id)


def settings_for(admin: User, organisation_id: int | str) -> tuple[Organisation, SsoConfig | None]:
    organisation = scope.organisation_for_admin(admin, organisation_id)
    return organisation, config_of(organisation)


def settings_json(organisation: Organisation, config: SsoConfig | None) -> dict:
    """What the settings page and the API show: everything but the secret (only whether one is set)."""
    if config is None:
        return {"organisation_id": organisation.id, "configured": False, "enabled": False, "protocol": None,
                "slug": None, "issuer": "", "client_id": "", "client_secret_set": False, "idp_metadata": "",
                "domains": [], "default_role": "", "group_claim": "", "group_roles": {}, "create_users": False,
                "password_allowed": True, "login_path": None}
    domains = [d.domain for d in SsoDomain.select().where(SsoDomain.config == config.id).order_by(SsoDomain.domain)]
    return {"organisation_id": organisation.id, "configured": True, "enabled": config.enabled,
            "protocol": config.protocol, "slug": config.slug, "issuer": config.issuer, "client_id": config.client_id,
            "client_secret_set": bool(config.client_secret_enc), "idp_metadata": config.idp_metadata,
            "domains": domains, "default_role": config.default_role, "group_claim": config.group_claim,
            "group_roles": json.loads(config.group_roles or "{}"), "create_users": config.create_users,
            "password_allowed": config.password_allowed, "login_path": f"/sso/{config.slug}/login"}


def save_settings(admin: User, organisation_id: int | str, data: dict, *, secret_key: str, ip: str = "",
                  metadata_check=None) -> SsoConfig:
    """Create or replace the organisation's SSO settings (fields absent keep their value; an absent or empty
    ``client_secret`` keeps the stored one). A refused change changes nothing and is audited
    (``sso.settings_refused``). ``metadata_check`` parses SAML metadata (services.identity.saml)."""
    organisation, config = settings_for(admin, organisation_id)
    try:
        values, domains = _validated(organisation, config, data, metadata_check)
        with transaction():
            _check_domains_free(organisation, domains)
            config = _write(organisation, config, values, domains, admin=admin, secret_key=secret_key)
            audit_log.record("sso.settings", actor=admin, object_type="organisation", object_id=organisation.id,
                             ip=ip, details={"fields": sorted(k for k in data if k in SETTINGS_FIELDS),
                                             "domains": domains, "enabled": config.enabled,
                                             "protocol": config.protocol})
        return config
    except DomainError as exc:
        with transaction():
            audit_log.record("sso.settings_refused", actor=admin, object_type="organisation",
                             object_id=organisation.id, ip=ip, details={"reason": exc.message, "field": exc.field})
        raise


def _bool(data: dict, name: str, current: bool) -> bool:
    value = data.get(name, current)
    if not isinstance(value, bool):
        raise ValidationError(f"{name} must be true or false", field=name)
    return value


def _text(data: dict, name: str, current: str, limit: int) -> str:
    value = data.get(name, current)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string", field=name)
    value = value.strip()
    if len(value) > limit:
        raise ValidationError(f"{name} is longer than {limit} characters", field=name)
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value) and name != "idp_metadata":
        raise ValidationError(f"{name} contains an invisible or control character", field=name)
    return value


def _role(organisation: Organisation, role: object, field: str) -> str:
    if not isinstance(role, str) or ROLE_ORG_KIND.get(role) is None:
        raise ValidationError(f"{role!r} is not a role", field=field)
    if ROLE_ORG_KIND[role] != organisation.kind:
        raise ValidationError(f"{role} is a role of the {ROLE_ORG_KIND[role]} side; this organisation is a "
                              f"{organisation.kind}, so its users can only have its own side's roles", field=field)
    return role


def check_issuer(issuer: str, field: str = "issuer") -> str:
    """An https URL (plain http only to this machine, for a local IdP)."""
    try:
        parts = urlsplit(issuer)
    except ValueError:
        parts = None
    if parts is None or not parts.hostname or parts.scheme not in ("https", "http") or parts.query or parts.fragment \
            or (parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS):
        raise ValidationError(f"{field} must be an https:// URL without query or fragment", field=field)
    return issuer


def normalise_domain(value: object) -> str:
    domain = value.strip().lower().rstrip(".") if isinstance(value, str) else ""
    if not DOMAIN.match(domain):
        raise ValidationError(f"{value!r} is not an e-mail domain (e.g. bank.example)", field="domains")
    return domain


def _validated(organisation: Organisation, config: SsoConfig | None, data: dict,
               metadata_check) -> tuple[dict, list[str]]:
    unknown = sorted(set(data) - set(SETTINGS_FIELDS))
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(unknown)}", field=unknown[0])
    old = config or SsoConfig(protocol="oidc", group_roles="{}", password_allowed=True)
    protocol = data.get("protocol", old.protocol)
    if protocol not in SSO_PROTOCOLS:
        raise ValidationError("protocol must be oidc or saml", field="protocol")
    values = {
        "protocol": protocol,
        "enabled": _bool(data, "enabled", old.enabled),
        "issuer": _text(data, "issuer", old.issuer, 500),
        "client_id": _text(data, "client_id", old.client_id, 255),
        "idp_metadata": _text(data, "idp_metadata", old.idp_metadata, 200_000),
        "group_claim": _text(data, "group_claim", old.group_claim, 100),
        "create_users": _bool(data, "create_users", old.create_users),
        "password_allowed": _bool(data, "password_allowed", old.password_allowed),
    }
    default_role = _text(data, "default_role", old.default_role, 32)
    values["default_role"] = _role(organisation, default_role, "default_role") if default_role else ""
    roles = data.get("group_roles", json.loads(old.group_roles or "{}"))
    if not isinstance(roles, dict) or len(roles) > 100 or not all(isinstance(k, str) and 0 < len(k) <= 200
                                                                    for k in roles):
        raise ValidationError("group_roles must map group names to roles (at most 100)", field="group_roles")
    values["group_roles"] = json.dumps({k: _role(organisation, v, "group_roles") for k, v in roles.items()},
                                       sort_keys=True)
    secret = data.get("client_secret")
    if secret is not None and (not isinstance(secret, str) or len(secret) > 1000):
        raise ValidationError("client_secret must be a string", field="client_secret")
    values["client_secret"] = secret or None
    raw_domains = data.get("domains", [d.domain for d in old.domains] if config else [])
    if not isinstance(raw_domains, list) or len(raw_domains) > 50:
        raise ValidationError("domains must be a list of e-mail domains (at most 50)", field="domains")
    domains = sorted({normalise_domain(d) for d in raw_domains})
    if protocol == "oidc" and values["issuer"]:
        check_issuer(values["issuer"])
    if protocol == "saml" and values["idp_metadata"] and metadata_check is not None:
        values["issuer"] = metadata_check(values["idp_metadata"])  # the IdP's entity id, from its metadata
    if values["enabled"]:
        _check_complete(values, domains, has_secret=bool(secret or (config and config.client_secret_enc)))
    return values, domains


def _check_complete(values: dict, domains: list[str], *, has_secret: bool) -> None:
    if values["protocol"] == "oidc" and not (values["issuer"] and values["client_id"] and has_secret):
        raise ValidationError("OpenID Connect needs the issuer, the client id and the client secret", field="issuer")
    if values["protocol"] == "saml" and not values["idp_metadata"]:
        raise ValidationError("SAML needs the identity provider's metadata", field="idp_metadata")
    if not domains:
        raise ValidationError("declare at least one e-mail domain the organisation owns", field="domains")
    if values["create_users"] and not (values["default_role"] or values["group_roles"] != "{}"):
        raise ValidationError("creating users on first sign-in needs a default role or a group → role map",
                              field="default_role")


def _check_domains_free(organisation: Organisation, domains: list[str]) -> None:
    """No domain of another organisation's settings, and none with another organisation's users."""
    taken = (SsoDomain.select(SsoDomain.domain).join(SsoConfig)
             .where(SsoDomain.domain.in_(domains or [""]), SsoConfig.organisation != organisation.id).first())
    if taken:
        raise Conflict(f"{taken.domain} is declared by another organisation", field="domains")
    for domain in domains:
        others = User.select(User.id).where(User.email.endswith(f"@{domain}"), User.organisation != organisation.id)
        if others.exists():
            raise Conflict(f"{domain} has users of another organisation: it cannot be declared", field="domains")


def _slug(organisation: Organisation) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", unicodedata.normalize("NFKD", organisation.name).encode("ascii", "ignore")
                  .decode().lower()).strip("-")[:40] or "org"
    return base if not SsoConfig.select().where(SsoConfig.slug == base).exists() else f"{base}-{organisation.id}"


def _write(organisation: Organisation, config: SsoConfig | None, values: dict, domains: list[str], *,
           admin: User, secret_key: str) -> SsoConfig:
    secret = values.pop("client_secret")
    if config is None:
        config = SsoConfig(organisation=organisation, slug=_slug(organisation))
    for name, value in values.items():
        setattr(config, name, value)
    if secret:
        config.client_secret_enc = encrypt_secret(secret, secret_key)
    config.updated_at, config.updated_by = utcnow(), admin.id
    config.save()
    kept = {d.domain: d for d in SsoDomain.select().where(SsoDomain.config == config.id)}
    SsoDomain.delete().where(SsoDomain.config == config.id, SsoDomain.domain.not_in(domains or [""])).execute()
    for domain in domains:
        if domain not in kept:
            SsoDomain.create(config=config, domain=domain, declared_by=admin.id)
    return config


# ------------------------------------------------------------------------------------------ routing

def _domain_of(email: str) -> str:
    return email.rpartition("@")[2]


def enabled_config(organisation_id: int) -> SsoConfig | None:
    return SsoConfig.get_or_none(SsoConfig.organisation == organisation_id, SsoConfig.enabled == True)  # noqa: E712


def config_by_slug(slug: str) -> SsoConfig | None:
    if not isinstance(slug, str) or len(slug) > 64:
        return None
    return SsoConfig.get_or_none(SsoConfig.slug == slug, SsoConfig.enabled == True)  # noqa: E712


def route_for_email(email: str) -> SsoConfig | None:
    """The IdP an e-mail signs in with: its user's organisation's (when that has SSO on), or, for an address
    that is nobody's yet, the organisation that declared its domain. None: a password sign-in."""
    email = accounts.login_email(email)
    user = User.get_or_none(User.email == email)
    if user is not None:
        return enabled_config(user.organisation_id)
    domain = (SsoDomain.select().join(SsoConfig)
              .where(SsoDomain.domain == _domain_of(email), SsoConfig.enabled == True).first())  # noqa: E712
    return domain.config if domain else None


def password_sign_in(email: str, password: str, ip: str = "") -> accounts.SignIn:
    """A password sign-in, unless the user's organisation signs its users in through its IdP only: then
    refused (and audited) without the password being looked at."""
    email = accounts.login_email(email)
    user = User.get_or_none(User.email == email)
    config = enabled_config(user.organisation_id) if user is not None else None
    if config is not None and not config.password_allowed:
        with transaction():
            audit_log.record("auth.login_failed", actor_email=email, ip=ip, object_type="user", object_id=user.id,
                             details={"method": "password", "reason": "sso_required"})
        return accounts.SignIn(None)
    return accounts.sign_in(email, password, ip)


def password_refused(email: str) -> bool:
    user = User.get_or_none(User.email == accounts.login_email(email))
    config = enabled_config(user.organisation_id) if user is not None else None
    return config is not None and not config.password_allowed


# ------------------------------------------------------------------------------------------ flows

def flow_key(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class TooManyStarts(SsoRefused):
    status = 429
    code = "rate_limited"


def start_flow(config: SsoConfig, *, key: str, nonce: str = "", code_verifier: str = "", next_path: str = "",
               test_only: bool = False, ip: str = "") -> SsoFlow:
    """Record a sign-in sent to the IdP. At most ``STARTS_PER_ADDRESS`` per client address within a flow's
    lifetime, so a flood of starts cannot fill the table (expired flows are purged by the scheduler pass).
    Not audited when refused: a flood would fill the audit trail instead; it is logged."""
    ip = (ip or "")[:64]
    with transaction():
        if ip and (SsoFlow.select().where(SsoFlow.ip == ip, SsoFlow.created_at >= utcnow() - FLOW_TTL)
                   .limit(STARTS_PER_ADDRESS).count() >= STARTS_PER_ADDRESS):
            log.warning("sso: too many sign-ins started from %s; refused", ip)
            raise TooManyStarts("Too many sign-ins were started from your network: try again in a few minutes.")
        return SsoFlow.create(config=config, key=key, nonce=nonce, code_verifier=code_verifier,
                              next_path=next_path[:500], test_only=test_only, ip=ip or None)


def _purge(model: type[pw.Model], condition: pw.Expression) -> Iterator[int]:
    """Delete ``model``'s rows matching ``condition``, ``PURGE_BATCH`` per transaction; yields each count."""
    while True:
        with transaction():
            ids = [i for (i,) in model.select(model.id).where(condition).limit(PURGE_BATCH).tuples()]
            if not ids:
                return
            model.delete().where(model.id.in_(ids)).execute()
        yield len(ids)
        if len(ids) < PURGE_BATCH:
            return


def purge_flows(now: dt.datetime) -> Iterator[int]:
    """The scheduler's step: flows past their lifetime (answered or not: an answer after it is refused
    anyway), ``PURGE_BATCH`` per transaction; yields each count."""
    yield from _purge(SsoFlow, SsoFlow.created_at < now - FLOW_TTL)


def purge_seen_responses(now: dt.datetime) -> Iterator[int]:
    """The scheduler's step: SAML response ids past ``keep_until`` (their ``NotOnOrAfter`` plus skew, after
    which a replay is refused as too old anyway), or, kept before that column, a day after they were seen;
    ``PURGE_BATCH`` per transaction; yields each count."""
    yield from _purge(SsoResponseSeen, (SsoResponseSeen.keep_until < now) | (
        SsoResponseSeen.keep_until.is_null() & (SsoResponseSeen.seen_at < now - REMEMBER_RESPONSES)))


def spend_flow(key: str, *, method: str, ip: str = "") -> SsoFlow:
    """The flow ``key`` names, marked used in the same statement that finds it unused and recent, so a
    replayed (or concurrent) answer finds nothing: refused, audited."""
    now = utcnow()
    with transaction():
        spent = (SsoFlow.update(used_at=now)
                 .where(SsoFlow.key == key, SsoFlow.used_at.is_null(), SsoFlow.created_at >= now - FLOW_TTL)
                 .execute())
    flow = SsoFlow.get_or_none(SsoFlow.key == key) if spent else None
    if flow is None:
        known = SsoFlow.get_or_none(SsoFlow.key == key)
        reason = "replayed" if known and known.used_at else ("expired" if known else "unknown_state")
        refuse(known.config if known else None, reason, method=method, ip=ip,
               message="This sign-in link was already used or has expired: start again from the sign-in page.")
    config = flow.config
    if not config.enabled or config.protocol != method:  # turned off, or switched protocol, meanwhile
        refuse(config, "sso_off", method=method, ip=ip,
               message="Single sign-on is not on for this organisation any more: ask its admin.")
    return flow


def new_secret() -> str:
    return secrets.token_urlsafe(32)


# ------------------------------------------------------------------------------------------ the last step

def refuse(config: SsoConfig | None, reason: str, *, method: str, ip: str = "", email: str = "",
           message: str = "", detail: str = "") -> NoReturn:
    """Record the refused sign-in and raise SsoRefused with ``message``."""
    with transaction():
        audit_log.record("auth.login_failed", actor_email=accounts.login_email(email), ip=ip, object_type="user",
                         details={"method": method, "reason": reason, "detail": detail[:300],
                                  "organisation_id": config.organisation_id if config else None})
    raise SsoRefused(message or "Single sign-on refused.")


def group_map(config: SsoConfig | None) -> dict[str, str]:
    """The organisation's group → role map (OIDC, SAML and SCIM groups alike); empty without SSO settings."""
    return json.loads(config.group_roles or "{}") if config is not None else {}


def mapped_role(config: SsoConfig, organisation: Organisation, groups: list[str]) -> str | None:
    """The highest role the groups map to, of the organisation's own side only; None when none maps."""
    mapping = group_map(config)
    roles = {mapping[g] for g in groups if isinstance(g, str) and g in mapping}
    roles = {r for r in roles if ROLE_ORG_KIND.get(r) == organisation.kind}  # the map is checked when saved
    return max(roles, key=lambda r: (ROLE_RANK[r], r)) if roles else None


def complete_sign_in(config: SsoConfig, *, email: object, groups: list, method: str, ip: str = "",
                     subject: str = "") -> User:
    """The user the IdP vouched for, signed in (``auth.login``, created or re-roled as the settings say),
    or SsoRefused (audited) when the rules in the module docstring say no."""
    try:
        email = accounts.normalise_email(email if isinstance(email, str) else "")
    except ValidationError:
        refuse(config, "no_email", method=method, ip=ip, detail=str(email)[:100],
               message="The identity provider did not give a usable e-mail address.")
    owner = (SsoDomain.select().where(SsoDomain.domain == _domain_of(email)).first())
    if owner is None or owner.config_id != config.id:
        refuse(config, "domain_not_owned", method=method, ip=ip, email=email,
               message=f"{_domain_of(email)} is not a domain of this organisation: sign-in refused.")
    organisation = Organisation.get_by_id(config.organisation_id)
    role = mapped_role(config, organisation, [g for g in groups if isinstance(g, str)])
    user = User.get_or_none(User.email == email)
    _check_user(config, user, email, role, method=method, ip=ip)
    try:
        return _sign_in(config, user, email, role, method=method, ip=ip, subject=subject)
    except IntegrityError:  # the same new user signing in twice at once: the other attempt created it
        refuse(config, "concurrent", method=method, ip=ip, email=email,
               message="Another sign-in of this account was under way: try again.")


def _sign_in(config: SsoConfig, user: User | None, email: str, role: str | None, *, method: str, ip: str,
             subject: str) -> User:
    with transaction():
        if user is None:
            user = User.create(email=email, role=role or config.default_role, organisation=config.organisation_id,
                               password_hash=_unusable.hash(secrets.token_urlsafe(32)))  # a password no one knows
            audit_log.record("user.create", actor_email=f"sso:{method}", object_type="user", object_id=user.id,
                             ip=ip, details={"email": email, "role": user.role, "by": "first sign-in"})
        elif role and role != user.role:
            audit_log.record("user.role_change", actor_email=f"sso:{method}", object_type="user", object_id=user.id,
                             ip=ip, details={"email": user.email, "role": [user.role, role], "by": "group map"})
            user.role = role
        user.last_login_at = utcnow()  # only these columns: a deactivation racing this sign-in is kept
        User.update(role=user.role, last_login_at=user.last_login_at).where(User.id == user.id).execute()
        audit_log.record("auth.login", actor=user, object_type="user", object_id=user.id, ip=ip,
                         details={"method": method, "subject": subject[:200]})
    return user


def _check_user(config: SsoConfig, user: User | None, email: str, role: str | None, *, method: str, ip: str) -> None:
    if user is not None and user.organisation_id != config.organisation_id:
        refuse(config, "other_organisation", method=method, ip=ip, email=email,
               message="This account belongs to another organisation: sign-in refused.")
    if user is not None and not user.active:
        refuse(config, "deactivated", method=method, ip=ip, email=email,
               message="This account is deactivated: ask your organisation's admin.")
    if user is None and not (config.create_users and (role or config.default_role)):
        refuse(config, "unknown_user", method=method, ip=ip, email=email,
               message="There is no Attest account for this address: ask your organisation's admin.")


def record_test(config: SsoConfig, *, email: str, groups: list, method: str, ip: str = "") -> dict:
    """The settings page's "test sign-in": what the IdP said and which role it would give, audited,
    nobody signed in or created."""
    organisation = Organisation.get_by_id(config.organisation_id)
    result = {"email": email, "groups": [g for g in groups if isinstance(g, str)][:50],
              "role": mapped_role(config, organisation, groups) or config.default_role or None}
    with transaction():
        audit_log.record("sso.test", actor_email=str(email)[:254], object_type="organisation",
                         object_id=config.organisation_id, ip=ip, details={"method": method, **result})
    return result
