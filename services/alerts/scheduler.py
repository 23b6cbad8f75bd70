"""The scheduler: what time does to the register (SPEC §2, §4, §5, §6).

``tick()`` is one idempotent pass, in one transaction:

a. plans the next evidence requests of every applicable control, so each schedule always
   shows every period started by today (the engagement's local date) plus the next one,
   never one starting after the engagement's end date; only engagements whose planning
   watermark is behind their local today (``services.register.planning``: once a day each, and after
   any change to what planning reads), so a pass with nothing due costs the same however many
   engagements there are;
b. moves requests with the clock (``domain.schedule.next_status``): ``upcoming → open`` when
   the period starts, ``upcoming | open | rejected → overdue`` once due plus the engagement's
   grace has passed; in a few set-based UPDATEs, never row by row;
c. marks running regulatory clocks past their deadline ``breached`` (each raises a finding and notifies);
d. expires accepted evidence past its ``valid_until`` (``services.evidence.expiry``): the request it proved is
   open again;
e. sends the time-driven alerts of the window since the previous tick (``services.alerts.alerts``: reminders,
   overdue, rejections, clock warnings, finding dates, the governance rule) and queues their e-mail;

then, after that transaction, governance (``services.governance.meetings``) in bounded batches, each its own
transaction: the seed's three forums for a new engagement, the next meeting of each forum whose upcoming one has
passed (one indexed range read when nothing is due), overdue actions escalated to the tier above, and the
reminders (an action due, an agenda ready); then, outside any transaction, it sends the mail outbox
(``services.messages.mail.send_pending``; SMTP never runs inside a database transaction) and the webhook outbox
(``services.integrations.webhooks.deliver_pending``).

The process that holds the lease also builds the queued evidence packs (``build_packs``), one after the
other, every few seconds and never inside a pass's transaction: the same idempotent claim as ``flask
pack-worker`` (``services.auditors.packs.claim_next``), each rendered in a child process, a claim silent for
``packs.CLAIM_TTL`` taken back. A pack worker may run as well; of the two, one claims each pack.

A second pass at the same instant changes nothing. Inserts ignore rows that already exist and
every UPDATE re-checks the state it moves from, so a manual ``flask tick`` racing the scheduler
is harmless.

Only one process runs the periodic job: ``acquire_lease`` elects it through the
``scheduler_lease`` table with one conditional UPDATE (or the first INSERT), which is atomic
on SQLite and PostgreSQL alike. Leases compare the processes' own UTC clocks: keep them in sync.
"""
from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import logging
import os
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field

import peewee as pw

from domain.schedule import BECOME_OPEN, BECOME_OVERDUE
from domain.timeutil import local, to_utc_naive
from models import (
    Clock,
    Engagement,
    EvidenceRequest,
    RequestHistory,
    SchedulerLease,
    db,
    is_postgres,
    transaction,
    utcnow,
)
from services.audit import audit_log
from services.auditors import packs, reports
from services.evidence import expiry
from services.governance import escalations, meetings
from services.integrations import webhooks
from services.messages import mail, notifications
from services.performance import ladder
from services.register import planning

from . import alerts
from .lease import LEASE, acquire_lease, default_holder, release_lease

log = logging.getLogger("attest.scheduler")

BATCH = 500
DEFAULT_INTERVAL = 300
ACTOR = "scheduler"
DEFAULT_PACK_POLL = 2.0  # seconds between the leader's looks at the pack queue (as pack-worker's --interval)


@dataclass
class TickResult:
    created: int = 0  # evidence requests planned
    opened: int = 0  # upcoming -> open
    overdue: int = 0  # upcoming | open | rejected -> overdue
    breached: int = 0  # running clocks past their deadline
    expired: int = 0  # accepted evidence past valid_until
    reopened: int = 0  # requests needing new evidence again
    notified: int = 0  # notifications created
    findings: int = 0  # findings raised by the rules
    kpi_escalated: int = 0  # KPI findings moved up the ladder for want of a plan
    problems: list[str] = field(default_factory=list)  # schedules that could not be planned
    governance: meetings.ScheduleResult = field(default_factory=meetings.ScheduleResult)  # its own transactions

    @property
    def changed(self) -> bool:
        return any(self.counts().values())

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k not in ("problems", "governance")}

    def describe(self) -> str:
        g = self.governance
        return " ".join(f"{k}={v}" for k, v in self.counts().items()) + (
            f" forums={g.forums_created} meetings={g.meetings_scheduled} escalated={g.actions_escalated}")


