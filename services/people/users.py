"""Administration of users: invitations (one-time, expiring links to set a password, e-mailed through the
outbox), roles, deactivation and reactivation, and a user's own password change.

An admin manages its own organisation's users, with the roles of its own side only
(``scope.MANAGED_ROLES``); anyone else's user is NotFound.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

import peewee as pw

from domain.errors import Conflict, DomainError, NotFound, ValidationError
from domain.names import clean_name
from domain.timeutil import isoformat_utc
from models import ApiToken, Invitation, Organisation, User, serialise_writers, transaction, utcnow
from models.org import new_session_nonce
from services import scope
from services.audit import audit_log
from services.messages import mail

from . import accounts

INVITATION_LIFETIME = dt.timedelta(hours=72)
ADMIN_ROLES = tuple(scope.MANAGED_ROLES)


class InvitationExpired(DomainError):
    status = 422
    code = "invitation_expired"


class InvitationUsed(DomainError):
    status = 409
    code = "invitation_used"


@dataclass(frozen=True)
class Invited:
    user: User
    invitation: Invitation
    link: str  # shown to nobody but the e-mail; returned for the command line and tests of the mail


def status_of(user: User) -> str:
    """active | invited (no password set yet) | deactivated."""
    if not user.active:
        return "deactivated"
    return "active" if user.password_hash else "invited"


def _role(actor: User, role: object) -> str:
    allowed = scope.MANAGED_ROLES[actor.role]
    if role not in allowed:
        raise ValidationError(f"role must be one of {', '.join(allowed)} (the roles of your organisation's side)",
                              field="role")
    return str(role)


def invitation_link(secret: str, base: str | None = None) -> str:
    return mail.link(f"/invitations/{secret}", base)


def _queue_invitation(user: User, invitation: Invitation, secret: str, actor: User | None, base: str | None,
                      *, what: str = "invited you to Attest") -> str:
    """E-mail the one-time link; ``actor`` None is the command line (the mail then names no person)."""
    link = invitation_link(secret, base)
    org = user.organisation.name
    who = actor.email if actor else "An administrator"
    body = (f"Hello{' ' + user.full_name if user.full_name else ''},\n\n"
            f"{who} {what} as {user.role.replace('_', ' ')} of {org}.\n\n"
            f"Set your password here (the link works once, until "
            f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC):\n\n{link}\n\n"
            "If you did not expect this e-mail, ignore it.\n")
    mail.queue(user.email, f"Your Attest account at {org}", body, dedupe_key=f"invitation:{invitation.id}")
    return link


def _new_invitation(user: User, actor: User | None) -> tuple[Invitation, str]:
    secret = secrets.token_urlsafe(32)
    invitation = Invitation.create(user=user, token_hash=accounts.hash_secret(secret), invited_by=actor,
                                   expires_at=utcnow() + INVITATION_LIFETIME)
    return invitation, secret


def invite(actor: User, data: dict, *, base_url: str | None = None, ip: str = "") -> Invited:
    """Create a user of the actor's organisation without a password and e-mail it a one-time link."""
    scope.require_user_admin(actor)
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    email = accounts.normalise_email(data.get("email") if isinstance(data.get("email"), str) else "")
    role = _role(actor, data.get("role"))
    full_name = clean_name(data.get("full_name"), "full_name", required=False)
    return invite_into(actor.organisation, email, role, actor, full_name=full_name, base_url=base_url, ip=ip)


def invite_into(organisation: Organisation, email: str, role: str, actor: User, *, full_name: str = "",
                base_url: str | None = None, ip: str = "", field: str = "email") -> Invited:
    """Create a user of ``organisation`` (``email`` normalised, ``role`` checked by the caller) without a
    password, e-mail it a one-time link and audit it, in one transaction (the caller's, when it has one)."""
    try:
        with transaction():
            if User.select().where(User.email == email).exists():
                raise Conflict(f"a user with e-mail {email} already exists", field=field)
            user = User.create(email=email, role=role, organisation=organisation.id, full_name=full_name,
                               password_hash="")
            invitation, secret = _new_invitation(user, actor)
            link = _queue_invitation(user, invitation, secret, actor, base_url)
            audit_log.record("user.invite", actor=actor, object_type="user", object_id=user.id, ip=ip,
                             details={"email": email, "role": role})
    except pw.IntegrityError:  # the same e-mail invited twice at the same moment
        raise Conflict(f"a user with e-mail {email} already exists", field=field) from None
    return Invited(user, invitation, link)


