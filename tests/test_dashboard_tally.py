"""The dashboard's tally (request_tally, kept by triggers, migration 011) gives exactly the numbers of the
live count over the requests: for every filter and caller, after requests change state and due date in the
middle of a month, after a scheduler pass, and after a full rebuild."""
from __future__ import annotations

import datetime as dt

import pytest
from test_dashboard import admin, engagements  # noqa: F401 (fixtures)
from test_pages import engagement_data

from models import EvidenceRequest, RequestTally, utcnow
from services.alerts.scheduler import tick
from services.register import dashboard
from services.register.engagements import create_accepted_engagement

FILTERS = [dashboard.Filters(), dashboard.Filters(window=60), dashboard.Filters(window=7, sort="-due"),
           dashboard.Filters(framework="CPS234"), dashboard.Filters(framework="ISO27001-2022", sort="engagement"),
           dashboard.Filters(framework="CPS230", sort="status"), dashboard.Filters(sort="control")]


def numbers(board: dashboard.Dashboard) -> dict:
    return {"total": board.total, "by_status": board.by_status, "by_aging": board.by_aging,
            "heatmap": board.heatmap, "trend": board.trend, "items": [r.id for r in board.items]}


def assert_same(user, filters: dashboard.Filters, now: dt.datetime) -> dict:
    fast = numbers(dashboard.overdue_dashboard(user, filters, now=now))
    live = numbers(dashboard.live_dashboard(user, filters, now=now))
    assert fast == live, filters
    return fast


def tally_rows() -> set[tuple]:
    return {(t.engagement_id, t.framework_id, t.status, t.month, t.n) for t in RequestTally.select() if t.n}


def check_everything(admin, make_user, first, second, now: dt.datetime) -> None:  # noqa: F811
    provider = make_user("provider_contributor", org="BPO B")
    outsider = make_user("client_admin", org="Bank B")
    for filters in FILTERS:
        assert_same(admin, filters, now)
        assert_same(provider, filters, now)
    for engagement in (first, second):
        assert_same(admin, dashboard.Filters(engagement=engagement.id), now)
        assert_same(admin, dashboard.Filters(engagement=engagement.id, framework="CPS234", window=30), now)
    # the provider sees only its engagement, the other client nothing of Demo Bank's
    mine = assert_same(provider, dashboard.Filters(), now)
    assert mine["total"] > 0 and {c["engagement_id"] for c in mine["heatmap"]} == {second.id}
    assert mine == assert_same(admin, dashboard.Filters(engagement=second.id), now)
    assert assert_same(provider, dashboard.Filters(engagement=first.id), now)["total"] == 0
    nothing = assert_same(outsider, dashboard.Filters(), now)
    assert nothing["total"] == 0 and nothing["heatmap"] == [] and all(
        m["accepted"] == m["overdue"] == 0 for m in nothing["trend"])
    # the tally equals a recount from the requests
    kept = tally_rows()
    dashboard.rebuild_tally()
    assert tally_rows() == kept


def test_tally_equals_live_counts_for_every_filter_and_caller(admin, make_user, engagements):  # noqa: F811
    first, second = engagements
    now = utcnow()
    board = assert_same(admin, dashboard.Filters(), now)
    assert board["by_status"]["overdue"] > 0 and sum(m["accepted"] for m in board["trend"]) > 0
    assert sum(b for b in board["by_aging"].values()) == board["by_status"]["overdue"]
    check_everything(admin, make_user, first, second, now)


def test_tally_follows_edits_reviews_and_ticks_mid_month(admin, make_user, engagements):  # noqa: F811
    first, second = engagements
    now = utcnow()
    overdue = list(EvidenceRequest.select().where(EvidenceRequest.status == "overdue").order_by(EvidenceRequest.id))
    accepted = list(EvidenceRequest.select().where(EvidenceRequest.status == "accepted")
                    .order_by(EvidenceRequest.id))
    # reviews: overdue -> submitted -> accepted (an old month's count changes), an acceptance undone
    for row in overdue[:5]:
        EvidenceRequest.update(status="submitted").where(EvidenceRequest.id == row.id).execute()
    for row in overdue[:3]:
        EvidenceRequest.update(status="accepted").where(EvidenceRequest.id == row.id).execute()
    EvidenceRequest.update(status="overdue").where(EvidenceRequest.id == accepted[0].id).execute()
    # an edit that moves a due date into another month, and one that changes nothing tallied
    moved = EvidenceRequest.get_by_id(accepted[1].id)
    moved.due_at = moved.due_at - dt.timedelta(days=40)
    moved.save()
    EvidenceRequest.update(updated_at=now).where(EvidenceRequest.id == overdue[6].id).execute()
    # a new engagement of the same client (new requests inserted), and an owner named on a control
    third = create_accepted_engagement(admin, engagement_data(name="Card operations", provider="BPO C",
                                                     start_date=(now.date() - dt.timedelta(days=200)).isoformat(),
                                                     frameworks=["CPS234"]))
    owner = make_user("risk_reviewer")
    EvidenceRequest.update(owner=owner).where(EvidenceRequest.engagement == first,
                                              EvidenceRequest.control == overdue[0].control_id).execute()
    check_everything(admin, make_user, first, second, now)
    assert assert_same(admin, dashboard.Filters(engagement=third.id), now)["total"] > 0
    assert assert_same(admin, dashboard.Filters(owner=owner.id), now) == numbers(
        dashboard.live_dashboard(admin, dashboard.Filters(owner=owner.id), now=now))

    # a scheduler pass three weeks on: requests fall overdue in bulk (one UPDATE, the triggers follow)
    later = now + dt.timedelta(days=21)
    assert tick(later).overdue > 0
    check_everything(admin, make_user, first, second, later)
    # deleted requests leave the tally too
    EvidenceRequest.delete().where(EvidenceRequest.engagement == third.id,
                                   EvidenceRequest.id.not_in(_with_evidence())).execute()
    check_everything(admin, make_user, first, second, later)


def _with_evidence():
    from models import Evidence
    return Evidence.select(Evidence.request)


@pytest.mark.parametrize("month_offset", [0, -11])
def test_trend_month_from_the_tally_matches_requests_due_then(admin, engagements, month_offset):  # noqa: F811
    now = utcnow()
    trend = dashboard.overdue_dashboard(admin, dashboard.Filters(), now=now).trend
    start = dashboard.month_starts(now)[month_offset - 2]  # this month is the last but one (the next ends it)
    end = dashboard._month(start.year, start.month, 1)
    due_then = EvidenceRequest.select().where(EvidenceRequest.due_at >= start, EvidenceRequest.due_at < end)
    month = next(m for m in trend if m["month"] == start.strftime("%Y-%m"))
    assert month["accepted"] == due_then.where(EvidenceRequest.status == "accepted").count()
    assert month["overdue"] == due_then.where(EvidenceRequest.status == "overdue").count()
