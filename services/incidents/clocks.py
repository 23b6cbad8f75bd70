"""Notification clocks in the database: start, notice, pending → running, breach (rules in ``domain.clocks``).

Any capability can start a clock on its own subject, e.g. a sub-contractor arrangement::

    from services.incidents import clocks
    clock = clocks.start_clock(engagement, "CPS230-ARRANGEMENT", agreement_instant,
                               subject=("subcontractor", sub.id), actor=user)
    clocks.record_notice(clock, notified_at, evidence=None, actor=user)

``started_at`` is naive UTC (``None`` leaves the clock ``pending``). A clock is unique per
(engagement, subject, rule): starting it again returns the existing clock unchanged.
"""
from __future__ import annotations

import datetime as dt
import json

import peewee as pw

from domain.business_days import BusinessCalendar
from domain.clocks import (
    ClockError,
    Rule,
    Settings,
    check_notice,
    check_transition,
    state_after_assessment,
    state_after_notice,
    timing,
)
from domain.errors import Conflict, NotFound, ValidationError
from models import (
    Acquirer,
    Clock,
    ClockRule,
    Engagement,
    Evidence,
    HolidayOverride,
    Incident,
    User,
    transaction,
    utcnow,
)
from services.audit import audit_log

Subject = tuple[str, int] | pw.Model | None
OPTIONAL_SETTINGS = ("provider_privacy_act", "soci_reporting", "ransomware_reporting")


def rule(rule_id: str) -> Rule:
    """The live library rule ``rule_id``; ValidationError (field ``rule``) when there is none."""
    row = ClockRule.get_or_none(ClockRule.rule_id == rule_id, ClockRule.retired_in.is_null())
    if row is None:
        raise ValidationError(f"unknown clock rule {rule_id!r}", field="rule")
    return rule_of(row)


def rule_of(row: ClockRule) -> Rule:
    return Rule(rule_id=row.rule_id, trigger=json.loads(row.trigger), start=row.start_field, duration=row.duration,
                unit=row.unit, internal_target_hours=row.internal_target_hours, title=row.title, note=row.note,
                calendar=row.calendar)


def live_rules() -> list[Rule]:
    return [rule_of(r) for r in ClockRule.select().where(ClockRule.retired_in.is_null()).order_by(ClockRule.rule_id)]


def settings(engagement: Engagement) -> Settings:
    """The engagement's clock settings, with the holiday overrides of its place and of the client's head office
    (a rule may name the head-office calendar whatever the engagement chose)."""
    office = engagement.head_office or engagement.place
    overrides: dict[str, dict[dt.date, bool]] = {engagement.place: {}, office: {}}
    for place, day, is_holiday in (HolidayOverride.select(HolidayOverride.place, HolidayOverride.date,
                                                          HolidayOverride.is_holiday)
                                   .where(HolidayOverride.place.in_(sorted(overrides))).tuples()):
        overrides[place][day] = is_holiday
    return Settings(place=engagement.place, timezone=engagement.timezone,
                    contract_notice_hours=engagement.contract_notice_hours,
                    pci_acquirer_hours=engagement.pci_acquirer_hours,
                    provider_awareness_is_client=engagement.provider_awareness_is_client,
                    overrides=overrides[engagement.place], office_overrides=overrides[office],
                    enabled=enabled_settings(engagement), acquirers=acquirers_of(engagement),
                    pci_brand_target_hours=engagement.pci_brand_target_hours,
                    calendar=engagement.business_day_calendar, head_office=engagement.head_office,
                    region=engagement.site_region)


def business_calendar(engagement: Engagement) -> BusinessCalendar:
    """The calendar the engagement's business days count by (its setting, the override table included): for
    clocks and for the corrective-action due dates of the governance rule alike."""
    return settings(engagement).business_calendar()[0]


def acquirers_of(engagement: Engagement) -> tuple[tuple[str, int], ...]:
    """The engagement's acquirers and their notice hours, by name."""
    return tuple(Acquirer.select(Acquirer.name, Acquirer.hours).where(Acquirer.engagement == engagement.id)
                 .order_by(Acquirer.name).tuples())


