"""A forum's agenda carries only the findings of its own tier (SPEC §9: "findings and actions due or escalated
to this tier"): a KPI finding by the tier its escalation ladder reached, any other finding by its severity; and
only the actions raised at its tier or escalated to it from the tier below."""
from __future__ import annotations

import datetime as dt

import pytest

from domain import governance as rules
from models import Finding, Forum, Kpi, KpiEscalation, Meeting, utcnow
from services.alerts.scheduler import tick
from services.register.engagements import create_accepted_engagement
from tests.conftest import bearer


@pytest.fixture
def world(client, make_user):
    admin, provider = make_user("client_admin"), make_user("provider_admin")
    engagement = create_accepted_engagement(admin, {
        "name": "Cards contact centre", "provider": "BPO A", "frameworks": ["CONTRACT", "CPS230"], "place": "NSW",
        "timezone": "Australia/Sydney", "start_date": (dt.date.today() - dt.timedelta(days=60)).isoformat()})
    tick(now=utcnow())
    assert client.post(f"/api/v1/engagements/{engagement.id}/kpis", json={"template": "SL-80-20"},
                       headers=bearer(admin)).status_code == 201
    meetings = {f.tier: Meeting.get(Meeting.forum == f.id, Meeting.status == "scheduled")
                for f in Forum.select().where(Forum.engagement == engagement.id)}
    return {"engagement": engagement, "admin": admin, "provider": provider, "meetings": meetings}


def _finding(engagement, title: str, severity: str, due: dt.date, ladder_tier: str | None = None) -> Finding:
    finding = Finding.create(engagement=engagement.id, source="kpi" if ladder_tier else "manual", severity=severity,
                             title=title, due_date=due)
    if ladder_tier:
        kpi = Kpi.get(Kpi.engagement == engagement.id)
        KpiEscalation.create(finding=finding.id, kpi=kpi.id, engagement=engagement.id, period="2026-01",
                             tier=ladder_tier, plan_due=due)
    return finding


def _agenda(client, world, tier: str) -> dict:
    response = client.get(f"/api/v1/meetings/{world['meetings'][tier].id}", headers=bearer(world["admin"]))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["agenda"]


def _titles(section: dict) -> list[str]:
    assert section["count"] == len(section["items"])
    return sorted(i["title"] for i in section["items"])


def test_the_tier_of_a_finding():
    assert rules.finding_tier("medium", None) == "operational"
    assert rules.finding_tier("high", None) == "performance"
    assert rules.finding_tier("critical", None) == "executive"
    assert rules.finding_tier("low", "performance") == "performance"  # the ladder decides a KPI finding
    assert rules.finding_tier("high", "dispute") == "executive"  # no dispute forum: the executive hears it
    assert rules.ladder_tiers_for("executive") == ("executive", "dispute")


def test_each_forum_hears_only_the_findings_of_its_tier(client, world):
    engagement, past = world["engagement"], dt.date.today() - dt.timedelta(days=3)
    later = dt.date.today() + dt.timedelta(days=200)  # due after every meeting scheduled now
    _finding(engagement, "Roster gaps on Mondays", "medium", past)
    _finding(engagement, "Script misses the hardship offer", "high", past)
    _finding(engagement, "Card data in call notes", "critical", past)
    _finding(engagement, "Service level missed twice", "high", past, ladder_tier="operational")
    _finding(engagement, "Abandonment missed twice, no plan", "high", later, ladder_tier="performance")
    _finding(engagement, "Not due yet", "medium", later)
    closed = _finding(engagement, "Closed already", "critical", past)
    Finding.update(status="closed").where(Finding.id == closed.id).execute()

    weekly, monthly, quarterly = (_agenda(client, world, t)["findings"] for t in rules.TIERS)
    assert _titles(weekly) == ["Roster gaps on Mondays", "Service level missed twice"]
    # escalated up the ladder: on the upper tier's agenda whatever its date, and no longer on the lower one
    assert _titles(monthly) == ["Abandonment missed twice, no plan", "Script misses the hardship offer"]
    assert _titles(quarterly) == ["Card data in call notes"]
    assert {i["tier"] for i in monthly["items"]} == {"performance"}


def test_each_forum_hears_only_the_actions_of_its_tier(client, world):
    yesterday = (dt.date.today() - dt.timedelta(days=2)).isoformat()
    for tier, title in (("operational", "Re-forecast Monday staffing"), ("performance", "Review the QA sample"),
                        ("executive", "Agree the exit rehearsal date")):
        created = client.post(f"/api/v1/meetings/{world['meetings'][tier].id}/actions", headers=bearer(world["admin"]),
                              json={"title": title, "owner": world["provider"].email, "due_date": yesterday})
        assert created.status_code == 201, created.get_json()
    weekly, monthly, quarterly = (_agenda(client, world, t) for t in rules.TIERS)
    assert _titles(weekly["actions"]) == ["Re-forecast Monday staffing"]
    assert _titles(monthly["actions"]) == ["Review the QA sample"]
    assert _titles(quarterly["actions"]) == ["Agree the exit rehearsal date"]
    tick(now=utcnow())  # overdue: each escalated onto the agenda of the tier above
    assert _titles(_agenda(client, world, "performance")["escalated_actions"]) == ["Re-forecast Monday staffing"]
    assert _titles(_agenda(client, world, "executive")["escalated_actions"]) == ["Review the QA sample"]
    assert _agenda(client, world, "operational")["escalated_actions"]["count"] == 0
