"""An engagement's KPIs (from the catalogue's templates or in full) and their versions (rebasing: proposed by one
side, approved or rejected by the other, effective from a named period)."""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal
from zoneinfo import ZoneInfo

import peewee as pw

from domain import performance as rules
from domain.errors import Conflict, ValidationError
from domain.performance import Period
from domain.performance_library import template as find_template
from models import Engagement, Kpi, KpiVersion, User, serialise_writers, transaction, utcnow
from services import scope
from services.audit import audit_log
from services.text import clean_text

from . import settings as commercial_settings


def side_of(user: User) -> str:
    return "client" if user.role in scope.CLIENT_ROLES else "provider" if user.role in scope.PROVIDER_ROLES else ""


def kpis_of(engagement: Engagement) -> pw.ModelSelect:
    """The engagement's KPIs, each with its engagement loaded (no query per KPI for its timezone)."""
    return (Kpi.select(Kpi, Engagement).join(Engagement).where(Kpi.engagement == engagement.id)
            .order_by(Kpi.code))


def versions_by_kpi(kpi_ids: list[int]) -> dict[int, list[KpiVersion]]:
    """Every version of these KPIs, oldest first, in one query."""
    out: dict[int, list[KpiVersion]] = defaultdict(list)
    if kpi_ids:
        for version in KpiVersion.select().where(KpiVersion.kpi.in_(kpi_ids)).order_by(KpiVersion.n):
            out[version.kpi_id].append(version)
    return out


def in_effect(versions: list[KpiVersion], period: Period) -> KpiVersion | None:
    """The approved version in effect for ``period``: the latest effective start not after the period's start
    (the higher number wins a tie)."""
    best = None
    for version in versions:
        if version.state == "approved" and version.effective_start <= period.start and (
                best is None or (version.effective_start, version.n) > (best.effective_start, best.n)):
            best = version
    return best or next((v for v in versions if v.n == 1), None)


def levels(kpi: Kpi, version: KpiVersion) -> rules.Levels:
    return rules.Levels(direction=kpi.direction, expected=version.expected, minimum=version.minimum)


def today_in(engagement: Engagement, now: dt.datetime | None = None) -> dt.date:
    """The engagement's local date at ``now`` (naive UTC)."""
    return (now or utcnow()).replace(tzinfo=dt.UTC).astimezone(ZoneInfo(engagement.timezone)).date()


def current_version(kpi: Kpi, versions: list[KpiVersion] | None = None) -> KpiVersion:
    versions = versions if versions is not None else versions_by_kpi([kpi.id])[kpi.id]
    period = rules.period_containing(today_in(kpi.engagement), kpi.period)
    version = in_effect(versions, period)
    assert version is not None  # version 1 always exists
    return version


def definition_of(version: KpiVersion) -> dict[str, str]:
    return json.loads(version.definition)


# --------------------------------------------------------------------------- creating

def _flag(data: dict, name: str, default: bool) -> bool:
    value = data.get(name, default)
    if isinstance(value, bool):
        return value
    if value in ("1", "true", "on", "yes"):
        return True
    if value in ("0", "false", "off", "no", "", None):
        return False
    raise ValidationError(f"{name} must be true or false", field=name)


def _choice(data: dict, name: str, choices: tuple[str, ...]) -> str:
    value = data.get(name)
    if value not in choices:
        raise ValidationError(f"{name} must be one of {', '.join(choices)}", field=name)
    return value


def _owner(engagement: Engagement, value: object, side: str) -> int | None:
    """An owner named by e-mail: an active user of that side's organisation on this engagement."""
    if value in (None, ""):
        return None
    org = engagement.client_id if side == "client" else engagement.provider_id
    user = (User.get_or_none(pw.fn.LOWER(User.email) == value.strip().lower(), User.organisation == org,
                             User.active == True)  # noqa: E712
            if isinstance(value, str) else None)
    if user is None:
        raise ValidationError(f"{side}_owner must be the e-mail of an active user of the {side}",
                              field=f"{side}_owner")
    return user.id


def _merged(data: dict) -> dict:
    """The template's fields (``template``: a catalogue code) overlaid with what the caller gave."""
    code = data.get("template")
    if code in (None, ""):
        return dict(data)
    found = find_template(code) if isinstance(code, str) else None
    if found is None:
        raise ValidationError(f"unknown KPI template {str(code)[:40]!r}", field="template")
    return {**found.as_dict(), **{k: v for k, v in data.items() if v is not None}}


