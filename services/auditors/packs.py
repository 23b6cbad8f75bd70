"""PDF evidence packs (SPEC §2, §5): requested as a row, built in the background by a worker that claims
the row, rendered by WeasyPrint in a child process (``services.auditors.pack_render``: it keeps the whole document in
memory and does not give it back), stored by hash, verified by ``verify_pack``.

A pack is one PDF/A-3b document with an embedded ``manifest.json`` (every evidence item's hash, size and
media type; the pack's scope; the audit trail's head hash at build time) and, up to ``PACK_EMBED_MAX_MB`` in
total, the evidence files themselves as associated files.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import peewee as pw
from jinja2 import Environment, FileSystemLoader, select_autoescape

from domain import packs as rules
from domain.errors import NotFound, ValidationError
from domain.findings import FINAL_STATES
from domain.redaction import redact
from domain.timeutil import local, local_text, parse_date
from evidence_store import CHUNK, LocalStore, get_store
from models import (
    Applicability,
    AuditEvent,
    Clock,
    Control,
    ControlObligation,
    Engagement,
    Evidence,
    EvidenceFile,
    EvidenceRequest,
    EvidenceRequirement,
    Finding,
    Framework,
    Incident,
    Obligation,
    Organisation,
    Pack,
    User,
    db,
    transaction,
    utcnow,
)
from services import scope
from services.audit import audit_log
from services.evidence.files import attach_files
from services.integrations import webhooks
from services.performance import scorecard
from services.register import queries

from . import grants

ROOT = str(Path(__file__).resolve().parents[2])  # the repository: the renderer child runs from here
TEMPLATES = os.path.join(ROOT, "templates", "packs")
MANIFEST = "manifest.json"
HEARTBEAT = dt.timedelta(seconds=20)  # a building worker renews its claim this often (a thread beside the build)
CLAIM_TTL = dt.timedelta(minutes=2)  # a building pack whose worker has been silent this long is queued again
DEFAULT_EMBED_MAX_MB = 50


def evidence_store(root: str) -> LocalStore:
    """The content-addressed store evidence files and pack files live in: EVIDENCE_STORE's, a directory or
    ``s3://bucket/prefix`` (the S3 store has the same interface)."""
    return get_store(root)


def attachable_path(store: LocalStore, sha256: str, directory: str) -> str:
    """A file WeasyPrint can attach: the local store's own file, or the S3 object streamed to ``directory``
    (a build's temporary directory; the embedded files total at most PACK_EMBED_MAX_MB)."""
    if isinstance(store, LocalStore):
        return store.path_for(sha256)
    path = os.path.join(directory, sha256)
    if not os.path.exists(path):
        with contextlib.closing(store.open(sha256)) as body, open(path, "wb") as out:
            shutil.copyfileobj(body, out, CHUNK)
    return path


# ---------------------------------------------------------------- requests