def _utc(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return utcnow()
    return to_utc_naive(now) if now.tzinfo is not None else now


def _local_today(now: dt.datetime, tz: str) -> dt.date:
    return local(now, tz).date()


# ------------------------------------------------------------------------------------------ states

def _engagements_where(column: pw.Field, values: list) -> pw.ModelSelect:
    return Engagement.select(Engagement.id).where(column.in_(values))


@dataclass(frozen=True)
class Zones:
    """The engagements' distinct graces, and each local date at ``now`` -> the timezones where it is today."""
    graces: list[int]
    zones_on: dict[dt.date, list[str]]


def _zones(now: dt.datetime) -> Zones:
    graces, zones = set(), set()
    for grace_days, tz in Engagement.select(Engagement.grace_days, Engagement.timezone).distinct().tuples():
        graces.add(grace_days)
        zones.add(tz)
    zones_on: dict[dt.date, list[str]] = defaultdict(list)
    for tz in sorted(zones):
        zones_on[_local_today(now, tz)].append(tz)
    return Zones(sorted(graces), dict(zones_on))


def _plan(now: dt.datetime, zones: Zones, result: TickResult) -> None:
    planned = planning.plan_due(now, zones.zones_on)
    result.created += planned.created
    result.problems.extend(planned.problems)

def _move_requests(now: dt.datetime, zones: Zones) -> tuple[int, int]:
    """upcoming|open|rejected -> overdue past due + grace, then upcoming -> open once the period has started
    locally. One UPDATE per distinct grace and one per distinct local date, however many engagements; each an
    index range over ``(status, due_at)`` or ``(status, period_start)``, where nothing due means an empty range.
    A condition on the engagement is added only where engagements differ (several graces; the hours when
    the engagements' timezones are on different dates), so the usual pass reads no per-engagement index."""
    overdue = 0
    for grace_days in zones.graces:
        conditions = [EvidenceRequest.status.in_(BECOME_OVERDUE),
                      EvidenceRequest.due_at < now - dt.timedelta(days=grace_days)]
        if len(zones.graces) > 1:
            conditions.append(EvidenceRequest.engagement.in_(_engagements_where(Engagement.grace_days, [grace_days])))
        overdue += _move_where("overdue", now, f"past due plus {grace_days} days' grace", *conditions)
    opened = 0
    dates = sorted(zones.zones_on)
    for i, today in enumerate(dates):
        # what started by the earliest local date has started everywhere; each later date adds the periods
        # starting after the previous one, in the timezones that have reached it
        conditions = [EvidenceRequest.status.in_(BECOME_OPEN), EvidenceRequest.period_start <= today]
        if i:
            reached = sorted(tz for day in dates[i:] for tz in zones.zones_on[day])
            conditions += [EvidenceRequest.period_start > dates[i - 1],
                           EvidenceRequest.engagement.in_(_engagements_where(Engagement.timezone, reached))]
        opened += _move_where("open", now, "the period has started", *conditions)
    return opened, overdue


def _move_where(status: str, now: dt.datetime, reason: str, *conditions) -> int:
    """Move every request matching ``conditions`` to ``status``, recording each move in the request history
    first: one INSERT … SELECT and one UPDATE, however many rows (the tick's transaction holds both)."""
    moving = EvidenceRequest.select(EvidenceRequest.id, pw.Value("request"), EvidenceRequest.status, pw.Value(status),
                                    pw.Value(now), pw.Value(ACTOR), pw.Value(reason)).where(*conditions)
    RequestHistory.insert_from(moving, [RequestHistory.request, RequestHistory.subject, RequestHistory.from_status,
                                        RequestHistory.to_status, RequestHistory.at, RequestHistory.actor_email,
                                        RequestHistory.reason]).execute()
    return EvidenceRequest.update(status=status, updated_at=now).where(*conditions).execute()


def _breach_clocks(now: dt.datetime) -> list[int]:
    ids = [c for (c,) in Clock.select(Clock.id)
           .where(Clock.state == "running", Clock.deadline_at.is_null(False), Clock.deadline_at < now)
           .order_by(Clock.id).tuples()]
    breached = []
    for i in range(0, len(ids), BATCH):
        chunk = ids[i:i + BATCH]
        # re-check the state: a notice recorded meanwhile keeps its clock met
        if Clock.update(state="breached").where(Clock.id.in_(chunk), Clock.state == "running").execute():
            breached.extend(c for (c,) in Clock.select(Clock.id)
                            .where(Clock.id.in_(chunk), Clock.state == "breached").tuples())
    return breached


PASS_LOCK = 0x4174_7465_7374  # "Attest": the advisory lock that serialises passes on PostgreSQL


def _one_pass_at_a_time() -> None:
    """Passes never overlap, whatever the leases say (a pass slower than its lease, a manual ``flask tick``):
    on SQLite the pass's BEGIN IMMEDIATE already excludes every other writer; on PostgreSQL a transaction-level
    advisory lock does, released at commit. Logged once held, so the log shows each pass's span."""
    if is_postgres():
        db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (PASS_LOCK,))
    log.info("scheduler pass start pid=%d t=%.6f", os.getpid(), time.time())


