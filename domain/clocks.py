"""Notification clocks: which rules an incident starts, when each starts and ends, and the clock
state machine (SPEC §4, §5; obligations.md §8–§9). Pure: no Flask, no database.

Two tiers. The provider's clock to the client (``CONTRACT-NOTICE``) runs from ``aware_at``. The
regulatory clocks run from the **client's** awareness (``client_aware_at``): ``aware_at`` when the
client found the incident (or when the engagement treats the provider's awareness as the client's),
otherwise the provider's notice to the client — until that notice is recorded they are ``pending``.

Elapsed-hour clocks add real hours to the UTC instant (DST-safe). Business-day clocks count working
days of the engagement's place, the day of awareness not counted, and end at 23:59:59 local. Day clocks
("30 days" of s 26WH) count as the Acts Interpretation Act 1901 s 36(1) table items 5-6 do: a period
"after" or "from" a day does not include that day, so it ends at 23:59:59 local of the Nth day after the
day it started, whatever daylight saving does meanwhile. s 36(2) would let a thing due on a weekend or
holiday be done the next working day; the deadline shown does not take that extension (the conservative
date).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .business_days import BusinessCalendar
from .library import trigger_matches
from .timeutil import end_of_local_day, local

CONTRACT_NOTICE = "CONTRACT-NOTICE"
PCI_BRAND = "PCI-BRAND"

# start fields (clock_rules.yaml ``start``): what the clock runs from
FROM_AWARE = "aware_at"  # the provider's or client's own awareness (contractual tier)
FROM_CLIENT_AWARE = "client_aware_at"  # the regulated entity's awareness (regulatory tier)
FROM_TOLERANCE = "outside_tolerance_at"
FROM_ASSESSMENT = "concluded_at"  # NDB: an eligible assessment's conclusion (s 26WK)
FROM_SUBJECT = "agreement_date"  # started by the caller with its own instant (e.g. a sub-contractor arrangement)

# Allowed clock moves. breached -> met: a notice dated on time but recorded after the tick breached it.
# pending -> met: an NDB assessment concluded before the client's awareness started NDB-ASSESS (the duty
# is already discharged). -> not_required: the client's assessment that the rule does not apply (e.g.
# not material for CPS 230 para 33), or a corrected flag; never from met or breached, whose history stays.
TRANSITIONS: dict[str, set[str]] = {
    "pending": {"running", "met", "not_required"},
    "running": {"met", "breached", "not_required"},
    "breached": {"met"},
    "met": set(),
    "not_required": set(),
}


class ClockError(ValueError):
    """A clock rule or move that cannot be applied; ``field`` names the input at fault."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def check_transition(state: str, new: str) -> None:
    if new not in TRANSITIONS.get(state, set()):
        raise ClockError(f"a {state} clock cannot become {new}", field="state")


# How a basis names the fact behind each flag added after the incident was recorded.
FACT_NAMES = {"material": "materiality", "personal_information": "the personal-information finding",
              "card_data": "the card-data finding", "outside_tolerance": "the tolerance breach",
              "cannot_remediate_timely": "the finding that it cannot be remediated in time",
              "notified_other_regulator": "the notice to another regulator",
              "soci_significant": "the finding of a significant impact on the asset",
              "soci_relevant": "the finding of a relevant impact on the asset",
              "ransom_paid": "the ransomware payment"}


def later_fact_start(start: dt.datetime | None, how: str, established_at: dt.datetime | None,
                     fact: str) -> tuple[dt.datetime | None, str]:
    """A clock triggered by a fact established after the incident was recorded (a flag added later) runs
    from the later of its usual start and the instant the fact was established; the basis says which."""
    if established_at is None or start is None:
        return start, how
    if established_at > start:
        return (established_at,
                f"from {fact} established at {established_at:%Y-%m-%d %H:%M} UTC, after {how.removeprefix('from ')}")
    return start, how


@dataclass(frozen=True)
class Rule:
    rule_id: str
    trigger: dict
    start: str
    duration: int | None
    unit: str  # hours | business_days | calendar_days | asap
    internal_target_hours: int | None = None
    title: str = ""
    note: str = ""
    calendar: str = ""  # business_days: the calendar the rule names ('' = the engagement's choice)


@dataclass(frozen=True)
class IncidentFacts:
    category: str
    flags: frozenset[str]
    aware_party: str  # client | provider
    occurred_at: dt.datetime
    aware_at: dt.datetime
    outside_tolerance_at: dt.datetime | None = None
    client_aware_at: dt.datetime | None = None


