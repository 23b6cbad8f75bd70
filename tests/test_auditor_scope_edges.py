"""Auditors stay inside their grant where the pentest found them outside it: the requests a change opened and
the cross-border recipients' reasonable-steps requests list only those of granted frameworks, and the NDB
assessment (a privacy-framework matter) is not shown to an auditor without that framework. Provider roles do
not read auditors' reads through /audit-events: the access log is the client's alone, however it is reached."""
from __future__ import annotations

import datetime as dt

import pytest

from services import scope
from tests.conftest import bearer, login
from tests.fixtures.rights import make_grant

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
OFFSHORE_SITE = {"name": "Manila Overflow Services", "services": ["After-hours overflow"],
                 "critical_operations": ["Customer enquiries"], "countries": ["PH", "AU"],
                 "data_categories": ["Customer name"], "material": True, "personal_information": True,
                 "agreement_date": dt.date.today().isoformat()}


@pytest.fixture
def granted(client, rights_world, make_user):
    """The rights world with a change, an approved offshore recipient and a breach with its NDB assessment; the
    auditor granted PCI DSS only."""
    w = rights_world
    engagement, admin = w["engagement"], bearer(w["admin"])
    url = f"/api/v1/engagements/{engagement.id}"
    for kind in ("significant_change", "offshoring", "new_subcontractor"):
        made = client.post(f"{url}/changes", headers=admin, json={
            "title": f"A {kind}", "kind": kind, "occurred_at": (NOW - dt.timedelta(hours=1)).isoformat()})
        assert made.status_code == 201, made.get_json()
    provider_admin = make_user("provider_admin", org="BPO A")
    site = client.post(f"{url}/subcontractors", headers=bearer(provider_admin), json=OFFSHORE_SITE)
    assert site.status_code == 201, site.get_json()
    noted = client.post(f"/api/v1/subcontractors/{site.get_json()['id']}/apra-notice", headers=admin,
                        json={"notified_on": dt.date.today().isoformat()})
    assert noted.status_code == 200, noted.get_json()
    decided = client.post(f"/api/v1/subcontractors/{site.get_json()['id']}/decision", headers=admin,
                          json={"decision": "approve", "reason": "due diligence done",
                                "agreement_date": dt.date.today().isoformat()})
    assert decided.status_code == 200, decided.get_json()
    incident = client.post(f"{url}/incidents", headers=admin, json={
        "title": "Mailbox exposed", "category": "personal_information_breach", "aware_party": "client",
        "occurred_at": (NOW - dt.timedelta(hours=5)).isoformat(), "aware_at": (NOW - dt.timedelta(hours=4)).isoformat(),
        "flags": ["personal_information"]}).get_json()
    assessed = client.post(f"/api/v1/incidents/{incident['id']}/assessment", headers=admin, json={
        "concluded_at": (NOW - dt.timedelta(hours=1)).isoformat(), "eligible": True, "summary": "Notify the OAIC."})
    assert assessed.status_code == 200, assessed.get_json()
    make_grant(w["auditor"], engagement, ["PCIDSS-4.0.1"])
    return {**w, "incident": incident["id"], "provider_admin": provider_admin}


def _listed_requests(client, headers, url) -> set[int]:
    items = client.get(url, headers=headers).get_json()["items"]
    return {r["id"] for item in items for r in item.get("requests", [])} | \
        {r["request_id"] for item in items for r in item.get("reasonable_steps", [])}


@pytest.mark.parametrize("route", ["changes", "cross-border-recipients"])
def test_an_auditor_sees_only_requests_of_its_granted_frameworks(client, granted, route):
    engagement = granted["engagement"]
    url = f"/api/v1/engagements/{engagement.id}/{route}?per_page=200"
    everything = _listed_requests(client, bearer(granted["admin"]), url)
    seen = _listed_requests(client, bearer(granted["auditor"]), url)
    visible = {r.id for r in scope.requests_for(granted["auditor"], engagement)}
    assert everything - visible, "the data set must hold requests outside the grant"
    assert seen <= visible and seen == everything & visible


def test_the_ndb_assessment_is_not_shown_to_an_auditor_without_the_privacy_framework(client, granted):
    incident = granted["incident"]
    api = client.get(f"/api/v1/incidents/{incident}", headers=bearer(granted["auditor"]))
    assert api.status_code == 200 and api.get_json()["assessment"] is None
    assert client.get(f"/api/v1/incidents/{incident}", headers=bearer(granted["admin"])).get_json()["assessment"]
    login(client, granted["auditor"])
    page = client.get(f"/incidents/{incident}").get_data(as_text=True)
    assert "NDB assessment" not in page and "Notify the OAIC" not in page


def test_provider_roles_do_not_read_auditors_reads_through_the_audit_trail(client, granted):
    engagement = granted["engagement"]
    assert client.get(f"/api/v1/engagements/{engagement.id}", headers=bearer(granted["auditor"])).status_code == 200

    def auditor_reads(user) -> int:
        events = client.get(f"/api/v1/audit-events?engagement={engagement.id}&action=auditor.view&per_page=200",
                            headers=bearer(user))
        assert events.status_code == 200, events.get_json()
        return events.get_json()["total"]
    assert auditor_reads(granted["admin"]) >= 1
    assert auditor_reads(granted["provider_admin"]) == 0
    assert auditor_reads(granted["contributor"]) == 0
    assert client.get(f"/api/v1/engagements/{engagement.id}/auditor-access",
                      headers=bearer(granted["provider_admin"])).status_code == 404
