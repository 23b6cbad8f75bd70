"""What a user may see and do. THE one place that decides; every query of engagement
data goes through here, and no route does its own tenancy check.

A user sees an engagement if its organisation is the engagement's client or provider,
or it holds an active auditor grant on it. Anything else is ``NotFound`` (404), never
"forbidden", so existence does not leak. An action the role may not take on an
engagement it can see is also ``NotFound``.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable

import peewee as pw

from domain.errors import AccessEnded, NotFound, ValidationError
from models import (
    Action,
    ApiToken,
    AuditEvent,
    AuditorGrant,
    CalendarFeed,
    ChangeEvent,
    ChangeRequest,
    Clock,
    ClockRule,
    Control,
    ControlObligation,
    Engagement,
    EngagementInvitation,
    Evidence,
    EvidenceRequest,
    EvidenceRequirement,
    Finding,
    Forum,
    Framework,
    Kpi,
    KpiResult,
    Meeting,
    Obligation,
    Organisation,
    Pack,
    PerformanceReport,
    ServiceCredit,
    Subcontractor,
    User,
    WebhookEndpoint,
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
    "record_change": CLIENT_ROLES | PROVIDER_ROLES,  # change events that open event-driven requests
    "notify": CLIENT_ROLES,                          # record regulator notices
    "raise_finding": CLIENT_ROLES | {"auditor"},
    "answer_finding": PROVIDER_ROLES,
    "build_pack": CLIENT_ROLES | {"auditor"},
    "propose_subcontractor": {"provider_admin"},
    "decide_subcontractor": {"client_admin"},
    "access_log": CLIENT_ROLES,                      # the auditor access log
    "observe": {"auditor"},                          # leave an observation (a finding for the client)
    "comment": CLIENT_ROLES | PROVIDER_ROLES,        # comment on a request or one of its versions
    "assign_owner": CLIENT_ROLES | {"provider_admin"},  # name who must deliver a request
    "define_kpis": {"client_admin", "provider_admin"},  # pick KPIs, propose and decide their versions
    "submit_kpi_results": PROVIDER_ROLES,
    "review_kpi_results": CLIENT_ROLES,              # accept, reject, excuse; settle service credits
    "commercial": {"client_admin"},                  # commercial settings, monthly volumes and charges
    "governance": CLIENT_ROLES | PROVIDER_ROLES,     # forums, meetings, actions, change requests (not auditors)
    "manage_forum": {"client_admin", "provider_admin"},  # a forum's name, cadence, chair and members
}
PERFORMANCE_FRAMEWORK = "CONTRACT"  # an auditor sees the scorecard only when its grant includes the contract
AUDITOR_READ_ACTIONS = ("auditor.view", "evidence.download", "pack.download")


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


def engagement_of(user: User, engagement_id: int, action: str, what: str) -> Engagement:
    """``engagement_for`` for an object the caller named by its own id (a finding, an incident, a pack…):
    outside the caller's scope it answers "<what> not found", word for word what a missing id answers, so
    that another tenant's ids cannot be told from ids that do not exist."""
    try:
        return engagement_for(user, engagement_id, action)
    except NotFound:
        raise NotFound(f"{what} not found") from None