def enabled_settings(engagement: Engagement) -> frozenset[str]:
    """The engagement's switches that turn optional clock rules on (a rule's trigger ``engagement``)."""
    return frozenset(name for name in OPTIONAL_SETTINGS if getattr(engagement, name))


def _subject_key(subject: Subject, incident: Incident | None) -> tuple[str, int]:
    if subject is None:
        if incident is None:
            raise ValueError("a clock needs an incident or a subject")
        return "incident", incident.id
    if isinstance(subject, pw.Model):
        return subject._meta.table_name, subject.id
    kind, key = subject
    return str(kind), int(key)


def start_clock(engagement: Engagement, rule_id: str, started_at: dt.datetime | None, *,
                incident: Incident | None = None, subject: Subject = None, how: str = "",
                actor: User | None = None, ip: str = "", established_at: dt.datetime | None = None,
                party: str = "") -> Clock:
    """Start the clock ``rule_id`` for ``subject`` (or ``incident``) at ``started_at`` (naive UTC; None: pending).

    Records its deadline, basis and calendar and the audit event ``clock.start``; returns the existing
    clock when this subject already has one for the rule. ``established_at``: when the fact that started it
    was established (a flag added later); a pending clock starts no earlier than that. ``party``: whom the
    clock is owed to where the rule has several (an acquirer).
    """
    the_rule = rule(rule_id)
    subject_type, subject_id = _subject_key(subject, incident)
    with transaction():
        existing = Clock.get_or_none(Clock.engagement == engagement.id, Clock.subject_type == subject_type,
                                     Clock.subject_id == subject_id, Clock.rule_id == rule_id, Clock.party == party)
        if existing is not None:
            return existing
        fields = timing_fields(the_rule, started_at, settings(engagement), how, party)
        clock = Clock.create(engagement=engagement.id, incident=incident.id if incident else None,
                             subject_type=subject_type, subject_id=subject_id, rule_id=rule_id,
                             note=the_rule.note, established_at=established_at, party=party, **fields)
        audit_log.record("clock.start", actor=actor, actor_email=None if actor else "system",
                         object_type="clock", object_id=clock.id, engagement=engagement, ip=ip,
                         details={"rule": rule_id, "party": party, "subject": f"{subject_type}:{subject_id}",
                                  "state": clock.state,
                                  "started_at": _iso(clock.started_at), "deadline_at": _iso(clock.deadline_at),
                                  "basis": clock.basis})
    return clock


def timing_fields(the_rule: Rule, started_at: dt.datetime | None, the_settings: Settings, how: str,
                  party: str = "") -> dict:
    """A clock's state, start, deadline, target, basis and calendar as stored (``pending`` without a start);
    pure, so bulk writers (``demo --scale``) store exactly what ``start_clock`` would."""
    if started_at is None:
        return {"state": "pending", "started_at": None, "deadline_at": None, "target_at": None,
                "basis": f"pending: {how or 'waiting for its start'}", "calendar": ""}
    try:
        t = timing(the_rule, started_at, the_settings, how, party)
    except ClockError as exc:
        raise ValidationError(str(exc), field=exc.field) from None
    return {"state": "running", "started_at": t.started_at, "deadline_at": t.deadline_at, "target_at": t.target_at,
            "basis": t.basis[:200], "calendar": t.calendar[:120]}


def start_pending(clock: Clock, started_at: dt.datetime, how: str, *, actor: User | None = None,
                  ip: str = "") -> Clock:
    """A pending clock starts (pending → running) now that its start is known."""
    check_transition(clock.state, "running")
    engagement = Engagement.get_by_id(clock.engagement_id)
    fields = timing_fields(rule(clock.rule_id), started_at, settings(engagement), how, clock.party)
    with transaction():
        if not Clock.update(**fields).where(Clock.id == clock.id, Clock.state == "pending").execute():
            return Clock.get_by_id(clock.id)
        audit_log.record("clock.start", actor=actor, actor_email=None if actor else "system", object_type="clock",
                         object_id=clock.id, engagement=engagement, ip=ip,
                         details={"rule": clock.rule_id, "started_at": _iso(started_at), "basis": fields["basis"]})
    return Clock.get_by_id(clock.id)


