"""Facts that emerge after an incident was recorded, and clocks that do not apply (SPEC §5
``PATCH /incidents/<id>``, ``POST /incidents/<id>/clocks/<rule>/not-required``).

Materiality, a tolerance breach or a notice to another regulator is often established hours or days after
the incident was logged. A flag added later starts the clocks it triggers as if it had been given then:
from the later of the usual start (the client's awareness, two tiers as at creation) and ``established_at``.
A flag is never removed silently: the correction carries its reason, and the clocks only that flag started
stay in the history as ``not_required``. The client may also close a clock whose rule does not apply (a
breach material under CPS 234 para 35(a) but not under CPS 230 para 33): no breach, no finding.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from domain.clocks import FACT_NAMES, IncidentFacts, later_fact_start, parties, rules_started, start_instant
from domain.errors import Conflict, NotFound, ValidationError
from domain.timeutil import isoformat_utc
from models import Clock, ClockRule, Engagement, Incident, User, transaction, utcnow
from models.incidents import INCIDENT_FLAGS
from services import scope
from services.audit import audit_log
from services.text import clean_text

from . import clocks
from .incidents import clock_of, ensure_live, facts, parse_time

PATCH_FIELDS = ("title", "flags", "outside_tolerance_at", "established_at", "reason")


@dataclass
class FactChange:
    title: str | None
    added: frozenset[str]
    removed: frozenset[str]
    outside_tolerance_at: dt.datetime | None
    established_at: dt.datetime
    reason: str


def _flag_changes(value: Any, current: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(added, removed): a list names flags to add; an object maps each flag to true (add) or false (remove)."""
    if value in (None, ""):
        return frozenset(), frozenset()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        wanted, unwanted = set(value), set()
    elif isinstance(value, dict) and all(isinstance(v, bool) for v in value.values()):
        wanted = {k for k, v in value.items() if v}
        unwanted = {k for k, v in value.items() if not v}
    else:
        raise ValidationError("flags must be a list of flags to add, or map each flag to true or false",
                              field="flags")
    unknown = sorted((wanted | unwanted) - set(INCIDENT_FLAGS))
    if unknown:
        raise ValidationError(f"unknown flag {unknown[0]!r}; use {', '.join(INCIDENT_FLAGS)}", field="flags")
    return frozenset(wanted - current), frozenset(unwanted & current)


def parse_change(incident: Incident, data: Any, now: dt.datetime) -> FactChange:
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    unknown = sorted(set(data) - set(PATCH_FIELDS))
    if unknown:
        raise ValidationError(f"{unknown[0]} cannot be changed here; use {', '.join(PATCH_FIELDS)}", field=unknown[0])
    added, removed = _flag_changes(data.get("flags"), facts(incident).flags)
    established = parse_time(data, "established_at", required=False, now=now) or now
    if established < incident.aware_at:
        raise ValidationError("established_at cannot be before aware_at", field="established_at")
    reason = clean_text(data, "reason", required=False, limit=2000, multiline=True)
    if removed and not reason:
        raise ValidationError("removing a flag is a correction: give its reason", field="reason")
    tolerance = parse_time(data, "outside_tolerance_at", required=False, now=now)
    if "outside_tolerance" in added and tolerance is None:
        raise ValidationError("outside_tolerance_at is required with the outside_tolerance flag",
                              field="outside_tolerance_at")
    if tolerance is not None and "outside_tolerance" not in added:
        raise ValidationError("outside_tolerance_at is given with the outside_tolerance flag when it is added",
                              field="outside_tolerance_at")
    if tolerance is not None and tolerance < incident.occurred_at:
        raise ValidationError("outside_tolerance_at cannot be before occurred_at", field="outside_tolerance_at")
    title = clean_text(data, "title", limit=200) if "title" in data else None
    return FactChange(title=title if title != incident.title else None, added=added, removed=removed,
                      outside_tolerance_at=tolerance, established_at=established, reason=reason)


def update_incident(user: User, incident: Incident, data: Any, *, ip: str = "",
                    now: dt.datetime | None = None) -> Incident:
    """Add facts (flags, ``outside_tolerance_at``, a new title) and correct flags, starting and closing the
    clocks they call for, in one transaction. Repeating the same change changes nothing."""
    now = now or utcnow()
    ensure_live(incident)
    change = parse_change(incident, data, now)
    if change.removed:
        scope.engagement_for(user, incident.engagement_id, "notify")  # corrections: the client's call
    if not (change.added or change.removed or change.title):
        return incident
    engagement = Engagement.get_by_id(incident.engagement_id)
    before = facts(incident)
    with transaction():
        _write_facts(incident, change)
        after = facts(Incident.get_by_id(incident.id))
        _audit_change(user, incident, engagement, change, ip)
        _start_new_clocks(user, engagement, Incident.get_by_id(incident.id), before, after, change, ip)
        _close_orphaned_clocks(user, incident, before, after, change, ip)
    return Incident.get_by_id(incident.id)


