"""OSCAL ``assessment-results`` for an engagement (SPEC §5): one result per calendar quarter in which
evidence requests ended, an observation per accepted evidence item (with its SHA-256, and a back-matter
resource with its hash for each file of its submission), a finding per open finding and an observation per
clock the client closed as not required, with its reason (both in the latest result). UUIDs are derived from
the rows, so the same data exports to the same document. Validated with compliance-trestle's pydantic models."""
from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from typing import Any

from domain.timeutil import isoformat_utc
from models import (
    Clock,
    Control,
    Engagement,
    Evidence,
    EvidenceFile,
    EvidenceRequest,
    Finding,
    Incident,
    Kpi,
    KpiResult,
    User,
    utcnow,
)
from services import scope
from services.evidence.files import attach_files, file_url

NS = "https://attest.example/ns/oscal"

NAMESPACE = uuid.UUID("6f1d3c1e-3a51-4d0b-9b5e-a77e57000000")  # Attest's: uuid5 of a row is stable
OSCAL_VERSION = "1.1.2"


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(map(str, parts))))


def quarter_of(day: dt.date) -> tuple[dt.date, dt.date]:
    first_month = 3 * ((day.month - 1) // 3) + 1
    start = dt.date(day.year, first_month, 1)
    end = (dt.date(day.year + (first_month == 10), (first_month + 3 - 1) % 12 + 1, 1) - dt.timedelta(days=1))
    return start, end


def _instant(day: dt.date, *, end: bool = False) -> str:
    moment = dt.datetime.combine(day, dt.time(23, 59, 59) if end else dt.time())
    return isoformat_utc(moment)


def _observation(item: Evidence, control: Control, engagement: Engagement) -> dict[str, Any]:
    names = ", ".join(f.original_filename for f in item.file_rows)
    return {
        "uuid": _uuid("observation", engagement.id, item.id),
        "title": f"{control.code} evidence {item.id}",
        "description": f"Accepted evidence for {control.code} ({control.title}): {names}, "
                       f"effective {item.effective_date.isoformat()}.",
        "props": [{"name": "sha256", "ns": "https://attest.example/ns/oscal", "value": item.sha256},
                  {"name": "media-type", "ns": "https://attest.example/ns/oscal", "value": item.media_type}],
        "methods": ["EXAMINE"],
        "relevant-evidence": [{"href": f"#{_resource_uuid(engagement, item, f)}",
                               "description": f"{f.original_filename} (SHA-256 {f.sha256})"} for f in item.file_rows],
        "collected": isoformat_utc(item.reviewed_at or item.uploaded_at),
    }


def _not_required(clock: Clock, engagement: Engagement) -> dict[str, Any]:
    """A clock whose rule the client assessed as not applying: the assessment is what an auditor examines."""
    return {
        "uuid": _uuid("clock", engagement.id, clock.id),
        "title": f"{clock.rule_id} not required",
        "description": f"Incident “{clock.incident.title}”: the {clock.rule_id} clock was closed as not required. "
                       f"Reason: {clock.reason}",
        "props": [{"name": "clock-rule", "ns": "https://attest.example/ns/oscal", "value": clock.rule_id},
                  {"name": "clock-state", "ns": "https://attest.example/ns/oscal", "value": clock.state}],
        "methods": ["EXAMINE"],
        "collected": isoformat_utc(clock.started_at or clock.incident.aware_at),
    }


def _resource_uuid(engagement: Engagement, item: Evidence, f: EvidenceFile) -> str:
    """The first file keeps the uuid an item's single file always had; further files add their position."""
    parts = (engagement.id, item.id) if f.position == 1 else (engagement.id, item.id, f.position)
    return _uuid("resource", *parts)


def _resources(item: Evidence, engagement: Engagement) -> list[dict[str, Any]]:
    """A back-matter resource per file of the item's submission, each with its download and SHA-256."""
    return [{"uuid": _resource_uuid(engagement, item, f), "title": f.original_filename,
             "rlinks": [{"href": file_url(item.id, f), "media-type": f.media_type,
                         "hashes": [{"algorithm": "SHA-256", "value": f.sha256}]}]} for f in item.file_rows]


def _finding(finding: Finding, engagement: Engagement) -> dict[str, Any]:
    return {"uuid": _uuid("finding", engagement.id, finding.id), "title": finding.title,
            "description": finding.description or finding.title,
            "props": [{"name": "status", "ns": "https://attest.example/ns/oscal", "value": finding.status},
                      {"name": "source", "ns": "https://attest.example/ns/oscal", "value": finding.source}],
            "target": {"type": "objective-id", "target-id": f"attest-finding-{finding.id}",
                       "status": {"state": "not-satisfied"}}}


def _kpi_observation(result: KpiResult, engagement: Engagement) -> dict[str, Any]:
    """An accepted KPI result: the contract's performance for one period, with its source extract's hash."""
    props = [{"name": name, "ns": NS, "value": value} for name, value in (
        ("kpi", result.kpi.code), ("period", result.period), ("value", format(result.value, "f")),
        ("outcome", result.outcome), ("sha256", result.evidence_sha256)) if value]
    return {"uuid": _uuid("kpi-result", engagement.id, result.id),
            "title": f"KPI {result.kpi.code} {result.period}: {result.outcome.replace('_', ' ')}",
            "description": f"{result.kpi.name}: {format(result.value, 'f')} in {result.period} ({result.outcome}).",
            "props": props, "methods": ["EXAMINE"], "collected": isoformat_utc(result.reviewed_at or utcnow())}


def _kpi_results(user: User, engagement: Engagement) -> list[KpiResult]:
    """Accepted KPI results, when the caller may see the engagement's performance (an auditor: with CONTRACT)."""
    if not scope.sees_performance(user, engagement):
        return []
    return list(KpiResult.select(KpiResult, Kpi).join(Kpi)
                .where(KpiResult.engagement == engagement.id, KpiResult.state == "accepted")
                .order_by(KpiResult.period_start, Kpi.code))


def assessment_results(user: User, engagement_id: int | str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    engagement = scope.engagement_for(user, engagement_id)
    evidence = list(scope.evidence_of(user, engagement).where(Evidence.status == "accepted")
                    .select(Evidence, EvidenceRequest, Control)
                    .join(EvidenceRequest, on=(Evidence.request == EvidenceRequest.id), attr="request")
                    .join(Control, on=(EvidenceRequest.control == Control.id), attr="control")
                    .order_by(EvidenceRequest.period_end, Evidence.id))
    attach_files(evidence)
    by_quarter: dict[tuple[dt.date, dt.date], list[Evidence]] = defaultdict(list)
    for item in evidence:
        by_quarter[quarter_of(item.request.period_end)].append(item)
    kpi_by_quarter: dict[tuple[dt.date, dt.date], list[KpiResult]] = defaultdict(list)
    for row in _kpi_results(user, engagement):
        kpi_by_quarter[quarter_of(row.period_start)].append(row)
        by_quarter.setdefault(quarter_of(row.period_start), [])
    today = (now or utcnow()).date()
    by_quarter.setdefault(quarter_of(today), [])
    open_findings = list(scope.findings_for(user, engagement).where(Finding.status != "closed").order_by(Finding.id))
    latest = max(by_quarter)
    not_required = list(scope.clocks_for(user, engagement).where(Clock.state == "not_required",
                                                                 Clock.incident.is_null(False))
                        .select(Clock, Incident).join(Incident, attr="incident").order_by(Clock.id))
    results = []
    for period in sorted(by_quarter):
        start, end = period
        result: dict[str, Any] = {
            "uuid": _uuid("result", engagement.id, start.isoformat()),
            "title": f"{engagement.name}: {start.isoformat()} to {end.isoformat()}",
            "description": f"Evidence accepted for requests whose period ended between {start.isoformat()} and "
                           f"{end.isoformat()}.",
            "start": _instant(start), "end": _instant(end, end=True),
            "reviewed-controls": {"control-selections": [{"include-controls": [
                {"control-id": code.lower()} for code in sorted({i.request.control.code for i in by_quarter[period]})
            ]} if by_quarter[period] else {"include-all": {}}]},
        }
        observations = ([_observation(i, i.request.control, engagement) for i in by_quarter[period]] +
                        [_kpi_observation(r, engagement) for r in kpi_by_quarter[period]])
        if period == latest:
            observations += [_not_required(c, engagement) for c in not_required]
        if observations:
            result["observations"] = observations
        if period == latest and open_findings:
            result["findings"] = [_finding(f, engagement) for f in open_findings]
        results.append(result)
    document: dict[str, Any] = {"assessment-results": {
        "uuid": _uuid("assessment-results", engagement.id, (now or utcnow()).isoformat()),
        "metadata": {"title": f"Attest assessment results: {engagement.name}",
                     "last-modified": isoformat_utc(now or utcnow()), "version": "1", "oscal-version": OSCAL_VERSION},
        "import-ap": {"href": f"#attest-engagement-{engagement.id}-assessment-plan"},
        "results": results,
    }}
    if evidence:
        document["assessment-results"]["back-matter"] = {
            "resources": [r for i in evidence for r in _resources(i, engagement)]}
    return document


def validate(document: dict[str, Any]) -> None:
    """Raise pydantic's ValidationError when ``document`` is not valid OSCAL assessment-results."""
    from trestle.oscal.assessment_results import AssessmentResults
    AssessmentResults.model_validate(document["assessment-results"])