def resend_invitation(actor: User, user_id: int | str, *, base_url: str | None = None, ip: str = "") -> Invited:
    """A new link for a user that has not set its password yet (earlier links stop working)."""
    with transaction():
        user = scope.user_for(actor, user_id)
        if status_of(user) != "invited":
            raise Conflict("this user has already set a password, or is deactivated")
        Invitation.update(expires_at=utcnow()).where(Invitation.user == user, Invitation.used_at.is_null(),
                                                     Invitation.expires_at > utcnow()).execute()
        invitation, secret = _new_invitation(user, actor)
        link = _queue_invitation(user, invitation, secret, actor, base_url)
        audit_log.record("user.invite", actor=actor, object_type="user", object_id=user.id, ip=ip,
                         details={"email": user.email, "role": user.role, "resent": True})
    return Invited(user, invitation, link)


def invitation_for(secret: str) -> Invitation:
    """The invitation a link's secret opens, if it can still be used; a clear error otherwise."""
    row = None
    if isinstance(secret, str) and 20 <= len(secret) <= 100:
        row = (Invitation.select(Invitation, User).join(User, on=(Invitation.user == User.id))
               .where(Invitation.token_hash == accounts.hash_secret(secret)).first())
    if row is None:
        raise NotFound("this invitation link is not valid; ask your administrator for a new one")
    if row.used_at is not None:
        raise InvitationUsed("this invitation link has already been used; sign in, or ask your administrator "
                             "for a new one")
    if row.expires_at <= utcnow() or not row.user.active:
        raise InvitationExpired("this invitation link has expired; ask your administrator for a new one")
    return row


def accept_invitation(secret: str, password: str, *, ip: str = "") -> User:
    """Set the invited user's password from the link (once): the link is spent in the same transaction."""
    with transaction():
        invitation = invitation_for(secret)
        user = invitation.user
        accounts.check_password_strength(password if isinstance(password, str) else "", user.email)
        spent = (Invitation.update(used_at=utcnow())
                 .where(Invitation.id == invitation.id, Invitation.used_at.is_null()).execute())
        if not spent:  # another request used it a moment ago
            raise InvitationUsed("this invitation link has already been used")
        User.update(password_hash=accounts.hash_password(password), session_nonce=new_session_nonce()).where(
            User.id == user.id).execute()
        audit_log.record("user.invitation_accepted", actor=user, object_type="user", object_id=user.id, ip=ip)
    return User.get_by_id(user.id)


def _active_admins_besides(user: User) -> int:
    """Admins who can act: active and signed in at least once (an invitation nobody took up manages nothing)."""
    signed_in = (User.password_hash != "") | User.last_login_at.is_null(False)
    return (User.select().where(User.organisation == user.organisation_id, User.role.in_(ADMIN_ROLES),
                                User.active == True, User.id != user.id, signed_in)  # noqa: E712
            .count())


def _locked_for_admin_change(user: User) -> User:
    """The user as it is once every other change to its organisation's admins has finished: two admins demoting
    or deactivating each other at once must not each count the other as the admin who remains. PostgreSQL: a
    transaction-scoped lock on the organisation's admins; SQLite lets one writer in at a time anyway."""
    serialise_writers(f"organisation-admins:{user.organisation_id}")
    return User.get_by_id(user.id)


def _keep_an_admin(user: User, what: str) -> None:
    if user.role in ADMIN_ROLES and user.active and _active_admins_besides(user) == 0:
        raise Conflict(f"{user.email} is the organisation's last active admin: {what} would leave nobody to "
                       "manage its users; make another user admin first")


def end_access(user: User) -> int:
    """End every session (a new nonce) and revoke every token and open invitation of the user, now."""
    now = utcnow()
    User.update(session_nonce=new_session_nonce()).where(User.id == user.id).execute()
    Invitation.update(expires_at=now).where(Invitation.user == user.id, Invitation.used_at.is_null(),
                                            Invitation.expires_at > now).execute()
    return ApiToken.update(revoked_at=now).where(ApiToken.user == user.id, ApiToken.revoked_at.is_null()).execute()


