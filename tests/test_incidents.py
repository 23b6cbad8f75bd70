"""Incidents and their clocks through the API (SPEC §2 Incident/Clock, §4, §5), with the worked examples."""
from __future__ import annotations

import datetime as dt

import pytest

from models import AuditEvent, Clock, Engagement, Evidence, EvidenceRequest, Incident
from tests.conftest import accept_invitation, bearer
from tests.test_openapi import Contract
from tests.test_openapi import spec as spec  # noqa: F401 (the fixture)

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def iso(value: dt.datetime) -> str:
    return value.isoformat()


def ago(**delta) -> str:
    return iso(NOW - dt.timedelta(**delta))


@pytest.fixture
def setup(client, make_user):
    """An engagement of Bank A with BPO A, and a token for each side."""
    admin = make_user("client_admin")
    headers = bearer(admin)
    response = client.post("/api/v1/engagements", headers=headers, json={
        "name": "Incident centre", "provider": "BPO A", "frameworks": ["CPS234"],
        "place": "NSW", "timezone": "Australia/Sydney", "start_date": "2026-01-01", "card_payments": True})
    assert response.status_code == 201, response.get_json()
    accept_invitation(client, response.get_json()["id"], make_user("provider_admin"))
    provider = make_user("provider_contributor")
    return {"engagement": response.get_json()["id"], "client": headers, "admin": admin,
            "risk": headers, "provider": bearer(provider)}


def record(client, setup, who="risk", **body):
    data = {"title": "Phishing compromise", "category": "security_incident", "occurred_at": ago(hours=5),
            "aware_at": ago(hours=4), "aware_party": "client", "flags": ["material"]} | body
    return client.post(f"/api/v1/engagements/{setup['engagement']}/incidents", headers=setup[who], json=data)


def clocks_of(body: dict) -> dict[str, dict]:
    return {c["rule"]: c for c in body["clocks"]}


def test_a_client_found_material_security_incident_starts_apra_clocks_from_aware_at(client, setup, spec):
    response = record(client, setup)
    assert response.status_code == 201, response.get_json()
    body = Contract(spec).check(response, "post", "/api/v1/engagements/{engagement_id}/incidents")
    rules = clocks_of(body)
    assert "CONTRACT-NOTICE" not in rules  # the client found it: no provider notice is owed
    apra = rules["CPS234-35"]
    aware = NOW - dt.timedelta(hours=4)
    assert apra["state"] == "running" and apra["started_at"] == aware.isoformat().replace("+00:00", "Z")
    assert apra["deadline_at"] == (aware + dt.timedelta(hours=72)).isoformat().replace("+00:00", "Z")
    assert apra["deadline_local"].endswith(("+10:00", "+11:00")) and "72 elapsed hours" in apra["basis"]
    got = client.get(f"/api/v1/incidents/{body['id']}", headers=setup["provider"])
    assert Contract(spec).check(got, "get", "/api/v1/incidents/{incident_id}")["clocks"] == body["clocks"]
    assert AuditEvent.select().where(AuditEvent.action == "incident.create").count() == 1


def test_a_72_hour_clock_across_the_october_dst_change_through_the_api(client, setup):
    # aware 09:00 AEST on Saturday 3 October 2026; Sydney moves to AEDT on Sunday 4 October
    body = record(client, setup, occurred_at="2026-10-03T08:00:00+10:00", aware_at="2026-10-03T09:00:00+10:00")
    assert body.status_code == 201, body.get_json()
    apra = clocks_of(body.get_json())["CPS234-35"]
    assert apra["deadline_at"] == "2026-10-05T23:00:00Z"
    assert apra["deadline_local"] == "2026-10-06T10:00:00+11:00"


BAD_INCIDENTS = [
    ({"aware_at": "2026-01-01T09:00:00+11:00", "occurred_at": "2026-01-02T09:00:00+11:00"}, "aware_at"),
    ({"aware_at": "2026-01-02T09:00:00"}, "aware_at"),  # no offset
    ({"occurred_at": "yesterday"}, "occurred_at"),
    ({"aware_at": iso(NOW + dt.timedelta(days=2))}, "aware_at"),
    ({"category": "alien_invasion"}, "category"),
    ({"aware_party": "regulator"}, "aware_party"),
    ({"flags": ["material", "loud"]}, "flags"),
    ({"flags": {"material": "yes"}}, "flags"),
    ({"flags": ["outside_tolerance"]}, "outside_tolerance_at"),
    ({"outside_tolerance_at": ago(hours=3)}, "outside_tolerance_at"),
    ({"title": "  "}, "title"),
    ({"title": "bad\u202etitle"}, "title"),
]


