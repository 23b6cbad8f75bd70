"""Users, organisations, passwords (argon2id), API tokens and login throttling."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from peewee import fn

from domain.errors import Conflict, ValidationError
from domain.names import clean_name
from models import (
    ROLE_ORG_KIND,
    ROLES,
    ApiToken,
    LoginAttempt,
    Organisation,
    User,
    serialise_writers,
    transaction,
    utcnow,
)
from models.org import new_session_nonce
from services.audit import audit_log

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY_HASH = _hasher.hash("attest-timing-equaliser")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 12
COMMON_PASSWORDS = {"password1234", "passwordpassword", "123456789012", "qwertyuiopas", "letmeinletmein",
                    "administrator", "changemechangeme", "welcome12345"}
LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW = dt.timedelta(minutes=15)
IP_FAILURES = 100  # per client address in LOCKOUT_WINDOW: credential stuffing, without locking out a busy office
TOKEN_PREFIX = "att_"


def normalise_email(email: str) -> str:
    value = (email or "").strip().lower()
    if not EMAIL.match(value) or len(value) > 254 or not value.isprintable():
        raise ValidationError(f"{email!r} is not a valid e-mail address", field="email")
    return value


def check_password_strength(password: str, email: str = "") -> None:
    if not password or not password.strip():
        raise ValidationError("password is empty", field="password")
    if len(password) < MIN_PASSWORD:
        raise ValidationError(f"password must be at least {MIN_PASSWORD} characters", field="password")
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(password)) < 5 or (email and lowered == email.lower()):
        raise ValidationError("password is too easy to guess", field="password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(user: User | None, password: str) -> bool:
    """Constant-ish time: an unknown user still costs one argon2 verification."""
    try:
        return _hasher.verify(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    except (VerificationError, InvalidHashError):
        return False


ORG_KIND_NAMES = {"client": "a client", "provider": "a provider", "audit_firm": "an audit firm"}


def find_or_create_organisation(name: str, kind: str) -> Organisation:
    """The organisation of that name, whatever its case (the exact spelling first), or a new one of ``kind``."""
    field = "provider" if kind == "provider" else "org"
    name = clean_name(name, field)
    org = (Organisation.select()
           .where(fn.LOWER(Organisation.name) == name.lower())
           .order_by((Organisation.name == name).desc(), Organisation.id)
           .first())
    if org is None:
        return Organisation.create(name=name, kind=kind)
    if org.kind != kind:  # saying what the other organisation is would tell anyone who can type a name
        raise ValidationError(f"{name!r} cannot be used as {ORG_KIND_NAMES.get(kind, kind)} organisation; "
                              "choose another name", field=field)
    return org


def create_user(email: str, role: str, org_name: str, password: str, full_name: str = "") -> User:
    """Create a user (and its organisation, of the kind the role implies, if new)."""
    email = normalise_email(email)
    if role not in ROLES:
        raise ValidationError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}", field="role")
    check_password_strength(password, email)
    full_name = clean_name(full_name, "full_name", required=False)
    password_hash = hash_password(password)  # slow on purpose: before the write lock is taken
    with transaction():
        if User.select().where(User.email == email).exists():
            raise Conflict(f"a user with e-mail {email} already exists", field="email")
        org = find_or_create_organisation(org_name, ROLE_ORG_KIND[role])
        return User.create(email=email, role=role, organisation=org, full_name=full_name,
                           password_hash=password_hash)


def is_locked_out(email: str, ip: str = "") -> bool:
    """Too many recent failures for this e-mail (or from this address)? Counted in the database."""
    since = utcnow() - LOCKOUT_WINDOW
    recent = LoginAttempt.select().where(LoginAttempt.at >= since, LoginAttempt.success == False)  # noqa: E712
    if recent.where(LoginAttempt.email == email).count() >= LOCKOUT_FAILURES:
        return True
    return bool(ip) and recent.where(LoginAttempt.ip == ip).count() >= IP_FAILURES


def login_email(email: str) -> str:
    """The e-mail a sign-in attempt is recorded under: trimmed, lower-cased, and with any control or other
    unprintable character escaped (``\\x00``), so that nothing unprintable reaches the database or the
    audit trail. No account's e-mail has such characters (normalise_email refuses them)."""
    value = (email or "").strip().lower()
    if not value.isprintable():
        value = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in value)
    return value[:254]


