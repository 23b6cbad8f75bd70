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
    Evidence,
    EvidenceRequest,
    EvidenceRequirement,
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


def visible_controls(user: User, engagement: Engagement) -> pw.ModelSelect:
    codes = granted_framework_codes(user, engagement)
    query = Control.select()
    return query if codes is None else query.where(Control.id.in_(_controls_in_frameworks(codes)))


# ------------------------------------------------------------------------------------------ evidence

# Who uploads a requirement's evidence (SPEC §1, §2): the provider, or for ``produced_by: client`` the client's
# risk team. The same side may withdraw what it submitted; the client reviews everything, never its own upload.
UPLOADERS: dict[str, set[str]] = {"provider": PROVIDER_ROLES, "client": {"risk_reviewer", "client_admin"}}
AUDITOR_EVIDENCE_STATES = ("accepted",)  # SPEC §1: auditors see accepted evidence only


def may_upload(user: User, requirement: EvidenceRequirement) -> bool:
    return user.role in UPLOADERS.get(requirement.produced_by, PROVIDER_ROLES)


def producers_for(user: User) -> list[str]:
    """The ``produced_by`` values of the requirements this user uploads evidence for."""
    return [side for side, roles in UPLOADERS.items() if user.role in roles]


def request_for(user: User, request_id: int | str, action: str = "view") -> EvidenceRequest:
    """One evidence request (engagement, control and requirement joined in) the user may see and take
    ``action`` on: ``view``, ``upload`` (decided by the requirement's ``produced_by``) or ``review``.
    NotFound otherwise, including for an auditor outside its granted frameworks."""
    key = _row_id(request_id)
    found = None
    if key is not None and user is not None and user.is_active:
        found = (EvidenceRequest.select(EvidenceRequest, Engagement, Control, EvidenceRequirement)
                 .join(Engagement, attr="engagement").switch(EvidenceRequest)
                 .join(Control, attr="control").switch(EvidenceRequest)
                 .join(EvidenceRequirement, attr="requirement")
                 .where(EvidenceRequest.id == key,
                        EvidenceRequest.engagement.in_(engagements_for(user).select(Engagement.id)))
                 .first())
    if found is None or not _request_action(user, found, action):
        raise NotFound("evidence request not found")
    return found


def _request_action(user: User, req: EvidenceRequest, action: str) -> bool:
    codes = granted_framework_codes(user, req.engagement)
    if codes is not None and not _controls_in_frameworks(codes).where(
            ControlObligation.control == req.control_id).exists():
        return False
    if action == "upload":
        return may_upload(user, req.requirement)
    return permits(user, action)


def evidence_for(user: User, evidence_id: int | str, action: str = "view") -> Evidence:
    """One evidence item the user may see and take ``action`` on: ``view`` (metadata and download),
    ``review`` (client roles) or ``withdraw`` (the side that uploads its requirement). Its ``request``
    comes from ``request_for`` (joined). Auditors see accepted items only. NotFound otherwise."""
    key = _row_id(evidence_id)
    item = None if key is None else Evidence.get_or_none(Evidence.id == key)
    if item is None:
        raise NotFound("evidence not found")
    request_action = {"withdraw": "upload", "review": "review"}.get(action, "view")
    try:
        item.request = request_for(user, item.request_id, request_action)
    except NotFound:
        raise NotFound("evidence not found") from None
    if user.role == "auditor" and item.status not in AUDITOR_EVIDENCE_STATES:
        raise NotFound("evidence not found")
    return item


def reviewable_evidence(user: User, engagement_ids: Iterable[int] | None = None) -> pw.ModelSelect:
    """Submitted evidence this user may review: client roles, their client's engagements (or these of them),
    not their own. The engagement ids are listed in the query rather than a subquery, so that the planner
    walks the submitted rows of these engagements rather than guessing."""
    if user is None or not user.is_active or not permits(user, "review"):
        return Evidence.select().where(pw.SQL("1 = 0"))
    visible = [i for (i,) in engagements_for(user).select(Engagement.id).tuples()]
    if engagement_ids is not None:
        wanted = set(engagement_ids)
        visible = [i for i in visible if i in wanted]
    return (Evidence.select()
            .where(Evidence.engagement.in_(visible),
                   Evidence.status == "submitted",
                   (Evidence.uploaded_by != user.id) | Evidence.uploaded_by.is_null()))


def controls_in_frameworks(codes: Iterable[str]) -> pw.ModelSelect:
    """Ids of the controls mapped to any of these framework codes (a subquery)."""
    return _controls_in_frameworks(codes)