def _write_facts(incident: Incident, change: FactChange) -> None:
    values: dict[str, Any] = {f: True for f in change.added} | {f: False for f in change.removed}
    if change.title:
        values["title"] = change.title
    if change.outside_tolerance_at is not None:
        values["outside_tolerance_at"] = change.outside_tolerance_at
    if "outside_tolerance" in change.removed:
        values["outside_tolerance_at"] = None
    guard = [getattr(Incident, f) == (f in change.removed) for f in change.added | change.removed]
    if not Incident.update(**values).where(Incident.id == incident.id, *guard).execute():
        raise Conflict("the incident changed meanwhile; reload and try again", field="flags")


def _audit_change(user: User, incident: Incident, engagement: Engagement, change: FactChange, ip: str) -> None:
    if change.added or change.title:
        audit_log.record("incident.update", actor=user, object_type="incident", object_id=incident.id,
                         engagement=engagement, ip=ip,
                         details={"added_flags": sorted(change.added), "title": change.title,
                                  "established_at": isoformat_utc(change.established_at),
                                  "outside_tolerance_at": isoformat_utc(change.outside_tolerance_at)})
    if change.removed:
        audit_log.record("incident.correct", actor=user, object_type="incident", object_id=incident.id,
                         engagement=engagement, ip=ip,
                         details={"removed_flags": sorted(change.removed), "reason": change.reason,
                                  "outside_tolerance_at": isoformat_utc(incident.outside_tolerance_at)})


def _start_new_clocks(user: User, engagement: Engagement, incident: Incident, before: IncidentFacts,
                      after: IncidentFacts, change: FactChange, ip: str) -> None:
    """The clocks the added flags call for, each from the later of its usual start and ``established_at``."""
    live, enabled = clocks.live_rules(), clocks.enabled_settings(engagement)
    had = {r.rule_id for r in rules_started(live, before, enabled)}
    the_settings = clocks.settings(engagement)
    fact = " and ".join(FACT_NAMES[f] for f in sorted(change.added)) or "the fact"
    for rule in rules_started(live, after, enabled):
        if rule.rule_id in had:
            continue
        start, how = start_instant(rule, after, the_settings, provider_notice_at=incident.client_aware_at)
        if rule.start != "outside_tolerance_at":
            start, how = later_fact_start(start, how, change.established_at, fact)
        for party in parties(rule, the_settings):
            clocks.start_clock(engagement, rule.rule_id, start, incident=incident, how=how, actor=user, ip=ip,
                               established_at=change.established_at, party=party)


def _close_orphaned_clocks(user: User, incident: Incident, before: IncidentFacts, after: IncidentFacts,
                           change: FactChange, ip: str) -> None:
    """Clocks only the removed flags started: pending or running ones close as not required; met and
    breached ones keep their history."""
    live, enabled = clocks.live_rules(), clocks.enabled_settings(Engagement.get_by_id(incident.engagement_id))
    still = {r.rule_id for r in rules_started(live, after, enabled)}
    for rule in rules_started(live, before, enabled):
        if rule.rule_id in still:
            continue
        for clock in Clock.select().where(Clock.incident == incident.id, Clock.rule_id == rule.rule_id,
                                          Clock.state.in_(("pending", "running"))):
            clocks.close_not_required(clock, f"correction: {change.reason}"[:2000], actor=user, ip=ip,
                                      action="clock.correct")


def mark_not_required(user: User, incident: Incident, rule_id: str, data: Any, *, ip: str = "") -> Clock:
    """Client side only: the rule does not apply to this incident (``reason``: the assessment)."""
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    scope.engagement_for(user, incident.engagement_id, "notify")
    if not ClockRule.select().where(ClockRule.rule_id == rule_id).exists():
        raise NotFound(f"unknown clock rule {rule_id!r}")
    clock = clock_of(incident, rule_id, data)
    reason = clean_text(data, "reason", limit=2000, multiline=True)
    return clocks.close_not_required(clock, reason, actor=user, ip=ip)