def _row_id(value: int | str) -> int | None:
    """A database id, or None for anything that cannot be one (garbage, zero, beyond 64 bits, a boolean, a
    fraction, digits other than ASCII ones)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        key = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        key = value
    else:
        return None
    return key if 0 < key < 2**63 else None


def row_id(value: object) -> int | None:
    """A database id from user input, or None (for filters and links that name a row)."""
    return _row_id(value)  # type: ignore[arg-type]


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


def hidden_frameworks(user: User | None) -> frozenset[str]:
    """The frameworks whose names an auditor may not read anywhere (domain.redaction): every live framework
    outside all of its active grants; none for anyone else (an auditor's library pages have no engagement, so
    this is per auditor, not per grant)."""
    if user is None or getattr(user, "role", None) != "auditor":
        return frozenset()
    granted: set[str] = set()
    for grant in active_grants(user):
        granted.update(json.loads(grant.frameworks))
    live = Framework.select(Framework.code).where(Framework.retired_in.is_null()).tuples()
    return frozenset(code for (code,) in live if code not in granted)


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


def whole_engagements_for(user: User) -> pw.ModelSelect | None:
    """Ids of the engagements of which the user sees every request, so that counts kept per engagement
    (``RequestTally``) may stand for its view; None when its view is narrower than whole engagements (an
    auditor sees only the requests of its granted frameworks)."""
    if user is not None and user.is_active and user.role not in CLIENT_ROLES | PROVIDER_ROLES:
        return None
    return engagements_for(user).select(Engagement.id)


def _across(user: User, model: type[pw.Model], in_grant: Callable[[AuditorGrant], pw.Expression]) -> pw.ModelSelect:
    """Rows of ``model`` (which has an ``engagement``) in every engagement the user may see; an auditor's
    are those ``in_grant`` admits for one of its active grants (an OR over the grants)."""
    if user is None or not user.is_active:
        return model.select().where(pw.SQL("1 = 0"))
    if user.role != "auditor":
        return model.select().where(model.engagement.in_(engagements_for(user).select(Engagement.id)))
    visible = pw.SQL("1 = 0")
    for grant in active_grants(user):
        visible = visible | in_grant(grant)
    return model.select().where(visible)


def requests_across(user: User) -> pw.ModelSelect:
    """Evidence requests of every engagement the user may see (an auditor: of its granted frameworks only)."""
    return _across(user, EvidenceRequest, lambda grant: (
        (EvidenceRequest.engagement == grant.engagement_id)
        & EvidenceRequest.control.in_(_controls_in_frameworks(json.loads(grant.frameworks)))))


def visible_controls(user: User, engagement: Engagement) -> pw.ModelSelect:
    codes = granted_framework_codes(user, engagement)
    query = Control.select()
    return query if codes is None else query.where(Control.id.in_(_controls_in_frameworks(codes)))


def subcontractor_for(user: User, subcontractor_id: int | str) -> Subcontractor:
    """A sub-contractor of an engagement the user may see; NotFound otherwise."""
    key = _row_id(subcontractor_id)
    row = None if key is None else (Subcontractor.select()
                                    .where(Subcontractor.id == key,
                                           Subcontractor.engagement.in_(engagements_for(user).select(Engagement.id)))
                                    .first())
    if row is None:
        raise NotFound("sub-contractor not found")
    return row


# ------------------------------------------------------------------------------------------ performance

def sees_performance(user: User, engagement: Engagement) -> bool:
    """KPIs, results and credits of an engagement the user already holds: both parties, and an auditor whose
    grant includes the contract's framework."""
    codes = granted_framework_codes(user, engagement)
    return codes is None or PERFORMANCE_FRAMEWORK in codes


def sees_kpi_templates(user: User) -> bool:
    """The library's KPI templates (they name the contract's framework and clocks): both parties, and an auditor
    only while one of its grants includes the contract."""
    if user.role != "auditor":
        return True
    return any(PERFORMANCE_FRAMEWORK in json.loads(grant.frameworks) for grant in active_grants(user))


def performance_engagement(user: User, engagement_id: int | str, action: str = "view") -> Engagement:
    """``engagement_for`` narrowed to those whose performance the user may see; NotFound otherwise."""
    engagement = engagement_for(user, engagement_id, action)
    if not sees_performance(user, engagement):
        raise NotFound("engagement not found")
    return engagement


def _performance_row(user: User, model: type[pw.Model], row_id: int | str, what: str, action: str) -> pw.Model:
    key = _row_id(row_id)
    row = None if key is None else (model.select().where(model.id == key, model.engagement.in_(
        engagements_for(user).select(Engagement.id))).first())
    if row is None or not permits(user, action) or not sees_performance(user, row.engagement):
        raise NotFound(f"{what} not found")
    return row


