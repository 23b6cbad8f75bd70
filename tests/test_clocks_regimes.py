"""Optional reporting regimes (SPEC §5): SOCI Act cyber-incident reports (s 30BC 12 h, s 30BD 72 h) and ransomware
payment reports (Cyber Security Act 2024 s 27, 72 h), switched on per engagement; off, their flags start nothing."""
from __future__ import annotations

import datetime as dt

import pytest

from models import AuditEvent, Engagement, EngagementFramework, Framework
from tests.conftest import bearer, login
from tests.fixtures.rights import make_grant
from tests.test_clocks_facts import z
from tests.test_incident_pages import token
from tests.test_incidents import NOW, clocks_of, iso

REGIMES = {"soci_reporting": {"soci_significant": ("SOCI-30BC", 12), "soci_relevant": ("SOCI-30BD", 72)},
           "ransomware_reporting": {"ransom_paid": ("RANSOMWARE-PAYMENT", 72)}}


@pytest.fixture
def bank(client, make_user):
    admin = make_user("client_admin")
    response = client.post("/api/v1/engagements", headers=bearer(admin), json={
        "name": "Grid centre", "provider": "BPO A", "frameworks": ["CPS234"], "place": "NSW",
        "timezone": "Australia/Sydney", "start_date": "2026-01-01"})
    assert response.status_code == 201, response.get_json()
    return {"engagement": response.get_json()["id"], "admin": bearer(admin), "risk": bearer(make_user("risk_reviewer"))}


def settings(client, bank, **body):
    return client.post(f"/api/v1/engagements/{bank['engagement']}/clock-settings", headers=bank["admin"], json=body)


def incident(client, bank, flags: list[str], aware: dt.datetime) -> dict:
    response = client.post(f"/api/v1/engagements/{bank['engagement']}/incidents", headers=bank["risk"], json={
        "title": "Ransomware on the dialler", "category": "security_incident", "aware_party": "client",
        "occurred_at": iso(aware - dt.timedelta(hours=1)), "aware_at": iso(aware), "flags": flags})
    assert response.status_code == 201, response.get_json()
    return clocks_of(response.get_json())


def test_off_by_default_the_flags_start_no_clock(client, bank):
    body = client.get(f"/api/v1/engagements/{bank['engagement']}/clock-settings", headers=bank["admin"]).get_json()
    assert body["soci_reporting"] is False and body["ransomware_reporting"] is False
    started = incident(client, bank, ["soci_significant", "soci_relevant", "ransom_paid"], NOW - dt.timedelta(hours=1))
    assert not {"SOCI-30BC", "SOCI-30BD", "RANSOMWARE-PAYMENT"} & set(started)


@pytest.mark.parametrize("setting", REGIMES)
def test_on_each_flag_starts_its_clock_from_the_clients_awareness(client, bank, setting):
    response = settings(client, bank, **{setting: True})
    assert response.status_code == 200 and response.get_json()[setting] is True
    aware = NOW - dt.timedelta(hours=2)
    for flag, (rule, hours) in REGIMES[setting].items():
        clock = incident(client, bank, [flag], aware)[rule]
        assert clock["state"] == "running" and clock["started_at"] == z(aware)
        assert clock["deadline_at"] == z(aware + dt.timedelta(hours=hours))
        assert f"{hours}" in clock["basis"]


def test_the_other_regime_stays_off(client, bank):
    settings(client, bank, soci_reporting=True)
    started = incident(client, bank, ["ransom_paid", "soci_relevant"], NOW - dt.timedelta(hours=1))
    assert "SOCI-30BD" in started and "RANSOMWARE-PAYMENT" not in started


def test_the_notice_warning_counts_the_12_hour_soci_clock_only_when_on(client, bank):
    warning = settings(client, bank, contract_notice_hours=16).get_json()["warning"]
    assert warning is None  # CPS 234 35 (72 h) is the shortest without SOCI
    warning = settings(client, bank, soci_reporting=True).get_json()["warning"]
    assert "SOCI-30BC: 12 hours" in warning and "(16 hours)" in warning
    assert settings(client, bank, contract_notice_hours=8).get_json()["warning"] is None


@pytest.mark.parametrize("value", ["maybe", 2, [True], {"on": True}])
def test_a_setting_that_is_not_a_boolean_is_refused_and_changes_nothing(client, bank, value):
    before = AuditEvent.select().count()
    response = settings(client, bank, soci_reporting=value, contract_notice_hours=8)
    assert response.status_code == 422
    assert "soci_reporting" in str(response.get_json())
    engagement = Engagement.get_by_id(bank["engagement"])
    assert engagement.soci_reporting is False and engagement.contract_notice_hours == 24
    assert AuditEvent.select().count() == before


def test_a_flag_established_later_starts_the_soci_clock_from_then(client, bank):
    settings(client, bank, soci_reporting=True)
    aware = NOW - dt.timedelta(hours=10)
    started = incident(client, bank, [], aware)
    assert "SOCI-30BC" not in started
    listed = client.get(f"/api/v1/engagements/{bank['engagement']}/incidents", headers=bank["risk"]).get_json()
    established = aware + dt.timedelta(hours=4)
    response = client.patch(f"/api/v1/incidents/{listed['items'][0]['id']}", headers=bank["risk"],
                            json={"flags": ["soci_significant"], "established_at": iso(established)})
    assert response.status_code == 200, response.get_json()
    clock = clocks_of(response.get_json())["SOCI-30BC"]
    assert clock["started_at"] == z(established) and clock["deadline_at"] == z(established + dt.timedelta(hours=12))


