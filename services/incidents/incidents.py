"""Incidents and the clocks they start (SPEC §2 Incident, §5 incident routes; rules in ``domain.clocks``).

Recording an incident starts every clock its category and flags call for. The provider's own clock to
the client (``CONTRACT-NOTICE``) runs from ``aware_at``; regulatory clocks from the client's awareness,
so for an incident the provider found they stay ``pending`` until the provider's notice is recorded
(unless the engagement treats the provider's awareness as the client's). An NDB assessment meets
``NDB-ASSESS`` and, when the breach is eligible, starts ``NDB-NOTIFY`` from its conclusion.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import peewee as pw

from domain.business_days import CALENDARS, PLACES
from domain.clocks import (
    CONTRACT_NOTICE,
    FROM_ASSESSMENT,
    FROM_CLIENT_AWARE,
    FROM_TOLERANCE,
    PCI_BRAND,
    ClockError,
    IncidentFacts,
    client_aware_at,
    duration_of,
    later_fact_start,
    parties,
    rules_started,
    start_instant,
)
from domain.errors import Conflict, NotFound, ValidationError
from domain.incidents import state_of
from domain.timeutil import isoformat_utc, local, parse_instant
from models import (
    Acquirer,
    Clock,
    ClockRule,
    Engagement,
    EngagementFramework,
    Evidence,
    Framework,
    Incident,
    User,
    is_postgres,
    transaction,
    utcnow,
)
from models.incidents import INCIDENT_CATEGORIES, INCIDENT_FLAGS
from services import scope
from services.audit import audit_log
from services.text import clean_text

from . import clocks

AWARE_PARTIES = ("client", "provider")
NDB_NOTIFY = "NDB-NOTIFY"
# Notices either side records: the provider's to the client, and the card brands' (Visa asks members,
# service providers and merchants alike to report a compromise).
EITHER_SIDE_NOTICES = (CONTRACT_NOTICE, PCI_BRAND)
NDB_ASSESS_RULES = ("NDB-ASSESS", "NDB-ASSESS-PROVIDER")
CPS234_35 = "CPS234-35"
FUTURE_SLACK = dt.timedelta(minutes=5)  # clocks of different machines disagree a little


@dataclass
class IncidentInput:
    title: str
    description: str
    category: str
    occurred_at: dt.datetime
    aware_at: dt.datetime
    aware_party: str
    flags: frozenset[str]
    outside_tolerance_at: dt.datetime | None


def parse_time(data: dict, field: str, *, required: bool = True, now: dt.datetime | None = None) -> dt.datetime | None:
    """An ISO 8601 instant with its UTC offset, as naive UTC; not in the future."""
    value = data.get(field)
    if value in (None, ""):
        if required:
            raise ValidationError(f"{field} is required (ISO 8601 with offset)", field=field)
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be an ISO 8601 date-time with offset", field=field)
    try:
        instant = parse_instant(value.strip())
    except ValueError as exc:
        raise ValidationError(f"{field}: {exc}", field=field) from None
    if not dt.datetime(2000, 1, 1) <= instant <= (now or utcnow()) + FUTURE_SLACK:
        raise ValidationError(f"{field} must not be in the future", field=field)
    return instant


def _flags(value: Any) -> frozenset[str]:
    """``flags`` as a list of names or an object of booleans."""
    if value in (None, ""):
        return frozenset()
    if isinstance(value, dict):
        if not all(isinstance(v, bool) for v in value.values()):
            raise ValidationError("flags must map each flag to true or false", field="flags")
        names = [k for k, v in value.items() if v]
        unknown = [k for k in value if k not in INCIDENT_FLAGS]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        names, unknown = value, [v for v in value if v not in INCIDENT_FLAGS]
    else:
        raise ValidationError("flags must be a list of flag names", field="flags")
    if unknown:
        raise ValidationError(f"unknown flag {unknown[0]!r}; use {', '.join(INCIDENT_FLAGS)}", field="flags")
    return frozenset(names)


def parse_incident_input(data: dict, now: dt.datetime | None = None) -> IncidentInput:
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    category = data.get("category")
    if category not in INCIDENT_CATEGORIES:
        raise ValidationError(f"unknown category {category!r}; use one of {', '.join(INCIDENT_CATEGORIES)}",
                              field="category")
    party = data.get("aware_party")
    if party not in AWARE_PARTIES:
        raise ValidationError("aware_party must be client or provider", field="aware_party")
    occurred = parse_time(data, "occurred_at", now=now)
    aware = parse_time(data, "aware_at", now=now)
    if aware < occurred:
        raise ValidationError("aware_at cannot be before occurred_at", field="aware_at")
    flags = _flags(data.get("flags"))
    tolerance = parse_time(data, "outside_tolerance_at", required=False, now=now)
    if "outside_tolerance" in flags and tolerance is None:
        raise ValidationError("outside_tolerance_at is required with the outside_tolerance flag",
                              field="outside_tolerance_at")
    if tolerance is not None and "outside_tolerance" not in flags:
        raise ValidationError("outside_tolerance_at is only given with the outside_tolerance flag",
                              field="outside_tolerance_at")
    if tolerance is not None and tolerance < occurred:
        raise ValidationError("outside_tolerance_at cannot be before occurred_at", field="outside_tolerance_at")
    return IncidentInput(title=clean_text(data, "title", limit=200),
                         description=clean_text(data, "description", required=False, limit=10000, multiline=True),
                         category=category, occurred_at=occurred, aware_at=aware, aware_party=party, flags=flags,
                         outside_tolerance_at=tolerance)


def facts(incident: Incident) -> IncidentFacts:
    return IncidentFacts(category=incident.category,
                         flags=frozenset(f for f in INCIDENT_FLAGS if getattr(incident, f)),
                         aware_party=incident.aware_party, occurred_at=incident.occurred_at,
                         aware_at=incident.aware_at, outside_tolerance_at=incident.outside_tolerance_at,
                         client_aware_at=incident.client_aware_at)


def create_incident(user: User, engagement: Engagement, data: dict, *, ip: str = "",
                    now: dt.datetime | None = None) -> Incident:
    """Record an incident and start its clocks, all in one transaction (a bad rule changes nothing)."""
    parsed = parse_incident_input(data, now)
    the_settings = clocks.settings(engagement)
    with transaction():
        incident = Incident.create(
            engagement=engagement.id, title=parsed.title, description=parsed.description, category=parsed.category,
            occurred_at=parsed.occurred_at, aware_at=parsed.aware_at, aware_party=parsed.aware_party,
            outside_tolerance_at=parsed.outside_tolerance_at, created_by=user.id, created_at=now or utcnow(),
            **{f: f in parsed.flags for f in INCIDENT_FLAGS})
        known, _how = client_aware_at(facts(incident), the_settings)
        if known is not None:
            Incident.update(client_aware_at=known).where(Incident.id == incident.id).execute()
            incident = Incident.get_by_id(incident.id)
        audit_log.record("incident.create", actor=user, object_type="incident", object_id=incident.id,
                         engagement=engagement, ip=ip,
                         details={"title": incident.title, "category": incident.category,
                                  "flags": sorted(parsed.flags), "aware_party": incident.aware_party})
        for rule in rules_started(clocks.live_rules(), facts(incident), the_settings.enabled):
            try:
                started, how = start_instant(rule, facts(incident), the_settings)
            except ClockError as exc:
                raise ValidationError(str(exc), field=exc.field) from None
            for party in parties(rule, the_settings):
                clocks.start_clock(engagement, rule.rule_id, started, incident=incident, how=how, actor=user, ip=ip,
                                   party=party)
    return incident


def incident_for(user: User, incident_id: int, action: str = "view") -> Incident:
    row = Incident.get_or_none(Incident.id == incident_id) if 0 < incident_id < 2**63 else None
    if row is None:
        raise NotFound("incident not found")
    scope.engagement_of(user, row.engagement_id, action, "incident")
    return row


def incidents_of(engagement: Engagement) -> pw.ModelSelect:
    return Incident.select().where(Incident.engagement == engagement.id).order_by(Incident.aware_at.desc())


def clock_of(incident: Incident, rule_id: str, data: dict | None = None) -> Clock:
    """The incident's ``rule_id`` clock; where the rule has one per acquirer, the one ``data['acquirer']``
    names (it may be left out when there is only one)."""
    rows = list(Clock.select().where(Clock.incident == incident.id, Clock.rule_id == rule_id))
    if not rows:
        raise NotFound(f"this incident has no {rule_id} clock")
    party = (data or {}).get("acquirer")
    if party in (None, "") and len(rows) == 1:
        return rows[0]
    named = [c for c in rows if c.party == party]
    if not named:
        raise ValidationError(f"name the acquirer of this {rule_id} clock: one of "
                              f"{', '.join(sorted(c.party for c in rows if c.party))}", field="acquirer")
    return named[0]


def _evidence(engagement_id: int, value: Any) -> Evidence | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise ValidationError("evidence_id must be an evidence id", field="evidence_id")
    row = Evidence.get_or_none(Evidence.id == value, Evidence.engagement == engagement_id)
    if row is None:
        raise ValidationError("no such evidence on this engagement", field="evidence_id")
    return row


def record_notice(user: User, incident: Incident, rule_id: str, data: dict, *, ip: str = "",
                  now: dt.datetime | None = None) -> Clock:
    """The notice that stops one of the incident's clocks. The provider's notice to the client
    (``CONTRACT-NOTICE``) is the client's awareness: the pending regulatory clocks start from it."""
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    ensure_live(incident)
    now = now or utcnow()
    if rule_id not in EITHER_SIDE_NOTICES:
        scope.engagement_of(user, incident.engagement_id, "notify", "incident")  # regulator notices: the client
    if not ClockRule.select().where(ClockRule.rule_id == rule_id).exists():
        raise NotFound(f"unknown clock rule {rule_id!r}")
    clock = clock_of(incident, rule_id, data)
    notified = parse_time(data, "notified_at", now=now)
    evidence = _evidence(incident.engagement_id, data.get("evidence_id"))
    with transaction():
        clock = clocks.record_notice(clock, notified, evidence=evidence, actor=user, ip=ip, now=now)
        if rule_id == CONTRACT_NOTICE and incident.client_aware_at is None:
            client_learnt(incident, notified, actor=user, ip=ip)
        if rule_id == NDB_NOTIFY:
            _notified_another_regulator(user, Incident.get_by_id(incident.id), notified, ip)
    return clock


