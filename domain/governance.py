"""Governance rules (SPEC §9, the seed article's clauses 2 and 3): the tiered forums and their cadence, the
meeting, action and change-request state machines, and priced change control's money.

The seed's clause 2 gives the three tiers (weekly operational, monthly performance and risk, quarterly
executive steering), each tied to explicit decisions and time-bound escalation: an overdue action of one tier
goes onto the next agenda of the tier above. Clause 3: scope creep enters through small unpriced requests, so
every change is priced by the provider and decided by the client before it is implemented.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .errors import Conflict, ValidationError
from .recurrence import Frequency, parse_frequency

TIERS = ("operational", "performance", "executive")
TIER_ABOVE: dict[str, str | None] = {"operational": "performance", "performance": "executive", "executive": None}
TIER_BELOW: dict[str, str | None] = {above: below for below, above in TIER_ABOVE.items() if above}

# The seed's three forums (clause 2), each engagement's defaults: (name, tier, cadence).
DEFAULT_FORUMS = (
    ("Weekly operational review", "operational", "P1W"),
    ("Monthly performance and risk review", "performance", "P1M"),
    ("Quarterly executive steering", "executive", "P3M"),
)
MEETING_HOUR = 10  # meetings are scheduled at 10:00 in the engagement's timezone

MEETING_TRANSITIONS: dict[str, set[str]] = {"scheduled": {"held", "cancelled"}, "held": set(), "cancelled": set()}
ACTION_TRANSITIONS: dict[str, set[str]] = {"open": {"done", "cancelled"}, "done": set(), "cancelled": set()}
# proposed by either side -> priced by the provider -> decided by the client -> implemented
CHANGE_TRANSITIONS: dict[str, set[str]] = {
    "proposed": {"priced"},
    "priced": {"approved", "rejected"},
    "approved": {"implemented"},
    "rejected": set(),
    "implemented": set(),
}
CHANGE_STATES = tuple(CHANGE_TRANSITIONS)
PENDING_CHANGE_STATES = ("proposed", "priced")
CHANGE_DECISIONS = {"approve": "approved", "reject": "rejected"}
# The seed's clause 3 examples (a new call reason, a language, a channel) and the usual others.
CHANGE_KINDS = ("new_call_reason", "new_language", "new_channel", "new_after_call_task", "volume_change",
                "technology_change", "other")
# The seed's clause 2 decision types, with rebasing (a KPI level changed) and other.
DECISION_KINDS = ("workforce_plan", "technology_change", "root_cause", "backlog_priority", "rebasing", "other")

MONEY_LIMIT = Decimal("1000000000")  # a billion per change request is beyond any contact-centre change
CENT = Decimal("0.01")


def can_move(table: dict[str, set[str]], current: str, new: str) -> bool:
    return new in table.get(current, set())


def check_move(table: dict[str, set[str]], what: str, current: str, new: str) -> None:
    """Conflict (409) unless ``current -> new`` is in ``table``."""
    if not can_move(table, current, new):
        raise Conflict(f"this {what} is {current}: it cannot become {new}", field="status")


def parse_cadence(text: object) -> Frequency:
    """A forum's cadence as a control's frequency (``P1W``, ``P1M``, ``P3M``, an RRULE); never ``event``."""
    if not isinstance(text, str):
        raise ValidationError("cadence must be an ISO 8601 duration (P1W, P1M, P3M) or an RRULE", field="cadence")
    try:
        frequency = parse_frequency(text)
    except ValueError as exc:
        raise ValidationError(str(exc), field="cadence") from None
    if frequency.is_event:
        raise ValidationError("a forum meets on a calendar: 'event' is not a cadence", field="cadence")
    return frequency


def next_meeting_day(cadence: str, anchor: dt.date, on_or_after: dt.date) -> dt.date:
    """The first day of the cadence (counted from ``anchor``, never drifting) on or after ``on_or_after``."""
    frequency = parse_cadence(cadence)
    if on_or_after <= anchor:
        return anchor
    return frequency.next_after(on_or_after - dt.timedelta(days=1), anchor)


def escalation_tier(tier: str) -> str | None:
    """Where an overdue action of a ``tier`` meeting goes: the next agenda of the tier above (none above the
    executive)."""
    return TIER_ABOVE.get(tier)


# Where a finding is discussed. A KPI finding on the escalation ladder (SPEC §8) is the business of the forum of
# the ladder's tier (its last tier, ``dispute``, has no forum of its own: the executive hears it). Any other
# finding goes to the forum its severity calls for: the seed's clause 2 gives the weekly operational review the
# day-to-day, the monthly performance and risk review the risks, and executive steering what threatens the
# arrangement itself.
FORUM_OF_LADDER_TIER = {"operational": "operational", "performance": "performance", "executive": "executive",
                        "dispute": "executive"}
FORUM_OF_SEVERITY = {"low": "operational", "medium": "operational", "high": "performance", "critical": "executive"}


def finding_tier(severity: str, ladder_tier: str | None) -> str:
    """The forum tier whose agenda carries a finding: its ladder tier when it is on the ladder, else by severity."""
    if ladder_tier:
        return FORUM_OF_LADDER_TIER[ladder_tier]
    return FORUM_OF_SEVERITY.get(severity, "operational")


def ladder_tiers_for(forum_tier: str) -> tuple[str, ...]:
    """The ladder tiers a forum of ``forum_tier`` hears."""
    return tuple(t for t, f in FORUM_OF_LADDER_TIER.items() if f == forum_tier)


def severities_for(forum_tier: str) -> tuple[str, ...]:
    """The severities of off-ladder findings a forum of ``forum_tier`` hears."""
    return tuple(s for s, f in FORUM_OF_SEVERITY.items() if f == forum_tier)


def is_overdue(status: str, due_date: dt.date, today: dt.date) -> bool:
    """An open action past its due date (the engagement's local today)."""
    return status == "open" and due_date < today


def parse_money(value: object, field: str, *, signed: bool = False) -> Decimal:
    """An exact amount: a string or integer (a JSON number is read through its text), at most two decimals,
    not negative unless ``signed``, below ``MONEY_LIMIT``."""
    if isinstance(value, bool) or value is None or value == "":
        raise ValidationError(f"{field} is required (e.g. \"1250.00\")", field=field)
    if not isinstance(value, (str, int, float, Decimal)):
        raise ValidationError(f"{field} must be an amount such as \"1250.00\"", field=field)
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationError(f"{field} must be an amount such as \"1250.00\"", field=field) from None
    if not amount.is_finite():
        raise ValidationError(f"{field} must be a finite amount", field=field)
    if abs(amount) >= MONEY_LIMIT:
        raise ValidationError(f"{field} is beyond {MONEY_LIMIT}", field=field)
    if amount != amount.quantize(CENT):
        raise ValidationError(f"{field} has more than two decimals", field=field)
    if amount < 0 and not signed:
        raise ValidationError(f"{field} cannot be negative", field=field)
    return amount.quantize(CENT)


PRICED_STATES = ("approved", "implemented")  # a change whose prices the client has agreed to pay


@dataclass(frozen=True)
class PricedChange:
    """An approved (or implemented) change request's prices and the month (``YYYY-MM``) they start in: the month
    it was implemented, or, approved and not implemented yet, the month it was approved."""
    id: int
    title: str
    status: str
    month: str
    one_off: Decimal
    monthly: Decimal


def change_prices_by_month(changes: list[PricedChange], months: list[str]) -> dict[str, tuple[Decimal, Decimal]]:
    """Per month (``YYYY-MM``), the agreed changes' (one-off, monthly) prices beside its charges: a one-off price in
    its change's month, a monthly price in that month and every later one. Exact, to the cent."""
    out = {}
    for month in months:
        one_off = sum((c.one_off for c in changes if c.month == month), Decimal(0))
        monthly = sum((c.monthly for c in changes if c.month <= month), Decimal(0))
        out[month] = (one_off.quantize(CENT), monthly.quantize(CENT))
    return out


def check_price_side(side: str) -> None:
    if side != "provider":
        raise ValidationError("the provider prices a change request, not the client", field="one_off_price")


def check_change_decision(*, status: str, side: str, decision: object, reason: str) -> str:
    """The state a client's decision moves a change request to, or the error that refuses it."""
    if side != "client":
        raise ValidationError("the client decides a change request, not the provider", field="decision")
    if not isinstance(decision, str) or decision not in CHANGE_DECISIONS:
        raise ValidationError("decision must be 'approve' or 'reject'", field="decision")
    target = CHANGE_DECISIONS[decision]
    if status == "proposed":
        raise Conflict("the provider has not priced this change request yet", field="decision")
    check_move(CHANGE_TRANSITIONS, "change request", status, target)
    if not reason:
        raise ValidationError("a decision needs a reason", field="reason")
    return target


def check_held_at(held_at: dt.datetime, now: dt.datetime, scheduled_for: dt.datetime) -> None:
    """A meeting is held in the past, and not long before it was scheduled (a week's grace: moved forward)."""
    if held_at > now:
        raise ValidationError("held_at is in the future: record a meeting once it has been held", field="held_at")
    if held_at < scheduled_for - dt.timedelta(days=7):
        raise ValidationError("held_at is more than a week before the meeting was scheduled", field="held_at")