def _period(data: dict, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    out = []
    for name in ("period_start", "period_end"):
        value = data.get(name)
        if not isinstance(value, str) or not value:
            raise ValidationError(f"{name} is required (YYYY-MM-DD)", field=name)
        try:
            out.append(parse_date(value))
        except ValueError as exc:
            raise ValidationError(str(exc), field=name) from None
    rules.check_period(out[0], out[1], today)
    return out[0], out[1]


def allowed_frameworks(user: User, engagement: Engagement) -> set[str]:
    """The frameworks the user may put in a pack: the engagement's, an auditor's narrowed to its grant."""
    codes = set(grants.engagement_framework_codes(engagement))
    granted = scope.granted_framework_codes(user, engagement)
    return codes if granted is None else codes & granted


def request_pack(user: User, engagement_id: int | str, data: dict, *, ip: str = "") -> Pack:
    """Queue a pack; a worker builds it. Nothing is written when any value is wrong."""
    engagement = scope.engagement_for(user, engagement_id, "build_pack")
    requested = data.get("frameworks")
    if not isinstance(requested, list) or not all(isinstance(c, str) for c in requested):
        raise ValidationError("frameworks must be a list of framework codes", field="frameworks")
    codes = rules.check_frameworks(requested, allowed_frameworks(user, engagement))
    start, end = _period(data, local(utcnow(), engagement.timezone).date())
    with transaction():
        pack = Pack.create(engagement=engagement, frameworks=json.dumps(sorted(codes)), period_start=start,
                           period_end=end, requested_by=user)
        audit_log.record("pack.request", actor=user, object_type="pack", object_id=pack.id, engagement=engagement,
                         ip=ip, details={"frameworks": sorted(codes), "period": [start.isoformat(), end.isoformat()]})
    return pack


def _move(pack_id: int, current: str, new: str, *, claimed_by: str | None = None, **values: Any) -> bool:
    """Move a pack from ``current`` to ``new`` if it is still there (the table of domain.packs allows it) and,
    with ``claimed_by``, still claimed by that worker: a claim taken back after its timeout is no longer
    the first claimer's, whose late result is dropped."""
    rules.check_transition(current, new)
    query = Pack.update(status=new, **values).where(Pack.id == pack_id, Pack.status == current)
    if claimed_by is not None:
        query = query.where(Pack.claimed_by == claimed_by)
    return bool(query.execute())


def _set_progress(pack_id: int, progress: int, claimed_by: str) -> None:
    """Progress, which also renews the claim (a claim silent for CLAIM_TTL is taken back)."""
    Pack.update(progress=progress, claimed_at=utcnow()).where(
        Pack.id == pack_id, Pack.status == "building", Pack.claimed_by == claimed_by).execute()


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def requeue_stale(now: dt.datetime | None = None, model: type[pw.Model] = Pack) -> int:
    """Jobs (packs, or another ``model`` built alike: performance reports) whose worker died mid-build go back to
    the queue: at once when the claiming process was on this host and is gone, else once its heartbeat has been
    silent for CLAIM_TTL."""
    cutoff = (now or utcnow()) - CLAIM_TTL
    requeued = (model.update(status="queued", progress=0, claimed_by="")
                .where(model.status == "building", model.claimed_at < cutoff).execute())
    building = model.select(model.id, model.claimed_by).where(model.status == "building").tuples()
    for job_id, worker in list(building):
        if _claimer_gone(worker):
            requeued += (model.update(status="queued", progress=0, claimed_by="")
                         .where(model.id == job_id, model.status == "building", model.claimed_by == worker).execute())
    return requeued


def _claimer_gone(worker: str) -> bool:
    """Is ``worker`` (``worker_name()``: host and process id) a process of this host that no longer runs?"""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not (pid.isascii() and pid.isdigit()):
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


class Heartbeat:
    """Renews this worker's claim every ``every`` while it builds (a thread, its own short transactions), so
    that a claim goes stale only when its worker is gone, not because a large pack takes long to render. Packs
    and performance reports (``model``) alike."""

    def __init__(self, job_id: int, worker: str, every: dt.timedelta = HEARTBEAT,
                 model: type[pw.Model] = Pack) -> None:
        self.job_id, self.worker, self.every, self.model = job_id, worker, every.total_seconds(), model
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{model.__name__.lower()}-{job_id}-heartbeat",
                                        daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        model = self.model
        try:
            while not self._stop.wait(self.every):
                with contextlib.suppress(pw.PeeweeException), transaction():
                    model.update(claimed_at=utcnow()).where(model.id == self.job_id, model.status == "building",
                                                            model.claimed_by == self.worker).execute()
        finally:
            db.close()


_Heartbeat = Heartbeat  # the name the heartbeat tests know


def _claim(pack_id: int, worker: str) -> bool:
    """queued -> building for ``worker``: one conditional UPDATE, so of racing claimers exactly one wins."""
    rules.check_transition("queued", "building")
    return bool(Pack.update(status="building", claimed_by=worker, claimed_at=utcnow(), progress=1)
                .where(Pack.id == pack_id, Pack.status == "queued").execute())


def claim_next(worker: str) -> Pack | None:
    """Claim the oldest queued pack for ``worker``; of racing workers exactly one wins each pack."""
    requeue_stale()
    queued = [p.id for p in Pack.select(Pack.id).where(Pack.status == "queued").order_by(Pack.created_at, Pack.id)
              .limit(5)]  # read first: no statement is open while claiming (SQLite upgrades no read lock)
    for candidate_id in queued:
        with transaction():
            if _claim(candidate_id, worker):
                return Pack.get_by_id(candidate_id)
    return None


def run_pending(store_root: str, *, embed_max_mb: float = DEFAULT_EMBED_MAX_MB, worker: str | None = None,
                limit: int = 10) -> list[Pack]:
    """Build up to ``limit`` queued packs, one after the other (the worker's and the scheduler's pass)."""
    built = []
    for _ in range(limit):
        pack = claim_next(worker or worker_name())
        if pack is None:
            break
        built.append(build_claimed(pack, store_root, embed_max_mb=embed_max_mb))
    return built


# ---------------------------------------------------------------- what a pack holds

@dataclass
class ControlSection:
    control: Control
    frameworks: list[str]
    applicable: bool
    frequency: str
    requests: list[EvidenceRequest] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class MeetingControl:
    """A control that meets a framework requirement, as the engagement applies it, with its evidence."""
    control: Control
    coverage: str  # full | partial
    applicability: Applicability
    evidence: list[Evidence]


@dataclass
class RequirementLine:
    """One requirement of a framework (its own reference and words) and the controls that meet it."""
    obligation: Obligation
    meets: list[MeetingControl]


@dataclass
class PackData:
    pack: Pack
    engagement: Engagement
    frameworks: list[Framework]
    generated_at: dt.datetime
    generated_by: str
    head_hash: str
    head_event_id: int | None
    soa: dict[str, list[tuple[Control, Applicability]]]
    requirements: dict[str, list[RequirementLine]]  # per framework: the SoA in the framework's own terms
    sections: list[ControlSection]
    incidents: list[tuple[Incident, list[Clock]]]
    findings: list[Finding]
    access: list[tuple[str, str, str, int]]  # (day, auditor, action, count)
    summary: dict[str, Any]
    performance: dict | None = None  # the contract's scorecard and credits, when the pack covers CONTRACT

    @property
    def evidence(self) -> list[Evidence]:
        return [e for s in self.sections for e in s.evidence]


def _head() -> tuple[str, int | None]:
    last = AuditEvent.select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).first()
    return (last.hash, last.id) if last else (audit_log.GENESIS, None)


