"""OSCAL ``assessment-results`` for an engagement (SPEC §5): one result per calendar quarter in which
evidence requests ended, an observation per accepted evidence item (with its SHA-256, linked to a back-matter
resource per file of its submission by ``relevant-evidence`` and ``links``), a finding per finding in the
quarter it was raised (open ones not satisfied, closed ones satisfied, void ones marked void), each linked to
the observations behind it (its own basis, its request's accepted evidence, the evidence that closed it), and
an observation per clock the client closed as not required, with its reason (in the latest result).
``import-ap`` names the assessment plan the document carries in its back-matter (the engagement's frameworks
and controls in scope, OSCAL ``assessment-plan`` JSON, base64). UUIDs are derived from the rows, so the same
data exports to the same document. Validated with compliance-trestle's pydantic models."""
from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections import defaultdict
from typing import Any

from domain.timeutil import isoformat_utc
from models import (
    Applicability,
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
        "links": [{"href": f"#{_resource_uuid(engagement, item, f)}", "rel": "evidence", "media-type": f.media_type}
                  for f in item.file_rows],
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


def _finding_basis(finding: Finding, engagement: Engagement) -> dict[str, Any]:
    """What the finding was raised on (its source, request, incident or clock), as the observation it rests on."""
    on = [f"{name} {key}" for name, key in (("request", finding.request_id), ("incident", finding.incident_id),
                                            ("clock", finding.clock_id)) if key]
    props = [{"name": "source", "ns": NS, "value": finding.source}]
    if finding.severity:
        props.append({"name": "severity", "ns": NS, "value": finding.severity})
    return {"uuid": _uuid("finding-basis", engagement.id, finding.id), "title": f"Basis of finding {finding.id}",
            "description": f"Finding “{finding.title}” raised ({finding.source})"
                           + (f" on {', '.join(on)}" if on else "") + f": {finding.description or finding.title}",
            "props": props, "methods": ["EXAMINE"], "collected": isoformat_utc(finding.created_at)}


FINDING_TARGET = {"closed": "satisfied"}  # every other state: the objective is not (yet) met


def _finding(finding: Finding, engagement: Engagement, related: list[str]) -> dict[str, Any]:
    """The finding, linked to the observations behind it (``related``: their UUIDs, its basis first)."""
    out = {"uuid": _uuid("finding", engagement.id, finding.id), "title": finding.title,
           "description": finding.description or finding.title,
           "props": [{"name": "status", "ns": NS, "value": finding.status},
                     {"name": "source", "ns": NS, "value": finding.source}],
           "target": {"type": "objective-id", "target-id": f"attest-finding-{finding.id}",
                      "status": {"state": FINDING_TARGET.get(finding.status, "not-satisfied")}},
           "related-observations": [{"observation-uuid": u} for u in related]}
    if finding.status == "void":
        out["remarks"] = "Void: raised by mistake and kept for the record; not a finding of the assessment."
    return out


def _findings_by_quarter(user: User, engagement: Engagement, evidence: list[Evidence]
                         ) -> dict[tuple[dt.date, dt.date], list[tuple[Finding, dict[str, Any], list[str]]]]:
    """Every finding the caller may see, in the quarter it was raised, with its basis observation and the UUIDs
    of the observations it rests on (the basis, its request's accepted evidence, its closure evidence)."""
    by_request: dict[int, list[str]] = defaultdict(list)
    by_item = {}
    for item in evidence:
        by_request[item.request_id].append(_uuid("observation", engagement.id, item.id))
        by_item[item.id] = _uuid("observation", engagement.id, item.id)
    out: dict[tuple[dt.date, dt.date], list] = defaultdict(list)
    for finding in scope.findings_for(user, engagement).order_by(Finding.id):
        basis = _finding_basis(finding, engagement)
        related = [basis["uuid"], *by_request.get(finding.request_id, [])]
        if finding.closure_evidence_id in by_item and by_item[finding.closure_evidence_id] not in related:
            related.append(by_item[finding.closure_evidence_id])
        out[quarter_of(finding.created_at.date())].append((finding, basis, related))
    return out


def _assessment_plan(engagement: Engagement, controls: list[str], now: dt.datetime) -> dict[str, Any]:
    """The plan the results import: the engagement's controls in scope (its Statement of Applicability), as an
    OSCAL assessment-plan carried in the back-matter, whose system is the engagement (named by its SoA)."""
    soa = _uuid("soa", engagement.id)
    plan = {"assessment-plan": {
        "uuid": _uuid("assessment-plan", engagement.id),
        "metadata": {"title": f"Attest assessment plan: {engagement.name}", "last-modified": isoformat_utc(now),
                     "version": "1", "oscal-version": OSCAL_VERSION},
        "import-ssp": {"href": f"#{soa}"},
        "reviewed-controls": {"control-selections": [
            {"include-controls": [{"control-id": c.lower()} for c in controls]} if controls else {"include-all": {}}]},
        "back-matter": {"resources": [{"uuid": soa, "title": f"Statement of Applicability: {engagement.name}",
                                       "rlinks": [{"href": f"/engagements/{engagement.id}/soa.csv",
                                                   "media-type": "text/csv"}]}]}}}
    return {"uuid": _uuid("assessment-plan-resource", engagement.id),
            "title": f"Assessment plan: {engagement.name}",
            "description": "The plan these results import: the engagement's controls in scope and their schedule.",
            "base64": {"filename": "assessment-plan.json", "media-type": "application/oscal.ap+json",
                       "value": base64.b64encode(json.dumps(plan, sort_keys=True).encode()).decode()}}


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
    findings = _findings_by_quarter(user, engagement, evidence)
    for quarter in findings:
        by_quarter.setdefault(quarter, [])
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
        observations += [basis for _f, basis, _r in findings.get(period, [])]
        if observations:
            result["observations"] = observations
        if findings.get(period):
            result["findings"] = [_finding(f, engagement, related) for f, _b, related in findings[period]]
        results.append(result)
    document: dict[str, Any] = {"assessment-results": {
        "uuid": _uuid("assessment-results", engagement.id, (now or utcnow()).isoformat()),
        "metadata": {"title": f"Attest assessment results: {engagement.name}",
                     "last-modified": isoformat_utc(now or utcnow()), "version": "1", "oscal-version": OSCAL_VERSION},
        "import-ap": {"href": f"#{_uuid('assessment-plan-resource', engagement.id)}"},
        "results": results,
    }}
    controls = [code for (code,) in scope.visible_controls(user, engagement).select(Control.code)
                .join(Applicability, on=(Applicability.control == Control.id))
                .where(Applicability.engagement == engagement.id, Applicability.applicable == True)  # noqa: E712
                .order_by(Control.code).tuples()]
    document["assessment-results"]["back-matter"] = {"resources": [
        _assessment_plan(engagement, controls, now or utcnow()),
        *(r for i in evidence for r in _resources(i, engagement))]}
    return document


def validate(document: dict[str, Any]) -> None:
    """Raise pydantic's ValidationError when ``document`` is not valid OSCAL assessment-results."""
    from trestle.oscal.assessment_results import AssessmentResults
    AssessmentResults.model_validate(document["assessment-results"])
