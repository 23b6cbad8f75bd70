"""The scheduler's planning watermark (services.register.planning): a pass plans only the engagements whose local
date moved on or whose planning inputs changed, and still misses nothing a plan-everything pass would add."""
from __future__ import annotations

import datetime as dt
import shutil
import threading
import time

import pytest

from models import Applicability, Control, Engagement, EvidenceRequest, EvidenceRequirement, db
from services.alerts.scheduler import tick
from services.register import applicability as applicability_service
from services.register import planning
from services.register import subcontractors as register
from services.register.engagements import create_accepted_engagement, update_engagement
from services.register.library_sync import DEFAULT_DIRECTORY, load_library

D = dt.date
T = dt.datetime
CREATED = T(2026, 6, 15, 2, 0)  # 12:00 on 15 June in Sydney


@pytest.fixture
def admin(make_user):
    return make_user("client_admin")


def engage(admin, name, tz="Australia/Sydney", frameworks=("ISO27001-2022",), now=CREATED):
    return create_accepted_engagement(admin, {"name": name, "provider": "BPO A", "frameworks": list(frameworks),
                                     "place": "NSW", "timezone": tz, "start_date": "2026-01-01"}, now=now)


def watermark(engagement) -> D | None:
    return Engagement.get_by_id(engagement.id).planned_through


def requests_of(engagement, code: str):
    return (EvidenceRequest.select().join(Control)
            .where(EvidenceRequest.engagement == engagement.id, Control.code == code, EvidenceRequest.lane == 0))


def starts(engagement, code: str) -> list[D]:
    return sorted({r.period_start for r in requests_of(engagement, code)})


class Statements:
    """Counts the SQL statements sent while the block runs."""

    def __enter__(self):
        self.count, original = 0, db.obj.execute_sql

        def counting(sql, params=None, *args, **kwargs):
            self.count += 1
            return original(sql, params, *args, **kwargs)
        db.obj.execute_sql = counting
        return self

    def __exit__(self, *exc):
        del db.obj.execute_sql  # back to the class's method


def test_a_new_engagement_is_planned_at_its_first_tick_and_then_once_a_local_day(admin):
    engagement = engage(admin, "First tick centre")
    assert watermark(engagement) is None  # never planned by the scheduler
    later = T(2026, 9, 20, 0, 0)  # 10:00 on 20 September in Sydney: July to October's months are missing
    assert tick(now=later).created > 0
    assert watermark(engagement) == D(2026, 9, 20)
    assert starts(engagement, "AC-02")[-2:] == [D(2026, 9, 1), D(2026, 10, 1)]
    again = tick(now=later + dt.timedelta(minutes=5))
    assert not again.changed and watermark(engagement) == D(2026, 9, 20)


def test_a_tick_with_nothing_due_sends_as_many_statements_for_five_engagements_as_for_one(admin):
    at = T(2026, 9, 20, 0, 0)
    engage(admin, "Counted centre 1")
    tick(now=at)
    with Statements() as one:
        assert not tick(now=at).changed
    for n in range(2, 6):
        engage(admin, f"Counted centre {n}")
    assert tick(now=at).created > 0  # the four new ones are planned once
    with Statements() as five:
        assert not tick(now=at).changed
    assert five.count == one.count


def test_the_local_day_rolling_over_plans_the_next_period_in_the_engagements_timezone(admin):
    sydney = engage(admin, "Sydney rollover", tz="Australia/Sydney")
    perth = engage(admin, "Perth rollover", tz="Australia/Perth")
    tick(now=T(2026, 6, 30, 13, 0))  # 23:00 on 30 June in Sydney, 21:00 in Perth
    assert watermark(sydney) == watermark(perth) == D(2026, 6, 30)
    assert starts(sydney, "AC-02")[-1] == starts(perth, "AC-02")[-1] == D(2026, 7, 1)

    # 14:30 UTC, still 30 June in UTC: 00:30 on 1 July in Sydney, 22:30 on 30 June in Perth
    tick(now=T(2026, 6, 30, 14, 30))
    assert watermark(sydney) == D(2026, 7, 1) and starts(sydney, "AC-02")[-1] == D(2026, 8, 1)
    assert watermark(perth) == D(2026, 6, 30) and starts(perth, "AC-02")[-1] == D(2026, 7, 1)

    tick(now=T(2026, 6, 30, 16, 30))  # 00:30 on 1 July in Perth
    assert watermark(perth) == D(2026, 7, 1) and starts(perth, "AC-02")[-1] == D(2026, 8, 1)