def kpi_for(user: User, kpi_id: int | str, action: str = "view") -> Kpi:
    """A KPI of an engagement the user may see (and take ``action`` on); NotFound otherwise."""
    return _performance_row(user, Kpi, kpi_id, "KPI", action)


def kpi_result_for(user: User, result_id: int | str, action: str = "view") -> KpiResult:
    return _performance_row(user, KpiResult, result_id, "KPI result", action)


def service_credit_for(user: User, credit_id: int | str, action: str = "view") -> ServiceCredit:
    return _performance_row(user, ServiceCredit, credit_id, "service credit", action)


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


# ------------------------------------------------------------------------------------------ audit trail

ORG_ADMINS = {"client_admin", "provider_admin"}


def audit_events_for(user: User) -> pw.ModelSelect:
    """The audit events a user may read.

    - Everyone: their own events (as actor, or sign-in attempts made with their e-mail).
    - Client and provider roles: every event of the engagements they see (auditors: none beyond their own;
      the trail names evidence and frameworks outside an auditor's grant).
    - Organisation admins: also their organisation's users' events that concern no engagement (sign-ins,
      failed sign-ins, users, tokens).
    Events of no one's engagement or organisation (the scheduler, the command line) are read with the CLI.
    """
    query = AuditEvent.select()
    if user is None or not user.is_active:
        return query.where(pw.SQL("1 = 0"))
    own = (AuditEvent.actor == user.id) | (AuditEvent.actor_email == user.email)
    visible = own
    if user.role in CLIENT_ROLES | PROVIDER_ROLES:
        of_engagements = AuditEvent.engagement.in_(engagements_for(user).select(Engagement.id))
        if not permits(user, "access_log"):  # auditors' reads are the access log's, which is the client's alone
            of_engagements &= ~(AuditEvent.action.in_(AUDITOR_READ_ACTIONS) & AuditEvent.actor.in_(
                User.select(User.id).where(User.role == "auditor")))
        visible |= of_engagements
    if user.role in ORG_ADMINS:
        members = User.select(User.id).where(User.organisation == user.organisation_id)
        emails = User.select(User.email).where(User.organisation == user.organisation_id)
        ids = User.select(User.id.cast("VARCHAR")).where(User.organisation == user.organisation_id)
        visible |= AuditEvent.engagement.is_null() & (
            AuditEvent.actor.in_(members) | AuditEvent.actor_email.in_(emails)
            | ((AuditEvent.object_type == "user") & AuditEvent.object_id.in_(ids)))
    return query.where(visible)
# ------------------------------------------------------------------------------------------ administration
# Admins manage the users of their own organisation, and only roles of their own side.
MANAGED_ROLES: dict[str, tuple[str, ...]] = {
    "client_admin": ("client_admin", "risk_reviewer"),
    "provider_admin": ("provider_admin", "provider_contributor"),
}


def invitations_for(user: User) -> pw.ModelSelect:
    """Engagement invitations the user may see: its client's (client roles); for a provider admin, the pending
    ones addressed to its organisation's name and the ones it accepted. Nobody else sees any: an invitation
    tells a provider who wants it, not the client who else exists."""
    query = EngagementInvitation.select(EngagementInvitation, Engagement).join(Engagement)
    if user is None or not user.is_active:
        return query.where(pw.SQL("1 = 0"))
    if user.role in CLIENT_ROLES:
        return query.where(Engagement.client == user.organisation_id)
    if user.role != "provider_admin":
        return query.where(pw.SQL("1 = 0"))
    org = Organisation.get_by_id(user.organisation_id)
    return query.where(((EngagementInvitation.state == "pending")
                        & (EngagementInvitation.name_key == org.name.casefold()))
                       | (Engagement.provider == user.organisation_id))