def parse_kpi(data: dict) -> dict:
    """Validate a new KPI (JSON or form); returns the KPI's fields and its first version's."""
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    merged = _merged(data)
    code = clean_text(merged, "code", limit=40)
    if not all(c.isalnum() or c in "-_." for c in code) or not code.isascii():
        raise ValidationError("code may hold letters, digits, '-', '_' and '.' only", field="code")
    period = _choice(merged, "period", rules.PERIOD_KINDS)
    direction = _choice(merged, "direction", rules.DIRECTIONS)
    expected = rules.parse_decimal(merged.get("expected"), "expected")
    minimum = rules.parse_decimal(merged.get("minimum"), "minimum")
    unit = _choice(merged, "unit", rules.UNITS)
    rules.check_levels(direction, expected, minimum)
    for value in (expected, minimum):
        rules.check_value(unit, value)
    allocation = rules.parse_decimal(merged.get("allocation_pct", "0") or "0", "allocation_pct")
    rules.check_allocation(period, allocation)
    kpi = {"code": code, "name": clean_text(merged, "name"), "category": _choice(merged, "category", rules.CATEGORIES),
           "unit": unit, "direction": direction, "period": period,
           "volume_sensitive": _flag(merged, "volume_sensitive", False),
           "template": merged.get("template") if isinstance(merged.get("template"), str) else ""}
    version = {"expected": expected, "minimum": minimum, "allocation_pct": allocation,
               "critical": _flag(merged, "critical", False),
               "definition": json.dumps(rules.check_definition(merged.get("definition")), sort_keys=True)}
    return {"kpi": kpi, "version": version, "owners": (merged.get("client_owner"), merged.get("provider_owner"))}


def allocations(engagement: Engagement, *, excluding: int | None = None) -> list[Decimal]:
    """The current allocation of each monthly KPI (the pending proposal counts where it raises one)."""
    kpis = [k for k in kpis_of(engagement) if k.id != excluding]
    versions = versions_by_kpi([k.id for k in kpis])
    out = []
    for kpi in kpis:
        if kpi.period != "monthly":
            continue
        out.append(max([current_version(kpi, versions[kpi.id]).allocation_pct] +
                       [v.allocation_pct for v in versions[kpi.id] if v.state == "proposed"]))
    return out


def create_kpi(actor: User, engagement_id: int | str, data: dict, *, ip: str = "",
               now: dt.datetime | None = None) -> tuple[Kpi, str | None]:
    """Add a KPI to the engagement (version 1, agreed, effective from the engagement's first period); returns it
    with the golden-set warning when the engagement now has fewer than 8 or more than 15."""
    engagement = scope.performance_engagement(actor, engagement_id, "define_kpis")
    parsed = parse_kpi(data)
    client_owner = _owner(engagement, parsed["owners"][0], "client")
    provider_owner = _owner(engagement, parsed["owners"][1], "provider")
    settings = commercial_settings.settings_of(engagement)
    first = rules.period_containing(engagement.start_date, parsed["kpi"]["period"])
    now = now or utcnow()
    with transaction():
        serialise_writers(f"kpis:{engagement.id}")  # codes unique whatever their case, allocations within the pool
        if kpis_of(engagement).where(pw.fn.LOWER(Kpi.code) == parsed["kpi"]["code"].lower()).exists():
            raise Conflict(f"KPI {parsed['kpi']['code']} already exists on this engagement", field="code")
        rules.check_pool(allocations(engagement) + [parsed["version"]["allocation_pct"]], settings.pool_pct)
        try:
            with transaction():
                kpi = Kpi.create(engagement=engagement.id, created_by=actor, created_at=now,
                                 client_owner=client_owner, provider_owner=provider_owner, **parsed["kpi"])
        except pw.IntegrityError:
            raise Conflict(f"KPI {parsed['kpi']['code']} was added meanwhile", field="code") from None
        KpiVersion.create(kpi=kpi, n=1, state="approved", effective_from=first.text, effective_start=first.start,
                          reason="agreed when the KPI was added", proposed_side=side_of(actor), proposed_by=actor,
                          proposed_at=now, decided_by=actor, decided_at=now, **parsed["version"])
        audit_log.record("kpi.create", actor=actor, object_type="kpi", object_id=kpi.id, engagement=engagement,
                         ip=ip, details={"code": kpi.code, "template": kpi.template,
                                         **{k: str(v) for k, v in parsed["version"].items() if k != "definition"}})
    return kpi, rules.golden_set_warning(kpis_of(engagement).count())
