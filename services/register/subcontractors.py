"""The service provider register (SPEC §2): sub-contractors, the client's decision, the clocks they start,
the APP 8 cross-border recipients and their reasonable-steps request series, the derived ``offshore`` flag.

Rules are in ``domain.subcontractors``; access in ``services.scope``. Every write records its audit event in
the same transaction, and a refused input changes nothing.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import peewee as pw

from domain import subcontractors as rules
from domain.applicability import EngagementScope, decide
from domain.clocks import ClockError, check_offshoring_notice
from domain.errors import Conflict, ValidationError
from domain.timeutil import parse_date, start_of_local_day
from models import (
    Applicability,
    Clock,
    Engagement,
    EngagementFramework,
    EvidenceRequest,
    Framework,
    Subcontractor,
    User,
    transaction,
    utcnow,
)
from services import scope
from services.audit import audit_log
from services.incidents import clocks

from . import planning
from .engagements import _text, control_facts
from .planning import plan_recipient_series, replan_engagement

PRIOR_NOTICE_RULE = "CONTRACT-SUBCON"
ARRANGEMENT_RULE = "CPS230-ARRANGEMENT"
SUBJECT = "subcontractor"


# --------------------------------------------------------------------------- reading

def loads(text: str) -> list[str]:
    return json.loads(text or "[]")


def side_of(user: User) -> str:
    return "client" if user.role in scope.CLIENT_ROLES else "provider" if user.role in scope.PROVIDER_ROLES else ""


def subcontractors_of(engagement: Engagement) -> pw.ModelSelect:
    return (Subcontractor.select().where(Subcontractor.engagement == engagement.id)
            .order_by(Subcontractor.proposed_at, Subcontractor.id))


def register_across(user: User) -> pw.ModelSelect:
    """Every sub-contractor of every engagement the user may see, with its engagement."""
    return (Subcontractor.select(Subcontractor, Engagement).join(Engagement)
            .where(Subcontractor.engagement.in_(scope.engagements_for(user).select(Engagement.id)))
            .order_by(Engagement.name, Subcontractor.proposed_at, Subcontractor.id))


def clocks_by_subcontractor(user: User, ids: list[int]) -> dict[int, list[Clock]]:
    """The clocks of these sub-contractors that ``user`` may see (``scope.clocks_across``), in one query."""
    out: dict[int, list[Clock]] = {i: [] for i in ids}
    if ids:
        for clock in (scope.clocks_across(user).where(Clock.subject_type == SUBJECT, Clock.subject_id.in_(ids))
                      .order_by(Clock.rule_id)):
            out[clock.subject_id].append(clock)
    return out


@dataclass(frozen=True)
class RegisterEntry:
    """One line of the register as it stood on a date (``status`` is the status then)."""
    tier: str  # provider | subcontractor
    name: str
    services: list[str]
    critical_operations: list[str]
    countries: list[str]
    data_categories: list[str]
    material: bool
    status: str
    agreement_date: dt.date | None
    apra_notified_on: dt.date | None
    decision_reason: str = ""
    id: int | None = None

    @property
    def offshore(self) -> bool:
        return rules.is_offshore(self.countries)


def _local_date(value: dt.datetime, tz: str) -> dt.date:
    return value.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz)).date()


def register_as_of(engagement: Engagement, day: dt.date) -> list[RegisterEntry]:
    """The register on ``day`` (engagement-local): the provider, then each sub-contractor proposed by then,
    with the status it had that day. For the SoA and the auditor's PDF pack (as of the period's end)."""
    tz = engagement.timezone
    entries = [RegisterEntry(tier="provider", name=engagement.provider.name, services=["Contact centre"],
                             critical_operations=["Customer enquiries"], countries=[rules.HOME_COUNTRY],
                             data_categories=[], material=True,
                             status="approved" if engagement.start_date <= day else "proposed",
                             agreement_date=engagement.start_date, apra_notified_on=None)]
    for sub in subcontractors_of(engagement):
        if _local_date(sub.proposed_at, tz) > day:
            continue
        decided = sub.decided_at is not None and _local_date(sub.decided_at, tz) <= day
        entries.append(RegisterEntry(
            tier="subcontractor", id=sub.id, name=sub.name, services=loads(sub.services),
            critical_operations=loads(sub.critical_operations), countries=loads(sub.countries),
            data_categories=loads(sub.data_categories), material=sub.material,
            status=sub.status if decided else "proposed",
            agreement_date=sub.agreement_date if sub.agreement_date and sub.agreement_date <= day else None,
            apra_notified_on=sub.apra_notified_on if sub.apra_notified_on and sub.apra_notified_on <= day else None,
            decision_reason=sub.decision_reason if decided else ""))
    return entries


def recipient_requests(engagement: Engagement, ids: list[int],
                       visible: pw.ModelSelect | None = None) -> dict[int, list[EvidenceRequest]]:
    """Each recipient's reasonable-steps request series, oldest first; of ``visible`` only (``scope.requests_for``:
    an auditor sees those of its granted frameworks)."""
    out: dict[int, list[EvidenceRequest]] = {i: [] for i in ids}
    if ids:
        query = EvidenceRequest.select().where(EvidenceRequest.engagement == engagement.id,
                                               EvidenceRequest.lane.in_(ids))
        if visible is not None:
            query = query.where(EvidenceRequest.id.in_(visible.select(EvidenceRequest.id)))
        for request in query.order_by(EvidenceRequest.period_start):
            out[request.lane].append(request)
    return out


# --------------------------------------------------------------------------- proposing

def _flag(data: dict, field: str) -> bool:
    value = data.get(field, False)
    if isinstance(value, bool):
        return value
    if value in ("1", "true", "on", "yes"):
        return True
    if value in (None, "", "0", "false", "off", "no"):
        return False
    raise ValidationError(f"{field} must be true or false", field=field)


def _optional_date(data: dict, field: str) -> dt.date | None:
    text = _text(data, field, required=False, limit=40)
    if not text:
        return None
    try:
        return parse_date(text)
    except ValueError as exc:
        raise ValidationError(str(exc), field=field) from None


def parse_proposal(data: dict) -> dict:
    """Validate a proposal (JSON or form) into model fields; ValidationError names the field."""
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    personal = _flag(data, "personal_information")
    fields = {
        "name": _text(data, "name"),
        "services": json.dumps(rules.text_list(data.get("services"), "services")),
        "critical_operations": json.dumps(rules.text_list(data.get("critical_operations"), "critical_operations",
                                                          required=False)),
        "countries": json.dumps(rules.country_codes(data.get("countries"))),
        "data_categories": json.dumps(rules.text_list(data.get("data_categories"), "data_categories",
                                                      required=False)),
        "material": _flag(data, "material"),
        "personal_information": personal,
        "personal_information_detail": _text(data, "personal_information_detail", required=False, limit=300),
        "agreement_date": _optional_date(data, "agreement_date"),
    }
    if personal and not fields["personal_information_detail"]:
        categories = loads(fields["data_categories"])
        if not categories:
            raise ValidationError("say which personal information it receives (personal_information_detail or "
                                  "data_categories)", field="personal_information_detail")
        fields["personal_information_detail"] = ", ".join(categories)[:300]
    return fields


def propose(actor: User, engagement_id: int | str, data: dict, *, ip: str = "",
            now: dt.datetime | None = None) -> Subcontractor:
    """The provider proposes a sub-contractor; a material or offshore one starts the prior-notice clock."""
    engagement = scope.engagement_for(actor, engagement_id)
    if not scope.permits(actor, "propose_subcontractor"):
        raise ValidationError("only the provider's admin proposes sub-contractors", field="name")
    fields = parse_proposal(data)
    now = now or utcnow()
    with transaction():
        if subcontractors_of(engagement).where(pw.fn.LOWER(Subcontractor.name) == fields["name"].lower(),
                                               Subcontractor.status != "rejected").exists():
            raise Conflict(f"{fields['name']!r} is already on this engagement's register", field="name")
        sub = Subcontractor.create(engagement=engagement.id, proposed_by=actor, proposed_at=now, **fields)
        offshore = rules.is_offshore(loads(sub.countries))
        audit_log.record("subcontractor.propose", actor=actor, object_type="subcontractor", object_id=sub.id,
                         engagement=engagement, ip=ip,
                         details={"name": sub.name, "countries": loads(sub.countries), "material": sub.material,
                                  "offshore": offshore})
        if rules.starts_prior_notice(sub.material, offshore):
            clocks.start_clock(engagement, PRIOR_NOTICE_RULE, now, subject=(SUBJECT, sub.id),
                               how="proposed by the provider", actor=actor, ip=ip)
    return sub


# --------------------------------------------------------------------------- APRA notice and decision

def record_apra_notice(actor: User, subcontractor_id: int | str, data: dict, *, ip: str = "",
                       now: dt.datetime | None = None) -> Subcontractor:
    """The client records when it notified APRA of the offshoring (CPS 230 59(b)), before deciding."""
    sub = scope.subcontractor_for(actor, subcontractor_id)
    engagement = scope.engagement_for(actor, sub.engagement_id, "notify")
    now = now or utcnow()
    notified_on = _optional_date(data if isinstance(data, dict) else {}, "notified_on")
    if notified_on is None:
        raise ValidationError("notified_on (the date APRA was notified) is required", field="notified_on")
    if not rules.is_offshore(loads(sub.countries)):
        raise ValidationError("this sub-contractor is not offshore: no CPS 230 59(b) notice is needed",
                              field="notified_on")
    rules.check_apra_notice(notified_on=notified_on, proposed_on=_local_date(sub.proposed_at, engagement.timezone),
                            today=_local_date(now, engagement.timezone), status=sub.status)
    with transaction():
        if not (Subcontractor.update(apra_notified_on=notified_on)
                .where(Subcontractor.id == sub.id, Subcontractor.status == "proposed").execute()):
            raise Conflict("the sub-contractor was decided meanwhile", field="notified_on")
        audit_log.record("subcontractor.apra_notice", actor=actor, object_type="subcontractor", object_id=sub.id,
                         engagement=engagement, ip=ip, details={"notified_on": notified_on.isoformat()})
    return Subcontractor.get_by_id(sub.id)


def decide_on(actor: User, subcontractor_id: int | str, data: dict, *, ip: str = "",
              now: dt.datetime | None = None) -> Subcontractor:
    """The client approves or rejects, with a reason, once. Approval of a material one with its agreement
    date starts CPS230-ARRANGEMENT; an offshore one updates the engagement's ``offshore`` flag."""
    sub = scope.subcontractor_for(actor, subcontractor_id)
    engagement = scope.engagement_for(actor, sub.engagement_id)
    data = data if isinstance(data, dict) else {}
    now = now or utcnow()
    reason = _text(data, "reason", required=False, limit=2000)
    offshore = rules.is_offshore(loads(sub.countries))
    side = side_of(actor)
    if side == "client" and not scope.permits(actor, "decide_subcontractor"):
        raise ValidationError("only the client's admin decides on sub-contractors", field="decision")
    target = rules.check_decision(status=sub.status, side=side, decision=data.get("decision"), reason=reason,
                                  offshore=offshore, apra_notified_on=sub.apra_notified_on)
    agreement_date = _optional_date(data, "agreement_date") or sub.agreement_date
    if target == "approved" and sub.material and agreement_date is None:
        raise ValidationError("approving a material sub-contractor needs its agreement_date "
                              "(it starts the CPS230-ARRANGEMENT clock)", field="agreement_date")
    if target == "approved" and offshore and agreement_date is not None:
        try:
            check_offshoring_notice(agreement_date, sub.apra_notified_on)
        except ClockError as exc:
            raise ValidationError(str(exc), field=exc.field) from None
    with transaction():
        if not (Subcontractor.update(status=target, decided_by=actor, decided_at=now, decision_reason=reason,
                                     agreement_date=agreement_date)
                .where(Subcontractor.id == sub.id, Subcontractor.status == "proposed").execute()):
            raise Conflict("this sub-contractor was decided meanwhile; a decision is final", field="decision")
        planning.invalidate(engagement.id)  # an approved recipient gets its request series at the next tick
        audit_log.record("subcontractor.decision", actor=actor, object_type="subcontractor", object_id=sub.id,
                         engagement=engagement, ip=ip,
                         details={"decision": target, "reason": reason, "offshore": offshore,
                                  "agreement_date": agreement_date.isoformat() if agreement_date else None})
        _stop_prior_notice(engagement, sub, now, actor, ip)
        if target == "approved":
            _after_approval(engagement, Subcontractor.get_by_id(sub.id), actor, ip, now)
    return Subcontractor.get_by_id(sub.id)


