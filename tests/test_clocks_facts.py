"""Facts that emerge later (PATCH /incidents/<id>), clocks that do not apply (not-required) and the NDB
assessment when the provider found the breach (SPEC §2 Clock, §5): the worked examples, through the API."""
from __future__ import annotations

import datetime as dt

import pytest

from models import AuditEvent, Clock, Engagement, Finding, Incident, Pack
from services.alerts.scheduler import tick
from services.auditors import packs
from services.auditors.oscal import validate
from tests.conftest import accept_invitation, bearer, login
from tests.test_incident_pages import token
from tests.test_incidents import NOW, ago, clocks_of, iso
from tests.test_openapi import Contract
from tests.test_openapi import spec as spec  # noqa: F401 (the fixture)


def z(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def bank(client, make_user):
    """An engagement in scope of CPS 234, CPS 230 and the Privacy Act, a token for each side and a stranger."""
    admin = make_user("client_admin")
    response = client.post("/api/v1/engagements", headers=bearer(admin), json={
        "name": "Facts centre", "provider": "BPO A", "frameworks": ["CPS234", "CPS230", "PRIVACY-AU"],
        "place": "NSW", "timezone": "Australia/Sydney", "start_date": "2026-01-01"})
    assert response.status_code == 201, response.get_json()
    accept_invitation(client, response.get_json()["id"], make_user("provider_admin"))
    return {"engagement": response.get_json()["id"], "admin": bearer(admin), "risk": bearer(make_user("risk_reviewer")),
            "provider": bearer(make_user("provider_contributor")),
            "stranger": bearer(make_user("risk_reviewer", org="Bank B"))}


def record(client, bank, who="risk", **body) -> dict:
    data = {"title": "Phishing compromise", "category": "security_incident", "occurred_at": ago(hours=50),
            "aware_at": ago(hours=40), "aware_party": "client", "flags": []} | body
    response = client.post(f"/api/v1/engagements/{bank['engagement']}/incidents", headers=bank[who], json=data)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def provider_breach(client, bank, found: dt.datetime) -> dict:
    return record(client, bank, who="provider", aware_party="provider", category="personal_information_breach",
                  flags=["personal_information"], aware_at=iso(found), occurred_at=iso(found - dt.timedelta(hours=2)))


def patch(client, bank, incident: dict, who="risk", **body):
    return client.patch(f"/api/v1/incidents/{incident['id']}", headers=bank[who], json=body)


def test_materiality_established_30_hours_after_awareness_starts_the_apra_clocks_from_then(client, bank, spec):
    aware = NOW - dt.timedelta(hours=40)
    incident = record(client, bank, aware_at=iso(aware))
    assert not {"CPS234-35", "CPS230-INCIDENT"} & set(clocks_of(incident))
    established = aware + dt.timedelta(hours=30)
    response = patch(client, bank, incident, flags=["material"], established_at=iso(established))
    body = Contract(spec).check(response, "patch", "/api/v1/incidents/{incident_id}")
    assert body["flags"]["material"] is True
    for rule in ("CPS234-35", "CPS230-INCIDENT"):
        clock = clocks_of(body)[rule]
        assert clock["state"] == "running" and clock["started_at"] == z(established), rule
        assert clock["deadline_at"] == z(established + dt.timedelta(hours=72))
        assert "72 elapsed hours" in clock["basis"] and "materiality established" in clock["basis"]
        assert "after the client's awareness" in clock["basis"]
    # the same change again (a double submit) starts nothing twice
    assert patch(client, bank, incident, flags=["material"], established_at=iso(established)).status_code == 200
    assert Clock.select().where(Clock.incident == incident["id"]).count() == 2
    event = AuditEvent.get(AuditEvent.action == "incident.update")
    assert "material" in event.details and "established_at" in event.details


def test_a_fact_established_before_the_providers_notice_starts_its_clock_at_the_notice(client, bank):
    found = NOW - dt.timedelta(hours=20)
    incident = record(client, bank, who="provider", aware_party="provider", aware_at=iso(found),
                      occurred_at=iso(found - dt.timedelta(hours=1)))
    body = patch(client, bank, incident, who="provider", flags=["material"],
                 established_at=iso(found + dt.timedelta(hours=1))).get_json()
    assert clocks_of(body)["CPS234-35"]["state"] == "pending"  # the client does not know yet
    told = NOW - dt.timedelta(hours=10)
    client.post(f"/api/v1/incidents/{incident['id']}/clocks/CONTRACT-NOTICE/notice", headers=bank["provider"],
                json={"notified_at": iso(told)})
    apra = clocks_of(client.get(f"/api/v1/incidents/{incident['id']}", headers=bank["risk"]).get_json())["CPS234-35"]
    assert apra["state"] == "running" and apra["started_at"] == z(told)


def test_the_oaic_told_starts_cps234_35_under_para_35b(client, bank):
    incident = record(client, bank, category="personal_information_breach", flags=["personal_information"])
    assert "CPS234-35" not in clocks_of(incident)  # not material
    base = f"/api/v1/incidents/{incident['id']}"
    concluded = NOW - dt.timedelta(hours=30)
    assert client.post(f"{base}/assessment", headers=bank["risk"],
                       json={"concluded_at": iso(concluded), "eligible": True}).status_code == 200
    told = NOW - dt.timedelta(hours=20)
    response = client.post(f"{base}/clocks/NDB-NOTIFY/notice", headers=bank["risk"], json={"notified_at": iso(told)})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["flags"]["notified_other_regulator"] is True
    apra = clocks_of(body)["CPS234-35"]
    assert apra["state"] == "running" and apra["started_at"] == z(told)
    assert apra["deadline_at"] == z(told + dt.timedelta(hours=72)) and "35(b)" in apra["basis"]


def test_a_privacy_breach_material_for_cps234_but_not_cps230_closes_cps230_incident_with_no_finding(client, bank):
    incident = record(client, bank, category="personal_information_breach", flags=["material", "personal_information"],
                      aware_at=ago(hours=80), occurred_at=ago(hours=81))
    url = f"/api/v1/incidents/{incident['id']}/clocks/CPS230-INCIDENT/not-required"
    reason = "Materiality assessment: no material financial or critical-operations impact (CPS 230 para 33)"
    response = client.post(url, headers=bank["risk"], json={"reason": reason})
    assert response.status_code == 200, response.get_json()
    closed = clocks_of(response.get_json())["CPS230-INCIDENT"]
    assert closed["state"] == "not_required" and closed["reason"] == reason
    assert clocks_of(response.get_json())["CPS234-35"]["state"] == "running"
    tick(now=NOW + dt.timedelta(minutes=1))  # both deadlines have passed
    states = {c.rule_id: c.state for c in Clock.select().where(Clock.incident == incident["id"])}
    assert states["CPS230-INCIDENT"] == "not_required" and states["CPS234-35"] == "breached"
    rules = {f.clock.rule_id for f in Finding.select().where(Finding.clock.is_null(False))}
    assert rules == {"CPS234-35"}  # the breached clock raised one; the one not required none
    assert AuditEvent.select().where(AuditEvent.action == "clock.not_required").count() == 1


def test_bad_not_required_requests_are_refused_and_change_nothing(client, bank):
    incident = record(client, bank, flags=["material"])
    base = f"/api/v1/incidents/{incident['id']}/clocks"
    good = {"reason": "not material for CPS 230 para 33"}
    client.post(f"{base}/CPS234-35/notice", headers=bank["risk"], json={"notified_at": ago(hours=1)})
    cases = [
        ("CPS230-INCIDENT", "risk", {}, 422),  # no reason
        ("CPS230-INCIDENT", "risk", {"reason": "   "}, 422),
        ("CPS230-INCIDENT", "provider", good, 404),  # the client's call
        ("CPS230-INCIDENT", "stranger", good, 404),  # another tenant: as if missing
        ("CPS234-35", "risk", good, 409),  # already met
        ("NO-SUCH-RULE", "risk", good, 404),
        ("NDB-ASSESS", "risk", good, 404),  # this incident has no such clock
    ]
    for rule, who, body, status in cases:
        response = client.post(f"{base}/{rule}/not-required", headers=bank[who], json=body)
        assert response.status_code == status, (rule, who, body, response.get_json())
    assert {c.rule_id: c.state for c in Clock.select()} == {"CPS234-35": "met", "CPS230-INCIDENT": "running"}
    stranger = client.post(f"{base}/CPS230-INCIDENT/not-required", headers=bank["stranger"], json=good)
    missing = client.post("/api/v1/incidents/999999/clocks/CPS230-INCIDENT/not-required", headers=bank["risk"],
                          json=good)
    assert stranger.status_code == missing.status_code == 404 and stranger.get_json() == missing.get_json()
    assert AuditEvent.select().where(AuditEvent.action == "clock.not_required").count() == 0


def test_a_breached_clock_cannot_be_closed_as_not_required(client, bank):
    incident = record(client, bank, flags=["material"], aware_at=ago(hours=80), occurred_at=ago(hours=81))
    tick(now=NOW + dt.timedelta(minutes=1))
    response = client.post(f"/api/v1/incidents/{incident['id']}/clocks/CPS230-INCIDENT/not-required",
                           headers=bank["risk"], json={"reason": "too late to say"})
    assert response.status_code == 409 and Clock.get(Clock.rule_id == "CPS230-INCIDENT").state == "breached"


def test_bad_fact_changes_are_refused_and_change_nothing(client, bank):
    incident = record(client, bank, flags=["material"])
    cases = [
        ({"flags": ["outside_tolerance"]}, "outside_tolerance_at"),
        ({"flags": ["cannot_remediate_timely"], "established_at": ago(hours=41)}, "established_at"),  # before aware
        ({"flags": ["personal_information"], "established_at": iso(NOW + dt.timedelta(hours=2))}, "established_at"),
        ({"flags": {"material": False}}, "reason"),  # a removal without its reason
        ({"flags": ["loud"]}, "flags"),
        ({"flags": "material"}, "flags"),
        ({"outside_tolerance_at": ago(hours=3)}, "outside_tolerance_at"),
        ({"category": "card_data_compromise"}, "category"),  # not a fact that emerges later
        ({"title": " "}, "title"),
    ]
    before = (Clock.select().count(), AuditEvent.select().count())
    for body, field in cases:
        response = patch(client, bank, incident, **body)
        assert response.status_code == 422, (body, response.get_json())
        assert response.get_json()["error"]["field"] == field, body
    removal = {"flags": {"material": False}, "reason": "not material after all"}
    assert patch(client, bank, incident, who="provider", **removal).status_code == 404  # corrections: the client
    assert patch(client, bank, incident, who="stranger", flags=["personal_information"]).status_code == 404
    assert (Clock.select().count(), AuditEvent.select().count()) == before
    assert Incident.get_by_id(incident["id"]).material is True


def test_a_removed_flag_is_an_audited_correction_and_its_clocks_stay_as_not_required(client, bank):
    incident = record(client, bank, flags=["material"])
    response = patch(client, bank, incident, flags={"material": False}, reason="Logged as material by mistake")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["flags"]["material"] is False
    for rule in ("CPS234-35", "CPS230-INCIDENT"):
        clock = clocks_of(body)[rule]
        assert clock["state"] == "not_required" and clock["reason"] == "correction: Logged as material by mistake"
    event = AuditEvent.get(AuditEvent.action == "incident.correct")
    assert "Logged as material by mistake" in event.details and "material" in event.details


def test_a_provider_found_breach_assessed_before_its_notice_meets_ndb_assess(client, bank):
    found = NOW - dt.timedelta(hours=30)
    incident = provider_breach(client, bank, found)
    base = f"/api/v1/incidents/{incident['id']}"
    concluded = found + dt.timedelta(hours=4)
    told = found + dt.timedelta(hours=20)
    assert client.post(f"{base}/clocks/CONTRACT-NOTICE/notice", headers=bank["provider"],
                       json={"notified_at": iso(told)}).status_code == 200
    response = client.post(f"{base}/assessment", headers=bank["risk"],
                           json={"concluded_at": iso(concluded), "eligible": False, "summary": "no serious harm"})
    assert response.status_code == 200, response.get_json()
    assess = clocks_of(response.get_json())["NDB-ASSESS"]
    assert assess["started_at"] == z(told)  # the client learnt of it at the notice
    assert assess["state"] == "met" and assess["met_at"] == z(concluded)  # concluded before that: met all the same
    tick(now=NOW + dt.timedelta(days=40))
    assert Clock.get(Clock.rule_id == "NDB-ASSESS").state == "met"


def test_a_provider_bound_by_the_privacy_act_has_its_own_assessment_clock_met_by_one_assessment(client, bank):
    Engagement.update(provider_privacy_act=True).where(Engagement.id == bank["engagement"]).execute()
    found = NOW - dt.timedelta(hours=30)
    incident = provider_breach(client, bank, found)
    rules = clocks_of(incident)
    own = rules["NDB-ASSESS-PROVIDER"]
    assert own["state"] == "running" and own["started_at"] == z(found)  # the provider's own awareness
    assert rules["NDB-ASSESS"]["state"] == "pending"  # the client's duty waits for the notice
    response = client.post(f"/api/v1/incidents/{incident['id']}/assessment", headers=bank["provider"],
                           json={"concluded_at": ago(hours=2), "eligible": False})
    assert response.status_code == 200, response.get_json()
    rules = clocks_of(response.get_json())
    assert rules["NDB-ASSESS-PROVIDER"]["state"] == rules["NDB-ASSESS"]["state"] == "met"  # s 26WJ


def test_without_the_setting_the_provider_has_no_assessment_clock_of_its_own(client, bank):
    incident = record(client, bank, who="provider", aware_party="provider", category="personal_information_breach",
                      flags=["personal_information"])
    assert "NDB-ASSESS-PROVIDER" not in clocks_of(incident)


def test_ndb_assess_across_the_april_daylight_saving_change_ends_at_local_midnight_of_the_30th_day(client, bank):
    # aware 10:00 AEDT on Friday 20 March 2026; Sydney returns to AEST (UTC+10) on Sunday 5 April
    incident = record(client, bank, category="personal_information_breach", flags=["personal_information"],
                      occurred_at="2026-03-20T08:00:00+11:00", aware_at="2026-03-20T10:00:00+11:00")
    assess = clocks_of(incident)["NDB-ASSESS"]
    assert assess["deadline_local"] == "2026-04-19T23:59:59+10:00"  # 30 days after 20 March, day 1 = 21 March
    assert assess["deadline_at"] == "2026-04-19T13:59:59Z"
    assert "Acts Interpretation Act 1901 s 36" in assess["calendar"]


def test_the_incident_page_adds_facts_closes_a_clock_as_not_required_and_oscal_carries_the_reason(client, bank,
                                                                                                     make_user):
    incident = record(client, bank, category="personal_information_breach", flags=["personal_information"])
    risk = make_user("risk_reviewer", email="pages@bank-a.test")
    login(client, risk)
    page = client.get(f"/incidents/{incident['id']}").get_data(as_text=True)
    assert "Facts established later" in page
    added = client.post(f"/incidents/{incident['id']}/facts", data={"csrf_token": token(page), "flags": ["material"]})
    assert added.status_code == 302, added.get_data(as_text=True)
    reason = "Not material for CPS 230 para 33: no financial or critical-operations impact"
    closed = client.post(f"/incidents/{incident['id']}/clocks/CPS230-INCIDENT/not-required",
                         data={"csrf_token": token(page), "reason": reason})
    assert closed.status_code == 302, closed.get_data(as_text=True)
    page = client.get(f"/incidents/{incident['id']}").get_data(as_text=True)
    assert f"Not required: {reason}" in page and "badge-clock-not_required" in page
    refused = client.post(f"/incidents/{incident['id']}/clocks/CPS230-INCIDENT/not-required",
                          data={"csrf_token": token(page), "reason": reason})
    assert refused.status_code == 409 and "cannot be closed as not required" in refused.get_data(as_text=True)
    oscal = client.get(f"/api/v1/engagements/{bank['engagement']}/oscal", headers=bank["risk"]).get_json()
    validate(oscal)
    observations = [o for r in oscal["assessment-results"]["results"] for o in r.get("observations", [])]
    assert [o["title"] for o in observations] == ["CPS230-INCIDENT not required"]
    assert reason in observations[0]["description"]


def test_the_pack_shows_a_clock_not_required_with_its_reason(client, bank):
    incident = record(client, bank, flags=["material"])
    reason = "No material financial or critical-operations impact (CPS 230 para 33)"
    client.post(f"/api/v1/incidents/{incident['id']}/clocks/CPS230-INCIDENT/not-required", headers=bank["risk"],
                json={"reason": reason})
    response = client.post(f"/api/v1/engagements/{bank['engagement']}/packs", headers=bank["risk"], json={
        "frameworks": ["CPS230"], "period_start": "2026-01-01", "period_end": NOW.date().isoformat()})
    assert response.status_code == 202, response.get_json()
    html = packs.render_html(packs.gather(Pack.get_by_id(response.get_json()["id"])), "0" * 64)
    assert f"not_required</strong>: {reason}" in html
