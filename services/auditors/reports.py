"""The performance report (CPS 230 para 58 and the executive forum; SPEC §9): for an engagement and a period, a
PDF through the pack's renderer (a child process, in the background, with progress) and an Excel workbook whose
sheets hold the rows behind every figure: evidence on time and accepted, findings and actions, incidents and
clocks, register changes, change requests and exit readiness, after the KPI performance and service credits of
the months the period touches (the scorecard's own figures). A report asked for an executive meeting is
attached to it. Built like a pack, by the same workers (``flask pack-worker`` and the scheduler's lease holder):
queued, claimed by one worker whose heartbeat keeps the claim while it renders, ready or failed."""
from __future__ import annotations

import datetime as dt
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal

import peewee as pw
from jinja2 import Environment, FileSystemLoader, select_autoescape
from openpyxl import Workbook

from domain import packs as pack_rules
from domain import performance as performance_rules
from domain.errors import NotFound, ValidationError
from domain.governance_exit import readiness
from domain.timeutil import end_of_local_day, local_text, parse_date, start_of_local_day
from models import (
    Action,
    ChangeRequest,
    Clock,
    Engagement,
    Evidence,
    EvidenceRequest,
    Finding,
    Forum,
    Incident,
    Meeting,
    PerformanceReport,
    Subcontractor,
    User,
    transaction,
    utcnow,
)
from services import scope
from services.audit import audit_log
from services.governance import changes, exit_readiness
from services.performance.scorecard import scorecard_of

from .packs import ROOT, Heartbeat, Renderer, evidence_store, requeue_stale, worker_name

TEMPLATES = os.path.join(ROOT, "templates", "reports")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# ---------------------------------------------------------------- requests

def _period(data: dict) -> tuple[dt.date, dt.date]:
    out = []
    for name in ("period_start", "period_end"):
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(f"{name} is required (YYYY-MM-DD): a report covers a period", field=name)
        try:
            out.append(parse_date(value.strip()))
        except ValueError as exc:
            raise ValidationError(str(exc), field=name) from None
    pack_rules.check_period(out[0], out[1])
    return out[0], out[1]


def request_report(user: User, engagement_id: int | str, data: object, *, ip: str = "") -> PerformanceReport:
    """Queue a report (client side); with ``meeting_id``, for that executive meeting of the engagement."""
    engagement = scope.engagement_for(user, engagement_id, "review")
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    start, end = _period(data)
    meeting_id = None
    if data.get("meeting_id") not in (None, ""):
        try:
            meeting = scope.meeting_for(user, data["meeting_id"])
        except NotFound:
            meeting = None
        if meeting is None or meeting.engagement_id != engagement.id:
            raise ValidationError("meeting_id must be a meeting of this engagement", field="meeting_id")
        if Forum.get_by_id(meeting.forum_id).tier != "executive":
            raise ValidationError("meeting_id must be an executive meeting: the report is made for executive "
                                  "steering", field="meeting_id")
        meeting_id = meeting.id
    with transaction():
        report = PerformanceReport.create(engagement=engagement.id, meeting=meeting_id, period_start=start,
                                          period_end=end, requested_by=user.id, created_at=utcnow())
        audit_log.record("report.request", actor=user, object_type="report", object_id=report.id,
                         engagement=engagement, ip=ip,
                         details={"period": [start.isoformat(), end.isoformat()], "meeting": meeting_id})
    return report


def _move(report_id: int, current: str, new: str, worker: str | None = None, **values) -> bool:
    pack_rules.check_transition(current, new)
    query = PerformanceReport.update(status=new, **values).where(PerformanceReport.id == report_id,
                                                                 PerformanceReport.status == current)
    if worker is not None:
        query = query.where(PerformanceReport.claimed_by == worker)
    return bool(query.execute())


def _progress(report_id: int, progress: int, worker: str) -> None:
    PerformanceReport.update(progress=progress, claimed_at=utcnow()).where(
        PerformanceReport.id == report_id, PerformanceReport.status == "building",
        PerformanceReport.claimed_by == worker).execute()


def claim_next(worker: str) -> PerformanceReport | None:
    """Claim the oldest queued report for ``worker`` (of racing workers exactly one wins each), after taking back
    the claims of dead workers as packs do (``requeue_stale``: a process of this host gone, or a heartbeat silent
    for ``CLAIM_TTL``)."""
    requeue_stale(model=PerformanceReport)
    queued = [r.id for r in PerformanceReport.select(PerformanceReport.id).where(PerformanceReport.status == "queued")
              .order_by(PerformanceReport.created_at, PerformanceReport.id).limit(5)]
    for candidate in queued:
        with transaction():
            if _move(candidate, "queued", "building", claimed_by=worker, claimed_at=utcnow(), progress=1):
                return PerformanceReport.get_by_id(candidate)
    return None