def _notified_another_regulator(user: User, incident: Incident, notified: dt.datetime, ip: str) -> None:
    """The OAIC told (NDB-NOTIFY met): the incident has been notified to another regulator, which CPS 234
    para 35(b) makes notifiable to APRA in its own right, from the OAIC notice (or the client's awareness,
    when later). Only where CPS 234 is in the engagement's scope; an existing CPS234-35 clock is kept."""
    engagement = Engagement.get_by_id(incident.engagement_id)
    if CPS234_35 not in {r.rule_id for r in clocks.live_rules()} or "CPS234" not in engagement_frameworks(engagement):
        return
    if not incident.notified_other_regulator:
        Incident.update(notified_other_regulator=True).where(Incident.id == incident.id).execute()
        audit_log.record("incident.update", actor=user, object_type="incident", object_id=incident.id,
                         engagement=engagement, ip=ip,
                         details={"added_flags": ["notified_other_regulator"],
                                  "established_at": isoformat_utc(notified), "by": NDB_NOTIFY})
    start, how = client_aware_at(facts(incident), clocks.settings(engagement), incident.client_aware_at)
    start, how = later_fact_start(start, how, notified, "the notice to the OAIC (para 35(b))")
    clocks.start_clock(engagement, CPS234_35, start, incident=incident, how=how, actor=user, ip=ip,
                       established_at=notified)


