"""Time-driven alerts of each tick: reminders before due (14, 7, 1 days), overdue requests, rejected
evidence, clock warnings (half time, 4 hours left) and breaches, finding due dates and escalation, and
the findings the rules raise (a control missed in two consecutive periods, repeated rejections, a
breached clock).

Each job looks at the window (cursor, now], a slice per transaction (an hour at first, adapting): the cursor
(``SchedulerCursor`` "alerts") is where the previous tick stopped, so downtime misses nothing (the next tick
covers the whole gap) and ranges are index scans, not table scans. Notifications and findings have unique keys,
so a re-run or two racing ticks create nothing twice.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import peewee as pw

from domain.business_days import BusinessCalendar
from domain.clocks import warnings_due
from domain.findings import FINAL_STATES
from domain.timeutil import local
from models import (
    Applicability,
    Clock,
    ClockRule,
    Control,
    Engagement,
    Evidence,
    EvidenceRequest,
    Finding,
    SchedulerCursor,
    User,
    transaction,
)
from services.incidents.clocks import business_calendar
from services.incidents.findings import raise_finding
from services.integrations import webhooks
from services.messages import notifications

CURSOR = "alerts"
FIRST_LOOK_BACK = dt.timedelta(days=1)  # the very first tick looks back this far
STEP, MIN_STEP, MAX_STEP = dt.timedelta(hours=1), dt.timedelta(minutes=10), dt.timedelta(days=31)  # alert slices
SLICE_ROWS = 100  # notifications one slice's transaction should write at most (the step adapts to it)
FINDINGS_BATCH = 5  # candidates for a finding per transaction (each finding writes its audit event and notices)
REMINDER_DAYS = (14, 7, 1)
NOT_DONE = ("upcoming", "open", "rejected")
MISSED_PLAN_DAYS = 5  # business days for a corrective action plan (the seed's governance rule)
REPEATED_REJECTIONS = 2
BATCH = 500  # values per IN list


@dataclass
class AlertCounts:
    notifications: int = 0
    findings: int = 0


def window(now: dt.datetime) -> dt.datetime:
    row = SchedulerCursor.get_or_none(SchedulerCursor.name == CURSOR)
    return row.at if row is not None else now - FIRST_LOOK_BACK


def advance(now: dt.datetime) -> None:
    (SchedulerCursor.insert(name=CURSOR, at=now)
     .on_conflict(conflict_target=[SchedulerCursor.name], update={SchedulerCursor.at: now}).execute())


def run(now: dt.datetime) -> Iterator[AlertCounts]:
    """Every alert job over (cursor, now], slice by slice. A slice first raises the findings its rules call for,
    ``FINDINGS_BATCH`` candidates per transaction (idempotent: each finding has a unique key), then commits its
    notifications in one transaction with the cursor moved to the slice's end; each transaction's counts are
    yielded once committed. A slice starts at ``STEP`` and adapts to what it writes (twice as long after one
    with fewer than ``SLICE_ROWS`` / 4 notifications, half after one with more than ``SLICE_ROWS``, within
    ``MIN_STEP``..``MAX_STEP``), so a month of downtime is many short transactions, not one long one, and a
    quiet year is a few, however busy the machine. A pass killed between two transactions resumes at the
    cursor: the findings already raised are not raised again, nor the notices sent twice."""
    step = STEP
    while True:
        since = window(now)
        if since >= now:
            return
        until = min(now, since + step)
        yield from _findings(since, until, now)
        with transaction():
            if window(now) != since:  # another pass moved the cursor meanwhile: look again
                continue
            counts = _notices(since, until, now)
            advance(until)
        step = _next_step(step, counts.notifications)
        yield counts


def _findings(since: dt.datetime, until: dt.datetime, now: dt.datetime) -> Iterator[AlertCounts]:
    """The findings the window's events raise: the governance rule (a control missed twice in a row) and
    repeated rejections, in short transactions."""
    for chunk in pw.chunked(_newly_overdue(since, until), FINDINGS_BATCH):
        with transaction():
            raised = _missed_twice(chunk, now)
        yield AlertCounts(findings=raised)
    for chunk in pw.chunked(sorted({r[1] for r in _rejected(since, until)}), FINDINGS_BATCH):
        with transaction():
            raised = _repeated_rejections(chunk, now)
        yield AlertCounts(findings=raised)


def _next_step(step: dt.timedelta, written: int) -> dt.timedelta:
    if written < SLICE_ROWS / 4:
        return min(MAX_STEP, step * 2)
    if written > SLICE_ROWS:
        return max(MIN_STEP, step / 2)
    return step


def _notices(since: dt.datetime, until: dt.datetime, now: dt.datetime) -> AlertCounts:
    """The notifications of the window (since, until]; ``now`` is the pass's instant (notices are dated by it,
    and only what is still ahead of it is reminded)."""
    counts = AlertCounts()
    counts.notifications += _reminders(since, until, now)
    counts.notifications += _overdue_notices(_newly_overdue(since, until), now)
    counts.notifications += _rejection_notices(_rejected(since, until), now)
    counts.notifications += _clock_warnings(since, until, now)
    counts.notifications += _finding_dates(since, until, now)
    return counts


def _rows(user_ids, kind: str, object_type: str, object_id: int, occasion: str, engagement_id: int, title: str,
          link: str, now: dt.datetime, body: str = "") -> list[dict]:
    return [{"user": u, "kind": kind, "object_type": object_type, "object_id": object_id, "occasion": occasion,
             "engagement": engagement_id, "title": title[:300], "body": body, "link": link, "created_at": now}
            for u in sorted(set(user_ids))]


def _request_label(control_code: str, requirement: str) -> str:
    return f"{control_code} {requirement}"


def _reminders(since: dt.datetime, until: dt.datetime, now: dt.datetime) -> int:
    rows: list[dict] = []
    for days in REMINDER_DAYS:
        ahead = dt.timedelta(days=days)
        due = list(EvidenceRequest.select(EvidenceRequest.id, EvidenceRequest.engagement, EvidenceRequest.due_at,
                                          Control.code)
                   .join(Control)
                   .where(EvidenceRequest.status.in_(NOT_DONE), EvidenceRequest.due_at > since + ahead,
                          EvidenceRequest.due_at <= until + ahead, EvidenceRequest.due_at > now).tuples())
        users = notifications.engagement_users({r[1] for r in due}, ("provider",))
        for request_id, engagement_id, _due_at, code in due:
            rows += _rows(users[engagement_id], "request_due", "request", request_id, f"due-{days}", engagement_id,
                          f"{code}: evidence due in {days} day{'s' if days > 1 else ''} (request #{request_id})",
                          f"/requests/{request_id}", now)
    return notifications.insert(rows)


def _newly_overdue(since: dt.datetime, now: dt.datetime) -> list[tuple]:
    """Requests that fell overdue in the window: due + grace in (since, now], now overdue."""
    out: list[tuple] = []
    graces = [g for (g,) in Engagement.select(Engagement.grace_days).distinct().tuples()]
    for grace in graces:
        delta = dt.timedelta(days=grace)
        conditions = [EvidenceRequest.status == "overdue", EvidenceRequest.due_at > since - delta,
                      EvidenceRequest.due_at <= now - delta]
        if len(graces) > 1:  # one grace for all: a (status, due_at) range alone, not a lookup per engagement
            conditions.append(EvidenceRequest.engagement.in_(Engagement.select(Engagement.id)
                                                             .where(Engagement.grace_days == grace)))
        out += list(EvidenceRequest.select(EvidenceRequest.id, EvidenceRequest.engagement, EvidenceRequest.control,
                                           EvidenceRequest.requirement, EvidenceRequest.period_start, Control.code)
                    .join(Control).where(*conditions).tuples())
    return out


def _overdue_notices(overdue: list[tuple], now: dt.datetime) -> int:
    users = notifications.engagement_users({r[1] for r in overdue},
                                           roles=("provider_admin", "provider_contributor", "risk_reviewer"))
    rows: list[dict] = []
    engagements = _engagements({r[1] for r in overdue})
    events: list[webhooks.Occurrence] = []
    for request_id, engagement_id, _control, _req, _start, code in overdue:
        title = f"{code}: evidence overdue (request #{request_id})"
        rows += _rows(users[engagement_id], "request_overdue", "request", request_id, "overdue", engagement_id,
                      title, f"/requests/{request_id}", now)
        events.append(webhooks.Occurrence(engagements[engagement_id], "request", request_id, title,
                                          f"/requests/{request_id}", "overdue"))
    webhooks.emit_many("request.overdue", events, now=now)
    return notifications.insert(rows)


def _engagements(ids: set[int]) -> dict[int, Engagement]:
    return {e.id: e for e in Engagement.select().where(Engagement.id.in_(sorted(ids)))} if ids else {}


@dataclass(frozen=True)
class Missed:
    """A control missed in two consecutive periods: the key and facts of the finding it raises."""
    key: str
    engagement_id: int
    control_id: int
    period_start: dt.date
    code: str


def _missed_twice(overdue: list[tuple], now: dt.datetime) -> int:
    """The seed's governance rule: a control missed in two consecutive periods needs a corrective action
    plan within 5 business days, with an owner. However many requests fell overdue (after a month of
    downtime, thousands), the previous periods, the findings already raised, the engagements and the
    owners are each read in one statement per ``BATCH``; only raising a new finding costs its own."""
    missed = _missed_in_a_row(overdue)
    raised_before = _existing_keys([m.key for m in missed])
    missed = [m for m in missed if m.key not in raised_before]
    if not missed:
        return 0
    engagements = {e.id: e for e in _in_chunks(Engagement.select(), Engagement.id,
                                               {m.engagement_id for m in missed})}
    owners = _owners(engagements, {(m.engagement_id, m.control_id) for m in missed})
    calendars: dict[int, BusinessCalendar] = {}
    for m in missed:
        engagement = engagements[m.engagement_id]
        if engagement.id not in calendars:  # the engagement's calendar, its override table included
            calendars[engagement.id] = business_calendar(engagement)
        due = calendars[engagement.id].add_business_days(local(now, engagement.timezone).date(), MISSED_PLAN_DAYS)
        raise_finding(engagement, source="governance", severity="high", key=m.key,
                      owner=owners[(m.engagement_id, m.control_id)],
                      title=f"{m.code} missed in two consecutive periods: corrective action plan due",
                      description=f"No accepted evidence for {m.code} in two consecutive periods (the latest "
                                  f"starting {m.period_start.isoformat()}). A corrective action plan is due "
                                  f"within {MISSED_PLAN_DAYS} business days.", due_date=due, now=now)
    return len(missed)


def _missed_in_a_row(overdue: list[tuple]) -> list[Missed]:
    """The controls whose newly overdue request follows an overdue one (the same engagement and
    requirement's previous period), one per control and period, in the order of ``overdue``."""
    previous = _previous_statuses([r[0] for r in overdue])
    out: dict[str, Missed] = {}
    for request_id, engagement_id, control_id, _requirement_id, period_start, code in overdue:
        key = f"missed:{engagement_id}:{control_id}:{period_start.isoformat()}"
        if key not in out and previous.get(request_id) == "overdue":
            out[key] = Missed(key, engagement_id, control_id, period_start, code)
    return list(out.values())


def _previous_statuses(request_ids: list[int]) -> dict[int, str]:
    """Each request's previous period's status: that of the latest request of the same engagement and
    requirement starting before it (any lane, the last lane of a shared start, as a backward scan of the
    unique index reads it); requests with none are left out. A correlated subquery, one index search per
    request, in one statement per ``BATCH`` requests (SQLite and PostgreSQL alike)."""
    current, earlier = EvidenceRequest.alias("req"), EvidenceRequest.alias("earlier")
    latest = (earlier.select(earlier.status)
              .where(earlier.engagement == current.engagement, earlier.requirement == current.requirement,
                     earlier.period_start < current.period_start)
              .order_by(earlier.period_start.desc(), earlier.lane.desc()).limit(1))
    rows = _in_chunks(current.select(current.id, latest.alias("previous")), current.id, request_ids, tuples=True)
    return {request_id: status for request_id, status in rows if status is not None}


def _existing_keys(keys: list[str]) -> set[str]:
    return {key for (key,) in _in_chunks(Finding.select(Finding.key), Finding.key, keys, tuples=True)}


def _owners(engagements: dict[int, Engagement], pairs: set[tuple[int, int]]) -> dict[tuple[int, int], User | None]:
    """Each (engagement, control)'s finding owner: the control's owner in the Statement of Applicability,
    else the provider's first active admin (else its first active user; None without one)."""
    soa = _soa_owners(pairs)
    users = {u.id: u for u in _in_chunks(User.select(), User.id, set(soa.values()))}
    first = _first_users({engagements[e].provider_id for e, c in pairs if (e, c) not in soa})
    return {(e, c): users[soa[(e, c)]] if (e, c) in soa else first.get(engagements[e].provider_id)
            for e, c in pairs}


def _soa_owners(pairs: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """(engagement, control) -> the owner's user id, for the pairs whose SoA row names one."""
    rows = _in_chunks(Applicability.select(Applicability.engagement, Applicability.control, Applicability.owner)
                      .where(Applicability.owner.is_null(False)),
                      Applicability.engagement, {e for e, _c in pairs}, tuples=True)
    return {(e, c): owner for e, c, owner in rows if (e, c) in pairs}


def _first_users(organisation_ids: set[int]) -> dict[int, User]:
    """Each organisation's first active provider_admin, else its first active user (lowest id first)."""
    first: dict[int, User] = {}
    for user in _in_chunks(User.select().where(User.active == True),  # noqa: E712
                           User.organisation, organisation_ids):
        rank = (user.role != "provider_admin", user.id)
        best = first.get(user.organisation_id)
        if best is None or rank < (best.role != "provider_admin", best.id):
            first[user.organisation_id] = user
    return first


def _in_chunks(query, column, values, *, tuples: bool = False) -> list:
    """``query`` restricted to ``column IN values``, one statement per ``BATCH`` values."""
    out: list = []
    for batch in pw.chunked(sorted(values), BATCH):
        chunk = query.where(column.in_(batch))
        out.extend(chunk.tuples() if tuples else chunk)
    return out


def _rejected(since: dt.datetime, until: dt.datetime) -> list[tuple]:
    return list(Evidence.select(Evidence.id, Evidence.request, Evidence.engagement, Evidence.review_comment,
                                Evidence.original_filename)
                .where(Evidence.status == "rejected", Evidence.reviewed_at > since, Evidence.reviewed_at <= until)
                .tuples())


def _rejection_notices(rejected: list[tuple], now: dt.datetime) -> int:
    """Tell the uploader (and its colleagues) about rejected evidence."""
    if not rejected:
        return 0
    users = notifications.engagement_users({r[2] for r in rejected}, ("provider",))
    rows: list[dict] = []
    for evidence_id, request_id, engagement_id, comment, filename in rejected:
        rows += _rows(users[engagement_id], "evidence_rejected", "evidence", evidence_id, "rejected", engagement_id,
                      f"Evidence rejected: {filename}", f"/requests/{request_id}", now, body=comment)
    return notifications.insert(rows)


def _repeated_rejections(request_ids: list[int], now: dt.datetime) -> int:
    """Repeated rejections of a request's evidence raise a finding (once: its key)."""
    findings = 0
    for request_id in request_ids:
        count = Evidence.select().where(Evidence.request == request_id, Evidence.status == "rejected").count()
        key = f"rejections:{request_id}"
        if count >= REPEATED_REJECTIONS and not Finding.select().where(Finding.key == key).exists():
            request = EvidenceRequest.get_by_id(request_id)
            raise_finding(Engagement.get_by_id(request.engagement_id), source="rejection", key=key, request=request,
                          title=f"Evidence for request #{request_id} rejected {count} times",
                          description="Repeated rejections: the evidence does not meet the requirement.", now=now)
            findings += 1
    return findings


def _clock_recipients(engagement_ids: set[int]) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    client = notifications.engagement_users(engagement_ids, ("client",), ("client_admin", "risk_reviewer"))
    provider = notifications.engagement_users(engagement_ids, ("provider",))
    return client, provider


def _clock_sides(clock_rule: str) -> tuple[str, ...]:
    """Whose webhooks hear of a clock: as ``_clock_users``, the client's, and the provider's for its notice."""
    return ("client", "provider") if clock_rule == "CONTRACT-NOTICE" else ("client",)


def _clock_users(clock_rule: str, engagement_id: int, client: dict, provider: dict) -> list[int]:
    """Regulatory clocks are the client's; the provider's notice clock concerns both."""
    users = list(client.get(engagement_id, []))
    if clock_rule == "CONTRACT-NOTICE":
        users += provider.get(engagement_id, [])
    return users


def _clock_warnings(since: dt.datetime, until: dt.datetime, now: dt.datetime) -> int:
    running = list(Clock.select().where(Clock.state == "running", Clock.deadline_at.is_null(False),
                                        Clock.deadline_at > since, Clock.started_at.is_null(False)))
    due = [(clock, occasion) for clock in running for occasion, moment in warnings_due(clock.started_at,
                                                                                       clock.deadline_at)
           if since < moment <= until and now < clock.deadline_at]
    if not due:  # the usual pass: no titles or recipients to look up
        return 0
    titles = dict(ClockRule.select(ClockRule.rule_id, ClockRule.title).tuples())
    client, provider = _clock_recipients({c.engagement_id for c, _occasion in due})
    engagements = _engagements({c.engagement_id for c, _occasion in due})
    rows: list[dict] = []
    for clock, occasion in due:
        hours = int((clock.deadline_at - now).total_seconds() // 3600)
        title = f"{clock.rule_id}: {hours} hours left — {titles.get(clock.rule_id, '')}"
        rows += _rows(_clock_users(clock.rule_id, clock.engagement_id, client, provider), "clock_warning",
                      "clock", clock.id, occasion, clock.engagement_id, title, _clock_link(clock), now,
                      body=clock.basis)
        webhooks.emit("clock.warning", engagements[clock.engagement_id], object_type="clock", object_id=clock.id,
                      title=title, path=_clock_link(clock), occasion=occasion, sides=_clock_sides(clock.rule_id),
                      extra=_clock_facts(clock), now=now)
    return notifications.insert(rows)


def _clock_facts(clock: Clock) -> dict:
    return {"rule": clock.rule_id, "basis": clock.basis, "state": clock.state,
            "deadline_at": clock.deadline_at.isoformat(timespec="seconds") + "Z" if clock.deadline_at else None}


def _clock_link(clock: Clock) -> str:
    return f"/incidents/{clock.incident_id}" if clock.incident_id else f"/engagements/{clock.engagement_id}"


def breaches(clock_ids: list[int], now: dt.datetime) -> tuple[int, int]:
    """A breached clock raises a finding and notifies (call in the transaction that breached them)."""
    if not clock_ids:
        return 0, 0
    clocks = list(Clock.select().where(Clock.id.in_(clock_ids)))
    titles = dict(ClockRule.select(ClockRule.rule_id, ClockRule.title).tuples())
    client, provider = _clock_recipients({c.engagement_id for c in clocks})
    rows: list[dict] = []
    findings = 0
    engagements = {e.id: e for e in Engagement.select().where(Engagement.id.in_({c.engagement_id for c in clocks}))}
    for clock in clocks:
        rows += _rows(_clock_users(clock.rule_id, clock.engagement_id, client, provider), "clock_breached", "clock",
                      clock.id, "breached", clock.engagement_id,
                      f"{clock.rule_id} breached: {titles.get(clock.rule_id, '')}", _clock_link(clock), now,
                      body=f"Deadline {clock.deadline_at.isoformat(timespec='minutes')}Z passed ({clock.basis}).")
        webhooks.emit("clock.breached", engagements[clock.engagement_id], object_type="clock", object_id=clock.id,
                      title=f"{clock.rule_id} breached: {titles.get(clock.rule_id, '')}", path=_clock_link(clock),
                      occasion="breached", sides=_clock_sides(clock.rule_id), extra=_clock_facts(clock), now=now)
        key = f"clock:{clock.id}"
        if not Finding.select().where(Finding.key == key).exists():
            engagement = engagements[clock.engagement_id]
            raise_finding(engagement, source="clock", severity="critical", key=key, clock=clock,
                          incident=clock.incident if clock.incident_id else None,
                          title=f"{clock.rule_id} deadline missed: {titles.get(clock.rule_id, clock.rule_id)}",
                          description=f"The {clock.rule_id} clock ({clock.basis}) passed its deadline without a "
                                      f"notice.", due_date=local(now, engagement.timezone).date()
                          + dt.timedelta(days=7), owner=_owner_for_clock(engagement, clock), now=now)
            findings += 1
    return notifications.insert(rows), findings


def _owner_for_clock(engagement: Engagement, clock: Clock) -> User | None:
    side = engagement.provider_id if clock.rule_id == "CONTRACT-NOTICE" else engagement.client_id
    return (User.select().where(User.organisation == side, User.active == True)  # noqa: E712
            .order_by(User.role.not_in(("provider_admin", "risk_reviewer")), User.id).first())


def _finding_dates(since: dt.datetime, until: dt.datetime, now: dt.datetime) -> int:
    """finding_due the day before its due date; finding_overdue (escalation to the client's admins and risk
    team) once it has passed. Dates compare in UTC."""
    rows: list[dict] = []
    start, end = since.date(), until.date()
    if end <= start:
        return 0
    for kind, offset, occasion in (("finding_due", dt.timedelta(days=1), "due-1"),
                                   ("finding_overdue", dt.timedelta(days=-1), "overdue")):
        found = list(Finding.select(Finding.id, Finding.engagement, Finding.owner, Finding.title, Finding.due_date)
                     .where(Finding.status.not_in(FINAL_STATES), Finding.due_date > start + offset,
                            Finding.due_date <= end + offset).tuples())
        client = notifications.engagement_users({f[1] for f in found}, ("client",), ("client_admin", "risk_reviewer"))
        for finding_id, engagement_id, owner_id, title, due in found:
            users = ([owner_id] if owner_id else []) + (client[engagement_id] if kind == "finding_overdue" else [])
            word = "due tomorrow" if kind == "finding_due" else "overdue"
            rows += _rows(users, kind, "finding", finding_id, occasion, engagement_id,
                          f"Finding {word} ({due.isoformat()}): {title}", f"/findings/{finding_id}", now)
    return notifications.insert(rows)