def run_pending(store_root: str, *, worker: str | None = None, limit: int = 5) -> list[PerformanceReport]:
    """Build up to ``limit`` queued reports, one after the other."""
    built = []
    for _ in range(limit):
        report = claim_next(worker or worker_name())
        if report is None:
            break
        built.append(build_claimed(report, store_root))
    return built


# ---------------------------------------------------------------- what a report holds

@dataclass
class Section:
    """One part of the report: its figures (label, value) and the rows behind them (for the workbook)."""
    title: str
    figures: list[tuple[str, object]]
    headers: tuple[str, ...]
    rows: list[tuple] = field(default_factory=list)


def _day(value: dt.datetime | dt.date | None) -> str:
    return value.isoformat()[:10] if value else ""


def gather(report: PerformanceReport) -> list[Section]:
    engagement = Engagement.get_by_id(report.engagement_id)
    tz = engagement.timezone
    start, end = start_of_local_day(report.period_start, tz), end_of_local_day(report.period_end, tz)
    return [*_performance(engagement, report.period_start, report.period_end),
            _evidence(engagement, start, end), _findings(engagement, start, end, report.period_end),
            _actions(engagement, report.period_start, report.period_end),
            _incidents(engagement, start, end), _register(engagement, start, end),
            _change_requests(engagement, start, end), _exit(engagement, report.period_end)]


OUTCOMES = (("met", "Results met"), ("below_expected", "Results below expected"), ("missed", "Results missed"),
            ("excused", "Results excused"))