def engagement_frameworks(engagement: Engagement) -> set[str]:
    """The codes of the frameworks in the engagement's scope."""
    return {code for (code,) in Framework.select(Framework.code).join(EngagementFramework)
            .where(EngagementFramework.engagement == engagement.id).tuples()}


def client_learnt(incident: Incident, at: dt.datetime, *, actor: User | None = None, ip: str = "") -> None:
    """The client became aware at ``at``: record it and start the clocks waiting for it."""
    Incident.update(client_aware_at=at).where(Incident.id == incident.id,
                                              Incident.client_aware_at.is_null()).execute()
    waiting = Clock.select().where(Clock.incident == incident.id, Clock.state == "pending")
    for clock in waiting:
        rule = clocks.rule(clock.rule_id)
        if rule.start != FROM_CLIENT_AWARE:
            continue
        start, how = later_fact_start(at, "from the provider's notice to the client", clock.established_at,
                                      "the fact that started it")
        clocks.start_pending(clock, start, how, actor=actor, ip=ip)


def record_assessment(user: User, incident: Incident, data: dict, *, ip: str = "",
                      now: dt.datetime | None = None) -> Incident:
    """The NDB assessment (s 26WH): meets NDB-ASSESS; when eligible, starts NDB-NOTIFY from ``concluded_at``
    (s 26WK, s 26WL). Only for personal-information breaches, and only once."""
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    ensure_live(incident)
    now = now or utcnow()
    if incident.category != "personal_information_breach" and not incident.personal_information:
        raise ValidationError("an NDB assessment is only for a personal-information breach", field="eligible")
    if incident.assessment_concluded_at is not None:
        raise Conflict("this incident's NDB assessment is already recorded")
    concluded = parse_time(data, "concluded_at", now=now)
    if concluded < incident.aware_at:
        raise ValidationError("concluded_at cannot be before aware_at", field="concluded_at")
    eligible = data.get("eligible")
    if not isinstance(eligible, bool):
        raise ValidationError("eligible must be true or false", field="eligible")
    summary = clean_text(data, "summary", required=False, limit=10000, multiline=True)
    engagement = Engagement.get_by_id(incident.engagement_id)
    with transaction():
        if not (Incident.update(assessment_concluded_at=concluded, assessment_eligible=eligible,
                                assessment_summary=summary)
                .where(Incident.id == incident.id, Incident.assessment_concluded_at.is_null()).execute()):
            raise Conflict("this incident's NDB assessment is already recorded")
        audit_log.record("incident.assessment", actor=user, object_type="incident", object_id=incident.id,
                         engagement=engagement, ip=ip,
                         details={"concluded_at": isoformat_utc(concluded), "eligible": eligible})
        for assess in Clock.select().where(Clock.incident == incident.id, Clock.rule_id.in_(NDB_ASSESS_RULES)):
            clocks.meet_by_assessment(assess, concluded, actor=user, ip=ip)  # s 26WJ: one assessment serves both
        if eligible:
            for rule in clocks.live_rules():
                if rule.start == FROM_ASSESSMENT:
                    clocks.start_clock(engagement, rule.rule_id, concluded, incident=incident,
                                       how="from the assessment's conclusion", actor=user, ip=ip)
    return Incident.get_by_id(incident.id)