def tick(now: dt.datetime | None = None) -> TickResult:
    """One scheduler pass at ``now`` (default: the current UTC time; naive means UTC)."""
    now = _utc(now)
    result = TickResult()
    with transaction():
        _one_pass_at_a_time()
        zones = _zones(now)
        _plan(now, zones, result)
        result.opened, result.overdue = _move_requests(now, zones)
        breached = _breach_clocks(now)
        result.breached = len(breached)
        result.expired, result.reopened = expiry.expire_evidence(now)
        counts = alerts.run(now, breached)
        result.notified, result.findings = counts.notifications, counts.findings
        result.kpi_escalated = ladder.escalate_overdue_plans(now)
        if result.changed:
            details = {**result.counts(), "at": now.isoformat(timespec="seconds") + "Z"}
            if breached:
                details["breached_clocks"] = breached[:200]
            audit_log.record("scheduler.tick", actor_email=ACTOR, object_type="scheduler", object_id=LEASE,
                             details=details)
        log.info("scheduler pass end pid=%d t=%.6f", os.getpid(), time.time())
    for problem in result.problems:
        log.warning("tick: cannot plan %s", problem)
    meetings.schedule_due(now, result.governance)
    meetings.escalate_overdue(now, result.governance)
    meetings.remind(now, result.governance)
    escalations.notify_kpi_escalations(now, result.governance)
    notifications.queue_immediate(now)
    notifications.queue_digests(now)
    send_mail()
    send_webhooks()
    return result


def send_mail() -> None:
    """The outbox's share of a scheduler pass; a mail failure never fails the pass."""
    try:
        sent = mail.send_pending()
    except Exception:
        log.exception("sending the mail outbox failed; retrying at the next pass")
        return
    if sent.sent or sent.retried or sent.failed:
        log.info("mail: %s", sent.describe())


def send_webhooks() -> None:
    """The webhook outbox's share of a pass (bounded batches, each its own transactions); a failure never
    fails the pass."""
    try:
        sent = webhooks.deliver_pending()
    except Exception:
        log.exception("delivering webhooks failed; retrying at the next pass")
        return
    if sent.delivered or sent.retried or sent.failed:
        log.info("webhooks: %s", sent.describe())


# ------------------------------------------------------------------------------------------ leader election

_leading: dict[str, bool] = {}  # holder -> whether its last attempt won the lease (to log changes only)


_head_logged: dict[str, dt.date] = {}  # holder -> the UTC day its lease holder last logged the audit head


