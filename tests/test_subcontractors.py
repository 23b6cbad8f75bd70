"""The service provider register: proposal, the client's decision, the APRA offshoring gate, the clocks,
the APP 8 cross-border recipients and the derived offshore flag."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from domain.errors import Conflict, ValidationError
from domain.subcontractors import TRANSITIONS, check_decision, country_codes
from domain.timeutil import local
from models import Applicability, AuditEvent, Clock, Control, Engagement, EvidenceRequest, Subcontractor, utcnow
from services.alerts.scheduler import tick
from services.register import subcontractors as register
from services.register.engagements import create_accepted_engagement
from tests.conftest import bearer

FRAMEWORKS = ["CPS230", "PRIVACY-AU", "CONTRACT", "ISO27001-2022"]
OFFSHORE_SITE = {"name": "Manila Overflow Services", "services": ["After-hours overflow"],
                 "critical_operations": ["Customer enquiries"], "countries": ["ph", "AU"],
                 "data_categories": ["Customer name", "Account number"], "material": True,
                 "personal_information": True, "agreement_date": "2026-12-21"}
ONSHORE_TOOL = {"name": "Roster Tools", "services": ["Workforce management"], "countries": ["AU"]}


@pytest.fixture
def parties(make_user):
    client_admin, provider_admin = make_user("client_admin"), make_user("provider_admin")
    engagement = create_accepted_engagement(client_admin, {
        "name": "Cards contact centre", "provider": "BPO A", "frameworks": FRAMEWORKS, "place": "NSW",
        "timezone": "Australia/Sydney", "start_date": "2026-01-01"})
    return {"engagement": engagement, "client": bearer(client_admin), "provider": bearer(provider_admin),
            "reviewer": bearer(make_user("risk_reviewer")), "client_admin": client_admin,
            "provider_admin": provider_admin}


def propose(client, parties, body, who="provider"):
    return client.post(f"/api/v1/engagements/{parties['engagement'].id}/subcontractors", json=body,
                       headers=parties[who])


def decide(client, parties, sub_id, body, who="client"):
    return client.post(f"/api/v1/subcontractors/{sub_id}/decision", json=body, headers=parties[who])


def error(response, status, field=None):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()["error"]
    assert body["message"]
    if field:
        assert body.get("field") == field, body
    return body


# --------------------------------------------------------------------------- domain rules

def test_state_machine_is_proposed_then_final():
    assert {"proposed": {"approved", "rejected"}, "approved": set(), "rejected": set()} == TRANSITIONS
    base = {"reason": "ok", "offshore": False, "apra_notified_on": None}
    assert check_decision(status="proposed", side="client", decision="approve", **base) == "approved"
    with pytest.raises(ValidationError):
        check_decision(status="proposed", side="provider", decision="approve", **base)
    with pytest.raises(Conflict):
        check_decision(status="rejected", side="client", decision="approve", **base)
    with pytest.raises(Conflict):
        check_decision(status="proposed", side="client", decision="approve", reason="ok", offshore=True,
                       apra_notified_on=None)
    assert check_decision(status="proposed", side="client", decision="approve", reason="ok", offshore=True,
                          apra_notified_on=dt.date(2026, 1, 5)) == "approved"


@pytest.mark.parametrize("bad", [["XX"], ["Australia"], ["A"], ["ÅU"], [], "", [7], ["UK"]])
def test_unknown_country_codes_are_refused(bad):
    with pytest.raises(ValidationError) as info:
        country_codes(bad)
    assert info.value.field == "countries"


def test_country_codes_are_normalised():
    assert country_codes(["au", " PH", "AU"]) == ["AU", "PH"]


# --------------------------------------------------------------------------- API

def test_provider_proposes_and_material_offshore_starts_the_prior_notice_clock(client, parties):
    response = propose(client, parties, OFFSHORE_SITE)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["status"], body["countries"], body["offshore"], body["material"]) == \
        ("proposed", ["PH", "AU"], True, True)
    assert [(c["rule"], c["state"]) for c in body["clocks"]] == [("CONTRACT-SUBCON", "running")]
    assert AuditEvent.select().where(AuditEvent.action == "subcontractor.propose").count() == 1
    onshore = propose(client, parties, ONSHORE_TOOL).get_json()
    assert onshore["clocks"] == [] and onshore["offshore"] is False
    listed = client.get(f"/api/v1/engagements/{parties['engagement'].id}/subcontractors",
                        headers=parties["client"]).get_json()
    assert [s["name"] for s in listed["items"]] == ["Manila Overflow Services", "Roster Tools"]


@pytest.mark.parametrize("body, field", [
    ({**ONSHORE_TOOL, "countries": ["ZZ"]}, "countries"),
    ({**ONSHORE_TOOL, "countries": "Australia"}, "countries"),
    ({**ONSHORE_TOOL, "services": []}, "services"),
    ({**ONSHORE_TOOL, "name": "Roster\u202eTools"}, "name"),
    ({**ONSHORE_TOOL, "material": "maybe"}, "material"),
    ({**ONSHORE_TOOL, "agreement_date": "21/12/2026"}, "agreement_date"),
    ({**ONSHORE_TOOL, "personal_information": True}, "personal_information_detail"),
])
def test_bad_proposals_are_refused_and_change_nothing(client, parties, body, field):
    error(propose(client, parties, body), 422, field)
    assert Subcontractor.select().count() == 0


def test_only_the_provider_admin_proposes(client, parties):
    error(propose(client, parties, ONSHORE_TOOL, who="client"), 422)
    assert Subcontractor.select().count() == 0


def test_decision_by_a_provider_second_decision_and_missing_reason_are_refused(client, parties):
    sub = propose(client, parties, ONSHORE_TOOL).get_json()
    error(decide(client, parties, sub["id"], {"decision": "approve", "reason": "fine"}, who="provider"), 422,
          "decision")
    error(decide(client, parties, sub["id"], {"decision": "approve", "reason": "fine"}, who="reviewer"), 422,
          "decision")
    error(decide(client, parties, sub["id"], {"decision": "approve", "reason": "  "}), 422, "reason")
    error(decide(client, parties, sub["id"], {"decision": "maybe", "reason": "x"}), 422, "decision")
    assert Subcontractor.get_by_id(sub["id"]).status == "proposed"
    assert not AuditEvent.select().where(AuditEvent.action == "subcontractor.decision").exists()
    rejected = decide(client, parties, sub["id"], {"decision": "reject", "reason": "No DD file"})
    assert rejected.status_code == 200 and rejected.get_json()["status"] == "rejected"
    error(decide(client, parties, sub["id"], {"decision": "approve", "reason": "changed my mind"}), 409, "decision")
    row = Subcontractor.get_by_id(sub["id"])
    assert (row.status, row.decision_reason) == ("rejected", "No DD file")
    assert AuditEvent.select().where(AuditEvent.action == "subcontractor.decision").count() == 1


def test_offshore_needs_the_apra_notice_before_approval_then_everything_follows(client, parties):
    engagement = parties["engagement"]
    sub = propose(client, parties, OFFSHORE_SITE).get_json()
    error(decide(client, parties, sub["id"], {"decision": "approve", "reason": "DD done"}), 409, "apra_notified_on")
    assert Subcontractor.get_by_id(sub["id"]).status == "proposed"
    assert Engagement.get_by_id(engagement.id).offshore is False
    notice = f"/api/v1/subcontractors/{sub['id']}/apra-notice"
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    error(client.post(notice, json={"notified_on": tomorrow}, headers=parties["client"]), 422, "notified_on")
    assert client.post(notice, json={"notified_on": dt.date.today().isoformat()},
                       headers=parties["provider"]).status_code == 404  # only the client records APRA notices
    noted = client.post(notice, json={"notified_on": dt.date.today().isoformat()}, headers=parties["client"])
    assert noted.status_code == 200 and noted.get_json()["apra_notified_on"] == dt.date.today().isoformat()
    approved = decide(client, parties, sub["id"], {"decision": "approve", "reason": "DD and APP 8 clauses done"})
    assert approved.status_code == 200, approved.get_json()
    clocks = {c["rule"]: c for c in approved.get_json()["clocks"]}
    assert clocks["CONTRACT-SUBCON"]["state"] == "met"
    # CPS 230 59(a): 20 NSW business days after 21 Dec 2026 (Christmas, Boxing Day observed, New Year skipped)
    assert clocks["CPS230-ARRANGEMENT"]["deadline_at"] == "2027-01-21T12:59:59Z"
    assert "business" in clocks["CPS230-ARRANGEMENT"]["basis"]
    assert Engagement.get_by_id(engagement.id).offshore is True
    pr01 = Applicability.get(Applicability.engagement == engagement.id,
                             Applicability.control == Control.get(Control.code == "PR-01").id)
    assert pr01.applicable and "service provider register" in pr01.justification
    body = client.get(f"/api/v1/engagements/{engagement.id}", headers=parties["client"]).get_json()
    assert body["offshore"] is True
    recipients = client.get(f"/api/v1/engagements/{engagement.id}/cross-border-recipients",
                            headers=parties["provider"]).get_json()["items"]
    assert [(r["name"], r["countries"]) for r in recipients] == [("Manila Overflow Services", ["PH", "AU"])]
    assert recipients[0]["personal_information"] == "Customer name, Account number"
    steps = recipients[0]["reasonable_steps"]
    # yearly from the approval, on the engagement's own calendar (Sydney's date runs ahead of UTC's)
    approved_on = local(utcnow(), Engagement.get_by_id(engagement.id).timezone).date()
    assert steps and steps[0]["period_start"] == approved_on.isoformat()
    series = EvidenceRequest.select().where(EvidenceRequest.lane == sub["id"])
    assert {r.control.code for r in series} == {"PR-06"}
    before = series.count()
    tick()
    tick()
    assert series.count() == before  # the scheduler keeps the series, never duplicates it


def test_approving_a_material_subcontractor_needs_its_agreement_date(client, parties):
    sub = propose(client, parties, {**ONSHORE_TOOL, "material": True}).get_json()
    error(decide(client, parties, sub["id"], {"decision": "approve", "reason": "ok"}), 422, "agreement_date")
    done = decide(client, parties, sub["id"], {"decision": "approve", "reason": "ok", "agreement_date": "2026-03-02"})
    assert done.status_code == 200
    assert "CPS230-ARRANGEMENT" in {c["rule"] for c in done.get_json()["clocks"]}
    assert Engagement.get_by_id(parties["engagement"].id).offshore is False  # onshore


def test_rejected_offshore_does_not_make_the_engagement_offshore(client, parties):
    sub = propose(client, parties, OFFSHORE_SITE).get_json()
    assert decide(client, parties, sub["id"], {"decision": "reject", "reason": "Not permitted"}).status_code == 200
    assert Engagement.get_by_id(parties["engagement"].id).offshore is False
    assert Clock.get(Clock.subject_id == sub["id"], Clock.rule_id == "CONTRACT-SUBCON").state == "met"


def test_offshore_turned_off_by_the_register_retires_the_offshore_controls_future_requests(make_user):
    """An engagement that was offshore before the flag followed the register, whose register then
    has no approved offshore sub-contractor: the offshore controls stop applying and, as with a Statement of
    Applicability edit, their upcoming requests are retired; the open ones are history and stay."""
    from services.register.engagements import rescope_applicability
    client_admin, provider_admin = make_user("client_admin"), make_user("provider_admin")
    created = dt.datetime(2026, 2, 10, 1, 0)  # 12:00 on 10 February in Sydney
    engagement = create_accepted_engagement(client_admin, {
        "name": "Legacy offshore centre", "provider": "BPO A", "frameworks": FRAMEWORKS, "place": "NSW",
        "timezone": "Australia/Sydney", "start_date": "2026-01-01"}, now=created)
    Engagement.update(offshore=True).where(Engagement.id == engagement.id).execute()
    rescope_applicability(Engagement.get_by_id(engagement.id), set(FRAMEWORKS))
    tick(now=created)
    offshore_controls = [a.control_id for a in Applicability.select().join(Control).where(
        Applicability.engagement == engagement.id, Control.requires == "offshore", Control.frequency != "event")]

    def statuses() -> dict[int, str]:
        return dict(EvidenceRequest.select(EvidenceRequest.id, EvidenceRequest.status).where(
            EvidenceRequest.engagement == engagement.id, EvidenceRequest.control.in_(offshore_controls)).tuples())
    before = statuses()
    upcoming = {i for i, s in before.items() if s == "upcoming"}
    assert upcoming and "open" in before.values()

    decided = created + dt.timedelta(days=2)
    sub = register.propose(provider_admin, engagement.id, ONSHORE_TOOL, now=decided)
    register.decide_on(client_admin, sub.id, {"decision": "approve", "reason": "ok"}, now=decided)

    assert Engagement.get_by_id(engagement.id).offshore is False
    assert not Applicability.select().where(Applicability.control.in_(offshore_controls),
                                            Applicability.applicable == True).exists()  # noqa: E712
    after = statuses()
    assert {i for i, s in after.items() if s == "retired"} == upcoming
    assert {i: s for i, s in after.items() if i not in upcoming} == {i: s for i, s in before.items()
                                                                       if i not in upcoming}
    event = AuditEvent.select().where(AuditEvent.action == "engagement.offshore").order_by(AuditEvent.id.desc()).get()
    assert json.loads(event.details)["requests"]["retired"] == len(upcoming)
    # the next quarter starts: the retired requests are not opened and nothing new is planned for them
    tick(now=dt.datetime(2026, 4, 2, 1, 0))
    later = statuses()
    assert set(later) == set(before) and {i: later[i] for i in upcoming} == dict.fromkeys(upcoming, "retired")


def test_the_register_going_offshore_keeps_a_hand_edited_soa_row(client, parties):
    """An offshore control the client decided by hand keeps that decision when the register makes the
    engagement offshore; the other offshore controls follow the register (as a scope change leaves edited
    rows alone)."""
    from services.register import applicability
    engagement = parties["engagement"]
    offshore_codes = [c.code for c in Control.select().where(Control.requires == "offshore").order_by(Control.code)]
    assert len(offshore_codes) >= 2
    kept = offshore_codes[0]
    applicability.update(parties["client_admin"], engagement.id, kept,
                         {"applicable": False, "justification": "Covered by the group's offshore programme"})
    sub = propose(client, parties, OFFSHORE_SITE).get_json()
    notice = f"/api/v1/subcontractors/{sub['id']}/apra-notice"
    assert client.post(notice, json={"notified_on": dt.date.today().isoformat()},
                       headers=parties["client"]).status_code == 200
    assert decide(client, parties, sub["id"], {"decision": "approve", "reason": "DD done"}).status_code == 200
    assert Engagement.get_by_id(engagement.id).offshore is True
    rows = {a.control.code: a for a in Applicability.select().join(Control).where(
        Applicability.engagement == engagement.id, Control.code.in_(offshore_codes))}
    assert (rows[kept].applicable, rows[kept].justification) == (False, "Covered by the group's offshore programme")
    assert all(rows[code].applicable for code in offshore_codes[1:])


def test_other_tenants_get_404(client, parties, make_user):
    other = bearer(make_user("provider_admin", org="BPO B"))
    other_client = bearer(make_user("client_admin", org="Bank B"))
    sub = propose(client, parties, ONSHORE_TOOL).get_json()
    path = f"/api/v1/engagements/{parties['engagement'].id}/subcontractors"
    assert client.get(path, headers=other).status_code == 404
    assert client.post(path, json=ONSHORE_TOOL, headers=other).status_code == 404
    assert client.post(f"/api/v1/subcontractors/{sub['id']}/decision", json={"decision": "approve", "reason": "x"},
                       headers=other_client).status_code == 404
    assert client.post("/api/v1/subcontractors/99999999/decision", json={"decision": "approve", "reason": "x"},
                       headers=parties["client"]).status_code == 404
    assert Subcontractor.get_by_id(sub["id"]).status == "proposed"


def test_offshore_is_derived_not_typed_in(client, parties):
    response = client.post("/api/v1/engagements", headers=parties["client"], json={
        "name": "Another", "provider": "BPO A", "frameworks": ["CPS230"], "place": "NSW",
        "start_date": "2026-01-01", "offshore": True})
    error(response, 422, "offshore")
    assert not Engagement.select().where(Engagement.name == "Another").exists()


def test_register_as_of_a_date(client, parties):
    sub = propose(client, parties, ONSHORE_TOOL).get_json()
    decide(client, parties, sub["id"], {"decision": "approve", "reason": "ok"})
    engagement = Engagement.get_by_id(parties["engagement"].id)
    today = dt.date.today()
    now = register.register_as_of(engagement, today + dt.timedelta(days=1))
    assert [(e.tier, e.name, e.status) for e in now] == [("provider", "BPO A", "approved"),
                                                        ("subcontractor", "Roster Tools", "approved")]
    Subcontractor.update(decided_at=dt.datetime(2099, 1, 1)).where(Subcontractor.id == sub["id"]).execute()
    assert [e.status for e in register.register_as_of(engagement, today + dt.timedelta(days=1))] == \
        ["approved", "proposed"]  # decided after that day: still proposed then
    assert [e.tier for e in register.register_as_of(engagement, dt.date(2025, 12, 1))] == ["provider"]


def test_register_responses_match_the_openapi_description(client, parties):
    from tests.test_openapi import Contract
    contract = Contract(client.get("/api/v1/openapi.json").get_json())
    engagement = parties["engagement"].id
    path = "/api/v1/engagements/{engagement_id}/subcontractors"
    sub = contract.check(propose(client, parties, OFFSHORE_SITE), "post", path)
    contract.check(propose(client, parties, {**ONSHORE_TOOL, "countries": ["ZZ"]}), "post", path)
    contract.check(client.get(f"/api/v1/engagements/{engagement}/subcontractors", headers=parties["client"]),
                   "get", path)
    decision = "/api/v1/subcontractors/{subcontractor_id}/decision"
    contract.check(decide(client, parties, sub["id"], {"decision": "approve", "reason": "x"}), "post", decision)
    contract.check(client.post(f"/api/v1/subcontractors/{sub['id']}/apra-notice", headers=parties["client"],
                               json={"notified_on": dt.date.today().isoformat()}),
                   "post", "/api/v1/subcontractors/{subcontractor_id}/apra-notice")
    contract.check(decide(client, parties, sub["id"], {"decision": "approve", "reason": "x"}), "post", decision)
    contract.check(decide(client, parties, sub["id"], {"decision": "reject", "reason": "x"}), "post", decision)
    contract.check(client.get(f"/api/v1/engagements/{engagement}/cross-border-recipients", headers=parties["client"]),
                   "get", "/api/v1/engagements/{engagement_id}/cross-border-recipients")