def invitation_for(user: User, invitation_id: int | str, action: str = "view") -> EngagementInvitation:
    """One invitation the user may see and, for ``decide``, answer (a provider admin); NotFound otherwise,
    the same for another tenant's id as for a missing one."""
    key = _row_id(invitation_id)
    row = None if key is None else invitations_for(user).where(EngagementInvitation.id == key).first()
    if row is None or (action == "decide" and user.role != "provider_admin"):
        raise NotFound("invitation not found")
    return row


def require_user_admin(user: User) -> User:
    """The user, if it administers its organisation's users; NotFound otherwise."""
    if user is None or not user.is_active or user.role not in MANAGED_ROLES:
        raise NotFound("not found")
    return user


def organisation_for_admin(user: User, organisation_id: int | str) -> Organisation:
    """The organisation whose settings (single sign-on) the caller administers: its own, and only as its
    admin; NotFound for any other id, so that another organisation's id answers like a missing one."""
    key = _row_id(organisation_id)
    if key is None or user is None or not user.is_active or user.role not in MANAGED_ROLES \
            or key != user.organisation_id:
        raise NotFound("organisation not found")
    return Organisation.get_by_id(key)


def users_for(admin: User) -> pw.ModelSelect:
    """The users an admin manages: its own organisation's."""
    require_user_admin(admin)
    return User.select().where(User.organisation == admin.organisation_id)


def user_for(admin: User, user_id: int | str) -> User:
    key = _row_id(user_id)
    user = None if key is None else users_for(admin).where(User.id == key).first()
    if user is None:
        raise NotFound("user not found")
    return user


def tokens_for(user: User) -> pw.ModelSelect:
    """A user's own API tokens (nobody sees another's)."""
    return ApiToken.select().where(ApiToken.user == user.id)


def token_for(user: User, token_id: int | str) -> ApiToken:
    key = _row_id(token_id)
    token = None if key is None else tokens_for(user).where(ApiToken.id == key).first()
    if token is None:
        raise NotFound("token not found")
    return token
def evidence_of(user: User, engagement: Engagement) -> pw.ModelSelect:
    """Evidence of an engagement the caller holds from ``engagement_for``: an auditor sees accepted
    evidence of the requests of its granted frameworks only."""
    query = Evidence.select().where(Evidence.engagement == engagement)
    if user.role == "auditor":
        query = query.where(Evidence.status.in_(AUDITOR_EVIDENCE_STATES),
                            Evidence.request.in_(requests_for(user, engagement).select(EvidenceRequest.id)))
    return query


def grant_for(user: User, grant_id: int | str) -> AuditorGrant:
    """A grant the caller may manage (client_admin of its engagement's client); NotFound otherwise."""
    key = _row_id(grant_id)
    grant = None if key is None else AuditorGrant.get_or_none(AuditorGrant.id == key)
    if grant is None:
        raise NotFound("grant not found")
    engagement_of(user, grant.engagement_id, "manage", "grant")
    return grant


def packs_for(user: User, engagement: Engagement) -> pw.ModelSelect:
    """Packs of an engagement: the client's, or an auditor's whose frameworks all lie within its grant."""
    query = Pack.select().where(Pack.engagement == engagement)
    if not permits(user, "build_pack"):
        return query.where(pw.SQL("1 = 0"))
    codes = granted_framework_codes(user, engagement)
    if codes is None:
        return query
    mine = [p.id for p in query.where(Pack.requested_by == user) if set(json.loads(p.frameworks)) <= codes]
    return query.where(Pack.id.in_(mine))


def pack_for(user: User, pack_id: int | str) -> Pack:
    key = _row_id(pack_id)
    pack = None if key is None else Pack.get_or_none(Pack.id == key)
    if pack is None:
        raise NotFound("pack not found")
    try:
        engagement = engagement_of(user, pack.engagement_id, "build_pack", "pack")
    except NotFound:
        raise_if_access_ended(user, pack.engagement_id)  # an auditor whose grant ended is told so
        raise
    if not packs_for(user, engagement).where(Pack.id == pack.id).exists():
        raise NotFound("pack not found")
    return pack