def log_audit_head(holder: str, now: dt.datetime | None = None) -> str | None:
    """Once a UTC day, the lease holder writes the audit trail's head (HASH@ID) to the log: a copy kept apart
    from the database, for ``verify-audit-log --anchor`` to check the trail against later."""
    day = _utc(now).date()
    if _head_logged.get(holder) == day:
        return None
    current = audit_log.head()
    _head_logged[holder] = day
    if current is None:
        return None
    anchor = f"{current[0]}@{current[1]}"
    log.info("audit trail head %s (check later: flask --app app verify-audit-log --anchor %s)", anchor, anchor)
    return anchor


def leased_tick(holder: str, interval_seconds: float = DEFAULT_INTERVAL) -> TickResult | None:
    """The periodic job: tick only while holding the lease (ttl = 3 intervals). Runs in a worker thread,
    so it opens (and closes) its own connection."""
    opened = db.is_closed()
    db.connect(reuse_if_open=True)
    try:
        leading = acquire_lease(LEASE, holder, 3 * interval_seconds)
        if leading != _leading.get(holder):
            log.info("scheduler %s %s", holder, "holds the lease: ticking" if leading
                     else "stands by: another process holds the lease")
            _leading[holder] = leading
        if not leading:
            return None
        result = tick()
        log_audit_head(holder)
        if result.changed:
            log.info("scheduler tick: %s", result.describe())
        else:
            log.debug("scheduler tick: nothing to do")
        return result
    except Exception:
        log.exception("scheduler tick failed; retrying at the next interval")
        return None
    finally:
        if opened and not db.is_closed():
            db.close()


@dataclass(frozen=True)
class PackBuilding:
    """What the scheduler needs to build packs: the store they are kept in, the embedding limit, and how
    often the leader looks at the queue."""
    store_root: str
    embed_max_mb: float = packs.DEFAULT_EMBED_MAX_MB
    poll_seconds: float = DEFAULT_PACK_POLL

    @classmethod
    def from_config(cls, config) -> PackBuilding | None:
        """From the app's configuration; None without an evidence store (nothing to build into)."""
        if not config.get("EVIDENCE_STORE"):
            return None
        return cls(store_root=config["EVIDENCE_STORE"],
                   embed_max_mb=float(config.get("PACK_EMBED_MAX_MB", packs.DEFAULT_EMBED_MAX_MB)),
                   poll_seconds=float(config.get("PACK_POLL_SECONDS", DEFAULT_PACK_POLL)))


def build_packs(holder: str, building: PackBuilding) -> list:
    """The scheduler's pack pass: while ``holder`` leads, build every queued pack, one after the other
    (``packs.run_pending``: claimed as pack-worker claims them, each rendered in a child process). Runs
    outside any tick, on its own connection; a failure is logged and retried at the next look."""
    if not _leading.get(holder):
        return []
    opened = db.is_closed()
    db.connect(reuse_if_open=True)
    try:
        built = packs.run_pending(building.store_root, embed_max_mb=building.embed_max_mb, worker=holder)
        built += reports.run_pending(building.store_root, worker=holder)  # performance reports, built alike
        for pack in built:
            log.info("scheduler built pack %s: %s%s", pack.id, pack.status, f" ({pack.error})" if pack.error else "")
        return built
    except Exception:
        log.exception("building packs failed; retrying at the next look")
        return []
    finally:
        if opened and not db.is_closed():
            db.close()


def _scheduler(interval_seconds: float, holder: str, building: PackBuilding | None = None):
    from apscheduler.schedulers.background import BackgroundScheduler
    scheduler = BackgroundScheduler(daemon=True, timezone="UTC")
    scheduler.add_job(leased_tick, "interval", seconds=interval_seconds, args=(holder, interval_seconds),
                      id="attest-tick", next_run_time=dt.datetime.now(dt.UTC), max_instances=1, coalesce=True,
                      misfire_grace_time=max(1, int(interval_seconds)))
    if building is not None:  # its own job: a pack never waits for (nor holds up) the next pass
        scheduler.add_job(build_packs, "interval", seconds=building.poll_seconds, args=(holder, building),
                          id="attest-packs", max_instances=1, coalesce=True,
                          misfire_grace_time=max(1, int(building.poll_seconds)))
    return scheduler


