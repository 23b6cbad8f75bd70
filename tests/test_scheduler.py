"""The scheduler (SPEC §2, §4, §5 `tick`/`scheduler`, §6 one scheduler elected by a database lock)."""
from __future__ import annotations

import datetime as dt
import threading

import pytest

from domain.timeutil import end_of_local_day
from models import (
    AuditEvent,
    Clock,
    Control,
    Engagement,
    EvidenceRequest,
    Incident,
    SchedulerLease,
    db,
    utcnow,
)
from services.alerts.lease import acquire_lease, release_lease
from services.alerts.scheduler import leased_tick, run_scheduler, tick
from services.register.engagements import create_accepted_engagement

D = dt.date
T = dt.datetime
CREATED = T(2026, 6, 15, 2, 0)  # when the test engagements are created (UTC)


@pytest.fixture
def admin(make_user):
    return make_user("client_admin")


def engage(admin, name, tz="Australia/Sydney", start="2026-01-01", end=None, now=CREATED, **extra):
    data = {"name": name, "provider": "BPO A", "frameworks": ["ISO27001-2022"], "place": "NSW",
            "timezone": tz, "start_date": start} | extra
    if end:
        data["end_date"] = end
    return create_accepted_engagement(admin, data, now=now)


def monthly(engagement):
    """The requests of the engagement's monthly controls."""
    return (EvidenceRequest.select().join(Control)
            .where(EvidenceRequest.engagement == engagement.id, Control.frequency == "P1M"))


def statuses(query, period_start: D) -> set[str]:
    return {r.status for r in query.where(EvidenceRequest.period_start == period_start)}


def nothing_changed(result) -> bool:
    return not any(result.counts().values())


def test_upcoming_opens_on_the_engagements_local_date(admin):
    # Both engagements were created on 15 June: the July period of every monthly control is upcoming.
    sydney = engage(admin, "Sydney centre", tz="Australia/Sydney")
    perth = engage(admin, "Perth centre", tz="Australia/Perth")
    assert monthly(sydney).count() > 0
    july = D(2026, 7, 1)
    assert statuses(monthly(sydney), july) == statuses(monthly(perth), july) == {"upcoming"}
    tick(now=CREATED)  # catch up to the creation instant (nothing to move)

    # 30 June 14:30 UTC is 00:30 on 1 July in Sydney (UTC+10) but 22:30 on 30 June in Perth (UTC+8)
    first = tick(now=T(2026, 6, 30, 14, 30))
    assert statuses(monthly(sydney), july) == {"open"}
    assert statuses(monthly(perth), july) == {"upcoming"}
    assert first.opened >= monthly(sydney).where(EvidenceRequest.period_start == july).count()

    tick(now=T(2026, 6, 30, 16, 30))  # 00:30 on 1 July in Perth
    assert statuses(monthly(perth), july) == {"open"}


def test_open_becomes_overdue_only_after_due_plus_grace_and_decided_requests_stay(admin):
    engagement = engage(admin, "Grace centre")
    def june():  # a fresh query each time (peewee caches an iterated one)
        return monthly(engagement).where(EvidenceRequest.period_start == D(2026, 6, 1))
    ids = [r.id for r in june()]
    assert len(ids) >= 4 and statuses(june(), D(2026, 6, 1)) == {"open"}
    submitted, accepted, rejected, *_ = ids
    EvidenceRequest.update(status="submitted").where(EvidenceRequest.id == submitted).execute()
    EvidenceRequest.update(status="accepted").where(EvidenceRequest.id == accepted).execute()
    EvidenceRequest.update(status="rejected").where(EvidenceRequest.id == rejected).execute()
    due = end_of_local_day(D(2026, 6, 30), "Australia/Sydney")
    assert due == T(2026, 6, 30, 13, 59, 59)
    limit = due + dt.timedelta(days=engagement.grace_days)

    tick(now=limit)  # exactly due + grace: not yet
    assert {r.status for r in june()} == {"open", "submitted", "accepted", "rejected"}

    result = tick(now=limit + dt.timedelta(seconds=1))
    states = {r.id: r.status for r in june()}
    assert states[submitted] == "submitted" and states[accepted] == "accepted"
    assert states[rejected] == "overdue"
    assert {s for i, s in states.items() if i not in (submitted, accepted)} == {"overdue"}
    assert result.overdue >= len(ids) - 2
    moved = EvidenceRequest.get_by_id(rejected)
    assert moved.updated_at == limit + dt.timedelta(seconds=1)