def _stop_prior_notice(engagement: Engagement, sub: Subcontractor, now: dt.datetime, actor: User, ip: str) -> None:
    clock = Clock.get_or_none(Clock.engagement == engagement.id, Clock.subject_type == SUBJECT,
                              Clock.subject_id == sub.id, Clock.rule_id == PRIOR_NOTICE_RULE)
    if clock is not None and clock.state == "running":
        clocks.record_notice(clock, now, actor=actor, ip=ip, now=now)


def _after_approval(engagement: Engagement, sub: Subcontractor, actor: User, ip: str, now: dt.datetime) -> None:
    if sub.material and sub.agreement_date is not None:
        clocks.start_clock(engagement, ARRANGEMENT_RULE, start_of_local_day(sub.agreement_date, engagement.timezone),
                           subject=(SUBJECT, sub.id), how=f"agreement date {sub.agreement_date.isoformat()}",
                           actor=actor, ip=ip)
    sync_offshore(engagement, actor=actor, ip=ip, now=now)
    plan_recipient_series(Engagement.get_by_id(engagement.id), now)


# --------------------------------------------------------------------------- derived offshore flag

def register_is_offshore(engagement: Engagement) -> bool:
    return any(rules.is_offshore(loads(s.countries))
               for s in subcontractors_of(engagement).where(Subcontractor.status == "approved"))


