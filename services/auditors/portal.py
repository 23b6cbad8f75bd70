"""The auditor portal's read side (obligation -> control -> evidence, incidents and clocks, findings) and
observations, which become findings for the client. Everything is reached through ``services.scope``."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import peewee as pw

from domain.errors import ValidationError
from models import (
    Clock,
    Control,
    Engagement,
    EngagementFramework,
    Evidence,
    EvidenceRequest,
    Finding,
    Framework,
    Incident,
    Obligation,
    User,
)
from services import scope
from services.evidence import evidence as evidence_service
from services.incidents.findings import raise_finding
from services.register import queries


def readable_frameworks(user: User, engagement: Engagement) -> list[Framework]:
    """The engagement's frameworks the user may read (an auditor: those of its grant)."""
    granted = scope.granted_framework_codes(user, engagement)
    query = (Framework.select().join(EngagementFramework)
             .where(EngagementFramework.engagement == engagement).order_by(Framework.code))
    return [f for f in query if granted is None or f.code in granted]


@dataclass
class ControlEvidence:
    control: Control
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class ObligationRow:
    obligation: Obligation
    controls: list[tuple[str, str]]  # (control code, coverage)


def evidence_by_control(user: User, engagement: Engagement) -> dict[int, list[Evidence]]:
    """Visible evidence (an auditor: accepted only) per control, newest effective date first, in one query."""
    reviewer, uploader = User.alias("reviewer"), User.alias("uploader")
    query = (scope.evidence_of(user, engagement)
             .select(Evidence, EvidenceRequest, reviewer, uploader)
             .join(EvidenceRequest, on=(Evidence.request == EvidenceRequest.id), attr="request").switch(Evidence)
             .join(reviewer, pw.JOIN.LEFT_OUTER, on=(Evidence.reviewed_by == reviewer.id), attr="reviewer")
             .switch(Evidence)
             .join(uploader, pw.JOIN.LEFT_OUTER, on=(Evidence.uploaded_by == uploader.id), attr="uploader")
             .order_by(Evidence.effective_date.desc(), Evidence.id.desc()))
    out: dict[int, list[Evidence]] = defaultdict(list)
    for item in query:
        out[item.request.control_id].append(item)
    return out


def obligation_tree(user: User, engagement: Engagement) -> list[tuple[Framework, list[ObligationRow]]]:
    """Per readable framework, its obligations with the controls that map them."""
    out = []
    for framework in readable_frameworks(user, engagement):
        obligations = queries.obligations_of(framework)
        controls = queries.controls_of_obligations([o.id for o in obligations])
        out.append((framework, [ObligationRow(o, controls.get(o.id, [])) for o in obligations]))
    return out


def controls_by_code(user: User, engagement: Engagement) -> dict[str, Control]:
    return {c.code: c for c in scope.visible_controls(user, engagement)}


def incidents_with_clocks(user: User, engagement: Engagement) -> list[tuple[Incident, list[Clock]]]:
    """The engagement's incidents, newest first, each with the clocks the user may see."""
    incidents = list(Incident.select().where(Incident.engagement == engagement).order_by(Incident.aware_at.desc()))
    rules = scope.visible_clock_rules(user, engagement)
    clocks: dict[int, list[Clock]] = defaultdict(list)
    if incidents:
        for clock in Clock.select().where(Clock.incident.in_([i.id for i in incidents])).order_by(Clock.started_at):
            if rules is None or clock.rule_id in rules:
                clocks[clock.incident_id].append(clock)
    return [(incident, clocks[incident.id]) for incident in incidents]


def findings(user: User, engagement: Engagement) -> list[Finding]:
    return list(scope.findings_for(user, engagement).order_by(Finding.created_at.desc()))


OBSERVATION_TITLE_MAX = 200


def leave_observation(user: User, engagement_id: int | str, data: dict, *, ip: str = "") -> Finding:
    """An auditor's observation: a finding with source ``auditor`` for the client to act on."""
    engagement = scope.engagement_for(user, engagement_id, "observe")
    title = data.get("title").strip() if isinstance(data.get("title"), str) else ""
    description = data.get("description") if isinstance(data.get("description"), str) else ""
    if not title:
        raise ValidationError("an observation needs a title", field="title")
    if len(title) > OBSERVATION_TITLE_MAX or not title.isprintable():
        raise ValidationError(f"the title must be printable text of at most {OBSERVATION_TITLE_MAX} characters",
                              field="title")
    if len(description) > 10_000:
        raise ValidationError("the description is longer than 10,000 characters", field="description")
    return raise_finding(engagement, source="auditor", title=title, description=description.strip(),
                         raised_by=user, ip=ip)


TEXT_PREVIEW_BYTES = 256 * 1024


def text_preview(user: User, evidence_id: int | str, *, ip: str = "") -> str | None:
    """The start of a text evidence file, to show in the page (its download recorded); None for other types."""
    item = scope.evidence_for(user, evidence_id)
    if not item.media_type.startswith("text/"):
        return None
    download = evidence_service.open_download(user, item.id, ip=ip)
    with download.handle as handle:
        return handle.read(TEXT_PREVIEW_BYTES).decode("utf-8", errors="replace")


def days_left(expires_at: dt.datetime, now: dt.datetime) -> float:
    return (expires_at - now).total_seconds() / 86400
