"""Contract performance rules (SPEC §8): periods, levels and outcomes, volume bands and relief, service credits
and the escalation ladder, with the state machines of KPI versions, results and credits. Pure: no database.

Money and measurements are ``Decimal``, never float; money is rounded half-up to the cent only at the end.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .errors import Conflict, ValidationError

CATEGORIES = ("availability", "responsiveness", "quality", "resolution", "customer", "compliance")
UNITS = ("percent", "seconds", "count", "score")
DIRECTIONS = ("higher", "lower")
PERIOD_KINDS = ("weekly", "monthly")
DEFINITION_KEYS = ("source", "formula", "sampling", "exclusions")
OUTCOMES = ("met", "below_expected", "missed", "excused")
VERSIONED_FIELDS = ("expected", "minimum", "allocation_pct", "critical", "definition")
GOLDEN_SET = (8, 15)  # the seed article's advice: outside it is a warning, not an error
TIERS = ("operational", "performance", "executive", "dispute")
PLAN_DUE_BUSINESS_DAYS = 5
RELIEF_REASON = "volume above the forecast band"
CENT = Decimal("0.01")

# The state machines (explicit tables; anything not listed is refused).
VERSION_TRANSITIONS: dict[str, set[str]] = {"proposed": {"approved", "rejected"}, "approved": set(),
                                            "rejected": set()}
RESULT_TRANSITIONS: dict[str, set[str]] = {"submitted": {"accepted", "rejected"}, "accepted": set(),
                                           "rejected": set()}
# A credit's states are SPEC's four. An item inside its earn-back window has none yet (stored as NULL, shown as
# "earn-back open until <month>"): the computation, not a person, gives it earned_back or payable when the window
# closes; the client settles a payable item once.
CREDIT_STATES = ("payable", "earned_back", "credited", "waived")
CREDIT_TRANSITIONS: dict[str, set[str]] = {"payable": {"credited", "waived"}, "earned_back": set(),
                                           "credited": set(), "waived": set()}
VERSION_DECISIONS = {"approve": "approved", "reject": "rejected"}
RESULT_DECISIONS = {"accept": "accepted", "reject": "rejected", "excuse": "accepted"}
SETTLEMENTS = ("credited", "waived")


def check_move(table: dict[str, set[str]], old: str, new: str, what: str) -> None:
    """Conflict (409) when ``old -> new`` is not in ``table``: the object was decided already."""
    if new not in table.get(old, set()):
        raise Conflict(f"this {what} is {old}; it cannot become {new}")


# --------------------------------------------------------------------------- numbers

def parse_decimal(value: object, field_name: str, *, minimum: Decimal | None = None,
                  maximum: Decimal | None = None) -> Decimal:
    """A finite decimal from a JSON number or a string (never through float); ValidationError otherwise."""
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationError(f"{field_name} must be a number", field=field_name)
    if isinstance(value, float):
        value = repr(value)
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError(f"{field_name} must be a number, not {str(value)[:40]!r}", field=field_name) from None
    if not number.is_finite():
        raise ValidationError(f"{field_name} must be a finite number", field=field_name)
    if abs(number) >= Decimal("1e12") or number.as_tuple().exponent < -6:  # type: ignore[operator]
        raise ValidationError(f"{field_name} is out of range (at most 12 digits and 6 decimals)", field=field_name)
    if minimum is not None and number < minimum:
        raise ValidationError(f"{field_name} must be at least {minimum}", field=field_name)
    if maximum is not None and number > maximum:
        raise ValidationError(f"{field_name} must be at most {maximum}", field=field_name)
    return number


def parse_count(value: object, field_name: str) -> int:
    """A whole number >= 0 (a volume)."""
    number = parse_decimal(value, field_name, minimum=Decimal(0))
    if number != number.to_integral_value():
        raise ValidationError(f"{field_name} must be a whole number", field=field_name)
    return int(number)


def money(value: Decimal) -> Decimal:
    """Round half-up to the cent (only ever at the end of a computation)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def check_value(unit: str, value: Decimal) -> None:
    """A measured value fits its unit: a percentage is 0–100; seconds, counts and scores are not negative."""
    if unit == "percent" and not Decimal(0) <= value <= Decimal(100):
        raise ValidationError("a percentage must be between 0 and 100", field="value")
    if value < 0:
        raise ValidationError(f"a value in {unit} cannot be negative", field="value")


