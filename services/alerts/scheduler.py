"""The scheduler: what time does to the register (SPEC §2, §4, §5, §6).

``tick()`` is one idempotent pass, as many short transactions (a backlog never holds writers off):

a. plans the next evidence requests of every applicable control, so each schedule always
   shows every period started by today (the engagement's local date) plus the next one,
   never one starting after the engagement's end date; only engagements whose planning
   watermark is behind their local today (``services.register.planning``: once a day each, and after
   any change to what planning reads), so a pass with nothing due costs the same however many
   engagements there are; one transaction per engagement;
b. moves requests with the clock (``domain.schedule.next_status``): ``upcoming → open`` when
   the period starts, ``upcoming | open | rejected → overdue`` once due plus the engagement's
   grace has passed; set-based, ``BATCH`` requests per transaction, never row by row;
c. marks running regulatory clocks past their deadline ``breached`` (each raises a finding and notifies, in the
   batch's transaction);
d. expires accepted evidence past its ``valid_until`` (``services.evidence.expiry``): the request it proved is
   open again; ``BATCH`` items per transaction;
e. sends the time-driven alerts of the window since the previous tick (``services.alerts.alerts``: reminders,
   overdue, rejections, clock warnings, finding dates, the governance rule), a slice of the window per
   transaction, the cursor moving with each;
f. queues their e-mail, ``MAIL_BATCH`` per transaction, and forgets idempotency keys past their day;

then governance (``services.governance.meetings``) in bounded batches, each its own transaction: the seed's
three forums for a new engagement, the next meeting of each forum whose upcoming one has passed (one indexed
range read when nothing is due), overdue actions escalated to the tier above, and the reminders (an action
due, an agenda ready), whose e-mail is queued with the rest; then, outside any transaction, it sends the mail
outbox (``services.messages.mail.send_pending``; SMTP never runs inside a database transaction) and the
webhook outbox (``services.integrations.webhooks.deliver_pending``).

**Writers first.** Each batch is a short transaction of its own (measured: ``TickResult.longest_ms``), and on
SQLite the pass rests between two batches as long as the last one took (``Pacer``), so a sign-in or an upload
waiting on SQLite's busy timeout gets the write lock between two batches, not after the whole pass. Every
batch re-reads what is left to do and re-checks the state it moves from, so a pass killed between two batches
resumes where it stopped, and nothing is done twice.

The process that holds the lease also builds the queued evidence packs (``build_packs``), one after the
other, every few seconds and never inside a pass's transaction: the same idempotent claim as ``flask
pack-worker`` (``services.auditors.packs.claim_next``), each rendered in a child process, a claim silent for
``packs.CLAIM_TTL`` taken back. A pack worker may run as well; of the two, one claims each pack.

A second pass at the same instant changes nothing. Inserts ignore rows that already exist and
every UPDATE re-checks the state it moves from; passes never overlap (``lease.pass_lock``), so a manual
``flask tick`` racing the scheduler waits for it.

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
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TypeVar

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
from services.idempotency import keys as idempotency_keys
from services.identity import sso
from services.integrations import webhooks
from services.messages import mail, notifications
from services.performance import credits, ladder
from services.register import planning

from . import alerts
from .lease import LEASE, acquire_lease, default_holder, pass_lock, release_lease

log = logging.getLogger("attest.scheduler")

BATCH = 100  # rows per transaction of a state move
MAIL_BATCH = 50  # e-mails queued per transaction
CLOCK_BATCH = 5  # clocks breached per transaction (each raises a finding)
MAX_REST = 0.1  # seconds: the longest rest between two batches on SQLite
DEFAULT_INTERVAL = 300
ACTOR = "scheduler"
DEFAULT_PACK_POLL = 2.0  # seconds between the leader's looks at the pack queue (as pack-worker's --interval)


FIGURES = ("problems", "batches", "longest_ms", "longest_step", "governance")


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
    credits_repaired: int = 0  # stored service credits put back as the computation has them (daily check)
    problems: list[str] = field(default_factory=list)  # schedules that could not be planned
    governance: meetings.ScheduleResult = field(default_factory=meetings.ScheduleResult)  # its own transactions
    batches: int = 0  # transactions that changed something (the pass's figures, not counts)
    longest_ms: float = 0.0  # the longest of them
    longest_step: str = ""  # and its step

    @property
    def changed(self) -> bool:
        return any(self.counts().values())

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k not in FIGURES}

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


def _plan(now: dt.datetime, zones: Zones, result: TickResult, pace: Pacer) -> None:
    for planned in pace(planning.plan_due(now, zones.zones_on), "planning"):
        result.created += planned.created
        result.problems.extend(planned.problems)


def _move_requests(now: dt.datetime, zones: Zones, pace: Pacer) -> tuple[int, int]:
    """upcoming|open|rejected -> overdue past due + grace, then upcoming -> open once the period has started
    locally. One range per distinct grace and one per distinct local date, however many engagements; each an
    index range over ``(status, due_at)`` or ``(status, period_start)``, where nothing due means an empty range.
    A condition on the engagement is added only where engagements differ (several graces; the hours when
    the engagements' timezones are on different dates), so the usual pass reads no per-engagement index."""
    overdue = 0
    for grace_days in zones.graces:
        conditions = [EvidenceRequest.status.in_(BECOME_OVERDUE),
                      EvidenceRequest.due_at < now - dt.timedelta(days=grace_days)]
        if len(zones.graces) > 1:
            conditions.append(EvidenceRequest.engagement.in_(_engagements_where(Engagement.grace_days, [grace_days])))
        overdue += sum(pace(_move_where("overdue", now, f"past due plus {grace_days} days' grace", *conditions),
                                 "overdue"))
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
        opened += sum(pace(_move_where("open", now, "the period has started", *conditions), "open"))
    return opened, overdue


def _move_where(status: str, now: dt.datetime, reason: str, *conditions) -> Iterator[int]:
    """Move the requests matching ``conditions`` to ``status``, ``BATCH`` at a time, each batch one short
    transaction: its rows (locked on PostgreSQL; SQLite's BEGIN IMMEDIATE excludes writers), their history
    (one INSERT … SELECT) and one UPDATE. Yields each batch's count once committed; each batch re-reads what
    is left, so a pass killed between two resumes where it stopped."""
    while True:
        with transaction():
            query = EvidenceRequest.select(EvidenceRequest.id).where(*conditions).limit(BATCH)
            ids = [i for (i,) in (query.for_update() if is_postgres() else query).tuples()]
            if not ids:
                return
            moving = (EvidenceRequest.select(EvidenceRequest.id, pw.Value("request"), EvidenceRequest.status,
                                             pw.Value(status), pw.Value(now), pw.Value(ACTOR), pw.Value(reason))
                      .where(EvidenceRequest.id.in_(ids)))
            RequestHistory.insert_from(moving, [RequestHistory.request, RequestHistory.subject,
                                                RequestHistory.from_status, RequestHistory.to_status,
                                                RequestHistory.at, RequestHistory.actor_email,
                                                RequestHistory.reason]).execute()
            moved = EvidenceRequest.update(status=status, updated_at=now).where(EvidenceRequest.id.in_(ids)).execute()
        yield moved
        if len(ids) < BATCH:
            return


def _breach_clocks(now: dt.datetime) -> Iterator[tuple[list[int], alerts.AlertCounts]]:
    """Running clocks past their deadline become ``breached``, ``BATCH`` per transaction, each batch with the
    findings and notices its breaches raise (so a pass killed between two leaves no breach unannounced)."""
    while True:
        with transaction():
            query = (Clock.select(Clock.id)
                     .where(Clock.state == "running", Clock.deadline_at.is_null(False), Clock.deadline_at < now)
                     .order_by(Clock.id).limit(CLOCK_BATCH))
            ids = [c for (c,) in (query.for_update() if is_postgres() else query).tuples()]
            if not ids:
                return
            Clock.update(state="breached").where(Clock.id.in_(ids), Clock.state == "running").execute()
            notified, findings = alerts.breaches(ids, now)
        yield ids, alerts.AlertCounts(notified, findings)
        if len(ids) < CLOCK_BATCH:
            return


T = TypeVar("T")


class Pacer:
    """Runs a step's batches (each committed by the step before it yields) and, on SQLite, rests between two
    as long as the last one held the write lock (at most ``MAX_REST``): a writer waiting on the busy timeout
    gets in between two batches instead of behind the whole backlog. PostgreSQL's writers only wait for the
    rows a batch locks, so it does not rest there. Keeps the count and the longest batch for the pass's
    figures."""

    def __init__(self) -> None:
        self.batches = 0
        self.longest = 0.0  # seconds
        self.longest_step = ""
        self.rest = not is_postgres()

    def __call__(self, batches: Iterable[T], step: str) -> Iterator[T]:
        iterator = iter(batches)
        while True:
            started = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                return
            elapsed = time.perf_counter() - started
            self.batches += 1
            if elapsed > self.longest:
                self.longest, self.longest_step = elapsed, step
            yield item
            if self.rest:
                time.sleep(min(MAX_REST, elapsed))


def tick(now: dt.datetime | None = None) -> TickResult:
    """One scheduler pass at ``now`` (default: the current UTC time; naive means UTC), as many short
    transactions under the pass lock."""
    now = _utc(now)
    result = TickResult()
    pace = Pacer()
    with pass_lock():
        log.info("scheduler pass start pid=%d t=%.6f", os.getpid(), time.time())
        zones = _zones(now)
        _plan(now, zones, result, pace)
        result.opened, result.overdue = _move_requests(now, zones, pace)
        breached: list[int] = []
        for ids, counts in pace(_breach_clocks(now), "clocks"):
            breached += ids
            result.notified += counts.notifications
            result.findings += counts.findings
        result.breached = len(breached)
        for expired, reopened in pace(expiry.expire_evidence(now), "expiry"):
            result.expired += expired
            result.reopened += reopened
        for counts in pace(alerts.run(now), "alerts"):
            result.notified += counts.notifications
            result.findings += counts.findings
        result.kpi_escalated = ladder.escalate_overdue_plans(now)
        result.credits_repaired = check_credits_daily(now)
        if result.changed:
            details = {**result.counts(), "at": now.isoformat(timespec="seconds") + "Z"}
            if breached:
                details["breached_clocks"] = breached[:200]
            with transaction():
                audit_log.record("scheduler.tick", actor_email=ACTOR, object_type="scheduler", object_id=LEASE,
                                 details=details)
        meetings.schedule_due(now, result.governance)
        meetings.escalate_overdue(now, result.governance)
        meetings.remind(now, result.governance)
        escalations.notify_kpi_escalations(now, result.governance)
        for _queued in pace(_queue_immediate(now), "mail"):
            pass
        for _purged in pace(idempotency_keys.purge(now), "idempotency"):
            pass
        for _purged in pace(webhooks.purge(now), "webhook deliveries"):
            pass
        for _purged in pace(sso.purge_flows(now), "sso flows"):
            pass
        for _purged in pace(sso.purge_seen_responses(now), "saml response ids"):
            pass
        log.info("scheduler pass end pid=%d t=%.6f", os.getpid(), time.time())
    result.batches, result.longest_step = pace.batches, pace.longest_step
    result.longest_ms = round(pace.longest * 1000, 1)
    for problem in result.problems:
        log.warning("tick: cannot plan %s", problem)
    notifications.queue_digests(now)
    send_mail()
    send_webhooks()
    return result


def _queue_immediate(now: dt.datetime) -> Iterator[int]:
    """The immediate e-mails of the notifications not yet sent, ``MAIL_BATCH`` per transaction."""
    while (queued := notifications.queue_immediate(now, limit=MAIL_BATCH)):
        yield queued
        if queued < MAIL_BATCH:
            return


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
_credits_checked: dict[str, dt.date] = {}  # "months" -> the UTC day this process last checked the credits


def check_credits_daily(now: dt.datetime) -> int:
    """Once a UTC day per process: the last two months' service credits of every engagement checked against
    the computation and repaired where they drifted (a KPI version, volume or setting changed outside a review).
    Reviews recompute their own engagement at once; this pass reads a fixed number of statements whatever the
    number of engagements (SPEC §8's credits, recomputed in the scheduler's pass). Returns the rows changed."""
    day = now.date()
    if _credits_checked.get("months") == day:
        return 0
    _credits_checked["months"] = day
    this_month = day.replace(day=1)
    last_month = this_month - dt.timedelta(days=1)
    return sum(credits.recompute_month_everywhere(month.strftime("%Y-%m"), now)
               for month in (last_month, this_month))


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