def run_scheduler(interval_seconds: float = DEFAULT_INTERVAL, holder: str | None = None,
                  stop_event: threading.Event | None = None, building: PackBuilding | None = None) -> None:
    """The scheduler as its own process (``flask scheduler``): a tick now and every ``interval_seconds``
    while this process holds the lease, until ``stop_event`` is set or Ctrl-C; in between, with
    ``building``, the leader builds the queued packs every ``building.poll_seconds``. A standby wakes when
    the leader's lease runs out (at most every interval), so a leader that died is replaced within one
    lease period (3 intervals). The lease is released on the way out so a standby takes over at once."""
    holder = holder or default_holder()
    stop = stop_event or threading.Event()
    log.info("scheduler started as %s, every %ss (lease %r, ttl %ss)%s", holder, interval_seconds, LEASE,
             3 * interval_seconds, ", building packs" if building else "")
    try:
        next_tick = 0.0
        while True:
            if time.monotonic() >= next_tick:
                leased_tick(holder, interval_seconds)
                next_tick = time.monotonic() + (interval_seconds if _leading.get(holder)
                                                else _standby_wait(interval_seconds))
            if building is not None:
                build_packs(holder, building)
            wait = next_tick - time.monotonic()
            if building is not None and _leading.get(holder):
                wait = min(wait, building.poll_seconds)
            if stop.wait(max(0.0, wait)):
                break
    except KeyboardInterrupt:
        pass
    finally:
        opened = db.is_closed()
        db.connect(reuse_if_open=True)
        try:
            release_lease(LEASE, holder)
        finally:
            if opened:
                db.close()
        log.info("scheduler %s stopped", holder)


def _standby_wait(interval_seconds: float) -> float:
    """Seconds until the current lease expires (a little after), within [0.1, interval]."""
    try:
        db.connect(reuse_if_open=True)
        expires = (SchedulerLease.select(SchedulerLease.expires_at).where(SchedulerLease.name == LEASE).scalar())
    except pw.PeeweeException:
        return interval_seconds
    if expires is None:
        return min(interval_seconds, 0.1)
    left = (expires - utcnow()).total_seconds() + 0.05
    return max(0.1, min(interval_seconds, left))


_in_process: dict[str, object] = {}
_in_process_lock = threading.Lock()


def start_in_process(interval_seconds: float = DEFAULT_INTERVAL, building: PackBuilding | None = None) -> bool:
    """SCHEDULER=inprocess: the same leased job (and, with ``building``, the pack builder) on background
    threads of this (web) process; once per process. Every worker may start one: the lease lets one of
    them tick and build."""
    with _in_process_lock:
        if _in_process.get("pid") == os.getpid():
            return False
        holder = default_holder()
        scheduler = _scheduler(interval_seconds, holder, building)
        scheduler.start()
        _in_process.update(pid=os.getpid(), scheduler=scheduler, holder=holder)

    def _stop() -> None:
        from apscheduler.schedulers import SchedulerNotRunningError
        with contextlib.suppress(SchedulerNotRunningError):
            scheduler.shutdown(wait=False)

    atexit.register(_stop)
    log.info("in-process scheduler started as %s, every %ss", holder, interval_seconds)
    return True


def init_app(app) -> None:
    """SCHEDULER=inprocess (skipped under TESTING): start the leased job in this process. A WSGI server's
    worker starts it with the app; under the ``flask`` command line only a serving process does (``flask
    run``, on its first request), never a one-shot command such as ``init-db`` or ``tick``."""
    mode = (app.config.get("SCHEDULER") or "off").strip().lower()
    if mode not in ("inprocess", "off"):
        log.warning("SCHEDULER=%r is neither 'inprocess' nor 'off': no in-process scheduler", mode)
    if mode != "inprocess" or app.config.get("TESTING"):
        return
    interval = float(app.config.get("SCHEDULER_INTERVAL", DEFAULT_INTERVAL))
    building = PackBuilding.from_config(app.config)
    if os.environ.get("FLASK_RUN_FROM_CLI") != "true":
        start_in_process(interval, building)
        return

    @app.before_request
    def _start_scheduler() -> None:
        if _in_process.get("pid") != os.getpid():
            start_in_process(interval, building)