def _deactivate(user: User, *, actor: User | None, ip: str) -> User:
    user = _locked_for_admin_change(user)
    if not user.active:
        return user
    _keep_an_admin(user, "deactivating it")
    User.update(active=False, deactivated_at=utcnow()).where(User.id == user.id).execute()
    revoked = end_access(user)
    audit_log.record("user.deactivate", actor=actor, actor_email=None if actor else "cli", object_type="user",
                     object_id=user.id, ip=ip, details={"email": user.email, "tokens_revoked": revoked})
    return User.get_by_id(user.id)


def _reactivate(user: User, *, actor: User | None, ip: str, base_url: str | None) -> User:
    """Let a deactivated user in again, with nothing of before: ``end_access`` once more (a new session nonce,
    every token revoked, every open link expired), so neither what deactivation ended nor a token made for
    the account while it was deactivated (``create-token`` allows it) comes back to life. It signs in with
    its password; one deactivated before it set a password gets a new one-time link, as a new user does.
    Failed sign-ins stay counted: the lock-out is a 15-minute window over the attempts log, not a flag."""
    # the check is the UPDATE's own condition, so two reactivations at once give one event and one link
    back = User.update(active=True, deactivated_at=None).where(User.id == user.id, User.active == False)  # noqa: E712
    if not back.execute():
        raise Conflict(f"{user.email} is already active")
    revoked = end_access(user)
    details = {"email": user.email, "deactivated_at": isoformat_utc(user.deactivated_at), "tokens_revoked": revoked}
    if not user.password_hash:
        invitation, secret = _new_invitation(user, actor)
        _queue_invitation(user, invitation, secret, actor, base_url, what="reactivated your Attest account")
        details["invited"] = True
    audit_log.record("user.reactivate", actor=actor, actor_email=None if actor else "cli", object_type="user",
                     object_id=user.id, ip=ip, details=details)
    return User.get_by_id(user.id)


def deactivate(actor: User, user_id: int | str, *, ip: str = "") -> User:
    """Deactivate a user of the actor's organisation: its sessions and tokens stop working at once."""
    with transaction():
        return _deactivate(scope.user_for(actor, user_id), actor=actor, ip=ip)


def reactivate(actor: User, user_id: int | str, *, base_url: str | None = None, ip: str = "") -> User:
    """Reactivate a deactivated user of the actor's organisation (Conflict if it is active)."""
    with transaction():
        return _reactivate(scope.user_for(actor, user_id), actor=actor, ip=ip, base_url=base_url)


def _user_by_email(email: str) -> User:
    user = User.get_or_none(User.email == (email or "").strip().lower())
    if user is None:
        raise NotFound(f"no user {email}")
    return user


def deactivate_by_email(email: str) -> User:
    """The command line's ``deactivate-user --email E`` (no last-admin exemption)."""
    with transaction():
        return _deactivate(_user_by_email(email), actor=None, ip="")


def reactivate_by_email(email: str, *, base_url: str | None = None) -> User:
    """The command line's ``reactivate-user --email E``."""
    with transaction():
        return _reactivate(_user_by_email(email), actor=None, ip="", base_url=base_url)


def change_role(actor: User, user_id: int | str, role: object, *, ip: str = "") -> User:
    with transaction():
        user = _locked_for_admin_change(scope.user_for(actor, user_id))
        role = _role(actor, role)
        if role == user.role:
            return user
        if role not in ADMIN_ROLES:
            _keep_an_admin(user, "taking away its admin role")
        old = user.role
        User.update(role=role).where(User.id == user.id).execute()
        audit_log.record("user.role_change", actor=actor, object_type="user", object_id=user.id, ip=ip,
                         details={"email": user.email, "role": [old, role]})
    return User.get_by_id(user.id)


def change_password(user: User, old_password: str, new_password: str, *, ip: str = "") -> User:
    """The user's own password change: the old one is required; every session ends (the caller signs the
    current one in again with the new nonce), API tokens stay."""
    if not accounts.password_matches(user, old_password if isinstance(old_password, str) else ""):
        raise ValidationError("the current password is not right", field="old_password")
    accounts.check_password_strength(new_password if isinstance(new_password, str) else "", user.email)
    if accounts.password_matches(user, new_password):
        raise ValidationError("the new password must differ from the current one", field="new_password")
    with transaction():
        User.update(password_hash=accounts.hash_password(new_password), session_nonce=new_session_nonce()).where(
            User.id == user.id).execute()
        audit_log.record("user.password_change", actor=user, object_type="user", object_id=user.id, ip=ip)
    return User.get_by_id(user.id)