def _controls_of(codes: list[str]) -> dict[int, list[str]]:
    """Framework codes per live control mapped to any of ``codes``."""
    out: dict[int, set[str]] = defaultdict(set)
    rows = (ControlObligation.select(ControlObligation.control, Framework.code).join(Obligation).join(Framework)
            .where(Framework.code.in_(codes), ControlObligation.retired_in.is_null()).tuples())
    for control_id, code in rows:
        out[control_id].add(code)
    return {k: sorted(v) for k, v in out.items()}


def _sections(engagement: Engagement, controls: dict[int, list[str]], start: dt.date,
              end: dt.date) -> list[ControlSection]:
    applicability = {a.control_id: a for a in Applicability.select(Applicability, Control).join(Control)
                     .where(Applicability.engagement == engagement, Applicability.control.in_(list(controls)))}
    sections = {cid: ControlSection(a.control, controls[cid], a.applicable, a.frequency_override or a.control.frequency)
                for cid, a in sorted(applicability.items(), key=lambda kv: kv[1].control.code)}
    requests = (EvidenceRequest.select(EvidenceRequest, EvidenceRequirement)
                .join(EvidenceRequirement, attr="requirement")
                .where(EvidenceRequest.engagement == engagement, EvidenceRequest.control.in_(list(sections)),
                       EvidenceRequest.period_start <= end, EvidenceRequest.period_end >= start)
                .order_by(EvidenceRequest.period_start, EvidenceRequest.id))
    by_id = {}
    for r in requests:
        sections[r.control_id].requests.append(r)
        by_id[r.id] = r
    reviewer = User.alias("reviewer")
    evidence = (Evidence.select(Evidence, reviewer)
                .join(reviewer, pw.JOIN.LEFT_OUTER, on=(Evidence.reviewed_by == reviewer.id), attr="reviewer")
                .where(Evidence.engagement == engagement, Evidence.status == "accepted",
                       Evidence.request.in_(list(by_id) or [0]))
                .order_by(Evidence.effective_date, Evidence.id))
    for item in attach_files(list(evidence)):
        item.request = by_id[item.request_id]
        sections[item.request.control_id].evidence.append(item)
    return list(sections.values())


