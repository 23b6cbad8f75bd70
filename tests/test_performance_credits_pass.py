"""The scheduler's pass over a month's credits for every engagement: it reads in a fixed number of statements
whatever the number of engagements, repairs a stored credit that differs from the computation exactly as a
recomputation would, and never touches a settled one."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from models import ServiceCredit
from services.alerts import scheduler
from services.performance import credits
from services.register.engagements import create_accepted_engagement
from tests.test_performance_api import accept_all, ok, perf, setup_contract, submit  # noqa: F401
from tests.test_performance_import import _statements


def _missed_march(client, parties) -> None:
    setup_contract(client, parties)
    for period, (a, f) in {"2026-02": ("4", "80"), "2026-03": ("9", "60"), "2026-04": ("4", "60")}.items():
        accept_all(client, parties, ok(submit(client, parties, period, [
            {"kpi": "ABANDON", "value": a, "volume": 30000}, {"kpi": "FCR", "value": f}]), 201)["items"])


def test_the_pass_repairs_what_differs_and_reads_alike_for_more_engagements(client, perf, monkeypatch):  # noqa: F811
    _missed_march(client, perf)
    march = {c.kpi.code: c for c in ServiceCredit.select().where(ServiceCredit.month == "2026-03")}
    assert {code: c.state for code, c in march.items()} == {"ABANDON": None, "FCR": "payable"}
    expected = {code: (c.amount, c.state, c.earn_back_until) for code, c in march.items()}
    changed, quiet = _statements(monkeypatch, lambda: credits.recompute_month_everywhere("2026-03"))
    assert changed == 0
    # More engagements (with KPIs and results of their own) read in the same number of statements.
    for n in range(3):
        other = create_accepted_engagement(perf["client_admin"], {
            "name": f"Other {n}", "provider": "BPO A", "frameworks": ["CONTRACT"], "place": "NSW",
            "timezone": "Australia/Sydney", "start_date": "2026-01-01"})
        ok(client.post(f"/api/v1/engagements/{other.id}/kpis", json={"template": "FCR", "allocation_pct": "50"},
                       headers=perf["client"]), 201)
    assert _statements(monkeypatch, lambda: credits.recompute_month_everywhere("2026-03"))[1] == quiet
    # A stored credit that drifted, and one deleted, are put back as the computation has them; a settled one stays.
    ServiceCredit.update(amount=Decimal("1.00"), state="earned_back").where(
        ServiceCredit.id == march["ABANDON"].id).execute()
    ServiceCredit.delete().where(ServiceCredit.id == march["FCR"].id).execute()
    assert credits.recompute_month_everywhere("2026-03") == 2
    again = {c.kpi.code: (c.amount, c.state, c.earn_back_until)
             for c in ServiceCredit.select().where(ServiceCredit.month == "2026-03")}
    assert again == expected
    payable = ServiceCredit.get(ServiceCredit.month == "2026-03", ServiceCredit.state == "payable")
    ok(client.post(f"/api/v1/service-credits/{payable.id}/settle", json={"state": "waived", "reason": "goodwill"},
                   headers=perf["client"]))
    ServiceCredit.update(amount=Decimal("2.00")).where(ServiceCredit.state == "waived").execute()
    assert credits.recompute_month_everywhere("2026-03") == 0  # settled: never recomputed
    assert ServiceCredit.get(ServiceCredit.state == "waived").amount == Decimal("2.00")


def test_the_scheduler_checks_last_months_credits_once_a_day(client, perf, monkeypatch):  # noqa: F811
    _missed_march(client, perf)
    monkeypatch.setattr(scheduler, "_credits_checked", {})
    march = ServiceCredit.get(ServiceCredit.month == "2026-03", ServiceCredit.state == "payable")
    amount = march.amount
    ServiceCredit.update(amount=Decimal("1.00")).where(ServiceCredit.id == march.id).execute()
    april = dt.datetime(2026, 4, 20, 1, 0)
    assert scheduler.tick(april).credits_repaired == 1
    assert ServiceCredit.get_by_id(march.id).amount == amount
    ServiceCredit.update(amount=Decimal("1.00")).where(ServiceCredit.id == march.id).execute()
    assert scheduler.tick(april + dt.timedelta(hours=1)).credits_repaired == 0  # checked today already
    assert scheduler.tick(april + dt.timedelta(days=1)).credits_repaired == 1  # the next day's check
    assert ServiceCredit.get_by_id(march.id).amount == amount