@dataclass(frozen=True)
class SignIn:
    user: User | None  # None: refused
    locked_out: bool = False  # refused because of the lock, without the password being checked


def sign_in(email: str, password: str, ip: str = "") -> SignIn:
    """Check a sign-in attempt and record it with its audit event (``auth.login`` or ``auth.login_failed``) in
    one transaction, so no attempt is counted without its event or the other way round. When locked out, the
    attempt is refused, audited and not counted, so that a lock ends with its window however often a locked
    account is tried. The password is checked (argon2, slow) before the write transaction starts; the lock is
    checked again inside it, serialised per e-mail, so that parallel guesses get at most LOCKOUT_FAILURES
    answers: one that finishes after the limit was reached is refused as locked, right password or not."""
    raw = (email or "").strip().lower()
    email = login_email(raw)
    ip = (ip or "")[:64]
    if is_locked_out(email, ip):
        return _refuse_locked(email, ip)
    user = User.get_or_none(User.email == email) if email == raw[:254] else None
    ok = password_matches(user, password or "") and user.active
    with transaction():
        serialise_writers(f"sign-in:{email}")
        if is_locked_out(email, ip):
            return _refuse_locked(email, ip)
        LoginAttempt.create(email=email, ip=ip, success=ok)
        if not ok:
            audit_log.record("auth.login_failed", actor_email=email, ip=ip, object_type="user",
                             details={"locked_out": False})
            return SignIn(None)
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        user.last_login_at = utcnow()
        user.save()
        audit_log.record("auth.login", actor=user, object_type="user", object_id=user.id, ip=ip)
    return SignIn(user)


def _refuse_locked(email: str, ip: str) -> SignIn:
    audit_log.record("auth.login_failed", actor_email=email, ip=ip, object_type="user", details={"locked_out": True})
    return SignIn(None, locked_out=True)


def authenticate(email: str, password: str, ip: str = "") -> User | None:
    """The user if the credentials are right and the account is not locked out; None otherwise."""
    return sign_in(email, password, ip).user


def sign_out(user: User, ip: str = "") -> None:
    """End every session of the user (``end_sessions``) and record ``auth.logout``, together."""
    with transaction():
        end_sessions(user)
        audit_log.record("auth.logout", actor=user, object_type="user", object_id=user.id, ip=ip)


def end_other_sessions(user: User, ip: str = "") -> None:
    """At sign-in, on request: end every earlier session of the user (the new one is issued after), audited."""
    with transaction():
        end_sessions(user)
        audit_log.record("auth.sessions_ended", actor=user, object_type="user", object_id=user.id, ip=ip,
                         details={"reason": "signed in and ended the other sessions"})


def end_sessions(user: User) -> None:
    """Sign the user out everywhere: a new session nonce invalidates every session cookie issued so far."""
    user.session_nonce = new_session_nonce()
    with transaction():
        User.update(session_nonce=user.session_nonce).where(User.id == user.id).execute()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(user: User, name: str = "") -> str:
    """A new API token; only its hash is stored, so this is the one time it can be seen."""
    return issue_token(user, name)[1]


def issue_token(user: User, name: str = "") -> tuple[ApiToken, str]:
    """A new API token row and its secret (shown once; only the hash is stored)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction():
        row = ApiToken.create(user=user, name=name, token_hash=_token_hash(token), prefix=token[:12])
    return row, token


def hash_secret(secret: str) -> str:
    """SHA-256 of a one-time secret (API tokens, invitation links): what is stored instead of it."""
    return _token_hash(secret)


def user_for_token(token: str) -> User | None:
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = (ApiToken.select(ApiToken, User).join(User)
           .where(ApiToken.token_hash == _token_hash(token), ApiToken.revoked_at.is_null()).first())
    if row is None or not row.user.active:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=1):
        with transaction():
            ApiToken.update(last_used_at=now).where(ApiToken.id == row.id).execute()
    return row.user


def revoke_tokens(user: User) -> int:
    with transaction():
        return (ApiToken.update(revoked_at=utcnow())
                .where(ApiToken.user == user, ApiToken.revoked_at.is_null()).execute())