def _requirements(codes: list[str], applied: dict[int, Applicability],
                  sections: dict[int, ControlSection]) -> dict[str, list[RequirementLine]]:
    """Each framework's live requirements in its own order, each with the engagement's controls that meet it (full
    before partial), their applicability and justification (already redacted to the pack's frameworks) and the
    accepted evidence of the period behind them. Two queries, whatever the size of the frameworks."""
    obligations = (Obligation.select(Obligation, Framework).join(Framework, attr="framework")
                   .where(Framework.code.in_(codes), Obligation.retired_in.is_null())
                   .order_by(Framework.code, Obligation.sort_key, Obligation.ref))
    out: dict[str, list[RequirementLine]] = {code: [] for code in codes}
    lines: dict[int, RequirementLine] = {}
    for obligation in obligations:
        lines[obligation.id] = RequirementLine(obligation, [])
        out[obligation.framework.code].append(lines[obligation.id])
    mappings = (ControlObligation.select(ControlObligation.obligation, ControlObligation.control,
                                         ControlObligation.coverage)
                .where(ControlObligation.obligation.in_(list(lines) or [0]), ControlObligation.retired_in.is_null(),
                       ControlObligation.control.in_(list(applied) or [0])).tuples())
    for obligation_id, control_id, coverage in mappings:
        a = applied[control_id]
        evidence = sections[control_id].evidence if control_id in sections else []
        lines[obligation_id].meets.append(MeetingControl(a.control, coverage, a, evidence))
    for line in lines.values():
        line.meets.sort(key=lambda m: (m.coverage != "full", m.control.code))
    return out


def _summary(sections: list[ControlSection], codes: list[str]) -> dict[str, Any]:
    """Coverage and overdue figures per framework, and the decisions on the period's requests, for the charts."""
    per_framework = {code: Counter() for code in codes}
    for s in sections:
        if not s.applicable:
            continue
        for code in s.frameworks:
            c = per_framework[code]
            c["controls"] += 1
            c["evidenced"] += bool(s.evidence)
            c["overdue"] += sum(r.status == "overdue" for r in s.requests)
            c["requests"] += len(s.requests)
    request_ids = [r.id for s in sections for r in s.requests]
    decided: Counter = Counter()
    for start_at in range(0, len(request_ids), 500):  # bounded IN lists
        decided.update(dict(Evidence.select(Evidence.status, pw.fn.COUNT(Evidence.id))
                            .where(Evidence.request.in_(request_ids[start_at:start_at + 500]),
                                   Evidence.status.in_(["accepted", "rejected", "superseded", "expired"]))
                            .group_by(Evidence.status).tuples()))
    return {"frameworks": per_framework, "accepted": decided["accepted"] + decided["superseded"] + decided["expired"],
            "rejected": decided["rejected"]}


def _incidents(engagement: Engagement, codes: list[str], start: dt.date,
               end: dt.date) -> list[tuple[Incident, list[Clock]]]:
    rules_in = scope.clock_rules_in(codes)
    incidents = list(Incident.select().where(
        Incident.engagement == engagement, Incident.aware_at >= dt.datetime.combine(start, dt.time()),
        Incident.aware_at < dt.datetime.combine(end + dt.timedelta(days=1), dt.time())).order_by(Incident.aware_at))
    clocks: dict[int, list[Clock]] = defaultdict(list)
    for clock in Clock.select().where(Clock.incident.in_([i.id for i in incidents] or [0])).order_by(Clock.started_at):
        if clock.rule_id in rules_in:
            clocks[clock.incident_id].append(clock)
    return [(i, clocks[i.id]) for i in incidents]


