"""Rebasing (SPEC §8 KPI version): a change to a KPI's levels, allocation, criticality or definition is a new
version proposed by one side with a reason and an ``effective_from`` period, in effect only once the other side
approves it. Results of the periods it covers are judged again, and the credits recomputed, in the same
transaction; results before it keep their judgement."""
from __future__ import annotations

import datetime as dt
import json

from domain import performance as rules
from domain.errors import Conflict, NotFound, ValidationError
from models import Kpi, KpiVersion, User, serialise_writers, transaction, utcnow
from services import scope
from services.audit import audit_log
from services.text import clean_text

from . import results
from . import settings as commercial_settings
from .kpis import _flag, allocations, in_effect, side_of, versions_by_kpi


def propose_version(actor: User, kpi_id: int | str, data: dict, *, ip: str = "",
                    now: dt.datetime | None = None) -> KpiVersion:
    """A change to the versioned fields, with a ``reason`` and an ``effective_from`` period; the other side
    decides it. One proposal at a time per KPI."""
    kpi = scope.kpi_for(actor, kpi_id, "define_kpis")
    data = data if isinstance(data, dict) else {}
    engagement = kpi.engagement
    reason = clean_text(data, "reason", limit=2000, multiline=True)
    effective = rules.parse_period(data.get("effective_from"), kpi.period)
    if effective.end < engagement.start_date:
        raise ValidationError("effective_from is before the engagement started", field="effective_from")
    versions = versions_by_kpi([kpi.id])[kpi.id]
    base = in_effect(versions, effective)
    assert base is not None
    fields = _versioned_fields(kpi, base, data)
    if all(fields[k] == getattr(base, k) for k in ("expected", "minimum", "allocation_pct", "critical", "definition")):
        raise ValidationError("nothing to change: give expected, minimum, allocation_pct, critical or definition "
                              "with a new value", field="expected")
    now = now or utcnow()
    with transaction():
        serialise_writers(f"kpi-versions:{kpi.id}")  # one proposal at a time, numbered without a race
        if KpiVersion.select().where(KpiVersion.kpi == kpi.id, KpiVersion.state == "proposed").exists():
            raise Conflict("this KPI already has a proposed version awaiting a decision", field="effective_from")
        rules.check_pool(allocations(engagement, excluding=kpi.id) + [fields["allocation_pct"]],
                         commercial_settings.settings_of(engagement).pool_pct)
        n = max(v.n for v in KpiVersion.select(KpiVersion.n).where(KpiVersion.kpi == kpi.id)) + 1
        version = KpiVersion.create(kpi=kpi, n=n, state="proposed", effective_from=effective.text,
                                    effective_start=effective.start, reason=reason, proposed_side=side_of(actor),
                                    proposed_by=actor, proposed_at=now, **fields)
        audit_log.record("kpi.version_propose", actor=actor, object_type="kpi", object_id=kpi.id,
                         engagement=engagement, ip=ip,
                         details={"n": n, "effective_from": effective.text, "reason": reason,
                                  **{k: str(v) for k, v in fields.items() if k != "definition"}})
    return version


def _versioned_fields(kpi: Kpi, base: KpiVersion, data: dict) -> dict:
    direction = kpi.direction
    expected = rules.parse_decimal(data["expected"], "expected") if "expected" in data else base.expected
    minimum = rules.parse_decimal(data["minimum"], "minimum") if "minimum" in data else base.minimum
    rules.check_levels(direction, expected, minimum)
    for value in (expected, minimum):
        rules.check_value(kpi.unit, value)
    allocation = (rules.parse_decimal(data["allocation_pct"], "allocation_pct") if "allocation_pct" in data
                  else base.allocation_pct)
    rules.check_allocation(kpi.period, allocation)
    definition = (json.dumps(rules.check_definition(data["definition"]), sort_keys=True) if "definition" in data
                  else base.definition)
    return {"expected": expected, "minimum": minimum, "allocation_pct": allocation,
            "critical": _flag(data, "critical", base.critical), "definition": definition}


def decide_version(actor: User, kpi_id: int | str, n: int | str, data: dict, *, ip: str = "",
                   now: dt.datetime | None = None) -> KpiVersion:
    """The other side approves or rejects a proposed version (a rejection needs a reason)."""
    kpi = scope.kpi_for(actor, kpi_id, "define_kpis")
    data = data if isinstance(data, dict) else {}
    version = KpiVersion.get_or_none(KpiVersion.kpi == kpi.id, KpiVersion.n == _int(n))
    if version is None:
        raise NotFound("version not found")
    decision = data.get("decision")
    if decision not in rules.VERSION_DECISIONS:
        raise ValidationError("decision must be approve or reject", field="decision")
    target = rules.VERSION_DECISIONS[decision]
    reason = clean_text(data, "reason", required=target == "rejected", limit=2000, multiline=True)
    rules.check_move(rules.VERSION_TRANSITIONS, version.state, target, "version")
    if side_of(actor) == version.proposed_side:
        raise ValidationError(f"the {version.proposed_side} proposed this version: the other side decides it",
                              field="decision")
    now = now or utcnow()
    with transaction():
        if not (KpiVersion.update(state=target, decided_by=actor, decided_at=now, decision_reason=reason)
                .where(KpiVersion.id == version.id, KpiVersion.state == "proposed").execute()):
            raise Conflict("this version was decided meanwhile", field="decision")
        audit_log.record("kpi.version_decision", actor=actor, object_type="kpi", object_id=kpi.id,
                         engagement=kpi.engagement, ip=ip,
                         details={"n": version.n, "decision": target, "reason": reason,
                                  "effective_from": version.effective_from})
        if target == "approved":
            results.rejudge(kpi, version.effective_start, now)
    return KpiVersion.get_by_id(version.id)


def _int(value: int | str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotFound("version not found") from None
