"""Optional reporting regimes (SPEC §5): SOCI Act cyber-incident reports (s 30BC 12 h, s 30BD 72 h) and ransomware
payment reports (Cyber Security Act 2024 s 27, 72 h), switched on per engagement; off, their flags start nothing."""
from __future__ import annotations

import datetime as dt

import pytest

from models import AuditEvent, Engagement
from tests.conftest import bearer, login
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