def _findings(engagement: Engagement, codes: list[str], start: dt.date, end: dt.date) -> list[Finding]:
    """Findings raised in the period or still open at its end that name nothing outside the pack's frameworks
    (``scope.findings_in_frameworks``: of requests within its controls or of none, of clocks of its rules)."""
    return list(scope.findings_in_frameworks(engagement, codes).where(
        Finding.created_at < dt.datetime.combine(end + dt.timedelta(days=1), dt.time()),
        (Finding.created_at >= dt.datetime.combine(start, dt.time())) | (Finding.status.not_in(FINAL_STATES)))
        .order_by(Finding.created_at))


def _access(engagement: Engagement, start: dt.date, end: dt.date,
            readers: pw.ModelSelect | None = None) -> list[tuple[str, str, str, int]]:
    """Reads in the period, counted per day, reader and action (the full log is a CSV download); only by
    ``readers`` (user ids) when given."""
    day = pw.fn.DATE(AuditEvent.at)
    rows = (AuditEvent.select(day, AuditEvent.actor_email, AuditEvent.action, pw.fn.COUNT(AuditEvent.id))
            .where(AuditEvent.engagement == engagement, AuditEvent.action.in_(scope.AUDITOR_READ_ACTIONS),
                   AuditEvent.at >= dt.datetime.combine(start, dt.time()),
                   AuditEvent.at < dt.datetime.combine(end + dt.timedelta(days=1), dt.time())))
    if readers is not None:
        rows = rows.where(AuditEvent.actor.in_(readers))
    rows = rows.group_by(day, AuditEvent.actor_email, AuditEvent.action).order_by(day, AuditEvent.actor_email)
    return [(str(d)[:10], who, action, n) for d, who, action, n in rows.tuples()]


def _pack_readers(pack: Pack, engagement: Engagement) -> pw.ModelSelect | None:
    """Whose reads a pack may show: an auditor's pack, its own firm's and the engagement's parties' people (never
    another audit firm's); a client's pack, everyone's (the client keeps the whole access log)."""
    requester = User.get_or_none(User.id == pack.requested_by_id) if pack.requested_by_id else None
    if requester is None or requester.role != "auditor":
        return None
    organisations = (requester.organisation_id, engagement.client_id, engagement.provider_id)
    return User.select(User.id).where(User.organisation.in_(organisations))


def gather(pack: Pack, *, now: dt.datetime | None = None) -> PackData:
    engagement = (Engagement.select(Engagement, Organisation)
                  .join(Organisation, on=(Engagement.client == Organisation.id), attr="client")
                  .where(Engagement.id == pack.engagement_id).get())
    codes = json.loads(pack.frameworks)
    frameworks = list(Framework.select().where(Framework.code.in_(codes)).order_by(Framework.code))
    controls = _controls_of(codes)
    sections = _sections(engagement, controls, pack.period_start, pack.period_end)
    rows = list(Applicability.select(Applicability, Control).join(Control, attr="control")
                .where(Applicability.engagement == engagement, Applicability.control.in_(list(controls) or [0]))
                .order_by(Control.code))
    queries.redact_to_frameworks(rows, set(codes), engagement)  # no justification names a framework outside the pack
    soa: dict[str, list] = {code: [(a.control, a) for a in rows if code in controls[a.control_id]] for code in codes}
    requirements = _requirements(codes, {a.control_id: a for a in rows}, {s.control.id: s for s in sections})
    head_hash, head_id = _head()
    requester = pack.requested_by.email if pack.requested_by_id else "attest"
    return PackData(pack, engagement, frameworks, now or utcnow(), requester, head_hash, head_id, soa, requirements,
                    sections,
                    _incidents(engagement, codes, pack.period_start, pack.period_end),
                    _findings(engagement, codes, pack.period_start, pack.period_end),
                    _access(engagement, pack.period_start, pack.period_end, _pack_readers(pack, engagement)),
                    _summary(sections, codes), _performance(engagement, codes, pack.period_start, pack.period_end))