def change_for(user: User, change_id: int | str, action: str = "view") -> ChangeEvent:
    """A change event of an engagement the user may take ``action`` on; NotFound otherwise (the same answer as
    for an id that does not exist)."""
    key = _row_id(change_id)
    change = None if key is None else ChangeEvent.get_or_none(ChangeEvent.id == key)
    if change is None:
        raise NotFound("change event not found")
    try:
        engagement_for(user, change.engagement_id, action)
    except NotFound:
        raise NotFound("change event not found") from None
    return change


def ended_grant(user: User, engagement_id: int | None = None) -> AuditorGrant | None:
    """An auditor's latest grant that has ended (expired or revoked), on ``engagement_id`` or any engagement,
    when no grant of theirs is active there; None otherwise (and for everyone else)."""
    if user.role != "auditor":
        return None
    now = utcnow()
    query = AuditorGrant.select().where(AuditorGrant.auditor == user,
                                        AuditorGrant.revoked_at.is_null(False) | (AuditorGrant.expires_at <= now))
    if engagement_id is not None:
        if active_grants(user).where(AuditorGrant.engagement == engagement_id).exists():
            return None
        query = query.where(AuditorGrant.engagement == engagement_id)
    elif active_grants(user).exists():
        return None
    return query.order_by(AuditorGrant.expires_at.desc()).first()


def raise_if_access_ended(user: User, engagement_id: int) -> None:
    """For an auditor whose grant on the engagement has ended: say so (AccessEnded), instead of "not found"."""
    grant = ended_grant(user, engagement_id)
    if grant is not None:
        ended = grant.revoked_at if grant.revoked_at and grant.revoked_at < grant.expires_at else grant.expires_at
        how = "was revoked" if grant.revoked_at and grant.revoked_at < grant.expires_at else "expired"
        raise AccessEnded(f"your access to this engagement ended: your auditor grant {how} on "
                          f"{ended:%d %b %Y %H:%M} UTC; ask the client's administrator for a new grant")


def visible_clock_rules(user: User, engagement: Engagement) -> set[str] | None:
    """The clock rules whose outcomes the user may see; None means all."""
    codes = granted_framework_codes(user, engagement)
    return None if codes is None else clock_rules_in(codes)


def clock_rules_in(codes: Iterable[str]) -> set[str]:
    """The ids of the clock rules that belong to these frameworks (a rule belongs to one framework)."""
    rows = ClockRule.select(ClockRule.rule_id).where(ClockRule.framework_code.in_(list(codes))).tuples()
    return {rule_id for (rule_id,) in rows}


def clocks_for(user: User, engagement: Engagement) -> pw.ModelSelect:
    """The clocks of an engagement the caller holds from ``engagement_for``: an auditor sees those of the
    rules of its granted frameworks only (a rule id names its framework)."""
    query = Clock.select().where(Clock.engagement == engagement.id)
    rules = visible_clock_rules(user, engagement)
    return query if rules is None else query.where(Clock.rule_id.in_(sorted(rules)))


def clocks_across(user: User) -> pw.ModelSelect:
    """The clocks of every engagement the user may see (an auditor: of each grant's frameworks' rules)."""
    return _across(user, Clock, lambda grant: (
        (Clock.engagement == grant.engagement_id)
        & Clock.rule_id.in_(sorted(clock_rules_in(json.loads(grant.frameworks))) or [""])))