@dataclass(frozen=True)
class Settings:
    """What the engagement decides about its clocks."""
    place: str
    timezone: str
    contract_notice_hours: int = 24
    pci_acquirer_hours: int = 24
    provider_awareness_is_client: bool = False
    overrides: dict[dt.date, bool] = field(default_factory=dict)  # the place's override table
    office_overrides: dict[dt.date, bool] = field(default_factory=dict)  # the head office's (head_office calendar)
    enabled: frozenset[str] = frozenset()  # engagement settings that switch optional rules on (trigger ``engagement``)
    acquirers: tuple[tuple[str, int], ...] = ()  # (name, hours): one PCI-BRAND clock each
    pci_brand_target_hours: int | None = None  # the brands' "immediately" as an internal target (None: the rule's)
    calendar: str = "place"  # which days business-day clocks count: place | head_office | intersection
    head_office: str = ""  # the client's head-office state ('' = place)
    region: str = ""  # the site's region (regional holidays)

    def business_calendar(self, named: str = "") -> tuple[BusinessCalendar, str]:
        """The calendar business-day clocks count by, and how the basis names it: ``named`` (a rule's own
        calendar) when given, else the engagement's choice (the place alone by default)."""
        office = self.head_office or self.place
        choice = named or self.calendar
        if choice == "head_office":
            overrides = self.office_overrides if office != self.place else self.overrides
            return BusinessCalendar(office, dict(overrides)), f"{office} (the client's head office)"
        if choice == "intersection" and office != self.place:
            return (BusinessCalendar(self.place, dict(self.overrides), also=(office,), region=self.region),
                    f"{self.place}∩{office} (holidays both keep: the earlier deadline)")
        return BusinessCalendar(self.place, dict(self.overrides), region=self.region), self.place


@dataclass(frozen=True)
class Timing:
    started_at: dt.datetime
    deadline_at: dt.datetime | None
    target_at: dt.datetime | None
    basis: str
    calendar: str


def client_aware_at(incident: IncidentFacts, settings: Settings,
                    provider_notice_at: dt.datetime | None = None) -> tuple[dt.datetime | None, str]:
    """When the client (the regulated entity) became aware, and how that was decided; None while the
    provider's notice is awaited."""
    if incident.aware_party == "client":
        return incident.aware_at, "from the client's awareness"
    if settings.provider_awareness_is_client:
        return incident.aware_at, "from the provider's awareness (treated as the client's)"
    if provider_notice_at is not None:
        return provider_notice_at, "from the provider's notice to the client"
    return None, "waiting for the provider's notice to the client"


def rules_started(rules: list[Rule], incident: IncidentFacts, enabled: frozenset[str] = frozenset()) -> list[Rule]:
    """The rules an incident starts when recorded (NDB-NOTIFY waits for an eligible assessment). A rule whose
    trigger names an ``engagement`` setting runs only where that setting is on (``enabled``)."""
    return [r for r in rules if r.start != FROM_ASSESSMENT and r.start != FROM_SUBJECT
            and r.trigger.get("engagement", "") in enabled | {""}
            and trigger_matches(r.trigger, incident.category, incident.flags, incident.aware_party)]


def state_after_assessment(state: str, deadline_at: dt.datetime | None, concluded_at: dt.datetime) -> str:
    """An NDB assessment meets NDB-ASSESS whenever it was concluded (s 26WH), even before the clock started
    (the provider found the breach and assessed it before its notice); only a conclusion after the deadline
    leaves it breached."""
    if deadline_at is not None and concluded_at > deadline_at:
        return "breached"
    check_transition(state, "met")
    return "met"


def start_instant(rule: Rule, incident: IncidentFacts, settings: Settings,
                  provider_notice_at: dt.datetime | None = None) -> tuple[dt.datetime | None, str]:
    """(start, how it was chosen) for an incident's clock; start None means pending."""
    if rule.start == FROM_AWARE:
        return incident.aware_at, f"from {incident.aware_party} awareness"
    if rule.start == "occurred_at":
        return incident.occurred_at, "from occurrence"
    if rule.start == FROM_TOLERANCE:
        if incident.outside_tolerance_at is None:
            raise ClockError("outside_tolerance_at is required with the outside_tolerance flag",
                             field="outside_tolerance_at")
        return incident.outside_tolerance_at, "from the time the operation went outside tolerance"
    if rule.start == FROM_CLIENT_AWARE:
        return client_aware_at(incident, settings, provider_notice_at)
    raise ClockError(f"rule {rule.rule_id} is not started by an incident ({rule.start})", field="rule")


def parties(rule: Rule, settings: Settings) -> list[str]:
    """Whom a rule's clocks are owed to: PCI-BRAND one per acquirer of the engagement (the brands' rules leave
    the period to each acquirer); every other rule, and PCI-BRAND without named acquirers, one clock ('')."""
    if rule.rule_id == PCI_BRAND and settings.acquirers:
        return [name for name, _hours in settings.acquirers]
    return [""]