# ------------------------------------------------------------------------------------------ serialising

def clock_json(clock: Clock, tz: str, titles: dict[str, str]) -> dict:
    return {"id": clock.id, "rule": clock.rule_id, "title": titles.get(clock.rule_id, ""),
            "started_at": isoformat_utc(clock.started_at),
            "deadline_at": isoformat_utc(clock.deadline_at), "deadline_local": _local(clock.deadline_at, tz),
            "target_at": isoformat_utc(clock.target_at), "target_local": _local(clock.target_at, tz),
            "basis": clock.basis, "calendar": clock.calendar, "note": clock.note, "state": clock.state,
            "met_at": isoformat_utc(clock.met_at), "notice_evidence_id": clock.notice_evidence_id,
            "reason": clock.reason, "acquirer": clock.party or None}


def _local(value: dt.datetime | None, tz: str) -> str | None:
    return None if value is None else local(value, tz).isoformat()


def rule_titles() -> dict[str, str]:
    return dict(ClockRule.select(ClockRule.rule_id, ClockRule.title).tuples())


NDB_FRAMEWORK = "PRIVACY-AU"  # the NDB scheme (Privacy Act Part IIIC) is mapped under the privacy framework


def ndb_visible(user: User, engagement: Engagement) -> bool:
    """May the user see the NDB assessment (an auditor only with the privacy framework in its grant)?"""
    codes = scope.granted_framework_codes(user, engagement)
    return codes is None or NDB_FRAMEWORK in codes


def incident_json(incident: Incident, engagement: Engagement, user: User) -> dict:
    """The incident with the clocks ``user`` may see (an auditor: those of its granted frameworks)."""
    titles = rule_titles()
    rows = (scope.clocks_for(user, engagement).where(Clock.incident == incident.id)
            .order_by(Clock.deadline_at.asc(nulls="LAST"), Clock.rule_id, Clock.party))
    tz = engagement.timezone
    return {"id": incident.id, "engagement_id": incident.engagement_id, "title": incident.title,
            "description": incident.description, "category": incident.category,
            "occurred_at": isoformat_utc(incident.occurred_at), "aware_at": isoformat_utc(incident.aware_at),
            "aware_party": incident.aware_party,
            "flags": {f: bool(getattr(incident, f)) for f in INCIDENT_FLAGS},
            "outside_tolerance_at": isoformat_utc(incident.outside_tolerance_at),
            "client_aware_at": isoformat_utc(incident.client_aware_at),
            "assessment": None if incident.assessment_concluded_at is None or not ndb_visible(user, engagement) else {
                "concluded_at": isoformat_utc(incident.assessment_concluded_at),
                "eligible": bool(incident.assessment_eligible), "summary": incident.assessment_summary},
            "status": state_of(incident.voided_at), "voided_at": isoformat_utc(incident.voided_at),
            "void_reason": incident.void_reason,
            "timezone": tz, "clocks": [clock_json(c, tz, titles) for c in rows]}