# --------------------------------------------------------------------------- periods

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_WEEK = re.compile(r"^(\d{4})-W(0[1-9]|[1-4]\d|5[0-3])$")


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month ``YYYY-MM`` or an ISO week ``YYYY-Www`` (engagement-local dates, both ends included)."""
    start: dt.date
    end: dt.date
    kind: str
    text: str

    @property
    def month(self) -> str:
        """The month this period counts in: a week counts in the month in which it ends."""
        return f"{self.end.year:04d}-{self.end.month:02d}"

    def previous(self) -> Period:
        return period_containing(self.start - dt.timedelta(days=1), self.kind)

    def next(self) -> Period:
        return period_containing(self.end + dt.timedelta(days=1), self.kind)


def parse_period(text: object, kind: str | None = None) -> Period:
    """``YYYY-MM`` (monthly) or ``YYYY-Www`` (weekly); with ``kind``, the text must be of that kind."""
    raw = text.strip() if isinstance(text, str) else ""
    period: Period | None = None
    if match := _MONTH.match(raw):
        year, month = int(match[1]), int(match[2])
        start = dt.date(year, month, 1)
        end = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1))
        period = Period(start, end, "monthly", raw)
    elif match := _WEEK.match(raw):
        try:
            start = dt.date.fromisocalendar(int(match[1]), int(match[2]), 1)
        except ValueError:
            raise ValidationError(f"{raw!r} is not an ISO week of that year", field="period") from None
        period = Period(start, start + dt.timedelta(days=6), "weekly", raw)
    if period is None:
        raise ValidationError(f"period must be a month YYYY-MM or an ISO week YYYY-Www, not {str(text)[:20]!r}",
                              field="period")
    if kind is not None and period.kind != kind:
        raise ValidationError(f"this KPI is measured {kind}: its period is "
                              f"{'YYYY-MM' if kind == 'monthly' else 'YYYY-Www'}, not {raw!r}", field="period")
    return period


def period_containing(day: dt.date, kind: str) -> Period:
    if kind == "monthly":
        return parse_period(f"{day.year:04d}-{day.month:02d}")
    year, week, _ = day.isocalendar()
    return parse_period(f"{year:04d}-W{week:02d}")


def check_result_period(period: Period, *, engagement_start: dt.date, today: dt.date) -> None:
    """A result is for a period that has begun and does not start before the engagement."""
    if period.start > today:
        raise ValidationError(f"period {period.text} is in the future", field="period")
    if period.end < engagement_start:
        raise ValidationError(f"period {period.text} is before the engagement started", field="period")


def months_between(first: str, last: str) -> list[str]:
    """Every ``YYYY-MM`` from ``first`` to ``last`` inclusive."""
    start, end = parse_period(first, "monthly"), parse_period(last, "monthly")
    out, current = [], start
    while current.start <= end.start:
        out.append(current.text)
        current = current.next()
    return out


# --------------------------------------------------------------------------- levels and outcomes

@dataclass(frozen=True)
class Levels:
    """The version of a KPI in effect for a period: what its results are judged against."""
    direction: str
    expected: Decimal
    minimum: Decimal


def check_levels(direction: str, expected: Decimal, minimum: Decimal) -> None:
    """``minimum`` is the worst level that is not a miss: it may not be better than ``expected``."""
    if direction not in DIRECTIONS:
        raise ValidationError(f"direction must be one of {', '.join(DIRECTIONS)}", field="direction")
    if (direction == "higher" and minimum > expected) or (direction == "lower" and minimum < expected):
        raise ValidationError(f"minimum {minimum} is better than expected {expected} for a KPI where "
                              f"{direction} is better", field="minimum")


def judge(value: Decimal, levels: Levels) -> str:
    """``met`` (at or better than expected), ``below_expected`` (between) or ``missed`` (worse than minimum)."""
    sign = 1 if levels.direction == "higher" else -1
    if sign * value >= sign * levels.expected:
        return "met"
    if sign * value >= sign * levels.minimum:
        return "below_expected"
    return "missed"


def check_allocation(period_kind: str, allocation_pct: Decimal) -> None:
    if allocation_pct < 0 or allocation_pct > 100:
        raise ValidationError("allocation_pct must be between 0 and 100", field="allocation_pct")
    if period_kind == "weekly" and allocation_pct != 0:
        raise ValidationError("only monthly KPIs carry an allocation of the at-risk amount", field="allocation_pct")


def check_pool(allocations: Sequence[Decimal], pool_pct: Decimal) -> None:
    total = sum(allocations, Decimal(0))
    if total > pool_pct:
        raise ValidationError(f"allocations add up to {total} %, more than the pool of {pool_pct} %",
                              field="allocation_pct")


def golden_set_warning(count: int) -> str | None:
    low, high = GOLDEN_SET
    if count < low or count > high:
        return (f"{count} KPIs: a golden set of {low}-{high} measures is advised (too many dilute accountability, "
                "too few leave outcomes unmeasured)")
    return None


def check_definition(value: object) -> dict[str, str]:
    """The measurement definition: ``source``, ``formula``, ``sampling``, ``exclusions``, each non-empty text."""
    if not isinstance(value, dict):
        raise ValidationError("definition must be an object with source, formula, sampling and exclusions",
                              field="definition")
    out = {}
    for key in DEFINITION_KEYS:
        text = value.get(key)
        if not isinstance(text, str) or not text.strip():
            raise ValidationError(f"definition.{key} is required", field="definition")
        out[key] = text.strip()[:1000]
    return out


# --------------------------------------------------------------------------- volume bands and relief

@dataclass(frozen=True)
class Band:
    start: int
    end: int | None  # None: open-ended
    unit_rate: Decimal


def check_bands(raw: object) -> list[Band]:
    """Contiguous bands from 0: each ``from`` is the previous ``to``; only the last may leave ``to`` open."""
    if not isinstance(raw, list):
        raise ValidationError("bands must be a list of {from, to, unit_rate}", field="bands")
    bands: list[Band] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ValidationError(f"band {i + 1} must be an object", field="bands")
        start = parse_count(item.get("from"), "bands")
        end = None if item.get("to") in (None, "") else parse_count(item.get("to"), "bands")
        rate = parse_decimal(item.get("unit_rate"), "bands", minimum=Decimal(0))
        expected_start = bands[-1].end if bands else 0
        if bands and bands[-1].end is None:
            raise ValidationError("only the last band may be open-ended", field="bands")
        if start != expected_start:
            raise ValidationError(f"band {i + 1} starts at {start} but must start at {expected_start}: bands may "
                                  "neither overlap nor leave a gap", field="bands")
        if end is not None and end <= start:
            raise ValidationError(f"band {i + 1} ends at or before its start", field="bands")
        bands.append(Band(start, end, rate))
    return bands


def band_charges(volume: int, bands: Sequence[Band]) -> Decimal | None:
    """``volume`` × the unit rate of the band it falls in (``from`` ≤ volume < ``to``); None when none holds it."""
    for band in bands:
        if volume >= band.start and (band.end is None or volume < band.end):
            return volume * band.unit_rate
    return None


def is_surge(actual: int | None, forecast: int | None, tolerance_pct: Decimal) -> bool:
    """A month whose actual volume exceeds forecast × (1 + tolerance/100)."""
    if actual is None or forecast is None:
        return False
    return Decimal(actual) > Decimal(forecast) * (1 + tolerance_pct / 100)


# --------------------------------------------------------------------------- service credits

@dataclass(frozen=True)
class Miss:
    """A monthly KPI missed in the month: its allocation and whether it was missed the month before too."""
    kpi: str
    allocation_pct: Decimal
    repeat: bool


@dataclass(frozen=True)
class CreditLine:
    kpi: str
    allocation_pct: Decimal
    multiplier: Decimal
    accrued: Decimal  # at_risk × allocation × multiplier, before the cap (exact)
    amount: Decimal   # after the cap, rounded to the cent


@dataclass
class MonthCredits:
    charges: Decimal
    at_risk: Decimal
    lines: list[CreditLine] = field(default_factory=list)
    capped: bool = False
    total: Decimal = Decimal("0.00")


def compute_credits(charges: Decimal, at_risk_pct: Decimal, repeat_multiplier: Decimal,
                    misses: Sequence[Miss]) -> MonthCredits:
    """SPEC §8: ``at_risk`` = charges × at_risk_pct/100; each miss accrues at_risk × allocation/100, × the repeat
    multiplier when also missed the month before; the total is capped at ``at_risk``, a capped month scaling every
    item down in proportion. Exact until the end; the rounded items add up to the rounded total (the cents lost to
    rounding go to the items with the largest remainders)."""
    at_risk = charges * at_risk_pct / 100
    accrued = [(m, at_risk * m.allocation_pct / 100 * (repeat_multiplier if m.repeat else Decimal(1)))
               for m in misses]
    raw_total = sum((a for _, a in accrued), Decimal(0))
    capped = raw_total > at_risk
    scale = at_risk / raw_total if capped else Decimal(1)
    exact = [a * scale for _, a in accrued]
    total = money(at_risk if capped else raw_total)
    amounts = _apportion(exact, total)
    lines = [CreditLine(m.kpi, m.allocation_pct, repeat_multiplier if m.repeat else Decimal(1), a, amount)
             for (m, a), amount in zip(accrued, amounts, strict=True)]
    return MonthCredits(charges=money(charges), at_risk=money(at_risk), lines=lines, capped=capped, total=total)


def _apportion(exact: list[Decimal], total: Decimal) -> list[Decimal]:
    """Round each share down to the cent, then give the missing cents to the largest remainders."""
    floors = [x.quantize(CENT, rounding="ROUND_FLOOR") for x in exact]
    missing = int((total - sum(floors, Decimal(0))) / CENT)
    order = sorted(range(len(exact)), key=lambda i: (exact[i] - floors[i], -i), reverse=True)
    for i in order[:max(missing, 0)]:
        floors[i] += CENT
    return floors


def earn_back_state(months: int, following: Sequence[str | None]) -> str | None:
    """A credit's state from the KPI's outcomes in the months after it (None: no accepted result yet).

    N = 0: ``payable`` at once. Otherwise ``earned_back`` when each of the next N months is ``met``, ``payable``
    as soon as one of them is judged anything else, and no state yet (None) while the window is still open."""
    if months <= 0:
        return "payable"
    window = list(following[:months])
    if any(o is not None and o != "met" for o in window):
        return "payable"
    if len(window) == months and all(o == "met" for o in window):
        return "earned_back"
    return None


def credit_state_label(state: str | None, earn_back_until: str | None) -> str:
    """How pages and exports name a credit's state: SPEC's state, or the open earn-back window (not a state)."""
    if state is None:
        return f"earn-back open until {earn_back_until}" if earn_back_until else "earn-back open"
    return state.replace("_", " ")


# --------------------------------------------------------------------------- escalation ladder

def consecutive_misses(outcomes: Sequence[str | None]) -> bool:
    """The last two periods (oldest first) were both ``missed``."""
    return len(outcomes) >= 2 and outcomes[-1] == "missed" and outcomes[-2] == "missed"


def tier_above(tier: str) -> str:
    """The next rung of the ladder; ``dispute`` is the top."""
    index = TIERS.index(tier)
    return TIERS[min(index + 1, len(TIERS) - 1)]