def _performance(engagement: Engagement, codes: list[str], start: dt.date, end: dt.date) -> dict | None:
    """The scorecard and credits of the period's months, when the pack covers the contract's framework."""
    if scope.PERFORMANCE_FRAMEWORK not in codes:
        return None
    return scorecard.scorecard_of(engagement, f"{start:%Y-%m}", f"{end:%Y-%m}")


# ---------------------------------------------------------------- manifest, markup, attachments

def manifest_of(data: PackData, embedded: set[tuple[int, int]]) -> dict[str, Any]:
    """The pack's manifest. Each accepted item lists every file of its submission (``files``: hash, size, type,
    whether and under which name it is embedded); the item's own file fields are its first file's, as before
    submissions held several files."""
    e, p = data.engagement, data.pack
    return {
        "format": "attest-pack/1",
        "pack": {"id": p.id, "engagement": e.id, "engagement_name": e.name, "client": e.client.name,
                 "provider": e.provider.name, "frameworks": json.loads(p.frameworks),
                 "period_start": p.period_start.isoformat(), "period_end": p.period_end.isoformat(),
                 "generated_at": data.generated_at.isoformat(timespec="seconds") + "Z",
                 "generated_by": data.generated_by},
        "audit_trail": {"head_hash": data.head_hash, "head_event_id": data.head_event_id},
        "evidence": [{"id": item.id, "control": s.control.code, "request_id": item.request_id,
                      "effective_date": item.effective_date.isoformat(), "version": item.version,
                      **_file_entry(item, item.file_rows[0], embedded),
                      "files": [_file_entry(item, f, embedded) for f in item.file_rows]}
                     for s in data.sections for item in s.evidence],
    }


def _file_entry(item: Evidence, f: EvidenceFile, embedded: set[tuple[int, int]]) -> dict[str, Any]:
    inside = (item.id, f.position) in embedded
    return {"filename": f.original_filename, "sha256": f.sha256, "size": f.size, "media_type": f.media_type,
            "position": f.position, "embedded": inside, "attachment": attachment_name(item, f) if inside else None}


def attachment_name(item: Evidence, f: EvidenceFile) -> str:
    """The name a file is embedded under: unique per item and position."""
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in f.original_filename)[:80]
    return f"evidence-{item.id}-{safe}" if f.position == 1 else f"evidence-{item.id}-{f.position}-{safe}"


def choose_embedded(items: list[Evidence], store: LocalStore, limit_bytes: int) -> set[tuple[int, int]]:
    """The files to embed, as (evidence id, position), in pack order, while their total stays within
    ``limit_bytes`` (one file per hash)."""
    chosen, total, seen = set(), 0, set()
    for item, f in ((i, f) for i in items for f in i.file_rows):
        if f.sha256 in seen or total + f.size > limit_bytes or not store.exists(f.sha256):
            continue
        chosen.add((item.id, f.position))
        seen.add(f.sha256)
        total += f.size
    return chosen


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.globals.update(local=local)
    env.filters["when"] = local_text  # a pack has no reader: every time names the engagement's zone
    return env


def outside_pack(pack: Pack) -> frozenset[str]:
    """The frameworks a pack's reader may not read about: every one outside the pack's (it goes to auditors
    granted those), so no description, requirement or justification in it names another (domain.redaction)."""
    codes = set(json.loads(pack.frameworks))
    return frozenset(code for (code,) in Framework.select(Framework.code).tuples() if code not in codes)


def render_html(data: PackData, manifest_sha256: str) -> str:
    return _environment().get_template("pdf.html").render(d=data, manifest_sha256=manifest_sha256,
                                                          charts=charts(data))