def test_bad_incidents_are_refused_with_the_field_and_change_nothing(client, setup):
    for change, field in BAD_INCIDENTS:
        response = record(client, setup, **change)
        assert response.status_code == 422, (change, response.get_json())
        assert response.get_json()["error"]["field"] == field, change
    assert Incident.select().count() == 0 and Clock.select().count() == 0


def test_incidents_of_other_tenants_are_not_found(client, setup, make_user):
    incident = record(client, setup).get_json()
    stranger = bearer(make_user("risk_reviewer", org="Bank B"))
    assert client.get(f"/api/v1/incidents/{incident['id']}", headers=stranger).status_code == 404
    assert record(client, setup | {"stranger": stranger}, who="stranger").status_code == 404
    notice = client.post(f"/api/v1/incidents/{incident['id']}/clocks/CPS234-35/notice", headers=stranger,
                         json={"notified_at": ago(hours=1)})
    assert notice.status_code == 404


def test_a_notice_meets_the_clock_with_its_evidence_and_bad_notices_change_nothing(client, setup):
    incident = record(client, setup).get_json()
    url = f"/api/v1/incidents/{incident['id']}/clocks/CPS234-35/notice"
    for body, field in (({"notified_at": ago(hours=6)}, "notified_at"),  # before the clock started
                        ({"notified_at": iso(NOW + dt.timedelta(hours=3))}, "notified_at"),
                        ({"notified_at": "2026-01-01T10:00:00"}, "notified_at"),
                        ({"notified_at": ago(hours=1), "evidence_id": 999999}, "evidence_id")):
        response = client.post(url, headers=setup["risk"], json=body)
        assert response.status_code == 422 and response.get_json()["error"]["field"] == field, body
    assert Clock.get(Clock.rule_id == "CPS234-35").state == "running"
    assert client.post(f"/api/v1/incidents/{incident['id']}/clocks/NO-RULE/notice", headers=setup["risk"],
                       json={"notified_at": ago(hours=1)}).status_code == 404
    evidence = _evidence(setup["engagement"])
    response = client.post(url, headers=setup["risk"], json={"notified_at": ago(hours=1), "evidence_id": evidence})
    assert response.status_code == 200, response.get_json()
    apra = clocks_of(response.get_json())["CPS234-35"]
    assert apra["state"] == "met" and apra["notice_evidence_id"] == evidence
    assert client.post(url, headers=setup["risk"], json={"notified_at": ago(hours=1)}).status_code == 422
    # a regulator notice is the client's to record
    assert client.post(url, headers=setup["provider"], json={"notified_at": ago(hours=1)}).status_code == 404


def _evidence(engagement_id: int) -> int:
    request = EvidenceRequest.select().where(EvidenceRequest.engagement == engagement_id).first()
    return Evidence.create(request=request, engagement=engagement_id, sha256="0" * 64, original_filename="apra.pdf",
                           media_type="application/pdf", size=10, effective_date=NOW.date()).id


def test_the_tick_breaches_a_late_clock(client, setup):
    from services.alerts.scheduler import tick
    record(client, setup)
    clock = Clock.get(Clock.rule_id == "CPS234-35")
    tick(now=clock.deadline_at + dt.timedelta(seconds=1))
    assert Clock.get_by_id(clock.id).state == "breached"


def test_engagement_clock_settings_and_the_notice_warning(client, setup, spec):
    url = f"/api/v1/engagements/{setup['engagement']}/clock-settings"
    body = Contract(spec).check(client.get(url, headers=setup["provider"]), "get",
                                "/api/v1/engagements/{engagement_id}/clock-settings")
    assert body["contract_notice_hours"] == 24 and body["pci_acquirer_hours"] == 24
    assert body["provider_awareness_is_client"] is False
    # the notice feeds the clocks that run from the client's awareness (72 h here); PCI-BRAND runs from the
    # earliest awareness and the tolerance clock from the event, so neither is compared with it
    assert body["warning"] is None
    slow = client.post(url, headers=setup["client"], json={"contract_notice_hours": 72}).get_json()
    assert "not shorter than the shortest regulatory clock that runs from the client's awareness" in slow["warning"]
    assert ": 72 hours)" in slow["warning"]
    changed = client.post(url, headers=setup["client"], json={"contract_notice_hours": 4, "pci_acquirer_hours": 12})
    body = Contract(spec).check(changed, "post", "/api/v1/engagements/{engagement_id}/clock-settings")
    assert body["contract_notice_hours"] == 4 and body["warning"] is None
    assert client.post(url, headers=setup["client"], json={"contract_notice_hours": 0}).status_code == 422
    assert client.post(url, headers=setup["provider"], json={"contract_notice_hours": 48}).status_code == 404
    assert Engagement.get_by_id(setup["engagement"]).contract_notice_hours == 4