def test_the_settings_form_switches_both_regimes(client, bank, make_user):
    login(client, make_user("client_admin", email="regimes@bank-a.test"))
    page = client.get(f"/engagements/{bank['engagement']}/incidents").get_data(as_text=True)
    form = {"csrf_token": token(page), "contract_notice_hours": "8", "pci_acquirer_hours": "24",
            "pci_brand_target_hours": "0", "soci_reporting": "1", "ransomware_reporting": "1"}
    assert client.post(f"/engagements/{bank['engagement']}/clock-settings", data=form).status_code == 302
    engagement = Engagement.get_by_id(bank["engagement"])
    assert engagement.soci_reporting and engagement.ransomware_reporting
    page = client.get(f"/engagements/{bank['engagement']}/incidents").get_data(as_text=True)
    assert 'name="soci_reporting" value="1" checked' in page and 'name="ransomware_reporting" value="1" checked' in page


# ------------------------------------------------- the regimes are frameworks of their own, in scope only when on

def patch_engagement(client, bank, **body):
    return client.patch(f"/api/v1/engagements/{bank['engagement']}", headers=bank["admin"], json=body)


def framework_codes(bank) -> list[str]:
    return sorted(code for (code,) in EngagementFramework.select(Framework.code).join(Framework)
                  .where(EngagementFramework.engagement == bank["engagement"]).tuples())


@pytest.mark.parametrize("setting, code", [("soci_reporting", "SOCI"), ("ransomware_reporting", "CSA-2024")])
def test_a_regimes_framework_is_in_scope_only_while_the_regime_is_on(client, bank, setting, code):
    refused = patch_engagement(client, bank, frameworks=["CPS234", code])
    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "frameworks"
    assert f"{code} applies only where" in refused.get_json()["error"]["message"]
    assert framework_codes(bank) == ["CPS234"]
    assert settings(client, bank, **{setting: True}).status_code == 200
    assert patch_engagement(client, bank, frameworks=["CPS234", code]).status_code == 200
    assert framework_codes(bank) == sorted(["CPS234", code])
    off = settings(client, bank, **{setting: False})  # the framework's grants and packs rest on it
    assert off.status_code == 422 and off.get_json()["error"]["field"] == setting
    assert code in off.get_json()["error"]["message"]
    assert getattr(Engagement.get_by_id(bank["engagement"]), setting) is True
    assert patch_engagement(client, bank, frameworks=["CPS234"]).status_code == 200
    assert settings(client, bank, **{setting: False}).status_code == 200


def test_a_new_engagement_cannot_take_a_regime_or_the_card_brands_without_its_setting(client, bank):
    base = {"provider": "BPO A", "place": "NSW", "timezone": "Australia/Sydney", "start_date": "2026-01-01"}
    for name, frameworks, extra in (("Grid two", ["CPS234", "SOCI"], {}), ("Cards", ["CARD-BRANDS"], {}),
                                    ("Cards off", ["PCIDSS-4.0.1", "CARD-BRANDS"], {"card_payments": False})):
        response = client.post("/api/v1/engagements", headers=bank["admin"],
                               json={**base, "name": name, "frameworks": frameworks, **extra})
        assert response.status_code == 422 and response.get_json()["error"]["field"] == "frameworks", name
    assert Engagement.select().count() == 1
    cards = client.post("/api/v1/engagements", headers=bank["admin"], json={
        **base, "name": "Cards", "frameworks": ["PCIDSS-4.0.1", "CARD-BRANDS"], "card_payments": True})
    assert cards.status_code == 201, cards.get_json()
    off = client.patch(f"/api/v1/engagements/{cards.get_json()['id']}", headers=bank["admin"],
                       json={"card_payments": False})
    assert off.status_code == 422 and off.get_json()["error"]["field"] == "card_payments"
    assert Engagement.get_by_id(cards.get_json()["id"]).card_payments is True


def test_a_cps234_auditor_does_not_see_the_soci_clocks(client, bank, make_user):
    assert settings(client, bank, soci_reporting=True, ransomware_reporting=True).status_code == 200
    assert patch_engagement(client, bank, frameworks=["CPS234", "SOCI", "CSA-2024"]).status_code == 200
    started = incident(client, bank, ["material", "soci_relevant", "ransom_paid"], NOW - dt.timedelta(hours=1))
    assert {"CPS234-35", "SOCI-30BD", "RANSOMWARE-PAYMENT"} <= set(started)
    engagement = Engagement.get_by_id(bank["engagement"])
    seen = {}
    for frameworks in (["CPS234"], ["SOCI"]):
        auditor = make_user("auditor")
        make_grant(auditor, engagement, frameworks)
        body = client.get(f"/api/v1/engagements/{engagement.id}/incidents", headers=bearer(auditor)).get_json()
        seen[frameworks[0]] = {c["rule"] for i in body["items"] for c in i["clocks"]}
    assert "CPS234-35" in seen["CPS234"] and not {"SOCI-30BD", "RANSOMWARE-PAYMENT"} & seen["CPS234"]
    assert seen["SOCI"] == {"SOCI-30BD"}