def test_grace_is_per_engagement(admin):
    strict = engage(admin, "Strict centre")
    lenient = engage(admin, "Lenient centre")
    Engagement.update(grace_days=0).where(Engagement.id == strict.id).execute()
    Engagement.update(grace_days=10).where(Engagement.id == lenient.id).execute()
    june = D(2026, 6, 1)
    tick(now=T(2026, 7, 2))  # 2 days after the June periods fell due
    assert statuses(monthly(strict), june) == {"overdue"}
    assert statuses(monthly(lenient), june) == {"open"}
    tick(now=T(2026, 7, 11))
    assert statuses(monthly(lenient), june) == {"overdue"}


def test_a_second_tick_changes_nothing(admin):
    engage(admin, "Idempotent centre")
    at = T(2026, 9, 20, 3, 0)
    first = tick(now=at)
    assert first.changed and first.created > 0 and first.opened > 0 and first.overdue > 0
    events = AuditEvent.select().where(AuditEvent.action == "scheduler.tick").count()
    rows = EvidenceRequest.select().count()
    snapshot = {(r.id, r.status, r.updated_at) for r in EvidenceRequest.select()}
    second = tick(now=at)
    assert nothing_changed(second) and not second.changed
    assert EvidenceRequest.select().count() == rows
    assert {(r.id, r.status, r.updated_at) for r in EvidenceRequest.select()} == snapshot
    assert AuditEvent.select().where(AuditEvent.action == "scheduler.tick").count() == events == 1


def test_tick_records_one_audit_event_with_the_counts(admin):
    import json
    engage(admin, "Audited centre")
    result = tick(now=T(2026, 8, 2))
    event = AuditEvent.get(AuditEvent.action == "scheduler.tick")
    details = json.loads(event.details)
    assert {k: details[k] for k in result.counts()} == result.counts()
    assert event.actor_email == "scheduler"


def contiguous(engagement) -> dict[int, list[EvidenceRequest]]:
    by_requirement: dict[int, list[EvidenceRequest]] = {}
    for r in (EvidenceRequest.select().where(EvidenceRequest.engagement == engagement.id)
              .order_by(EvidenceRequest.requirement, EvidenceRequest.period_start)):
        by_requirement.setdefault(r.requirement_id, []).append(r)
    for rows in by_requirement.values():
        for before, after in zip(rows, rows[1:], strict=False):
            assert before.period_end + dt.timedelta(days=1) == after.period_start, "a gap or an overlap"
    return by_requirement


def test_new_periods_are_planned_as_time_passes(admin):
    engagement = engage(admin, "Growing centre")
    before = EvidenceRequest.select().where(EvidenceRequest.engagement == engagement.id).count()
    later = CREATED + dt.timedelta(days=400)  # 20 July 2027
    result = tick(now=later)
    assert result.created > 0
    after = EvidenceRequest.select().where(EvidenceRequest.engagement == engagement.id).count()
    assert after == before + result.created
    today = D(2027, 7, 20)
    for rows in contiguous(engagement).values():
        # every schedule shows the period running today and the next one
        assert rows[-1].period_start > today
        assert rows[-2].period_start <= today <= rows[-2].period_end
    annual = (EvidenceRequest.select().join(Control)
              .where(EvidenceRequest.engagement == engagement.id, Control.frequency == "P1Y"))
    assert statuses(annual, D(2027, 1, 1)) == {"open"}  # next year's annual tests, created open
    assert statuses(annual, D(2028, 1, 1)) == {"upcoming"}
    assert statuses(annual, D(2026, 1, 1)) == {"overdue"}  # 2026's, never answered