def test_a_provider_found_incident_starts_apra_clocks_at_the_providers_notice(client, setup):
    """Two tiers (obligations.md §0, SPEC §5): CPS 234 para 35 runs from the regulated entity's awareness."""
    found = NOW - dt.timedelta(hours=10)
    body = record(client, setup, who="provider", aware_party="provider", aware_at=iso(found),
                  occurred_at=iso(found - dt.timedelta(hours=1))).get_json()
    rules = clocks_of(body)
    assert rules["CONTRACT-NOTICE"]["state"] == "running"
    assert rules["CONTRACT-NOTICE"]["deadline_at"] == iso(found + dt.timedelta(hours=24)).replace("+00:00", "Z")
    assert rules["CPS234-35"]["state"] == "pending" and rules["CPS234-35"]["deadline_at"] is None
    assert body["client_aware_at"] is None
    told = NOW - dt.timedelta(hours=2)
    response = client.post(f"/api/v1/incidents/{body['id']}/clocks/CONTRACT-NOTICE/notice", headers=setup["provider"],
                           json={"notified_at": iso(told)})
    assert response.status_code == 200, response.get_json()
    after = response.get_json()
    rules = clocks_of(after)
    assert rules["CONTRACT-NOTICE"]["state"] == "met"
    assert after["client_aware_at"] == iso(told).replace("+00:00", "Z")
    apra = rules["CPS234-35"]
    assert apra["state"] == "running" and apra["started_at"] == iso(told).replace("+00:00", "Z")
    assert apra["deadline_at"] == iso(told + dt.timedelta(hours=72)).replace("+00:00", "Z")
    assert "from the provider's notice to the client" in apra["basis"]


def test_an_engagement_may_treat_the_providers_awareness_as_the_clients(client, setup):
    Engagement.update(provider_awareness_is_client=True).where(Engagement.id == setup["engagement"]).execute()
    found = NOW - dt.timedelta(hours=10)
    body = record(client, setup, who="provider", aware_party="provider", aware_at=iso(found),
                  occurred_at=iso(found - dt.timedelta(hours=1))).get_json()
    apra = clocks_of(body)["CPS234-35"]
    assert apra["state"] == "running" and apra["started_at"] == iso(found).replace("+00:00", "Z")
    assert "treated as the client's" in apra["basis"]


def test_cps234_35_also_starts_for_an_incident_notified_to_another_regulator(client, setup):
    """CPS 234 para 35(b): an incident notified to another regulator (e.g. the OAIC) is notifiable, material or not."""
    other = record(client, setup, category="personal_information_breach",
                   flags={"notified_other_regulator": True, "personal_information": True}).get_json()
    assert other["flags"]["notified_other_regulator"] is True
    assert clocks_of(other)["CPS234-35"]["state"] == "running"
    minor = record(client, setup, flags=[]).get_json()
    assert "CPS234-35" not in clocks_of(minor)
    weakness = record(client, setup, category="control_weakness", flags=["notified_other_regulator"]).get_json()
    assert "CPS234-35" not in clocks_of(weakness)  # a control weakness is para 36's, not an incident


def test_the_tolerance_clock_runs_24_hours_from_outside_tolerance_at(client, setup):
    """CPS 230 para 42: 24 hours after the critical operation went outside tolerance, not after awareness."""
    outage = NOW - dt.timedelta(hours=30)
    outside = NOW - dt.timedelta(hours=20)
    body = record(client, setup, category="operational_disruption", occurred_at=iso(outage),
                  aware_at=iso(NOW - dt.timedelta(hours=6)), flags=["outside_tolerance"],
                  outside_tolerance_at=iso(outside)).get_json()
    tolerance = clocks_of(body)["CPS230-TOLERANCE"]
    assert tolerance["started_at"] == iso(outside).replace("+00:00", "Z")
    assert tolerance["deadline_at"] == iso(outside + dt.timedelta(hours=24)).replace("+00:00", "Z")
    assert body["outside_tolerance_at"] == iso(outside).replace("+00:00", "Z")
    assert "outside tolerance" in tolerance["basis"]


def _breach(client, setup, **body):
    return record(client, setup, category="personal_information_breach", flags=["personal_information"],
                  **body).get_json()