def findings_in_frameworks(engagement: Engagement, codes: Iterable[str]) -> pw.ModelSelect:
    """Findings of an engagement that name nothing outside these frameworks: none tied to a request of a
    control outside them, nor to a clock of another framework's rule (its title names the rule)."""
    codes = list(codes)
    requests = EvidenceRequest.select(EvidenceRequest.id).where(
        EvidenceRequest.engagement == engagement.id, EvidenceRequest.control.in_(_controls_in_frameworks(codes)))
    clocks = Clock.select(Clock.id).where(Clock.engagement == engagement.id,
                                          Clock.rule_id.in_(sorted(clock_rules_in(codes)) or [""]))
    return Finding.select().where(Finding.engagement == engagement.id,
                                  Finding.request.is_null() | Finding.request.in_(requests),
                                  Finding.clock.is_null() | Finding.clock.in_(clocks))


def findings_for(user: User, engagement: Engagement) -> pw.ModelSelect:
    """Findings of an engagement the caller holds from ``engagement_for``; an auditor's are those of its
    granted frameworks (``findings_in_frameworks``)."""
    codes = granted_framework_codes(user, engagement)
    if codes is None:
        return Finding.select().where(Finding.engagement == engagement.id)
    return findings_in_frameworks(engagement, codes)


def findings_across(user: User) -> pw.ModelSelect:
    """Findings of every engagement the user may see (an auditor: of each grant's frameworks only)."""
    return _across(user, Finding, lambda grant: Finding.id.in_(
        findings_in_frameworks(Engagement(id=grant.engagement_id), json.loads(grant.frameworks)).select(Finding.id)))


# ------------------------------------------------------------------------------------------ the library

def library_codes(user: User) -> set[str] | None:
    """The framework codes a user may read in the library, the coverage matrix and the filters; None means
    all. An auditor sees nothing but through its grants (SPEC §1): the frameworks its active grants name."""
    by_engagement = readable_frameworks_by_engagement(user)
    return None if by_engagement is None else set().union(*by_engagement.values())


def readable_framework(user: User, code: str) -> str:
    """A ``?framework=`` value the user may filter by; ValidationError for any other, an auditor's framework
    outside its grants answered as an unknown one (filtering by it would show which controls map to it)."""
    allowed = library_codes(user)
    if allowed is not None and code not in allowed:
        raise ValidationError(f"no framework {code!r} in the library", field="framework")
    return code


def library_frameworks(user: User) -> pw.ModelSelect:
    """The live frameworks the user may read."""
    query = Framework.select().where(Framework.retired_in.is_null()).order_by(Framework.code)
    codes = library_codes(user)
    return query if codes is None else query.where(Framework.code.in_(sorted(codes)))


def library_framework(user: User, code: str) -> Framework:
    """A live framework the user may read; NotFound otherwise (an auditor's ungranted one as an unknown one)."""
    framework = library_frameworks(user).where(Framework.code == code).first()
    if framework is None:
        raise NotFound(f"no framework {code!r} in the library")
    return framework


def library_controls(user: User) -> pw.ModelSelect:
    """The live controls the user may read: an auditor's are those mapped to a framework it may read."""
    query = Control.select().where(Control.retired_in.is_null())
    codes = library_codes(user)
    return query if codes is None else query.where(Control.id.in_(_controls_in_frameworks(codes)))


def library_control(user: User, code: str) -> Control:
    control = library_controls(user).where(Control.code == code).first()
    if control is None:
        raise NotFound(f"no control {code!r} in the library")
    return control


def readable_frameworks_by_engagement(user: User) -> dict[int, set[str]] | None:
    """Engagement id -> the framework codes an auditor may see on it (its active grants); None means all."""
    if user.role != "auditor":
        return None
    out: dict[int, set[str]] = {}
    for grant in active_grants(user):
        out.setdefault(grant.engagement_id, set()).update(json.loads(grant.frameworks))
    return out