def record_notice(clock: Clock, notified_at: dt.datetime, *, evidence: Evidence | None = None,
                  actor: User | None = None, ip: str = "", now: dt.datetime | None = None) -> Clock:
    """The notice that stops a clock: ``met`` by the deadline, a late one leaves it ``breached``."""
    now = now or utcnow()
    try:
        check_notice(clock.state, clock.started_at, notified_at, now)
    except ClockError as exc:
        raise ValidationError(str(exc), field=exc.field) from None
    if evidence is not None and evidence.engagement_id != clock.engagement_id:
        raise NotFound("evidence not found")
    state = state_after_notice(clock.state, clock.deadline_at, notified_at)
    with transaction():
        updated = (Clock.update(state=state, met_at=notified_at, notice_evidence=evidence.id if evidence else None,
                                recorded_by=actor.id if actor else None)
                   .where(Clock.id == clock.id, Clock.state == clock.state).execute())
        if not updated:
            raise ValidationError("the clock changed meanwhile; reload and try again", field="notified_at")
        audit_log.record("clock.notice", actor=actor, actor_email=None if actor else "system", object_type="clock",
                         object_id=clock.id, engagement=clock.engagement_id, ip=ip,
                         details={"rule": clock.rule_id, "notified_at": _iso(notified_at), "state": state,
                                  "evidence_id": evidence.id if evidence else None})
    return Clock.get_by_id(clock.id)


def close_not_required(clock: Clock, reason: str, *, actor: User | None = None, ip: str = "",
                       action: str = "clock.not_required") -> Clock:
    """The rule does not apply to this subject: the clock closes as ``not_required`` with its reason (no breach,
    no finding). Met and breached clocks keep their history: Conflict."""
    try:
        check_transition(clock.state, "not_required")
    except ClockError:
        raise Conflict(f"the {clock.rule_id} clock is {clock.state.replace('_', ' ')}: it cannot be closed as "
                       "not required") from None
    with transaction():
        if not (Clock.update(state="not_required", reason=reason, recorded_by=actor.id if actor else None)
                .where(Clock.id == clock.id, Clock.state == clock.state).execute()):
            raise Conflict("the clock changed meanwhile; reload and try again")
        audit_log.record(action, actor=actor, actor_email=None if actor else "system", object_type="clock",
                         object_id=clock.id, engagement=clock.engagement_id, ip=ip,
                         details={"rule": clock.rule_id, "from": clock.state, "reason": reason})
    return Clock.get_by_id(clock.id)


def meet_by_assessment(clock: Clock, concluded_at: dt.datetime, *, actor: User | None = None,
                       ip: str = "") -> Clock:
    """The NDB assessment meets its clock whenever it was concluded (``domain.clocks.state_after_assessment``)."""
    if clock.state not in ("pending", "running", "breached"):
        return clock
    state = state_after_assessment(clock.state, clock.deadline_at, concluded_at)
    with transaction():
        if not (Clock.update(state=state, met_at=concluded_at, recorded_by=actor.id if actor else None)
                .where(Clock.id == clock.id, Clock.state == clock.state).execute()):
            raise Conflict("the clock changed meanwhile; reload and try again")
        audit_log.record("clock.notice", actor=actor, actor_email=None if actor else "system", object_type="clock",
                         object_id=clock.id, engagement=clock.engagement_id, ip=ip,
                         details={"rule": clock.rule_id, "notified_at": _iso(concluded_at), "state": state,
                                  "by": "assessment"})
    return Clock.get_by_id(clock.id)


def clocks_of(subject_type: str, subject_id: int) -> list[Clock]:
    return list(Clock.select().where(Clock.subject_type == subject_type, Clock.subject_id == subject_id)
                .order_by(Clock.deadline_at.asc(nulls="LAST"), Clock.rule_id))


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"