def _month(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _performance(engagement: Engagement, first: dt.date, last: dt.date) -> list[Section]:
    """KPI results and service credits of every month the period touches, as the scorecard shows them."""
    card = scorecard_of(engagement, _month(first), _month(last))
    results = [(k, r) for k in card["kpis"] for r in k["results"]]
    accepted = [r for _k, r in results if r["state"] == "accepted"]
    kpis = Section("KPI performance", [
        ("KPIs", len(card["kpis"])), ("Results submitted", len(results)), ("Results accepted", len(accepted)),
        *[(label, sum(r["outcome"] == outcome for r in accepted)) for outcome, label in OUTCOMES]],
        ("kpi", "name", "critical", "period", "value", "expected", "minimum", "state", "outcome"),
        [(k["code"], k["name"], k["critical"], r["period"], r["value"], r["levels"].get("expected", ""),
          r["levels"].get("minimum", ""), r["state"], r["outcome"] or "") for k, r in results])
    credits = [(m["month"], c) for m in card["months"] for c in m["credits"]]
    currency = card["currency"]

    def total(rows: list[dict]) -> str:
        return f"{currency} {sum((Decimal(c['amount']) for c in rows), Decimal('0.00'))}"

    at_risk = sum((Decimal(m["at_risk"]) for m in card["months"] if m["at_risk"] is not None), Decimal("0.00"))
    return [kpis, Section("Service credits", [
        ("At risk", f"{currency} {at_risk}"), ("Credits", total([c for _m, c in credits])),
        *[(f"Credits {state.replace('_', ' ')}", total([c for _m, c in credits if c["state"] == state]))
          for state in performance_rules.CREDIT_STATES],
        ("Credits in an open earn-back window", total([c for _m, c in credits if c["state"] is None]))],
        ("month", "kpi", "allocation %", "multiplier", "amount", "state", "reference or reason"),
        [(month, c["kpi"], c["allocation_pct"], c["multiplier"], c["amount"], c["state_label"],
          c["reference"] or c["reason"]) for month, c in credits])]


def _evidence(engagement: Engagement, start: dt.datetime, end: dt.datetime) -> Section:
    due = list(EvidenceRequest.select().where(EvidenceRequest.engagement == engagement.id,
                                              EvidenceRequest.due_at >= start, EvidenceRequest.due_at <= end)
               .order_by(EvidenceRequest.due_at))
    first_accepted: dict[int, dt.datetime] = {}
    for request_id, uploaded in (Evidence.select(Evidence.request, Evidence.uploaded_at)
                                 .where(Evidence.request.in_([r.id for r in due] or [0]),
                                        Evidence.status.in_(("accepted", "expired", "superseded")))
                                 .order_by(Evidence.uploaded_at).tuples()):
        first_accepted.setdefault(request_id, uploaded)
    on_time = [r for r in due if r.id in first_accepted and first_accepted[r.id] <= r.due_at]
    return Section("Evidence due in the period", [
        ("Requests due", len(due)), ("Accepted", len(first_accepted)), ("Accepted on time", len(on_time)),
        ("Overdue now", sum(r.status == "overdue" for r in due))],
        ("request", "control id", "due", "status", "accepted evidence uploaded", "on time"),
        [(r.id, r.control_id, _day(r.due_at), r.status, _day(first_accepted.get(r.id)), r in on_time) for r in due])


def _findings(engagement: Engagement, start: dt.datetime, end: dt.datetime, last: dt.date) -> Section:
    raised = list(Finding.select().where(Finding.engagement == engagement.id, Finding.created_at >= start,
                                         Finding.created_at <= end).order_by(Finding.created_at))
    closed = Finding.select().where(Finding.engagement == engagement.id, Finding.closed_at >= start,
                                    Finding.closed_at <= end).count()
    open_at_end = Finding.select().where(Finding.engagement == engagement.id, Finding.created_at <= end,
                                         Finding.status != "void",
                                         (Finding.closed_at.is_null()) | (Finding.closed_at > end)).count()
    return Section("Findings", [("Raised", len(raised)), ("Closed", closed), ("Open at the period's end", open_at_end)],
                   ("finding", "title", "source", "severity", "status", "due"),
                   [(f.id, f.title, f.source, f.severity, f.status, _day(f.due_date)) for f in raised])


def _actions(engagement: Engagement, first: dt.date, last: dt.date) -> Section:
    due = list(Action.select(Action, User).join(User, on=(Action.owner == User.id))
               .where(Action.engagement == engagement.id, Action.due_date >= first, Action.due_date <= last)
               .order_by(Action.due_date))
    return Section("Governance actions due", [
        ("Due", len(due)), ("Done", sum(a.status == "done" for a in due)),
        ("Escalated", sum(a.escalated_at is not None for a in due))],
        ("action", "title", "tier", "owner", "due", "status", "escalated"),
        [(a.id, a.title, a.tier, a.owner.email, _day(a.due_date), a.status, _day(a.escalated_at)) for a in due])


def _incidents(engagement: Engagement, start: dt.datetime, end: dt.datetime) -> Section:
    incidents = list(Incident.select().where(Incident.engagement == engagement.id, Incident.aware_at >= start,
                                             Incident.aware_at <= end).order_by(Incident.aware_at))
    clocks = list(Clock.select().where(Clock.engagement == engagement.id, Clock.deadline_at >= start,
                                       Clock.deadline_at <= end).order_by(Clock.deadline_at))
    return Section("Incidents and clocks", [
        ("Incidents", sum(i.voided_at is None for i in incidents)), ("Clocks due", len(clocks)),
        ("Met", sum(c.state == "met" for c in clocks)),
        ("Breached", sum(c.state == "breached" for c in clocks))],
        ("kind", "id", "title or rule", "category or basis", "date", "state"),
        [("incident", i.id, i.title, i.category, _day(i.aware_at), "void" if i.voided_at else "") for i in incidents]
        + [("clock", c.id, c.rule_id, c.basis, _day(c.deadline_at), c.state) for c in clocks])


def _register(engagement: Engagement, start: dt.datetime, end: dt.datetime) -> Section:
    proposed = (Subcontractor.proposed_at >= start) & (Subcontractor.proposed_at <= end)
    decided = (Subcontractor.decided_at >= start) & (Subcontractor.decided_at <= end)
    moved = list(Subcontractor.select().where(Subcontractor.engagement == engagement.id, proposed | decided))
    return Section("Service provider register changes", [
        ("Proposed", sum(start <= s.proposed_at <= end for s in moved)),
        ("Decided", sum(s.decided_at is not None and start <= s.decided_at <= end for s in moved))],
        ("sub-contractor", "name", "status", "proposed", "decided"),
        [(s.id, s.name, s.status, _day(s.proposed_at), _day(s.decided_at)) for s in moved])


def _change_requests(engagement: Engagement, start: dt.datetime, end: dt.datetime) -> Section:
    rows = list(ChangeRequest.select().where(ChangeRequest.engagement == engagement.id,
                                             ChangeRequest.proposed_at <= end,
                                             (ChangeRequest.decided_at.is_null()) | (ChangeRequest.decided_at >= start))
                .order_by(ChangeRequest.proposed_at))
    return Section("Change requests", [
        ("Open or decided in the period", len(rows)),
        ("Approved or implemented", sum(c.status in ("approved", "implemented") for c in rows)),
        ("Approved monthly prices (all)", str(changes.approved_monthly_total(engagement)))],
        ("change request", "title", "kind", "status", "one-off", "monthly", "significant"),
        [(c.id, c.title, c.kind, c.status, str(c.one_off_price or ""), str(c.monthly_price or ""), c.significant)
         for c in rows])


def _exit(engagement: Engagement, last: dt.date) -> Section:
    items = exit_readiness.exit_items(engagement, last)
    figure = readiness([i.state for i in items])
    return Section("Exit readiness at the period's end", [
        ("Readiness", f"{figure}%" if figure is not None else "n/a"),
        *[(state.capitalize(), sum(i.state == state for i in items)) for state in ("current", "stale", "missing")]],
        ("control", "title", "state", "valid until", "evidence"),
        [(i.control, i.title, i.state, _day(i.valid_until), i.evidence_id or "") for i in items])


# ---------------------------------------------------------------- rendering

def workbook(report: PerformanceReport, engagement: Engagement, sections: list[Section]) -> bytes:
    book = Workbook()
    summary = book.active
    summary.title = "Summary"
    summary.append(["Engagement", engagement.name])
    summary.append(["Period", f"{report.period_start.isoformat()} to {report.period_end.isoformat()}"])
    for section in sections:
        summary.append([])
        summary.append([section.title])
        for label, value in section.figures:
            summary.append([label, value])
        sheet = book.create_sheet(section.title[:31])
        sheet.append(list(section.headers))
        for row in section.rows:
            sheet.append([v if isinstance(v, (int, float, bool)) else str(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def render_html(report: PerformanceReport, engagement: Engagement, sections: list[Section]) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters["when"] = local_text
    return env.get_template("performance.html").render(report=report, engagement=engagement, sections=sections,
                                                       generated=utcnow())


def build_claimed(report: PerformanceReport, store_root: str) -> PerformanceReport:
    worker = report.claimed_by
    try:
        with Heartbeat(report.id, worker, model=PerformanceReport), Renderer() as renderer:
            engagement = Engagement.get_by_id(report.engagement_id)
            sections = gather(report)
            _progress(report.id, 30, worker)
            store = evidence_store(store_root)
            book = workbook(report, engagement, sections)
            manifest = json.dumps({"engagement": engagement.id, "period": [report.period_start.isoformat(),
                                                                            report.period_end.isoformat()],
                                   "figures": {s.title: dict(s.figures) for s in sections}}, default=str).encode()
            with tempfile.TemporaryDirectory(prefix="attest-report-") as work:
                book_path = os.path.join(work, "report.xlsx")
                with open(book_path, "wb") as handle:
                    handle.write(book)
                out_path = os.path.join(work, "report.pdf")
                rendered = renderer.render(render_html(report, engagement, sections), manifest,
                                [(book_path, "report.xlsx", "The rows behind every figure")], out_path,
                                on_progress=lambda p: _progress(report.id, 30 + int(p * 0.6), worker))
                with open(out_path, "rb") as handle:
                    pdf = store.put(handle)
                with open(book_path, "rb") as handle:
                    xlsx = store.put(handle)
        with transaction():
            if _move(report.id, "building", "ready", worker, progress=100, pdf_sha256=pdf.sha256, pdf_size=pdf.size,
                     xlsx_sha256=xlsx.sha256, xlsx_size=xlsx.size, finished_at=utcnow()):
                audit_log.record("report.build", actor_email="scheduler", object_type="report", object_id=report.id,
                                 engagement=report.engagement_id,
                                 details={"pdf_sha256": pdf.sha256, "xlsx_sha256": xlsx.sha256,
                                          "pages": rendered.get("pages"),
                                          "render_peak_rss_mib": round(rendered.get("peak_rss_kib", 0) / 1024, 1)})
    except Exception as exc:  # noqa: BLE001 - any failure is the report's outcome, recorded
        with transaction():
            _move(report.id, "building", "failed", worker, error=str(exc)[:1000] or type(exc).__name__,
                  finished_at=utcnow())
    return PerformanceReport.get_by_id(report.id)


def report_file(user: User, report_id: int | str, store_root: str, fmt: str, *, ip: str = ""):
    """(report, open file, media type) of a ready report's PDF or workbook, recording the download."""
    report = scope.performance_report_for(user, report_id)
    if report.status != "ready":
        raise NotFound("the report is not ready")
    sha = report.xlsx_sha256 if fmt == "xlsx" else report.pdf_sha256
    handle = evidence_store(store_root).open(sha)
    audit_log.record("report.download", actor=user, object_type="report", object_id=report.id,
                     engagement=report.engagement_id, ip=ip, details={"sha256": sha, "format": fmt})
    return report, handle, XLSX if fmt == "xlsx" else "application/pdf"


def reports_of(engagement: Engagement, status: str = "") -> pw.ModelSelect:
    """An engagement's reports, newest first; ``status`` one of the pack states, or empty for all."""
    query = PerformanceReport.select().where(PerformanceReport.engagement == engagement.id)
    if status:
        if status not in pack_rules.TRANSITIONS:
            raise ValidationError(f"status must be one of {', '.join(pack_rules.TRANSITIONS)}", field="status")
        query = query.where(PerformanceReport.status == status)
    return query.order_by(PerformanceReport.created_at.desc(), PerformanceReport.id.desc())


def reports_of_meeting(meeting: Meeting) -> list[PerformanceReport]:
    return list(PerformanceReport.select().where(PerformanceReport.meeting == meeting.id)
                .order_by(PerformanceReport.id.desc()))