def duration_of(rule: Rule, settings: Settings, party: str = "") -> int | None:
    """The rule's duration, with the engagement's own hours for the contractual and acquirer clocks."""
    if rule.rule_id == CONTRACT_NOTICE:
        return settings.contract_notice_hours
    if rule.rule_id == PCI_BRAND:
        return dict(settings.acquirers).get(party, settings.pci_acquirer_hours)
    return rule.duration


def target_hours(rule: Rule, settings: Settings) -> int | None:
    """The internal target: the engagement's hours for the brands' "immediately", else the rule's."""
    if rule.rule_id == PCI_BRAND and settings.pci_brand_target_hours is not None:
        return settings.pci_brand_target_hours
    return rule.internal_target_hours


def timing(rule: Rule, started_at: dt.datetime, settings: Settings, how: str = "", party: str = "") -> Timing:
    """Deadline, internal target, basis and calendar of a clock started at ``started_at`` (naive UTC), owed to
    ``party`` (an acquirer) where the rule has several."""
    duration = duration_of(rule, settings, party)
    hours = target_hours(rule, settings)
    target = started_at + dt.timedelta(hours=hours) if hours is not None else None
    suffix = (f" for {party}" if party else "") + (f" ({how})" if how else "")
    if rule.unit == "hours":
        return Timing(started_at, started_at + dt.timedelta(hours=duration), target,
                      f"{duration} elapsed hours{suffix}", "elapsed hours (UTC)")
    if rule.unit == "calendar_days":
        last = local(started_at, settings.timezone).date() + dt.timedelta(days=duration)
        return Timing(started_at, end_of_local_day(last, settings.timezone), target,
                      f"{duration} calendar days, to the end of day {duration} after the start day{suffix}",
                      f"days as the Acts Interpretation Act 1901 s 36(1) counts them (the first day not "
                      f"counted), {settings.timezone}")
    if rule.unit == "business_days":
        calendar, which = settings.business_calendar(rule.calendar)
        aware_day = local(started_at, settings.timezone).date()
        last = calendar.add_business_days(aware_day, duration)
        named = f", by the rule's {rule.calendar.replace('_', ' ')} calendar" if rule.calendar else ""
        return Timing(started_at, end_of_local_day(last, settings.timezone), target,
                      f"{duration} business days {which}{named}{suffix}",
                      f"{calendar.description}, {settings.timezone}")
    if rule.unit == "asap":
        return Timing(started_at, None, target,
                      f"as soon as practicable (internal target {hours} hours){suffix}", "elapsed hours (UTC)")
    raise ClockError(f"unknown unit {rule.unit!r} in rule {rule.rule_id}", field="rule")


def check_notice(state: str, started_at: dt.datetime | None, notified_at: dt.datetime, now: dt.datetime) -> None:
    """A notice stops a running clock; it cannot predate the clock's start nor lie in the future."""
    if state == "pending" or started_at is None:
        raise ClockError("this clock has not started yet", field="notified_at")
    if state == "met":
        raise ClockError("this clock has already been met", field="notified_at")
    if state == "not_required":
        raise ClockError("this clock was closed as not required", field="notified_at")
    if notified_at < started_at:
        raise ClockError("the notice is dated before the clock started", field="notified_at")
    if notified_at > now + dt.timedelta(minutes=5):
        raise ClockError("the notice is dated in the future", field="notified_at")


def state_after_notice(state: str, deadline_at: dt.datetime | None, notified_at: dt.datetime) -> str:
    """``met`` when the notice came by the deadline; a late notice leaves the clock ``breached``."""
    if deadline_at is not None and notified_at > deadline_at:
        return "breached"
    check_transition(state, "met")
    return "met"


def check_offshoring_notice(agreement_date: dt.date, apra_notified_on: dt.date | None) -> None:
    """CPS 230 para 59(b) (2026: 60(b)): APRA is told *before* entering an offshoring arrangement, so an
    offshore arrangement needs its notice date, on or before the agreement date."""
    if apra_notified_on is None:
        raise ClockError("an offshoring arrangement needs APRA told before it is entered (CPS 230 para 59(b)): "
                         "give apra_notified_on", field="apra_notified_on")
    if apra_notified_on > agreement_date:
        raise ClockError(f"CPS 230 para 59(b) requires APRA to be notified before the offshoring arrangement: the "
                         f"notice ({apra_notified_on.isoformat()}) is after the agreement date "
                         f"({agreement_date.isoformat()})", field="apra_notified_on")


def warnings_due(started_at: dt.datetime, deadline_at: dt.datetime) -> list[tuple[str, dt.datetime]]:
    """The moments a running clock warns: half its time gone and 4 hours left (when that is later)."""
    half = started_at + (deadline_at - started_at) / 2
    four = deadline_at - dt.timedelta(hours=4)
    out = [("half-time", half)]
    if four > half:
        out.append(("4-hours-left", four))
    return out
