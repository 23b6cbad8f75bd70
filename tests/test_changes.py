"""Change events open event-driven requests of the controls whose library entry names the trigger (SPEC §2, §5)."""
from __future__ import annotations

import datetime as dt

import pytest

from models import ChangeEvent, Control, EvidenceRequest
from tests.conftest import accept_invitation, bearer
from tests.test_openapi import Contract
from tests.test_openapi import spec as spec  # noqa: F401 (the fixture)

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
def setup(client, make_user):
    admin = make_user("client_admin")
    headers = bearer(admin)
    response = client.post("/api/v1/engagements", headers=headers, json={
        "name": "Change centre", "provider": "BPO A", "frameworks": ["PCIDSS-4.0.1", "ISO27001-2022"],
        "place": "NSW", "start_date": "2026-01-01", "card_payments": True})
    assert response.status_code == 201
    accept_invitation(client, response.get_json()["id"], make_user("provider_admin"))
    return {"engagement": response.get_json()["id"], "client": headers, "admin": admin,
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


def test_a_mistaken_change_event_is_voided_with_a_reason_and_its_requests_retired(client, setup, make_user, app):
    from models import AuditEvent, ChangeEvent, EvidenceRequest, RequestHistory
    from tests.test_pages import signed_in, text
    first = post(client, setup).get_json()
    twin = post(client, setup).get_json()  # the double click: the same day's requests, linked twice
    assert {r["id"] for r in twin["requests"]} == {r["id"] for r in first["requests"]}
    wrong = post(client, setup, title="Offshoring (wrong engagement)", kind="offshoring",
                 occurred_at=(NOW - dt.timedelta(days=3)).isoformat()).get_json()
    own = {r["id"] for r in wrong["requests"]} - {r["id"] for r in first["requests"]}
    assert own
    url = "/api/v1/changes/{}/void"
    assert client.post(url.format(twin["id"]), headers=setup["client"], json={}).status_code == 422
    voided = client.post(url.format(twin["id"]), headers=setup["client"], json={"reason": "Recorded twice"})
    assert voided.status_code == 200 and voided.get_json()["void_reason"] == "Recorded twice"
    assert all(r["status"] == "open" for r in voided.get_json()["requests"])  # the first change still needs them
    done = client.post(url.format(wrong["id"]), headers=setup["provider"], json={"reason": "Wrong engagement"})
    assert done.status_code == 200
    assert {r.status for r in EvidenceRequest.select().where(EvidenceRequest.id.in_(own))} == {"retired"}
    assert RequestHistory.select().where(RequestHistory.request.in_(own), RequestHistory.to_status == "retired",
                                         RequestHistory.reason.contains("Wrong engagement")).count() == len(own)
    assert ChangeEvent.select().count() == 3  # kept
    assert client.post(url.format(wrong["id"]), headers=setup["client"],
                       json={"reason": "again"}).status_code == 409
    stranger = bearer(make_user("client_admin", org="Bank Z"))
    refused = client.post(url.format(first["id"]), headers=stranger, json={"reason": "not mine"})
    missing = client.post(url.format(999999), headers=stranger, json={"reason": "not mine"})
    assert refused.status_code == missing.status_code == 404 and refused.get_json() == missing.get_json()
    assert ChangeEvent.get_by_id(first["id"]).voided_at is None
    assert AuditEvent.select().where(AuditEvent.action == "change.void").count() == 2
    page = text(signed_in(app, setup["admin"]).get(f"/engagements/{setup['engagement']}/changes"))
    assert page.count(">Void</span>") == 2 and "Wrong engagement" in page
