"""What a user may see and do. THE one place that decides; every query of engagement
data goes through here, and no route does its own tenancy check.

A user sees an engagement if its organisation is the engagement's client or provider,
or it holds an active auditor grant on it. Anything else is ``NotFound`` (404), never
"forbidden", so existence does not leak. An action the role may not take on an
engagement it can see is also ``NotFound``.
"""
from __future__ import annotations

import json
from collections.abc import Iterable

import peewee as pw

from domain.errors import NotFound
from models import (
    AuditorGrant,
    Control,
    ControlObligation,
    Engagement,
    EvidenceRequest,
    Framework,
    Obligation,
    User,
    utcnow,
)

CLIENT_ROLES = {"client_admin", "risk_reviewer"}
PROVIDER_ROLES = {"provider_admin", "provider_contributor"}

# action -> roles that may take it on an engagement they can see
ACTIONS: dict[str, set[str]] = {
    "view": CLIENT_ROLES | PROVIDER_ROLES | {"auditor"},
    "manage": {"client_admin"},                      # applicability, grants, engagement settings
    "review": CLIENT_ROLES,                          # accept / reject evidence
    "upload": PROVIDER_ROLES,
    "record_incident": CLIENT_ROLES | PROVIDER_ROLES,
    "notify": CLIENT_ROLES,                          # record regulator notices
    "raise_finding": CLIENT_ROLES | {"auditor"},
    "answer_finding": PROVIDER_ROLES,
    "build_pack": CLIENT_ROLES | {"auditor"},
}


def active_grants(user: User) -> pw.ModelSelect:
    now = utcnow()
    return AuditorGrant.select().where(
        AuditorGrant.auditor == user, AuditorGrant.revoked_at.is_null(),
        AuditorGrant.starts_at <= now, AuditorGrant.expires_at > now)


def engagements_for(user: User) -> pw.ModelSelect:
    """Every engagement the user may see."""
    query = Engagement.select()
    if user is None or not user.is_active:
        return query.where(pw.SQL("1 = 0"))
    if user.role in CLIENT_ROLES:
        return query.where(Engagement.client == user.organisation_id)
    if user.role in PROVIDER_ROLES:
        return query.where(Engagement.provider == user.organisation_id)
    return query.where(Engagement.id.in_(active_grants(user).select(AuditorGrant.engagement)))


def engagement_for(user: User, engagement_id: int | str, action: str = "view") -> Engagement:
    """The engagement, if the user may see it and take ``action`` on it; NotFound otherwise."""
    key = _row_id(engagement_id)
    engagement = None if key is None else engagements_for(user).where(Engagement.id == key).first()
    if engagement is None or not permits(user, action):
        raise NotFound("engagement not found")
    return engagement


def _row_id(value: int | str) -> int | None:
    """A database id, or None for anything that cannot be one (garbage, zero, beyond 64 bits)."""
    try:
        key = int(value)
    except (TypeError, ValueError):
        return None
    return key if 0 < key < 2**63 else None


def permits(user: User, action: str) -> bool:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    return user.role in ACTIONS[action]


def can_create_engagement(user: User) -> bool:
    return user.role == "client_admin"


def require_engagement_creator(user: User) -> User:
    """The user, if it may create engagements (for its own client organisation); NotFound otherwise."""
    if not can_create_engagement(user):
        raise NotFound("not found")
    return user


def granted_framework_codes(user: User, engagement: Engagement) -> set[str] | None:
    """The frameworks an auditor may see on this engagement; None means no restriction."""
    if user.role != "auditor":
        return None
    codes: set[str] = set()
    for grant in active_grants(user).where(AuditorGrant.engagement == engagement):
        codes.update(json.loads(grant.frameworks))
    return codes


def _controls_in_frameworks(codes: Iterable[str]) -> pw.ModelSelect:
    return (ControlObligation.select(ControlObligation.control)
            .join(Obligation).join(Framework)
            .where(Framework.code.in_(list(codes)), ControlObligation.retired_in.is_null()))


def requests_for(user: User, engagement: Engagement) -> pw.ModelSelect:
    """Evidence requests of an engagement the caller already holds from ``engagement_for``."""
    query = EvidenceRequest.select().where(EvidenceRequest.engagement == engagement)
    codes = granted_framework_codes(user, engagement)
    if codes is not None:
        query = query.where(EvidenceRequest.control.in_(_controls_in_frameworks(codes)))
    return query


def requests_across(user: User) -> pw.ModelSelect:
    """Evidence requests of every engagement the user may see (an auditor: of its granted frameworks only)."""
    query = EvidenceRequest.select()
    if user is None or not user.is_active:
        return query.where(pw.SQL("1 = 0"))
    if user.role != "auditor":
        return query.where(EvidenceRequest.engagement.in_(engagements_for(user).select(Engagement.id)))
    granted = pw.SQL("1 = 0")
    for grant in active_grants(user):
        granted = granted | ((EvidenceRequest.engagement == grant.engagement_id)
                             & EvidenceRequest.control.in_(_controls_in_frameworks(json.loads(grant.frameworks))))
    return query.where(granted)


def visible_controls(user: User, engagement: Engagement) -> pw.ModelSelect:
    codes = granted_framework_codes(user, engagement)
    query = Control.select()
    return query if codes is None else query.where(Control.id.in_(_controls_in_frameworks(codes)))
