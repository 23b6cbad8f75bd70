"""Auditor grants: a client admin gives one auditor read-only access to one engagement, for chosen
frameworks, between ``starts_at`` and ``expires_at``; revocable at once. ``services.scope`` enforces
them on every request (only active grants count)."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import peewee as pw

from domain.errors import Conflict, ValidationError
from domain.timeutil import parse_instant
from models import (
    AuditorGrant,
    Engagement,
    EngagementFramework,
    Framework,
    Organisation,
    User,
    transaction,
    utcnow,
)
from services import scope
from services.audit import audit_log
from services.people import users
from services.people.accounts import find_or_create_organisation, normalise_email

MAX_GRANT_DAYS = 366


def engagement_framework_codes(engagement: Engagement) -> list[str]:
    return [code for (code,) in EngagementFramework.select(Framework.code).join(Framework)
            .where(EngagementFramework.engagement == engagement).order_by(Framework.code).tuples()]


@dataclass(frozen=True)
class GrantInput:
    email: str
    auditor: User | None  # None: nobody has the e-mail yet
    frameworks: list[str]
    starts_at: dt.datetime
    expires_at: dt.datetime


def _instant(data: dict, field: str) -> dt.datetime:
    value = data.get(field)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} is required (ISO 8601 with a UTC offset)", field=field)
    try:
        return parse_instant(value.strip())
    except (ValueError, OverflowError) as exc:
        raise ValidationError(f"{field}: {exc}", field=field) from None


def _auditor_email(data: dict) -> str:
    email = data.get("auditor_email")
    if not isinstance(email, str) or not email.strip():
        raise ValidationError("auditor_email is required", field="auditor_email")
    try:
        return normalise_email(email)
    except ValidationError as exc:
        raise ValidationError(exc.message, field="auditor_email") from None


def _auditor(email: str) -> User | None:
    """The active auditor of that e-mail; None when nobody has it (a new auditor to invite); a ValidationError
    when someone who is not an active auditor has it."""
    user = User.get_or_none(pw.fn.LOWER(User.email) == email)
    if user is None:
        return None
    if user.role != "auditor" or not user.active:
        raise ValidationError("that e-mail address belongs to someone who is not an active auditor",
                              field="auditor_email")
    return user


def _audit_firm(data: dict) -> Organisation:
    """The audit firm a new auditor joins (``audit_firm``): an existing one of that name, or a new one."""
    name = data.get("audit_firm")
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("no auditor has that e-mail address yet: name their audit firm (audit_firm) to "
                              "invite them with this grant", field="auditor_email")
    try:
        return find_or_create_organisation(name, "audit_firm")
    except ValidationError as exc:
        raise ValidationError(exc.message, field="audit_firm") from None


def _frameworks(data: dict, engagement: Engagement) -> list[str]:
    codes = data.get("frameworks")
    if not isinstance(codes, list) or not codes or not all(isinstance(c, str) for c in codes):
        raise ValidationError("frameworks must be a non-empty list of framework codes", field="frameworks")
    outside = sorted(set(codes) - set(engagement_framework_codes(engagement)))
    if outside:
        raise ValidationError(f"not in this engagement's scope: {', '.join(outside)}", field="frameworks")
    return sorted(set(codes))


def parse_grant_input(data: dict, engagement: Engagement, *, now: dt.datetime | None = None) -> GrantInput:
    """The grant's fields; ``auditor`` is None for an e-mail nobody has yet (``create_grant`` invites it)."""
    email = _auditor_email(data)
    auditor, frameworks = _auditor(email), _frameworks(data, engagement)
    starts_at, expires_at = _instant(data, "starts_at"), _instant(data, "expires_at")
    if expires_at <= starts_at:
        raise ValidationError("expires_at must be after starts_at", field="expires_at")
    if expires_at <= (now or utcnow()):
        raise ValidationError("expires_at is already past", field="expires_at")
    if expires_at - starts_at > dt.timedelta(days=MAX_GRANT_DAYS):
        raise ValidationError(f"a grant lasts at most {MAX_GRANT_DAYS} days", field="expires_at")
    return GrantInput(email, auditor, frameworks, starts_at, expires_at)


def create_grant(actor: User, engagement_id: int | str, data: dict, *, base_url: str | None = None,
                 ip: str = "") -> AuditorGrant:
    """Grant an auditor read access; an e-mail nobody has yet becomes an auditor of the named audit firm
    (``audit_firm``), invited by e-mail together with the grant (all in one transaction)."""
    engagement = scope.engagement_for(actor, engagement_id, "manage")
    spec = parse_grant_input(data, engagement)
    firm = _audit_firm(data) if spec.auditor is None else None
    with transaction():
        auditor = spec.auditor
        if auditor is None:
            auditor = users.invite_into(firm, spec.email, "auditor", actor, base_url=base_url, ip=ip,
                                        field="auditor_email").user
        grant = AuditorGrant.create(auditor=auditor, engagement=engagement, frameworks=json.dumps(spec.frameworks),
                                    starts_at=spec.starts_at, expires_at=spec.expires_at, granted_by=actor)
        audit_log.record("grant.create", actor=actor, object_type="auditor_grant", object_id=grant.id,
                         engagement=engagement, ip=ip,
                         details={"auditor": auditor.email, "frameworks": spec.frameworks,
                                  "starts_at": spec.starts_at.isoformat(), "expires_at": spec.expires_at.isoformat(),
                                  **({"invited": True, "audit_firm": firm.name} if firm else {})})
    return grant


def revoke_grant(actor: User, grant_id: int | str, *, ip: str = "") -> AuditorGrant:
    grant = scope.grant_for(actor, grant_id)
    with transaction():
        revoked = (AuditorGrant.update(revoked_at=utcnow(), revoked_by=actor)
                   .where(AuditorGrant.id == grant.id, AuditorGrant.revoked_at.is_null()).execute())
        if not revoked:
            raise Conflict("this grant is already revoked")
        audit_log.record("grant.revoke", actor=actor, object_type="auditor_grant", object_id=grant.id,
                         engagement=grant.engagement_id, ip=ip, details={"auditor": grant.auditor.email})
    return AuditorGrant.get_by_id(grant.id)


def grants_of(actor: User, engagement: Engagement) -> list[AuditorGrant]:
    """Every grant of an engagement, newest first, for its client admin."""
    scope.engagement_for(actor, engagement.id, "manage")
    return list(AuditorGrant.select(AuditorGrant, User).join(User, on=(AuditorGrant.auditor == User.id))
                .where(AuditorGrant.engagement == engagement).order_by(AuditorGrant.created_at.desc()))


def grant_state(grant: AuditorGrant, now: dt.datetime | None = None) -> str:
    """active | scheduled | expired | revoked."""
    now = now or utcnow()
    if grant.revoked_at:
        return "revoked"
    if grant.expires_at <= now:
        return "expired"
    return "scheduled" if grant.starts_at > now else "active"


def active_grants_of(user: User) -> list[AuditorGrant]:
    """An auditor's active grants with their engagements (its portal landing page)."""
    return list(scope.active_grants(user).join(Engagement).order_by(AuditorGrant.expires_at))