def test_downtime_is_caught_up_by_the_next_tick(admin):
    engagement = engage(admin, "Downtime centre")
    tick(now=T(2026, 6, 15, 3, 0))
    back = T(2026, 11, 3, 0, 0)  # months later: 11:00 on 3 November in Sydney
    result = tick(now=back)
    assert result.created > 0
    assert starts(engagement, "AC-02")[-3:] == [D(2026, 10, 1), D(2026, 11, 1), D(2026, 12, 1)]
    keys = [(r.requirement_id, r.period_start) for r in EvidenceRequest.select().where(
        EvidenceRequest.engagement == engagement.id, EvidenceRequest.lane == 0)]
    assert len(keys) == len(set(keys))  # never a duplicate


def test_a_frequency_override_at_ten_is_planned_by_the_tick_at_five_past(admin):
    engagement = engage(admin, "Override centre")
    ten = T(2026, 9, 28, 0, 0)  # 10:00 on Monday 28 September in Sydney
    tick(now=ten - dt.timedelta(minutes=5))
    assert watermark(engagement) == D(2026, 9, 28)
    assert max((r.period_start, r.status) for r in requests_of(engagement, "AC-02")) == (D(2026, 10, 1), "upcoming")
    applicability_service.update(admin, engagement.id, "AC-02", {"frequency_override": "P1W"}, now=ten)
    assert watermark(engagement) is None
    tick(now=ten + dt.timedelta(minutes=5))
    # September's month stands; from October the control is weekly (weeks from the start date, a Thursday)
    live = sorted((r.period_start, r.period_end) for r in requests_of(engagement, "AC-02") if r.status != "retired")
    assert live[-2:] == [(D(2026, 9, 1), D(2026, 9, 30)), (D(2026, 10, 1), D(2026, 10, 7))]
    assert watermark(engagement) == D(2026, 9, 28)


def test_an_approved_offshore_recipient_gets_its_requests_at_the_next_tick_the_same_day(admin, make_user):
    engagement = engage(admin, "Offshore centre", frameworks=("CPS230", "PRIVACY-AU", "CONTRACT", "ISO27001-2022"))
    provider = make_user("provider_admin")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    tick(now=now)
    assert not requests_of(engagement, "PR-01").exists()  # not offshore yet: not applicable
    sub = register.propose(provider, engagement.id, {
        "name": "Manila Overflow Services", "services": ["After-hours overflow"],
        "critical_operations": ["Customer enquiries"], "countries": ["PH"], "data_categories": ["Customer name"],
        "material": False, "personal_information": True}, now=now)
    register.record_apra_notice(admin, sub.id, {"notified_on": D.today().isoformat()}, now=now)
    register.decide_on(admin, sub.id, {"decision": "approve", "reason": "DD done"}, now=now)
    assert watermark(engagement) is None  # the offshore controls became applicable
    tick(now=now + dt.timedelta(minutes=5))
    assert requests_of(engagement, "PR-01").exists()  # the offshore control's schedule, planned by the tick
    series = EvidenceRequest.select().where(EvidenceRequest.lane == sub.id)
    before = series.count()
    assert before > 0
    tick(now=now + dt.timedelta(minutes=10))
    assert series.count() == before