def ensure_live(incident: Incident) -> None:
    """A void incident is final (``domain.incidents``): no fact, notice or assessment is recorded on it."""
    if incident.voided_at is not None:
        raise Conflict("this incident is void (recorded by mistake): nothing more is recorded on it")


def shortest_regulatory_hours(engagement: Engagement, visible: set[str] | None = None) -> tuple[int, str] | None:
    """The shortest elapsed-hour clock that runs from the client's awareness (hours, rule), of the ``visible``
    rules (None: all) and the optional regimes the engagement has on: the clocks the provider's contractual
    notice feeds, since for an incident the provider found the client's awareness is that notice."""
    the_settings = clocks.settings(engagement)
    best: tuple[int, str] | None = None
    for rule in clocks.live_rules():
        if visible is not None and rule.rule_id not in visible:
            continue
        if rule.start != FROM_CLIENT_AWARE or rule.unit != "hours":
            continue
        if rule.trigger.get("engagement", "") not in the_settings.enabled | {""}:
            continue
        hours = duration_of(rule, the_settings)
        if best is None or hours < best[0]:
            best = (hours, rule.rule_id)
    return best


def _runs_whoever_knows(engagement: Engagement, visible: set[str] | None) -> list[tuple[int, str]]:
    """Elapsed-hour regulatory clocks that start from the event itself (CPS 230 para 42: from going outside
    tolerance), whoever knows of it: no contractual notice fits inside them."""
    if "CPS230" not in engagement_frameworks(engagement):
        return []
    return sorted((r.duration, r.rule_id) for r in clocks.live_rules()
                  if r.start == FROM_TOLERANCE and r.unit == "hours" and r.duration is not None
                  and (visible is None or r.rule_id in visible))


def notice_warning(engagement: Engagement, user: User | None = None) -> str | None:
    """Why the provider's contractual notice may not serve the regulatory clocks: when its hours are not shorter
    than the shortest clock that runs from the client's awareness, and, where CPS 230 is in scope, that the
    tolerance clock runs whoever knows. Shown to ``user`` only when it may see the contractual clock (an
    auditor granted the contract)."""
    visible = None if user is None else scope.visible_clock_rules(user, engagement)
    if visible is not None and CONTRACT_NOTICE not in visible:
        return None
    hours = engagement.contract_notice_hours
    parts = []
    shortest = shortest_regulatory_hours(engagement, visible)
    if shortest is not None and hours >= shortest[0]:
        parts.append(f"The provider's contractual notice period ({hours} hours) is not shorter than the shortest "
                     f"regulatory clock that runs from the client's awareness ({shortest[1]}: {shortest[0]} hours): "
                     f"an incident the provider found reaches the client with no time left. Shorten the "
                     f"contractual notice.")
    for duration, rule_id in _runs_whoever_knows(engagement, visible):
        parts.append(f"{rule_id} runs {duration} hours from the moment a critical operation goes outside "
                     f"tolerance, whoever knows of it, so no contractual notice fits inside it: the provider must "
                     f"report a tolerance breach at once.")
    return " ".join(parts) or None


HOUR_SETTINGS = {"contract_notice_hours": 1, "pci_acquirer_hours": 1, "pci_brand_target_hours": 0}  # name: minimum
SWITCH_SETTINGS = ("provider_awareness_is_client", *clocks.OPTIONAL_SETTINGS)


def _hours(value: Any, name: str, minimum: int) -> int:
    try:
        hours = int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        hours = None
    if hours is None or not minimum <= hours <= 720:
        raise ValidationError(f"{name} must be a whole number of hours from {minimum} to 720", field=name)
    return hours


def _switch(value: Any, name: str) -> bool:
    if value in (True, "1", "true", "on", "yes"):
        return True
    if value in (False, None, "", "0", "false", "off", "no"):
        return False
    raise ValidationError(f"{name} must be true or false", field=name)


