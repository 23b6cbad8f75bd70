"""Editing an engagement and its Statement of Applicability: every change re-plans
the schedule without losing history — requests in the past or with evidence stay, future (upcoming)
requests that no longer apply are retired (kept, never deleted) and come back if they apply again."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from conftest import bearer, login

from models import Applicability, AuditEvent, Control, Engagement, EvidenceRequest, utcnow
from services.alerts.scheduler import tick
from services.register.engagements import create_accepted_engagement

FRAMEWORKS = ["ISO27001-2022", "CPS234", "PCIDSS-4.0.1"]


@pytest.fixture
def setup(make_user):
    admin = make_user("client_admin")
    engagement = create_accepted_engagement(admin, {"name": "Inbound", "provider": "BPO A", "frameworks": FRAMEWORKS,
                                           "place": "NSW", "start_date": "2025-07-01", "card_payments": True})
    return admin, engagement, bearer(admin)


def statuses(engagement) -> dict[int, str]:
    return dict(EvidenceRequest.select(EvidenceRequest.id, EvidenceRequest.status)
                .where(EvidenceRequest.engagement == engagement.id).tuples())


def requests_of(engagement, **where):
    query = EvidenceRequest.select().where(EvidenceRequest.engagement == engagement.id)
    for field, value in where.items():
        query = query.where(getattr(EvidenceRequest, field) == value)
    return query


def patch(client, headers, engagement, **body):
    return client.patch(f"/api/v1/engagements/{engagement.id}", json=body, headers=headers)


def last_event(action: str) -> AuditEvent:
    return AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id.desc()).first()


def test_settings_change_and_are_audited_with_old_and_new_values(client, setup):
    admin, engagement, headers = setup
    response = patch(client, headers, engagement, contract_ref="MSA-2025-07", contract_notice_hours=12, grace_days=10)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["contract_ref"], body["contract_notice_hours"], body["grace_days"]) == ("MSA-2025-07", 12, 10)
    event = last_event("engagement.update")
    assert event.actor_email == admin.email and event.engagement_id == engagement.id
    assert json.loads(event.details)["changes"]["grace_days"] == [5, 10]
    again = AuditEvent.select().count()
    assert patch(client, headers, engagement, grace_days=10).status_code == 200
    assert AuditEvent.select().count() == again  # nothing changed, nothing recorded


def test_an_earlier_end_date_retires_future_requests_and_a_later_one_brings_them_back(client, setup):
    _admin, engagement, headers = setup
    before = statuses(engagement)
    upcoming = {i for i, s in before.items() if s == "upcoming"}
    assert upcoming
    today = utcnow().date()
    response = patch(client, headers, engagement, end_date=(today + dt.timedelta(days=1)).isoformat())
    assert response.status_code == 200, response.get_json()
    after = statuses(engagement)
    assert set(after) == set(before), "nothing is deleted"
    assert all(after[i] == before[i] for i in before if before[i] != "upcoming"), "history is untouched"
    retired = {i for i, s in after.items() if s == "retired"}
    assert retired and retired <= upcoming
    assert all(r.period_start > today + dt.timedelta(days=1) for r in requests_of(engagement, status="retired"))
    assert not requests_of(engagement).where(EvidenceRequest.status != "retired",
                                             EvidenceRequest.period_end > today + dt.timedelta(days=1)).exists()
    assert tick().created == 0  # the scheduler agrees: nothing to add after the end
    assert json.loads(last_event("engagement.update").details)["requests"]["retired"] == len(retired)
    # the requests list leaves retired requests out unless asked for
    listed = client.get(f"/api/v1/engagements/{engagement.id}/requests?per_page=1", headers=headers).get_json()
    assert listed["total"] == len(after) - len(retired)
    asked = client.get(f"/api/v1/engagements/{engagement.id}/requests?status=retired&per_page=1", headers=headers)
    assert asked.get_json()["total"] == len(retired)
    assert patch(client, headers, engagement, end_date=None).status_code == 200
    back = statuses(engagement)
    assert set(back) == set(before) and not any(s == "retired" for s in back.values())


def test_an_end_date_before_accepted_evidence_is_refused_and_changes_nothing(client, setup):
    _admin, engagement, headers = setup
    latest = requests_of(engagement).order_by(EvidenceRequest.period_start.desc()).first()
    first = requests_of(engagement).order_by(EvidenceRequest.period_start).first()
    EvidenceRequest.update(status="accepted").where(EvidenceRequest.id == latest.id).execute()
    before = statuses(engagement)
    cut = (latest.period_start - dt.timedelta(days=1)).isoformat()
    response = patch(client, headers, engagement, end_date=cut, grace_days=9)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["field"] == "end_date" and "already submitted or accepted" in error["message"]
    assert statuses(engagement) == before
    row = Engagement.get_by_id(engagement.id)
    assert row.end_date is None and row.grace_days == 5
    assert patch(client, headers, engagement, end_date=(first.period_start - dt.timedelta(days=400)).isoformat()
                 ).status_code == 422  # before the start


@pytest.mark.parametrize("body, field", [
    ({"grace_days": -1}, "grace_days"), ({"grace_days": "lots"}, "grace_days"), ({"grace_days": True}, "grace_days"),
    ({"contract_notice_hours": 0}, "contract_notice_hours"), ({"frameworks": []}, "frameworks"),
    ({"frameworks": ["NOPE"]}, "frameworks"), ({"start_date": "2025-01-01"}, "start_date"),
    ({"end_date": "2025-13-01"}, "end_date"), ({"name": "Inb\u200bound"}, "name"), ({"card_payments": "maybe"},
                                                                                    "card_payments"),
    ({"contract_ref": "A\u202eB"}, "contract_ref"),
])
def test_bad_engagement_changes_are_refused(client, setup, body, field):
    _admin, engagement, headers = setup
    before = statuses(engagement)
    response = patch(client, headers, engagement, **body)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["field"] == field
    assert statuses(engagement) == before


def test_only_the_client_admin_of_the_engagement_edits_it(client, setup, make_user):
    _admin, engagement, _headers = setup
    for user in (make_user("risk_reviewer"), make_user("provider_admin"), make_user("client_admin", org="Bank B")):
        assert patch(client, bearer(user), engagement, grace_days=1).status_code == 404
        assert client.patch(f"/api/v1/engagements/{engagement.id}/applicability/AC-01", json={"applicable": True},
                            headers=bearer(user)).status_code == 404
    assert Engagement.get_by_id(engagement.id).grace_days == 5


def _pci_only_control(engagement) -> Applicability:
    """A control applicable only because PCI DSS is in scope (its upcoming requests go when PCI goes)."""
    from domain.applicability import EngagementScope, decide
    from services.register.engagements import control_facts
    without = EngagementScope(frozenset(FRAMEWORKS) - {"PCIDSS-4.0.1"}, True, False)
    for control_id, (_control, facts) in control_facts().items():
        row = Applicability.get(Applicability.engagement == engagement.id, Applicability.control == control_id)
        if row.applicable and not decide(facts, without)[0] and requests_of(engagement, control=control_id,
                                                                              status="upcoming").exists():
            return row
    raise AssertionError("the library has no PCI-only control with upcoming requests")


def test_taking_a_framework_out_of_scope_retires_its_future_requests_and_keeps_hand_edits(client, setup):
    _admin, engagement, headers = setup
    pci = _pci_only_control(engagement)
    past = {r.id: r.status for r in requests_of(engagement, control=pci.control_id) if r.status != "upcoming"}
    response = patch(client, headers, engagement, frameworks=["ISO27001-2022", "CPS234"])
    assert response.status_code == 200 and response.get_json()["frameworks"] == ["CPS234", "ISO27001-2022"]
    assert not Applicability.get_by_id(pci.id).applicable
    mine = {r.id: r.status for r in requests_of(engagement, control=pci.control_id)}
    assert {i: s for i, s in mine.items() if i in past} == past
    assert {s for i, s in mine.items() if i not in past} == {"retired"}
    # back in scope: applicable again, the retired requests return
    assert patch(client, headers, engagement, frameworks=FRAMEWORKS).status_code == 200
    assert Applicability.get_by_id(pci.id).applicable
    assert "retired" not in {r.status for r in requests_of(engagement, control=pci.control_id)}


def soa_patch(client, headers, engagement, code, **body):
    return client.patch(f"/api/v1/engagements/{engagement.id}/applicability/{code}", json=body, headers=headers)


def test_marking_a_control_not_applicable_needs_a_justification_and_retires_its_future(client, setup, make_user):
    admin, engagement, headers = setup
    row = Applicability.select(Applicability, Control).join(Control).where(
        Applicability.engagement == engagement.id, Applicability.applicable == True).first()  # noqa: E712
    code = row.control.code
    assert requests_of(engagement, control=row.control_id, status="upcoming").exists()
    before = statuses(engagement)
    refused = soa_patch(client, headers, engagement, code, applicable=False)
    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "justification"
    assert soa_patch(client, headers, engagement, code, applicable=False, justification="   ").status_code == 422
    assert statuses(engagement) == before and Applicability.get_by_id(row.id).applicable
    done = soa_patch(client, headers, engagement, code, applicable=False,
                     justification="Covered by the client's own SOC; no agents in scope.")
    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert body["applicable"] is False and body["edited_by"] == admin.email and body["edited_at"]
    assert {r.status for r in requests_of(engagement, control=row.control_id)} - set(before.values()) <= {"retired"}
    assert not requests_of(engagement, control=row.control_id, status="upcoming").exists()
    assert tick().created == 0
    event = last_event("applicability.update")
    assert event.object_id == code and json.loads(event.details)["changes"]["applicable"] == [True, False]
    # a framework change later keeps the hand-made decision
    assert client.patch(f"/api/v1/engagements/{engagement.id}", json={"card_payments": not engagement.card_payments},
                        headers=headers).status_code == 200
    assert not Applicability.get_by_id(row.id).applicable
    again = soa_patch(client, headers, engagement, code, applicable=True)
    assert again.status_code == 200 and again.get_json()["applicable"] is True
    assert "retired" not in {r.status for r in requests_of(engagement, control=row.control_id)}
    # the SoA page shows who changed what and when
    login(client, admin)
    page = client.get(f"/engagements/{engagement.id}/soa").get_data(as_text=True)
    assert "Changes" in page and admin.email in page and code in page


def test_frequency_override_first_due_date_and_owner(client, setup, make_user):
    _admin, engagement, headers = setup
    agent = make_user("provider_contributor")
    outsider = make_user("risk_reviewer", org="Bank B")
    row = Applicability.select(Applicability, Control).join(Control).where(
        Applicability.engagement == engagement.id, Applicability.applicable == True,  # noqa: E712
        Control.frequency == "P1Y").first()
    code = row.control.code
    before = statuses(engagement)
    for bad in ("P0M", "monthly", "RRULE:FREQ=HOURLY", "RRULE:FREQ=MONTHLY;COUNT=3", "P1M\u200b"):
        response = soa_patch(client, headers, engagement, code, frequency_override=bad)
        assert response.status_code == 422 and response.get_json()["error"]["field"] == "frequency_override", bad
    assert soa_patch(client, headers, engagement, code, owner=outsider.email).status_code == 422
    assert soa_patch(client, headers, engagement, code, first_due_date="2020-01-01").status_code == 422
    assert soa_patch(client, headers, engagement, code, colour="red").status_code == 422
    assert statuses(engagement) == before
    upcoming_before = list(requests_of(engagement, control=row.control_id, status="upcoming"))
    done = soa_patch(client, headers, engagement, code, frequency_override="P1M", owner=agent.email)
    assert done.status_code == 200, done.get_json()
    assert (done.get_json()["frequency"], done.get_json()["owner"]) == ("P1M", agent.email)
    for r in upcoming_before:  # the next yearly period is no longer planned: retired, kept
        assert EvidenceRequest.get_by_id(r.id).status == "retired"
    current_period = max(requests_of(engagement, control=row.control_id).where(EvidenceRequest.status != "retired"),
                         key=lambda r: r.period_start)
    assert (current_period.period_end - current_period.period_start).days > 300, "the running year is history"
    # once the running period is over, the schedule goes on monthly
    later = dt.datetime.combine(current_period.period_end + dt.timedelta(days=40), dt.time(12))
    assert tick(later).created > 0
    monthly = requests_of(engagement, control=row.control_id).where(
        EvidenceRequest.period_start > current_period.period_end)
    assert monthly.count() >= 2 and all((r.period_end - r.period_start).days < 31 for r in monthly)
    assert not monthly.where(EvidenceRequest.status == "retired").exists()
    assert soa_patch(client, headers, engagement, code, frequency_override=None).get_json()["frequency"] == "P1Y"


def test_unknown_controls_404(client, setup):
    _admin, engagement, headers = setup
    assert soa_patch(client, headers, engagement, "NOPE-99", applicable=True).status_code == 404