def _bars(rows: list[tuple[str, float, str]], width: int = 520) -> str:
    """A horizontal bar chart as SVG: (label, fraction 0..1, caption) per row."""
    height = 22 * len(rows) + 8
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">']
    for i, (label, fraction, caption) in enumerate(rows):
        y = 4 + 22 * i
        bar = max(0.0, min(1.0, fraction)) * 240
        parts.append(f'<text x="0" y="{y + 13}" font-size="10" font-family="DejaVu Sans">{_esc(label)}</text>'
                     f'<rect x="120" y="{y + 2}" width="240" height="14" fill="#eef0f4"/>'
                     f'<rect x="120" y="{y + 2}" width="{bar:.1f}" height="14" fill="#4f46e5"/>'
                     f'<text x="368" y="{y + 13}" font-size="10" font-family="DejaVu Sans">{_esc(caption)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _esc(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def charts(data: PackData) -> dict[str, str]:
    per = data.summary["frameworks"]
    coverage = [(code, _share(c["evidenced"], c["controls"]), f'{c["evidenced"]}/{c["controls"]} controls')
                for code, c in per.items()]
    overdue = [(code, _share(c["overdue"], c["requests"]), f'{c["overdue"]} of {c["requests"]} requests')
               for code, c in per.items()]
    accepted, rejected = data.summary["accepted"], data.summary["rejected"]
    decided = accepted + rejected
    decisions = [("Accepted", _share(accepted, decided), str(accepted)),
                 ("Rejected", _share(rejected, decided), str(rejected))]
    return {"coverage": _bars(coverage), "overdue": _bars(overdue), "decisions": _bars(decisions)}


# ---------------------------------------------------------------- building

class BuildError(Exception):
    pass


class Renderer:
    """The child process that renders one pack (``services.auditors.pack_render``).

    Started before the pack's data is gathered: the child imports WeasyPrint and warms its fonts (0.5-0.6 CPU
    seconds, a tenth of a large build) while this process queries the database and writes the markup, and
    then waits on its stdin for the spec. Leaving the ``with`` block ends a child that was not used."""

    def __init__(self) -> None:
        # stderr to a file, not a pipe: a child's warnings cannot fill it and block the child; closed in __exit__
        self._errors = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        try:
            self.child = subprocess.Popen([sys.executable, "-m", "services.auditors.pack_render", "-"], cwd=ROOT,
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errors,
                                          text=True)
        except BaseException:
            self._errors.close()
            raise

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.child.poll() is None:
            self.child.kill()
        self.child.wait()
        for stream in (self.child.stdin, self.child.stdout):
            if stream and not stream.closed:
                stream.close()
        self._errors.close()

    def render(self, html: str, manifest: bytes, files: list[tuple[str, str, str]], out_path: str,
               on_progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Render ``html`` to a PDF/A-3b at ``out_path``; ``files`` are (path, name, description) of the
        evidence files to embed. Returns the child's report (its peak memory among it)."""
        with tempfile.TemporaryDirectory(prefix="attest-pack-") as work:
            spec_path = self._write_spec(work, html, manifest, files, out_path)
            try:
                self.child.stdin.write(spec_path + "\n")
                self.child.stdin.close()
            except BrokenPipeError:
                pass  # the child is gone: its exit status and last error say why
            report: dict[str, Any] = {}
            for line in self.child.stdout:
                message = json.loads(line)
                if "progress" in message and on_progress:
                    on_progress(message["progress"])
                report.update(message)
            if self.child.wait() != 0:
                self._errors.seek(0)
                raise BuildError((self._errors.read().strip().splitlines() or ["the renderer failed"])[-1][:500])
            return report

    @staticmethod
    def _write_spec(work: str, html: str, manifest: bytes, files: list[tuple[str, str, str]], out_path: str) -> str:
        html_path, manifest_path, spec_path = (os.path.join(work, n) for n in ("pack.html", MANIFEST, "spec.json"))
        with open(html_path, "w", encoding="utf-8") as handle:
            handle.write(html)
        with open(manifest_path, "wb") as handle:
            handle.write(manifest)
        with open(spec_path, "w") as handle:
            json.dump({"html": html_path, "base_url": TEMPLATES, "out": out_path,
                       "attachments": [[manifest_path, MANIFEST, "Pack manifest: evidence hashes, scope, audit head",
                                        "Data"]] + [[p, n, d, "Source"] for p, n, d in files]}, handle)
        return spec_path


def build_claimed(pack: Pack, store_root: str, *, embed_max_mb: float = DEFAULT_EMBED_MAX_MB) -> Pack:
    """Build a pack this worker has claimed: ready with its file stored by hash, or failed with the reason."""
    worker = pack.claimed_by
    try:
        with Heartbeat(pack.id, worker), Renderer() as renderer:
            data = gather(pack)
            _set_progress(pack.id, 20, worker)
            store = evidence_store(store_root)
            embedded = choose_embedded(data.evidence, store, int(embed_max_mb * 1024 * 1024))
            hidden = outside_pack(pack)
            manifest = redact(json.dumps(manifest_of(data, embedded), indent=1, sort_keys=True), hidden).encode()
            html = redact(render_html(data, hashlib.sha256(manifest).hexdigest()), hidden)
            _set_progress(pack.id, 35, worker)
            with tempfile.TemporaryDirectory(prefix="attest-pack-out-") as out_dir:
                files = [(attachable_path(store, f.sha256, out_dir), attachment_name(e, f),
                          f"{f.original_filename} ({f.media_type})")
                         for e in data.evidence for f in e.file_rows if (e.id, f.position) in embedded]
                out_path = os.path.join(out_dir, "pack.pdf")
                report = renderer.render(html, manifest, files, out_path,
                                         on_progress=lambda p: _set_progress(pack.id, 35 + int(p * 0.6), worker))
                with open(out_path, "rb") as handle:
                    stored = store.put(handle)
        with transaction():
            if not _move(pack.id, "building", "ready", claimed_by=worker, progress=100, file_sha256=stored.sha256,
                         size=stored.size, head_hash=data.head_hash, finished_at=utcnow()):
                return Pack.get_by_id(pack.id)  # taken back after its timeout: the new claimer's result counts
            audit_log.record("pack.build", actor=pack.requested_by, object_type="pack", object_id=pack.id,
                             engagement=pack.engagement_id,
                             details={"sha256": stored.sha256, "size": stored.size, "head_hash": data.head_hash,
                                      "evidence": len(data.evidence), "embedded": len(embedded),
                                      "pages": report.get("pages"),
                                      "render_peak_rss_mib": round(report.get("peak_rss_kib", 0) / 1024, 1)})
            # packs are the client's (its risk team builds them for auditors): the provider's endpoints never hear
            webhooks.emit("pack.ready", Engagement.get_by_id(pack.engagement_id), object_type="pack",
                          object_id=pack.id, title=f"Evidence pack #{pack.id} ready", path=f"/packs/{pack.id}",
                          occasion="ready", sides=("client",), extra={"sha256": stored.sha256})
    except Exception as exc:  # noqa: BLE001 - any failure is the pack's outcome, recorded, not a crashed worker
        with transaction():
            _move(pack.id, "building", "failed", claimed_by=worker, error=str(exc)[:1000] or type(exc).__name__,
                  finished_at=utcnow())
    return Pack.get_by_id(pack.id)


def build_now(user: User, engagement_id: int | str, data: dict, store_root: str, *,
              embed_max_mb: float = DEFAULT_EMBED_MAX_MB) -> Pack:
    """``build-pack``: request a pack and build it at once in this process's child."""
    pack = request_pack(user, engagement_id, data)
    with transaction():
        if not _claim(pack.id, worker_name()):
            raise BuildError("the pack was claimed by another worker")
    return build_claimed(Pack.get_by_id(pack.id), store_root, embed_max_mb=embed_max_mb)


def pack_file(user: User, pack_id: int | str, store_root: str, *, ip: str = "") -> tuple[Pack, io.BufferedReader]:
    """Open a ready pack's PDF for the user, recording ``pack.download``."""
    pack = scope.pack_for(user, pack_id)
    if pack.status != "ready" or not pack.file_sha256:
        raise NotFound("the pack is not ready")
    try:
        handle = evidence_store(store_root).open(pack.file_sha256)
    except FileNotFoundError:  # lost from the store, or a restore from a backup that did not hold it
        raise NotFound("the pack's file is missing from the store: request the pack again to rebuild it "
                       "(verify-evidence lists what else is missing)") from None
    try:
        audit_log.record("pack.download", actor=user, object_type="pack", object_id=pack.id,
                         engagement=pack.engagement_id, ip=ip, details={"sha256": pack.file_sha256})
    except BaseException:
        handle.close()
        raise
    return pack, handle