def test_no_period_is_planned_after_the_end_date(admin):
    engagement = engage(admin, "Ending centre", end="2027-03-15")
    tick(now=T(2028, 6, 1))
    rows = EvidenceRequest.select().where(EvidenceRequest.engagement == engagement.id)
    assert max(r.period_start for r in rows) <= D(2027, 3, 15)
    assert max(r.period_end for r in rows) == D(2027, 3, 15)  # the last periods are cut short at the end
    assert statuses(monthly(engagement), D(2027, 3, 1)) == {"overdue"}
    assert not statuses(monthly(engagement), D(2027, 4, 1))
    assert nothing_changed(tick(now=T(2029, 1, 1)))


def test_a_future_engagement_gets_its_first_periods_only_when_they_come(admin):
    engagement = engage(admin, "Future centre", start="2026-09-01")
    assert statuses(monthly(engagement), D(2026, 9, 1)) == {"upcoming"}
    assert not statuses(monthly(engagement), D(2026, 10, 1))
    tick(now=T(2026, 9, 1, 0, 0))  # 10:00 on 1 September in Sydney
    assert statuses(monthly(engagement), D(2026, 9, 1)) == {"open"}
    assert statuses(monthly(engagement), D(2026, 10, 1)) == {"upcoming"}


def test_a_control_made_applicable_later_starts_with_the_current_period(admin):
    from models import Applicability
    engagement = engage(admin, "Scope change centre")
    row = (Applicability.select().join(Control)
           .where(Applicability.engagement == engagement.id, Applicability.applicable == False,  # noqa: E712
                  Control.frequency == "P3M").first())
    assert row is not None, "the test needs a quarterly control outside ISO 27001 in the shipped library"
    Applicability.update(applicable=True).where(Applicability.id == row.id).execute()
    tick(now=T(2026, 8, 10))
    starts = sorted({r.period_start for r in EvidenceRequest.select().where(
        EvidenceRequest.engagement == engagement.id, EvidenceRequest.control == row.control_id)})
    assert starts == [D(2026, 7, 1), D(2026, 10, 1)]  # no back-filled overdue quarters


def test_running_clocks_past_their_deadline_become_breached(admin):
    engagement = engage(admin, "Incident centre")
    incident = Incident.create(engagement=engagement, title="Outage", category="operational_disruption",
                               occurred_at=T(2026, 6, 1), aware_at=T(2026, 6, 1), aware_party="provider")
    at = T(2026, 6, 5)

    def clock(rule, deadline, state="running"):
        return Clock.create(incident=incident, rule_id=rule, started_at=T(2026, 6, 1), deadline_at=deadline,
                            basis="72 elapsed hours", state=state).id
    late = clock("CPS230-INCIDENT", at - dt.timedelta(seconds=1))
    on_time = clock("CPS234-35", at + dt.timedelta(hours=1))
    met = clock("CONTRACT-NOTICE", at - dt.timedelta(days=2), state="met")
    asap = clock("NDB-NOTIFY", None)
    result = tick(now=at)
    assert result.breached == 1
    state = {c.id: c.state for c in Clock.select()}
    assert state == {late: "breached", on_time: "running", met: "met", asap: "running"}
    assert tick(now=at).breached == 0


def test_a_lease_has_one_holder_until_it_expires(clean_db):
    t0 = T(2026, 1, 1, 0, 0)
    assert acquire_lease("tick", "a", 60, now=t0)
    assert not acquire_lease("tick", "b", 60, now=t0 + dt.timedelta(seconds=1))
    assert acquire_lease("tick", "a", 60, now=t0 + dt.timedelta(seconds=30))  # renewed to t0+90s
    assert not acquire_lease("tick", "b", 60, now=t0 + dt.timedelta(seconds=61))
    assert acquire_lease("tick", "b", 60, now=t0 + dt.timedelta(seconds=91))  # a stopped renewing
    assert not acquire_lease("tick", "a", 60, now=t0 + dt.timedelta(seconds=92))
    assert SchedulerLease.get(SchedulerLease.name == "tick").holder == "b"
    assert acquire_lease("other", "a", 60, now=t0 + dt.timedelta(seconds=92))  # leases are per name
    assert release_lease("tick", "b") and not release_lease("tick", "a")
    assert acquire_lease("tick", "a", 60, now=t0 + dt.timedelta(seconds=93))  # released: free at once


