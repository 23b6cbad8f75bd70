"""Card-brand notice (the brands' rules, obligations.md §4 T12): from the earliest awareness on either side,
with the brands' "immediately" as an internal target and one deadline per acquirer."""
from __future__ import annotations

import datetime as dt

from models import Acquirer, AuditEvent, Clock
from tests.conftest import login
from tests.test_clocks_facts import bank as bank  # noqa: F401 (the fixture)
from tests.test_clocks_facts import record, z
from tests.test_incident_pages import token
from tests.test_incidents import NOW, ago, clocks_of, iso
from tests.test_openapi import Contract
from tests.test_openapi import spec as spec  # noqa: F401 (the fixture)


def settings(client, bank, who="admin", **body):
    return client.post(f"/api/v1/engagements/{bank['engagement']}/clock-settings", headers=bank[who], json=body)


def test_a_provider_found_card_compromise_runs_the_brand_clocks_from_the_providers_awareness(client, bank, spec):
    response = settings(client, bank, pci_brand_target_hours=2,
                        acquirers=[{"name": "Westpac Merchant", "hours": 24}, {"name": "Amex", "hours": 48}])
    body = Contract(spec).check(response, "post", "/api/v1/engagements/{engagement_id}/clock-settings")
    assert body["acquirers"] == [{"name": "Amex", "hours": 48}, {"name": "Westpac Merchant", "hours": 24}]
    found = NOW - dt.timedelta(hours=10)
    incident = record(client, bank, who="provider", aware_party="provider", category="card_data_compromise",
                      flags=["card_data", "material"], aware_at=iso(found),
                      occurred_at=iso(found - dt.timedelta(hours=3)))
    brand = {c["acquirer"]: c for c in incident["clocks"] if c["rule"] == "PCI-BRAND"}
    assert set(brand) == {"Westpac Merchant", "Amex"}
    for name, hours in (("Westpac Merchant", 24), ("Amex", 48)):
        clock = brand[name]
        assert clock["state"] == "running" and clock["started_at"] == z(found)  # not waiting for the notice
        assert clock["target_at"] == z(found + dt.timedelta(hours=2))  # the brands' "immediately"
        assert clock["deadline_at"] == z(found + dt.timedelta(hours=hours))
        assert clock["basis"].startswith(f"{hours} elapsed hours for {name}") and "provider awareness" in clock["basis"]
    assert clocks_of(incident)["CPS234-35"]["state"] == "pending"  # regulators: from the client's awareness
    visa = clocks_of(incident)
    assert visa["PCI-VISA-REPORT"]["basis"].startswith("3 business days")
    assert visa["PCI-VISA-ACCOUNTS"]["basis"].startswith("10 business days")
    url = f"/api/v1/incidents/{incident['id']}/clocks/PCI-BRAND/notice"
    unnamed = client.post(url, headers=bank["provider"], json={"notified_at": ago(hours=9)})
    assert unnamed.status_code == 422 and unnamed.get_json()["error"]["field"] == "acquirer"
    told = client.post(url, headers=bank["provider"], json={"notified_at": ago(hours=9), "acquirer": "Amex"})
    assert told.status_code == 200, told.get_json()
    states = {c["acquirer"]: c["state"] for c in told.get_json()["clocks"] if c["rule"] == "PCI-BRAND"}
    assert states == {"Amex": "met", "Westpac Merchant": "running"}


def test_without_named_acquirers_one_brand_clock_uses_the_engagements_acquirer_hours(client, bank):
    incident = record(client, bank, category="card_data_compromise", flags=["card_data"])
    brand = [c for c in incident["clocks"] if c["rule"] == "PCI-BRAND"]
    assert len(brand) == 1 and brand[0]["acquirer"] is None
    assert brand[0]["target_at"] == brand[0]["started_at"]  # default target 0 hours: immediately


def test_bad_acquirer_settings_are_refused_and_change_nothing(client, bank):
    settings(client, bank, acquirers=[{"name": "Westpac Merchant", "hours": 24}])
    before = AuditEvent.select().count()
    for body in ({"acquirers": [{"name": "Amex"}]},  # an acquirer without hours
                 {"acquirers": [{"name": "Amex", "hours": None}]},
                 {"acquirers": [{"name": "Amex", "hours": 0}]},
                 {"acquirers": [{"name": "Amex", "hours": 12}, {"name": "AMEX", "hours": 24}]},
                 {"acquirers": [{"name": " ", "hours": 12}]},
                 {"acquirers": "Amex"},
                 {"pci_brand_target_hours": -1}):
        response = settings(client, bank, **body)
        assert response.status_code == 422, (body, response.get_json())
    assert settings(client, bank, who="provider", acquirers=[]).status_code == 404
    assert [(a.name, a.hours) for a in Acquirer.select()] == [("Westpac Merchant", 24)]
    assert AuditEvent.select().count() == before and Clock.select().count() == 0


def test_the_clock_settings_form_names_the_acquirers_with_their_hours(client, bank, make_user):
    admin = make_user("client_admin", email="settings@bank-a.test")
    login(client, admin)
    page = client.get(f"/engagements/{bank['engagement']}/incidents").get_data(as_text=True)
    form = {"csrf_token": token(page), "contract_notice_hours": "12", "pci_acquirer_hours": "24",
            "pci_brand_target_hours": "1", "provider_privacy_act": "1"}
    url = f"/engagements/{bank['engagement']}/clock-settings"
    assert client.post(url, data=form | {"acquirers": "Amex: 48\nWestpac Merchant: 24\n"}).status_code == 302
    assert [(a.name, a.hours) for a in Acquirer.select().order_by(Acquirer.name)] == [("Amex", 48),
                                                                                      ("Westpac Merchant", 24)]
    refused = client.post(url, data=form | {"acquirers": "Amex\n"}, follow_redirects=True).get_data(as_text=True)
    assert "needs its notice hours" in refused and Acquirer.select().count() == 2
    page = client.get(f"/engagements/{bank['engagement']}/incidents").get_data(as_text=True)
    assert "Westpac Merchant: 24" in page and 'name="provider_privacy_act" value="1" checked' in page


def test_the_notice_warning_says_the_tolerance_clock_runs_whoever_knows(client, bank):
    body = settings(client, bank, contract_notice_hours=4).get_json()
    assert "CPS230-TOLERANCE runs 24 hours from the moment a critical operation goes outside tolerance, " \
           "whoever knows of it, so no contractual notice fits inside it" in body["warning"]
    assert "not shorter" not in body["warning"]  # 4 hours fits inside the 72-hour clocks of the client's awareness
    body = settings(client, bank, contract_notice_hours=72).get_json()
    assert "runs from the client's awareness (CPS230-INCIDENT: 72 hours)" in body["warning"]