def test_a_library_update_adding_a_requirement_is_planned_the_same_day(admin, tmp_path):
    engagement = engage(admin, "Library centre")
    at = T(2026, 9, 20, 0, 0)
    tick(now=at)
    copy = tmp_path / "controls"
    shutil.copytree(DEFAULT_DIRECTORY, copy)
    path = copy / "common" / "access.yaml"
    text = path.read_text(encoding="utf-8")
    anchor = "        validity_days: 31\n"  # AC-02's requirement: a monthly, ISO 27001 control
    assert anchor in text
    path.write_text(text.replace(anchor, anchor + (
        "      - key: jml-sample\n"
        "        name: Sample of leaver tickets with their disable times\n"
        "        types: [text/csv]\n"
        "        validity_days: 31\n"), 1), encoding="utf-8")
    assert load_library(str(copy)).changed
    assert watermark(engagement) is None
    new = EvidenceRequirement.get(EvidenceRequirement.key == "jml-sample")
    tick(now=at + dt.timedelta(minutes=5))
    planned = sorted(r.period_start for r in EvidenceRequest.select().where(
        EvidenceRequest.engagement == engagement.id, EvidenceRequest.requirement == new.id))
    assert planned == [D(2026, 9, 1), D(2026, 10, 1)]  # from the current period on, no back-fill


def test_every_writer_of_planning_inputs_invalidates_the_watermark(admin):
    engagement = engage(admin, "Edited centre")
    at = T(2026, 9, 20, 0, 0)

    def planned_then(change) -> D | None:
        tick(now=at)
        assert watermark(engagement) == D(2026, 9, 20)
        change()
        return watermark(engagement)

    assert planned_then(lambda: update_engagement(admin, engagement.id, {"end_date": "2027-06-30"}, now=at)) is None
    assert planned_then(lambda: update_engagement(admin, engagement.id, {"grace_days": 2}, now=at)) is None
    assert planned_then(lambda: applicability_service.update(
        admin, engagement.id, "AC-02", {"first_due_date": "2026-11-30"}, now=at)) is None
    row = Applicability.select().join(Control).where(Applicability.engagement == engagement.id,
                                                     Applicability.applicable == False).first()  # noqa: E712
    assert planned_then(lambda: applicability_service.update(
        admin, engagement.id, row.control.code, {"applicable": True}, now=at)) is None
    # an edit that changes nothing a schedule reads keeps it (and an unchanged library is a no-op)
    assert planned_then(lambda: load_library()) == D(2026, 9, 20)


def test_an_edit_committed_while_a_tick_plans_is_planned_again_by_the_next_tick(admin, monkeypatch):
    """The tick holds the engagements it plans (a row lock on PostgreSQL, the write lock on SQLite) until it
    commits, so an edit landing meanwhile clears the watermark after the tick moved it, never before."""
    engagement = engage(admin, "Racing centre")
    tick(now=T(2026, 9, 20, 0, 0))
    next_day = T(2026, 9, 21, 0, 0)  # the watermark is a day behind: this tick plans the engagement
    planning_now, go = threading.Event(), threading.Event()
    original = planning.plan_engagement

    def slow_plan(*args, **kwargs):
        planning_now.set()
        assert go.wait(timeout=30)
        return original(*args, **kwargs)

    monkeypatch.setattr(planning, "plan_engagement", slow_plan)
    errors: list[BaseException] = []

    def in_thread(work):
        def run():
            db.connect(reuse_if_open=True)
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 -- reported by the assertion below
                errors.append(exc)
            finally:
                db.close()
        thread = threading.Thread(target=run)
        thread.start()
        return thread

    ticking = in_thread(lambda: tick(now=next_day))
    assert planning_now.wait(timeout=30)
    editing = in_thread(lambda: applicability_service.update(
        admin, engagement.id, "AC-02", {"first_due_date": "2026-11-30"}, now=next_day))
    time.sleep(0.5)  # the edit is now waiting for the tick's lock
    go.set()
    ticking.join(timeout=60)
    editing.join(timeout=60)
    assert not errors, errors
    assert watermark(engagement) is None  # the edit's invalidation came last
    monkeypatch.setattr(planning, "plan_engagement", original)
    tick(now=next_day + dt.timedelta(minutes=5))
    assert watermark(engagement) == D(2026, 9, 21)