def test_an_eligible_assessment_starts_the_ndb_notice_clock_from_its_conclusion(client, setup, spec):
    """s 26WH allows 30 days to assess; s 26WK/26WL run once it concludes the breach is eligible."""
    body = _breach(client, setup)
    rules = clocks_of(body)
    assert rules["NDB-ASSESS"]["state"] == "running" and "30 calendar days" in rules["NDB-ASSESS"]["basis"]
    assert "NDB-NOTIFY" not in rules  # no duty to notify before the assessment
    concluded = NOW - dt.timedelta(hours=1)
    response = client.post(f"/api/v1/incidents/{body['id']}/assessment", headers=setup["risk"],
                           json={"concluded_at": iso(concluded), "eligible": True, "summary": "Serious harm likely"})
    after = Contract(spec).check(response, "post", "/api/v1/incidents/{incident_id}/assessment")
    rules = clocks_of(after)
    assert rules["NDB-ASSESS"]["state"] == "met"
    notify = rules["NDB-NOTIFY"]
    assert notify["started_at"] == iso(concluded).replace("+00:00", "Z") and notify["deadline_at"] is None
    assert notify["target_at"] == iso(concluded + dt.timedelta(hours=72)).replace("+00:00", "Z")
    assert after["assessment"] == {"concluded_at": iso(concluded).replace("+00:00", "Z"), "eligible": True,
                                   "summary": "Serious harm likely"}
    again = client.post(f"/api/v1/incidents/{body['id']}/assessment", headers=setup["risk"],
                        json={"concluded_at": iso(concluded), "eligible": False})
    assert again.status_code == 409


def test_an_ineligible_assessment_meets_ndb_assess_and_starts_nothing(client, setup):
    body = _breach(client, setup)
    response = client.post(f"/api/v1/incidents/{body['id']}/assessment", headers=setup["risk"],
                           json={"concluded_at": ago(hours=1), "eligible": False})
    rules = clocks_of(response.get_json())
    assert rules["NDB-ASSESS"]["state"] == "met" and "NDB-NOTIFY" not in rules


def test_bad_assessments_are_refused_and_change_nothing(client, setup):
    security = record(client, setup).get_json()
    response = client.post(f"/api/v1/incidents/{security['id']}/assessment", headers=setup["risk"],
                           json={"concluded_at": ago(hours=1), "eligible": True})
    assert response.status_code == 422  # not a personal-information breach
    breach = _breach(client, setup)
    url = f"/api/v1/incidents/{breach['id']}/assessment"
    for body, field in (({"concluded_at": ago(hours=1), "eligible": "yes"}, "eligible"),
                        ({"concluded_at": ago(hours=9), "eligible": True}, "concluded_at"),  # before aware_at
                        ({"concluded_at": "2026-01-01T10:00", "eligible": True}, "concluded_at")):
        response = client.post(url, headers=setup["risk"], json=body)
        assert response.status_code == 422 and response.get_json()["error"]["field"] == field, body
    assert Incident.get_by_id(breach["id"]).assessment_concluded_at is None
    assert not Clock.select().where(Clock.rule_id == "NDB-NOTIFY").exists()


@pytest.mark.parametrize("category", ["personal_information_breach", "card_data_compromise"])
def test_cps230_incident_covers_material_pi_breaches_and_card_data_compromises(client, setup, category):
    """CPS 230 para 33: a material operational risk incident, whatever its kind."""
    body = record(client, setup, category=category, flags=["material"]).get_json()
    assert clocks_of(body)["CPS230-INCIDENT"]["state"] == "running"
    assert "CPS230-INCIDENT" not in clocks_of(record(client, setup, category=category, flags=[]).get_json())


def test_pci_brand_keeps_the_acquirers_hours_per_engagement_and_shows_visa_and_mastercard(client, setup):
    """Brand rules (obligations.md §4, ◐): Visa 'immediately', Mastercard about 24 hours, the acquirer's period."""
    Engagement.update(pci_acquirer_hours=12).where(Engagement.id == setup["engagement"]).execute()
    body = record(client, setup, category="card_data_compromise", flags=["card_data"]).get_json()
    brand = clocks_of(body)["PCI-BRAND"]
    started = dt.datetime.fromisoformat(brand["started_at"])
    assert dt.datetime.fromisoformat(brand["deadline_at"]) - started == dt.timedelta(hours=12)
    assert brand["target_at"] == brand["started_at"]  # Visa: immediately
    assert "Visa: immediately" in brand["note"] and "Mastercard: about 24 hours" in brand["note"]
    assert brand["basis"].startswith("12 elapsed hours")
