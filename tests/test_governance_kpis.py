"""Governance meets contract performance: a forum's agenda lists the KPI results missed or below expected since
its last held meeting (SPEC §9), through the API and on the meeting's page; a KPI finding on the escalation
ladder is notified to the forum of the tier it reached, once per tier (SPEC §8)."""
from __future__ import annotations

import datetime as dt

from domain.timeutil import to_utc_naive
from models import Finding, Forum, KpiEscalation, Meeting, Notification, utcnow
from services.alerts.scheduler import tick
from services.register.engagements import create_accepted_engagement
from tests.conftest import bearer, login


def month_back(n: int) -> dt.date:
    """The first day of the month ``n`` months before this one."""
    day = dt.date.today().replace(day=1)
    for _ in range(n):
        day = (day - dt.timedelta(days=1)).replace(day=1)
    return day


def test_the_agenda_lists_kpi_misses_since_the_forums_last_meeting(client, make_user):
    admin, reviewer, contributor = make_user("client_admin"), make_user("risk_reviewer"), make_user(
        "provider_contributor")
    engagement = create_accepted_engagement(admin, {
        "name": "Cards contact centre", "provider": "BPO A", "frameworks": ["CONTRACT", "CPS230"], "place": "NSW",
        "timezone": "Australia/Sydney", "start_date": (dt.date.today() - dt.timedelta(days=100)).isoformat()})
    for template in ("ABANDON", "FCR"):
        assert client.post(f"/api/v1/engagements/{engagement.id}/kpis", json={"template": template},
                           headers=bearer(admin)).status_code == 201
    earlier, last = month_back(2).strftime("%Y-%m"), month_back(1).strftime("%Y-%m")
    for period, abandon, fcr in ((earlier, "9", "72"), (last, "4", "60")):  # missed/below, then met/missed
        submitted = client.post(f"/api/v1/engagements/{engagement.id}/kpi-results", headers=bearer(contributor),
                                json={"period": period, "results": [{"kpi": "ABANDON", "value": abandon},
                                                                    {"kpi": "FCR", "value": fcr}]})
        assert submitted.status_code == 201, submitted.get_json()
        for item in submitted.get_json()["items"]:
            assert client.post(f"/api/v1/kpi-results/{item['id']}/review", json={"decision": "accept"},
                               headers=bearer(reviewer)).status_code == 200
    tick(now=utcnow())
    forum = Forum.get(Forum.engagement == engagement.id, Forum.tier == "performance")
    meeting = Meeting.get(Meeting.forum == forum.id, Meeting.status == "scheduled")

    def kpi_lines() -> list[tuple[str, str, str]]:
        agenda = client.get(f"/api/v1/meetings/{meeting.id}", headers=bearer(admin)).get_json()["agenda"]
        section = agenda["kpi_results"]
        assert section["count"] == len(section["items"])
        return [(i["kpi"], i["period"], i["state"]) for i in section["items"]]

    # no meeting held yet: everything since the engagement began, newest first
    assert kpi_lines() == [("FCR", last, "missed"), ("ABANDON", earlier, "missed"), ("FCR", earlier, "below_expected")]
    # a meeting held on the 5th of last month discussed the month before; last month was still running
    held_on = to_utc_naive(dt.datetime.combine(month_back(1) + dt.timedelta(days=4), dt.time(10),
                                               tzinfo=dt.timezone(dt.timedelta(hours=10))))
    Meeting.create(forum=forum.id, engagement=engagement.id, scheduled_for=held_on, status="held", held_at=held_on,
                   created_at=held_on)
    assert kpi_lines() == [("FCR", last, "missed")]
    # another forum's held meeting does not move this one's start
    weekly = Forum.get(Forum.engagement == engagement.id, Forum.tier == "operational")
    Meeting.create(forum=weekly.id, engagement=engagement.id, scheduled_for=utcnow() - dt.timedelta(days=1),
                   status="held", held_at=utcnow() - dt.timedelta(days=1), created_at=utcnow())
    assert kpi_lines() == [("FCR", last, "missed")]

    login(client, admin)
    page = client.get(f"/meetings/{meeting.id}").get_data(as_text=True)
    assert "KPI results missed or below expected since the last meeting" in page
    assert f"in {last}" in page and f"in {earlier}" not in page


def week(days_ago: int) -> str:
    year, number, _ = (dt.date.today() - dt.timedelta(days=days_ago)).isocalendar()
    return f"{year}-W{number:02d}"


def test_a_kpi_finding_is_notified_to_the_forum_of_each_tier_it_reaches_once(client, make_user):
    admin, reviewer, owner = make_user("client_admin"), make_user("risk_reviewer"), make_user("provider_admin")
    weekly_member, monthly_member = make_user("provider_contributor"), make_user("risk_reviewer")
    engagement = create_accepted_engagement(admin, {
        "name": "Cards contact centre", "provider": "BPO A", "frameworks": ["CONTRACT", "CPS230"], "place": "NSW",
        "timezone": "Australia/Sydney", "start_date": (dt.date.today() - dt.timedelta(days=100)).isoformat()})
    tick(now=utcnow())
    for tier, member in (("operational", weekly_member), ("performance", monthly_member)):
        forum = Forum.get(Forum.engagement == engagement.id, Forum.tier == tier)
        assert client.patch(f"/api/v1/forums/{forum.id}", json={"members": [member.email]},
                            headers=bearer(admin)).status_code == 200
    assert client.post(f"/api/v1/engagements/{engagement.id}/kpis", headers=bearer(admin),
                       json={"template": "SL-80-20", "provider_owner": owner.email}).status_code == 201
    submitted = client.post(f"/api/v1/engagements/{engagement.id}/kpi-results", headers=bearer(weekly_member),
                            json={"results": [{"kpi": "SL-80-20", "period": week(30), "value": "70"},
                                              {"kpi": "SL-80-20", "period": week(23), "value": "74.9"}]})
    assert submitted.status_code == 201, submitted.get_json()
    for item in submitted.get_json()["items"]:
        assert client.post(f"/api/v1/kpi-results/{item['id']}/review", json={"decision": "accept"},
                           headers=bearer(reviewer)).status_code == 200
    finding = Finding.get(Finding.source == "kpi", Finding.engagement == engagement.id)

    def told(tier: str) -> set[int]:
        return {n.user_id for n in Notification.select().where(
            Notification.kind == "kpi_escalated_forum", Notification.object_id == finding.id,
            Notification.occasion == tier)}

    tick(now=utcnow())
    assert told("operational") == {weekly_member.id} and told("performance") == set()
    tick(now=utcnow() + dt.timedelta(days=12))  # no plan in 5 business days: up a tier, its forum told
    assert KpiEscalation.get(KpiEscalation.finding == finding.id).tier == "performance"
    assert told("performance") == {monthly_member.id} and told("operational") == {weekly_member.id}
    moved = Notification.select().where(Notification.kind == "kpi_escalated", Notification.object_id == finding.id)
    assert {n.user_id for n in moved} == {owner.id}  # the ladder itself tells the KPI's owner, not everyone
    count = Notification.select().where(Notification.kind == "kpi_escalated_forum").count()
    tick(now=utcnow() + dt.timedelta(days=12, minutes=5))
    assert Notification.select().where(Notification.kind == "kpi_escalated_forum").count() == count  # once a tier
