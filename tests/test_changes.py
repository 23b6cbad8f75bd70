"""Change events open event-driven requests of the controls whose library entry names the trigger (SPEC §2, §5)."""
from __future__ import annotations

import datetime as dt

import pytest

from models import ChangeEvent, Control, EvidenceRequest
from tests.conftest import bearer
from tests.test_openapi import Contract
from tests.test_openapi import spec as spec  # noqa: F401 (the fixture)

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
def setup(client, make_user):
    headers = bearer(make_user("client_admin"))
    response = client.post("/api/v1/engagements", headers=headers, json={
        "name": "Change centre", "provider": "BPO A", "frameworks": ["PCIDSS-4.0.1", "ISO27001-2022"],
        "place": "NSW", "start_date": "2026-01-01", "card_payments": True})
    assert response.status_code == 201
    return {"engagement": response.get_json()["id"], "client": headers,
            "provider": bearer(make_user("provider_contributor"))}


def post(client, setup, who="provider", **body):
    data = {"title": "New payment IVR platform", "kind": "significant_change",
            "occurred_at": (NOW - dt.timedelta(days=1)).isoformat()} | body
    return client.post(f"/api/v1/engagements/{setup['engagement']}/changes", headers=setup[who], json=data)


def test_a_significant_change_opens_the_after_change_tests_once(client, setup, spec):
    response = post(client, setup)
    body = Contract(spec).check(response, "post", "/api/v1/engagements/{engagement_id}/changes")
    controls = {r["control"] for r in body["requests"]}
    # PCI DSS 11.3.1.3/11.3.2.1 (VM-01), 11.4.2/11.4.3 (VM-02), 11.4.5 (VM-03), 12.5.2 (GV-17); ISO A.8.32 (TE-12)
    assert {"VM-01", "VM-02", "VM-03", "GV-17", "TE-12"} <= controls
    assert "AC-01" not in controls
    assert all(r["status"] == "open" for r in body["requests"])
    due = dt.datetime.fromisoformat(body["requests"][0]["due_at"])
    assert dt.timedelta(days=29) < due - NOW < dt.timedelta(days=31)
    vm01 = Control.get(Control.code == "VM-01")
    assert EvidenceRequest.select().where(EvidenceRequest.control == vm01,
                                          EvidenceRequest.id.in_([r["id"] for r in body["requests"]])).count() == 2
    before = EvidenceRequest.select().count()
    again = post(client, setup, who="client", title="Same-day follow-up").get_json()
    assert EvidenceRequest.select().count() == before  # never duplicated
    assert {r["id"] for r in again["requests"]} == {r["id"] for r in body["requests"]}
    listed = client.get(f"/api/v1/engagements/{setup['engagement']}/changes", headers=setup["client"])
    assert Contract(spec).check(listed, "get", "/api/v1/engagements/{engagement_id}/changes")["total"] == 2


def test_an_offshoring_opens_the_offshoring_gate_not_the_pentests(client, setup):
    body = post(client, setup, kind="offshoring").get_json()
    controls = {r["control"] for r in body["requests"]}
    assert "SP-02" in controls and "VM-02" not in controls


def test_bad_changes_are_refused_and_change_nothing(client, setup, make_user):
    for change, field in (({"kind": "redecoration"}, "kind"), ({"occurred_at": "2026-01-01T10:00:00"}, "occurred_at"),
                          ({"occurred_at": (NOW + dt.timedelta(days=3)).isoformat()}, "occurred_at"),
                          ({"title": ""}, "title")):
        response = post(client, setup, **change)
        assert response.status_code == 422 and response.get_json()["error"]["field"] == field, change
    stranger = bearer(make_user("provider_contributor", org="BPO Z"))
    assert post(client, setup | {"stranger": stranger}, who="stranger").status_code == 404
    assert ChangeEvent.select().count() == 0