def test_concurrent_holders_elect_exactly_one(clean_db):
    barrier = threading.Barrier(6)
    won: list[str] = []

    def contender(holder: str) -> None:
        db.connect(reuse_if_open=True)
        try:
            barrier.wait()
            if acquire_lease("race", holder, 300):
                won.append(holder)
        finally:
            db.close()

    threads = [threading.Thread(target=contender, args=(f"p{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(won) == 1
    assert SchedulerLease.get(SchedulerLease.name == "race").holder == won[0]


def test_only_the_lease_holder_ticks(admin):
    engage(admin, "Leased centre")
    first = leased_tick("holder-a", 60)
    assert first is not None and first.changed
    assert leased_tick("holder-b", 60) is None
    assert leased_tick("holder-a", 60) is not None  # renews its own lease


def test_run_scheduler_ticks_at_once_and_releases_its_lease_on_stop(admin):
    engage(admin, "Daemon centre")
    stop = threading.Event()
    thread = threading.Thread(target=run_scheduler, kwargs={"interval_seconds": 3600, "holder": "daemon-1",
                                                            "stop_event": stop})
    thread.start()
    try:
        for _ in range(100):
            if AuditEvent.select().where(AuditEvent.action == "scheduler.tick").exists():
                break
            threading.Event().wait(0.1)
        assert SchedulerLease.get(SchedulerLease.name == "tick").holder == "daemon-1"
        assert AuditEvent.select().where(AuditEvent.action == "scheduler.tick").exists()
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert SchedulerLease.get(SchedulerLease.name == "tick").expires_at < utcnow()


def test_cli_tick_prints_the_counts(app, admin):
    engagement = create_accepted_engagement(admin,
            {"name": "CLI centre", "provider": "BPO A", "frameworks": ["ISO27001-2022"],
                                           "place": "NSW", "start_date": (utcnow() - dt.timedelta(days=40)).date()
                                           .isoformat()})
    runner = app.test_cli_runner()
    runner.invoke(args=["tick"])  # whatever the real clock has to do
    late = (EvidenceRequest.select().where(EvidenceRequest.engagement == engagement.id,
                                           EvidenceRequest.status.in_(["open", "upcoming"])).first())
    EvidenceRequest.update(due_at=utcnow() - dt.timedelta(days=30)).where(EvidenceRequest.id == late.id).execute()
    result = runner.invoke(args=["tick"])
    assert result.exit_code == 0, result.output
    assert "tick: created=0 opened=0 overdue=1 breached=0" in result.output
    assert EvidenceRequest.get_by_id(late.id).status == "overdue"
    again = runner.invoke(args=["tick"])
    assert "tick: created=0 opened=0 overdue=0 breached=0" in again.output


def test_scheduler_command_is_registered_with_an_interval_option(app):
    result = app.test_cli_runner().invoke(args=["scheduler", "--help"])
    assert result.exit_code == 0 and "--interval" in result.output
    assert app.test_cli_runner().invoke(args=["scheduler", "--interval", "0"]).exit_code == 2


@pytest.mark.parametrize("mode, testing, cli, started_at_once, started_on_request", [
    ("inprocess", False, False, True, False),  # a WSGI worker: with the app
    ("inprocess", False, True, False, True),  # `flask run`: on the first request; other commands never serve
    ("inprocess", True, False, False, False),  # tests never start it
    ("off", False, False, False, False),
])
def test_in_process_scheduler_only_when_asked(monkeypatch, mode, testing, cli, started_at_once, started_on_request):
    from flask import Flask

    from services.alerts import scheduler
    calls: list[float] = []
    monkeypatch.setattr(scheduler, "start_in_process", lambda interval, building=None: calls.append(interval))
    monkeypatch.setattr(scheduler, "_in_process", {})
    if cli:
        monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    else:
        monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    fake = Flask("fake")
    fake.config.update(SCHEDULER=mode, TESTING=testing)
    fake.add_url_rule("/", "index", lambda: "ok")
    scheduler.init_app(fake)
    assert bool(calls) == started_at_once
    fake.test_client().get("/")
    assert bool(calls) == (started_at_once or started_on_request)