def _acquirers(value: Any) -> list[tuple[str, int]]:
    """The engagement's acquirers: each a name and its notice hours (an acquirer without hours is refused)."""
    if not isinstance(value, list):
        raise ValidationError("acquirers must be a list of {name, hours}", field="acquirers")
    out: dict[str, int] = {}
    for item in value:
        if not isinstance(item, dict):
            raise ValidationError("each acquirer needs a name and its hours", field="acquirers")
        name = clean_text(item, "name", limit=100)
        if "hours" not in item or item["hours"] in (None, ""):
            raise ValidationError(f"acquirer {name!r} needs its notice hours", field="acquirers")
        if name.casefold() in {n.casefold() for n in out}:
            raise ValidationError(f"acquirer {name!r} is listed twice", field="acquirers")
        out[name] = _hours(item["hours"], f"hours of acquirer {name!r}", 1)
    return list(out.items())


def _calendar_settings(data: dict) -> dict[str, str]:
    """Which calendar business-day clocks count by, the client's head-office state and the site's region."""
    out: dict[str, str] = {}
    if "business_day_calendar" in data:
        if data["business_day_calendar"] not in CALENDARS:
            raise ValidationError(f"business_day_calendar must be one of {', '.join(CALENDARS)}",
                                  field="business_day_calendar")
        out["business_day_calendar"] = data["business_day_calendar"]
    if "head_office" in data:
        office = data["head_office"].strip().upper() if isinstance(data["head_office"], str) else None
        if office is None or office not in (*PLACES, ""):
            raise ValidationError(f"head_office must be one of {', '.join(PLACES)}", field="head_office")
        out["head_office"] = office
    if "site_region" in data:
        out["site_region"] = clean_text(data, "site_region", required=False, limit=60)
    return out


def _keep_required_settings(engagement: Engagement, changes: dict[str, Any]) -> None:
    """An optional regime cannot be switched off while a framework that applies only under it (SOCI, CSA-2024)
    is in the engagement's scope: its grants, packs and Statement of Applicability rest on it."""
    turned_off = [name for name in clocks.OPTIONAL_SETTINGS if changes.get(name, True) is False]
    if turned_off and is_postgres():  # against a concurrent edit adding the framework (it locks this row too)
        Engagement.select(Engagement.id).where(Engagement.id == engagement.id).for_update().get()
    for name in turned_off:
        codes = [code for (code,) in Framework.select(Framework.code).join(EngagementFramework)
                 .where(EngagementFramework.engagement == engagement.id, Framework.requires == name).tuples()]
        if codes:
            raise ValidationError(f"{', '.join(sorted(codes))} is in this engagement's frameworks and applies only "
                                  f"while {name} is on: take it out of the frameworks first", field=name)


def update_clock_settings(user: User, engagement: Engagement, data: dict, ip: str = "") -> Engagement:
    """client_admin: the contractual notice hours, the acquirers and their hours, the brands' target, whether
    the provider's awareness counts as the client's and whether the provider is bound by the Privacy Act.
    Running clocks keep their deadlines."""
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    changes: dict[str, Any] = {name: _hours(data[name], name, low) for name, low in HOUR_SETTINGS.items()
                               if name in data}
    changes |= {name: _switch(data[name], name) for name in SWITCH_SETTINGS if name in data}
    changes |= _calendar_settings(data)
    acquirers = _acquirers(data["acquirers"]) if "acquirers" in data else None
    if not changes and acquirers is None:
        return engagement
    with transaction():
        _keep_required_settings(engagement, changes)
        if changes:
            Engagement.update(**changes).where(Engagement.id == engagement.id).execute()
        if acquirers is not None:
            Acquirer.delete().where(Acquirer.engagement == engagement.id).execute()
            for name, hours in acquirers:
                Acquirer.create(engagement=engagement.id, name=name, hours=hours)
            changes["acquirers"] = [{"name": n, "hours": h} for n, h in acquirers]
        audit_log.record("engagement.clock_settings", actor=user, object_type="engagement", object_id=engagement.id,
                         engagement=engagement, ip=ip, details=changes)
    return Engagement.get_by_id(engagement.id)


def clocks_by_incident(user: User, engagement: Engagement, incident_ids: list[int]) -> dict[int, list[Clock]]:
    """Every clock of these incidents ``user`` may see, in one query: incident id -> clocks, soonest first."""
    out: dict[int, list[Clock]] = {i: [] for i in incident_ids}
    if incident_ids:
        for clock in (scope.clocks_for(user, engagement).where(Clock.incident.in_(incident_ids))
                      .order_by(Clock.deadline_at.asc(nulls="LAST"), Clock.rule_id)):
            out[clock.incident_id].append(clock)
    return out