def sync_offshore(engagement: Engagement, *, actor: User | None = None, ip: str = "",
                  now: dt.datetime | None = None) -> bool:
    """Set the engagement's ``offshore`` flag from its register, re-decide the offshore controls'
    applicability and re-plan the schedule as a Statement of Applicability edit does
    (``services.register.planning.replan_engagement``: the upcoming requests of controls that stop applying are
    retired, those of controls that start applying planned or revived). Returns the flag."""
    offshore = register_is_offshore(engagement)
    if offshore == engagement.offshore:
        return offshore
    with transaction():
        Engagement.update(offshore=offshore).where(Engagement.id == engagement.id).execute()
        _redecide_offshore_controls(engagement, offshore)
        planned = replan_engagement(Engagement.get_by_id(engagement.id), now=now)  # also invalidates planning
        audit_log.record("engagement.offshore", actor=actor, actor_email=None if actor else "system",
                         object_type="engagement", object_id=engagement.id, engagement=engagement, ip=ip,
                         details={"offshore": offshore, "source": "service provider register",
                                  "requests": planned.counts()})
    return offshore


def _redecide_offshore_controls(engagement: Engagement, offshore: bool) -> None:
    """Re-decide the offshore controls' SoA rows nobody edited by hand (as ``rescope_applicability``)."""
    codes = {f.code for f in Framework.select(Framework.code).join(EngagementFramework)
             .where(EngagementFramework.engagement == engagement.id)}
    engagement_scope = EngagementScope(frozenset(codes), engagement.card_payments, offshore)
    for control_id, (_control, facts) in control_facts().items():
        if facts.requires != "offshore":
            continue
        applicable, why = decide(facts, engagement_scope)
        if offshore and applicable:
            why += " Offshore follows from the service provider register (an approved offshore sub-contractor)."
        (Applicability.update(applicable=applicable, justification=why, updated_at=utcnow())
         .where(Applicability.engagement == engagement.id, Applicability.control == control_id,
                Applicability.edited_at.is_null()).execute())  # a hand-edited row keeps its decision