def hidden_names(user: User) -> list[str] | None:
    """The framework codes and clock rule ids the user may not read (None: it reads them all), to take out
    of library prose shown to it (``domain.library.without_names``)."""
    allowed = library_codes(user)
    if allowed is None:
        return None
    codes = [c for (c,) in Framework.select(Framework.code).where(Framework.code.not_in(sorted(allowed))).tuples()]
    rules = ClockRule.select(ClockRule.rule_id).where(ClockRule.framework_code.not_in(sorted(allowed))).tuples()
    return codes + [r for (r,) in rules]


def readable_codes(user: User, codes: Iterable[str]) -> list[str]:
    """Of these framework codes, those the user may read (a control's mappings, a filter's choices)."""
    allowed = library_codes(user)
    return [c for c in codes if allowed is None or c in allowed]


def auditor_reads_for(user: User, engagement: Engagement) -> pw.ModelSelect:
    """The auditor access log of an engagement (client roles only): every read an auditor made in it."""
    engagement_for(user, engagement.id, "access_log")
    return AuditEvent.select().where(AuditEvent.engagement == engagement,
                                     AuditEvent.action.in_(AUDITOR_READ_ACTIONS),
                                     AuditEvent.actor.in_(User.select(User.id).where(User.role == "auditor")))


# ------------------------------------------------------------------------------------------ governance

def governed_engagements(user: User) -> pw.ModelSelect:
    """Ids of the engagements whose governance the user sees: the client's and the provider's people, never
    an auditor (its grant is to evidence of chosen frameworks, not to the parties' meetings)."""
    if user is None or not user.is_active or not permits(user, "governance"):
        return Engagement.select(Engagement.id).where(pw.SQL("1 = 0"))
    return engagements_for(user).select(Engagement.id)


def _governed_row(user: User, model: type[pw.Model], row_id: int | str, what: str) -> pw.Model:
    key = _row_id(row_id)
    row = None if key is None else (model.select()
                                    .where(model.id == key, model.engagement.in_(governed_engagements(user)))
                                    .first())
    if row is None:
        raise NotFound(f"{what} not found")
    return row


def forum_for(user: User, forum_id: int | str) -> Forum:
    return _governed_row(user, Forum, forum_id, "forum")


def meeting_for(user: User, meeting_id: int | str) -> Meeting:
    return _governed_row(user, Meeting, meeting_id, "meeting")


def action_for(user: User, action_id: int | str) -> Action:
    return _governed_row(user, Action, action_id, "action")


def change_request_for(user: User, change_request_id: int | str) -> ChangeRequest:
    return _governed_row(user, ChangeRequest, change_request_id, "change request")


def performance_report_for(user: User, report_id: int | str) -> PerformanceReport:
    return _governed_row(user, PerformanceReport, report_id, "report")
# ------------------------------------------------------------------------------------------ integrations

def webhooks_for(admin: User) -> pw.ModelSelect:
    """The live webhook endpoints an admin manages: its own organisation's."""
    require_user_admin(admin)
    return WebhookEndpoint.select().where(WebhookEndpoint.organisation == admin.organisation_id,
                                          WebhookEndpoint.deleted_at.is_null())


def webhook_for(admin: User, endpoint_id: int | str) -> WebhookEndpoint:
    """One of the admin's organisation's live webhooks; to anyone else, exactly like a missing one."""
    key = _row_id(endpoint_id)
    admins = admin is not None and admin.is_active and admin.role in MANAGED_ROLES
    endpoint = None if key is None or not admins else webhooks_for(admin).where(WebhookEndpoint.id == key).first()
    if endpoint is None:
        raise NotFound("webhook not found")
    return endpoint


def calendar_feeds_for(user: User) -> pw.ModelSelect:
    """A user's own calendar feeds (nobody sees another's)."""
    return CalendarFeed.select().where(CalendarFeed.user == user.id)


def calendar_feed_for(user: User, feed_id: int | str) -> CalendarFeed:
    key = _row_id(feed_id)
    feed = None if key is None else calendar_feeds_for(user).where(CalendarFeed.id == key).first()
    if feed is None:
        raise NotFound("calendar feed not found")
    return feed
