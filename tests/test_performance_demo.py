"""`flask demo` tells the contract-performance story: 12 KPIs, results for every complete month, a surge month's
relief, a rebased KPI, a critical KPI missed twice with its finding escalated once, credits in every state."""
from __future__ import annotations

import peewee as pw
import pytest

from models import Finding, KpiEscalation, KpiResult, KpiVersion, ServiceCredit
from services.demo import dataset as demo


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    from argon2 import PasswordHasher

    from services.people import accounts
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def test_demo_performance_story(library, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "Demo-Password-2024!")
    lines = demo.create_demo()
    assert any(line.startswith("Contract performance: 12 KPIs") for line in lines)
    assert {c.state for c in ServiceCredit.select()} == {None, "payable", "earned_back", "credited", "waived"}
    assert KpiVersion.select().where(KpiVersion.n == 2, KpiVersion.state == "approved").count() == 1
    relief = KpiResult.select().where(KpiResult.outcome == "excused")
    assert relief.count() >= 4 and {r.excuse_reason for r in relief} == {"volume above the forecast band"}
    escalation = KpiEscalation.get()
    assert escalation.kpi.code == "ABANDON" and escalation.tier == "performance"
    assert Finding.get_by_id(escalation.finding_id).severity == "high"
    assert KpiResult.select().where(KpiResult.state != "accepted").count() == 0
    # eighteen complete months of results, every KPI in each
    months = KpiResult.select(KpiResult.month, pw.fn.COUNT(KpiResult.kpi.distinct())).group_by(KpiResult.month)
    assert len(months) == 18 and {n for _month, n in months.tuples()} == {12}
    before = KpiResult.select().count()
    demo.create_demo()
    assert KpiResult.select().count() == before
