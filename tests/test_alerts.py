"""What each tick announces and raises: evidence expiry, reminders, overdue,
rejections, clock warnings and breaches, the governance rule; once each, and nothing missed by downtime."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from models import (
    AuditEvent,
    Clock,
    Control,
    Evidence,
    EvidenceRequest,
    Finding,
    Incident,
    Notification,
    OutboxMessage,
    RequestHistory,
)
from services.alerts.scheduler import tick
from services.messages import notifications
from services.register.engagements import create_accepted_engagement

T = dt.datetime
D = dt.date
CREATED = T(2026, 6, 15, 2, 0)


@pytest.fixture
def parties(make_user):
    admin = make_user("client_admin")
    risk = make_user("risk_reviewer")
    provider = make_user("provider_admin")
    engagement = create_accepted_engagement(admin,
            {"name": "Alert centre", "provider": "BPO A", "frameworks": ["ISO27001-2022"],
                                           "place": "NSW", "start_date": "2026-01-01"}, now=CREATED)
    tick(now=CREATED)
    return {"engagement": engagement, "admin": admin, "risk": risk, "provider": provider}


def monthly(engagement, start: D):
    return (EvidenceRequest.select().join(Control)
            .where(EvidenceRequest.engagement == engagement.id, Control.frequency == "P1M",
                   EvidenceRequest.period_start == start))


def kinds(user) -> dict[str, int]:
    out: dict[str, int] = {}
    for n in Notification.select().where(Notification.user == user.id):
        out[n.kind] = out.get(n.kind, 0) + 1
    return out


def evidence_for(request, status="accepted", valid_until=None, reviewed_at=None, version=1):
    return Evidence.create(request=request, engagement=request.engagement_id, sha256="a" * 64,
                           original_filename="report.pdf", media_type="application/pdf", size=10,
                           effective_date=request.period_start, valid_until=valid_until, status=status,
                           reviewed_at=reviewed_at, version=version)


def test_reminders_14_7_and_1_days_before_due_once_each_and_downtime_misses_none(parties):
    engagement, provider = parties["engagement"], parties["provider"]
    july = monthly(engagement, D(2026, 7, 1)).first()  # due 31 July 23:59:59 Sydney = 13:59:59 UTC
    tick(now=T(2026, 7, 18, 0, 0))  # 13.6 days before: the 14-day reminder
    assert Notification.select().where(Notification.object_id == july.id, Notification.user == provider.id,
                                       Notification.occasion == "due-14").count() == 1
    tick(now=T(2026, 7, 18, 0, 0))  # again at the same instant: nothing new
    tick(now=T(2026, 7, 18, 0, 5))
    assert Notification.select().where(Notification.object_id == july.id, Notification.user == provider.id,
                                       Notification.kind == "request_due").count() == 1
    tick(now=T(2026, 7, 31, 12, 0))  # down for 13 days: 7-day and 1-day reminders both caught up
    occasions = {n.occasion for n in Notification.select().where(Notification.object_id == july.id,
                                                                  Notification.kind == "request_due",
                                                                  Notification.user == provider.id)}
    assert occasions == {"due-14", "due-7", "due-1"}
    assert not Notification.select().where(Notification.user == parties["risk"].id,
                                           Notification.kind == "request_due").exists()


def test_an_overdue_request_notifies_once_and_two_missed_periods_raise_a_governance_finding(parties):
    engagement = parties["engagement"]
    tick(now=T(2026, 8, 10))  # July's monthly requests are past due + 5 days grace
    july = monthly(engagement, D(2026, 7, 1)).first()
    assert EvidenceRequest.get_by_id(july.id).status == "overdue"
    overdue = Notification.select().where(Notification.kind == "request_overdue", Notification.object_id == july.id)
    assert {n.user_id for n in overdue} >= {parties["provider"].id, parties["risk"].id}
    count = overdue.count()
    tick(now=T(2026, 8, 11))
    assert overdue.count() == count
    # June was overdue too (created on 15 June, never evidenced): two consecutive periods missed
    governance = Finding.select().where(Finding.source == "governance")
    assert governance.count() >= 1
    finding = governance.where(Finding.key.contains(f":{july.control_id}:2026-07-01")).get()
    assert finding.owner_id == parties["provider"].id and finding.severity == "high"
    assert finding.due_date == D(2026, 8, 17)  # 5 NSW business days after Monday 10 August (local)
    before = Finding.select().count()
    tick(now=T(2026, 8, 12))
    assert Finding.select().count() == before


# periods whose request falls overdue between 15 June and 9 August after an overdue one, by frequency (the
# engagements start on 1 January and are created on 15 June with every period so far overdue)
MISSED_TWICE = {"P1M": [D(2026, 6, 1), D(2026, 7, 1)], "P3M": [D(2026, 4, 1)], "P90D": [D(2026, 4, 1)]}
DOWN_UNTIL = T(2026, 8, 9, 15, 0)  # Monday 10 August 01:00 in Sydney, still Sunday 9 August (23:00) in Perth


@pytest.fixture
def three_engagements(parties, make_user):
    """The parties' engagement (Sydney, BPO A) and two more created the same day: one in Perth with its own
    provider (a contributor registered before the admin), a SoA owner on one control and one monthly
    control evidenced in May; one in Sydney whose July finding for a monthly control was raised already."""
    from services.incidents.findings import raise_finding
    from services.register import applicability as soa
    admin, provider = parties["admin"], parties["provider"]
    make_user("provider_contributor", org="BPO B")
    perth_admin = make_user("provider_admin", org="BPO B")
    perth = create_accepted_engagement(admin,
            {"name": "Perth centre", "provider": "BPO B", "frameworks": ["ISO27001-2022"],
                                      "place": "WA", "timezone": "Australia/Perth", "start_date": "2026-01-01"},
                              now=CREATED)
    sydney = create_accepted_engagement(admin, {"name": "Second centre", "provider": "BPO A",
                                       "frameworks": ["ISO27001-2022"], "place": "NSW", "start_date": "2026-01-01"},
                               now=CREATED)
    monthly_controls = sorted({r.control_id for r in monthly(perth, D(2026, 5, 1))})
    quarterly = Control.select().where(Control.frequency == "P3M", Control.id.in_(
        EvidenceRequest.select(EvidenceRequest.control).where(EvidenceRequest.engagement == perth.id))).first()
    soa.update(admin, perth.id, quarterly.code, {"owner": parties["risk"].email}, now=CREATED)
    EvidenceRequest.update(status="accepted").where(EvidenceRequest.engagement == perth.id,
                                                    EvidenceRequest.control == monthly_controls[0],
                                                    EvidenceRequest.period_start == D(2026, 5, 1)).execute()
    earlier = raise_finding(sydney, source="manual", title="Raised earlier", now=CREATED,
                            key=f"missed:{sydney.id}:{monthly_controls[1]}:2026-07-01")
    return {"engagements": [parties["engagement"], perth, sydney], "perth": perth, "sydney": sydney,
            "evidenced": monthly_controls[0], "raised": (earlier, monthly_controls[1]), "owned": quarterly,
            "owned_by": parties["risk"].id,
            "owners": {parties["engagement"].id: provider.id, perth.id: perth_admin.id, sydney.id: provider.id},
            "due": {parties["engagement"].id: D(2026, 8, 17), perth.id: D(2026, 8, 14), sydney.id: D(2026, 8, 17)}}


def test_a_month_of_downtime_raises_the_governance_findings_of_every_engagement_once(three_engagements):
    setup = three_engagements
    perth, (earlier, _control) = setup["perth"], setup["raised"]
    expected = {}
    for engagement in setup["engagements"]:
        for control in Control.select().where(Control.id.in_(EvidenceRequest.select(EvidenceRequest.control).where(
                EvidenceRequest.engagement == engagement.id))):
            for start in MISSED_TWICE.get(control.frequency, []):
                expected[f"missed:{engagement.id}:{control.id}:{start.isoformat()}"] = (
                    engagement.id, control, start)
    del expected[f"missed:{perth.id}:{setup['evidenced']}:2026-06-01"]  # May was evidenced: June is one miss
    assert f"missed:{perth.id}:{setup['evidenced']}:2026-07-01" in expected  # June and July: two
    assert len(expected) > 20

    result = tick(now=DOWN_UNTIL)

    governance = {f.key: f for f in Finding.select().where(Finding.source == "governance")}
    assert set(governance) == set(expected) - {earlier.key}
    assert result.findings == len(governance)
    assert Finding.get_by_id(earlier.id).title == "Raised earlier"  # raised before: left as it was
    owned = f"missed:{perth.id}:{setup['owned'].id}:2026-04-01"
    assert owned in governance
    for key, finding in governance.items():
        engagement_id, control, start = expected[key]
        owner = setup["owned_by"] if key == owned else setup["owners"][engagement_id]
        assert (finding.engagement_id, finding.owner_id, finding.due_date, finding.severity) == \
            (engagement_id, owner, setup["due"][engagement_id], "high"), key
        assert finding.title == f"{control.code} missed in two consecutive periods: corrective action plan due"
        assert f"the latest starting {start.isoformat()}" in finding.description
    assert AuditEvent.select().where(AuditEvent.action == "finding.create").count() == len(governance) + 1
    assert tick(now=DOWN_UNTIL + dt.timedelta(hours=1)).findings == 0


def test_the_governance_rule_looks_up_thousands_of_overdue_requests_in_as_many_statements_as_one(
        three_engagements):
    """A month of downtime makes thousands of requests overdue at once: the rule's look-ups (each one's
    previous period, the findings already raised) do not cost a statement per request."""
    from services.alerts import alerts
    from tests.test_planning import Statements
    tick(now=DOWN_UNTIL)  # every finding raised: what is left is the look-ups
    overdue = alerts._newly_overdue(CREATED, DOWN_UNTIL)
    assert len({r[1] for r in overdue}) == 3 and len(overdue) > 50
    with Statements() as one:
        assert alerts._missed_twice(overdue[:1], DOWN_UNTIL) == 0
    with Statements() as every:
        assert alerts._missed_twice(overdue, DOWN_UNTIL) == 0
    assert every.count == one.count <= 2


def test_expired_evidence_reopens_the_current_request_and_says_so(parties):
    engagement, provider = parties["engagement"], parties["provider"]
    tick(now=T(2026, 7, 2))
    request = monthly(engagement, D(2026, 7, 1)).first()
    EvidenceRequest.update(status="accepted").where(EvidenceRequest.id == request.id).execute()
    item = evidence_for(request, valid_until=D(2026, 7, 20))
    old = monthly(engagement, D(2026, 6, 1)).first()  # an older period: history, not reopened
    EvidenceRequest.update(status="accepted").where(EvidenceRequest.id == old.id).execute()
    old_item = evidence_for(old, valid_until=D(2026, 7, 1))
    result = tick(now=T(2026, 7, 21, 1))
    assert result.expired == 2 and result.reopened == 1
    assert Evidence.get_by_id(item.id).status == "expired" and Evidence.get_by_id(old_item.id).status == "expired"
    assert EvidenceRequest.get_by_id(request.id).status == "open"
    assert EvidenceRequest.get_by_id(old.id).status == "accepted"
    note = Notification.get(Notification.kind == "evidence_expired", Notification.user == provider.id)
    assert note.object_id == request.id and "new evidence" in note.title
    history = (RequestHistory.select()  # the latest move (the scheduler also records its upcoming -> open)
               .where(RequestHistory.request == request.id, RequestHistory.evidence.is_null())
               .order_by(RequestHistory.id.desc()).get())
    assert (history.from_status, history.to_status) == ("accepted", "open") and "new evidence" in history.reason
    audit = AuditEvent.get(AuditEvent.action == "evidence.expire")
    assert {e["id"] for e in json.loads(audit.details)["evidence"]} == {item.id, old_item.id}
    assert tick(now=T(2026, 7, 21, 2)).expired == 0


def test_rejections_notify_the_provider_and_repeated_ones_raise_a_finding(parties):
    engagement, provider = parties["engagement"], parties["provider"]
    request = monthly(engagement, D(2026, 7, 1)).first()
    evidence_for(request, status="rejected", reviewed_at=T(2026, 7, 5), version=1)
    tick(now=T(2026, 7, 5, 1))
    assert kinds(provider).get("evidence_rejected") == 1
    assert not Finding.select().where(Finding.source == "rejection").exists()
    evidence_for(request, status="rejected", reviewed_at=T(2026, 7, 6), version=2)
    tick(now=T(2026, 7, 6, 1))
    assert kinds(provider)["evidence_rejected"] == 2
    assert Finding.select().where(Finding.source == "rejection", Finding.request == request.id).count() == 1


def test_clock_warnings_at_half_time_and_4_hours_left_then_a_breach_raises_a_finding(parties):
    engagement, risk, provider = parties["engagement"], parties["risk"], parties["provider"]
    incident = Incident.create(engagement=engagement, title="Outage", category="operational_disruption",
                               occurred_at=T(2026, 7, 1), aware_at=T(2026, 7, 1), aware_party="client")
    clock = Clock.create(incident=incident, rule_id="CPS230-INCIDENT", started_at=T(2026, 7, 1),
                         deadline_at=T(2026, 7, 4), basis="72 elapsed hours")
    tick(now=T(2026, 7, 1, 1))
    tick(now=T(2026, 7, 2, 13))  # half time was 12:00
    def warnings():  # a fresh query each time (peewee caches an iterated one)
        return Notification.select().where(Notification.kind == "clock_warning", Notification.user == risk.id)
    assert [n.occasion for n in warnings()] == ["half-time"]
    tick(now=T(2026, 7, 3, 21))  # 3 hours left
    assert sorted(n.occasion for n in warnings()) == ["4-hours-left", "half-time"]
    assert not Notification.select().where(Notification.user == provider.id,
                                           Notification.kind == "clock_warning").exists()
    result = tick(now=T(2026, 7, 4, 0, 1))
    assert result.breached == 1 and Clock.get_by_id(clock.id).state == "breached"
    finding = Finding.get(Finding.clock == clock.id)
    assert finding.source == "clock" and finding.incident_id == incident.id and finding.severity == "critical"
    assert kinds(risk).get("clock_breached") == 1
    tick(now=T(2026, 7, 4, 0, 2))
    assert Finding.select().where(Finding.clock == clock.id).count() == 1 and kinds(risk)["clock_breached"] == 1


def test_each_notification_is_queued_as_mail_once_immediately_or_in_a_daily_digest(parties):
    risk, provider = parties["risk"], parties["provider"]
    notifications.set_mode(risk, "digest")
    incident = Incident.create(engagement=parties["engagement"], title="Outage", category="operational_disruption",
                               occurred_at=T(2026, 7, 1), aware_at=T(2026, 7, 1), aware_party="client")
    Clock.create(incident=incident, rule_id="CONTRACT-NOTICE", started_at=T(2026, 7, 1), deadline_at=T(2026, 7, 2),
                 basis="24 elapsed hours")
    tick(now=T(2026, 7, 1, 13))
    mine = OutboxMessage.select().where(OutboxMessage.to == provider.email)
    assert mine.count() == Notification.select().where(Notification.user == provider.id).count() >= 1
    # links use BASE_URL (a fresh query: peewee's first() sets LIMIT 1 on the query it is called on)
    assert "http" in OutboxMessage.select().where(OutboxMessage.to == provider.email).first().body
    digests = OutboxMessage.select().where(OutboxMessage.to == risk.email)
    assert digests.count() == 1 and digests.first().subject.startswith("[Attest] Digest for")
    tick(now=T(2026, 7, 1, 14))
    assert digests.count() == 1
    assert mine.count() == Notification.select().where(Notification.user == provider.id).count()


def test_a_clock_warning_arrives_once_by_real_smtp_with_a_base_url_link(parties, smtp_server, monkeypatch):
    monkeypatch.setenv("SMTP_URL", smtp_server.url)
    monkeypatch.setenv("BASE_URL", "https://attest.example")
    incident = Incident.create(engagement=parties["engagement"], title="Outage", category="operational_disruption",
                               occurred_at=T(2026, 7, 1), aware_at=T(2026, 7, 1), aware_party="client")
    Clock.create(incident=incident, rule_id="CPS230-INCIDENT", started_at=T(2026, 7, 1), deadline_at=T(2026, 7, 4),
                 basis="72 elapsed hours")
    tick(now=T(2026, 7, 1, 1))
    tick(now=T(2026, 7, 2, 13))  # half time
    tick(now=T(2026, 7, 2, 14))
    received = [m for m in smtp_server.wait_for(1) if parties["risk"].email in m["X-Envelope-To"]
                and "CPS230-INCIDENT" in m["Subject"]]
    assert len(received) == 1
    assert f"https://attest.example/incidents/{incident.id}" in received[0].get_content()
