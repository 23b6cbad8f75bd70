"""A finding or an incident recorded by mistake is voided by the client with a reason: kept and shown void, no
longer counted or chased; a void incident's waiting and running clocks close as not required and the findings
raised from it are voided with it. Nobody outside the engagement learns it exists."""
from __future__ import annotations

import re

import pytest

from domain.findings import FindingError, check_move
from domain.incidents import IncidentError, check_void
from models import AuditEvent, Clock, Finding, Incident
from services.incidents import findings as finding_service
from tests.conftest import bearer
from tests.test_incidents import record
from tests.test_incidents import setup as setup  # noqa: F401 (the fixture)
from tests.test_openapi import Contract
from tests.test_openapi import spec as spec  # noqa: F401 (the fixture)
from tests.test_pages import signed_in, text


def test_the_state_machines_void_with_a_reason_and_never_a_closed_finding():
    for old in ("open", "plan_submitted", "in_progress"):
        check_move(old, "void", "client", reason="raised twice by a double click")
        with pytest.raises(FindingError, match="only the client"):
            check_move(old, "void", "provider", reason="x")
    with pytest.raises(FindingError, match="reason"):
        check_move("open", "void", "client", reason=" ")
    for final in ("closed", "void"):
        with pytest.raises(FindingError):
            check_move(final, "void", "client", reason="x")
    check_void(None, "a test incident")
    with pytest.raises(IncidentError, match="reason"):
        check_void(None, "")
    with pytest.raises(IncidentError, match="already void"):
        check_void(Incident().created_at, "again")


def _finding(client, setup, title="Duplicate finding") -> dict:
    response = client.post(f"/api/v1/engagements/{setup['engagement']}/findings", headers=setup["risk"],
                           json={"title": title, "severity": "high"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_finding_is_voided_by_the_client_with_a_reason_and_leaves_the_open_counts(app, client, setup, make_user):
    kept, dup = _finding(client, setup, "Clean desk"), _finding(client, setup, "Clean desk")
    url = f"/api/v1/findings/{dup['id']}"
    refused = client.patch(url, headers=setup["risk"], json={"status": "void"})
    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "reason"
    by_provider = client.patch(url, headers=setup["provider"], json={"status": "void", "reason": "mine"})
    assert by_provider.status_code == 422
    assert Finding.get_by_id(dup["id"]).status == "open"
    voided = client.patch(url, headers=setup["risk"], json={"status": "void", "reason": "raised twice"})
    assert voided.status_code == 200 and voided.get_json()["status"] == "void"
    assert client.patch(url, headers=setup["risk"], json={"status": "open"}).status_code == 422  # final
    listed = client.get(f"/api/v1/engagements/{setup['engagement']}/findings", headers=setup["risk"]).get_json()
    assert [(f["id"], f["status"]) for f in listed["items"]] == [(kept["id"], "open"), (dup["id"], "void")]
    event = AuditEvent.get(AuditEvent.action == "finding.void")
    assert '"raised twice"' in event.details
    page = text(signed_in(app, setup["admin"]).get(f"/findings/{kept['id']}"))
    assert "Void the finding" in page and 'id="void-reason"' in page
    page = text(signed_in(app, setup["admin"]).get(f"/findings/{dup['id']}"))
    assert "badge-finding-void" in page and "Void the finding" not in page and "raised twice" in page
    timeline = finding_service.timeline(Finding.get_by_id(dup["id"]))
    assert (timeline[-1].status_to, timeline[-1].reason) == ("void", "raised twice")
    outsider = bearer(make_user("risk_reviewer", org="Bank Z"))
    other = client.patch(url, headers=outsider, json={"status": "void", "reason": "x"})
    missing = client.patch("/api/v1/findings/999999", headers=outsider, json={"status": "void", "reason": "x"})
    assert other.status_code == missing.status_code == 404 and other.get_json() == missing.get_json()


def test_an_incident_is_voided_its_clocks_closed_and_its_findings_voided(client, setup, spec, make_user):
    body = record(client, setup).get_json()
    incident_id = body["id"]
    running = Clock.select().where(Clock.incident == incident_id, Clock.state == "running").count()
    assert running > 0
    raised = finding_service.raise_finding(Incident.get_by_id(incident_id).engagement, source="incident",
                                           title="Phishing follow-up", incident=Incident.get_by_id(incident_id))
    url = f"/api/v1/incidents/{incident_id}/void"
    assert client.post(url, headers=setup["risk"], json={}).status_code == 422
    assert client.post(url, headers=setup["provider"], json={"reason": "x"}).status_code == 404
    outsider = bearer(make_user("risk_reviewer", org="Bank Z"))
    other = client.post(url, headers=outsider, json={"reason": "x"})
    missing = client.post("/api/v1/incidents/999999/void", headers=outsider, json={"reason": "x"})
    assert other.status_code == missing.status_code == 404 and other.get_json() == missing.get_json()
    assert Incident.get_by_id(incident_id).voided_at is None
    voided = client.post(url, headers=setup["risk"], json={"reason": "a tabletop exercise, not an incident"})
    got = Contract(spec).check(voided, "post", "/api/v1/incidents/{incident_id}/void")
    assert got["status"] == "void" and got["void_reason"] == "a tabletop exercise, not an incident"
    states = {c["state"] for c in got["clocks"]}
    assert states == {"not_required"}
    assert all("voided: a tabletop exercise" in c["reason"] for c in got["clocks"])
    assert Finding.get_by_id(raised.id).status == "void"
    assert client.post(url, headers=setup["risk"], json={"reason": "again"}).status_code == 409
    later = client.patch(f"/api/v1/incidents/{incident_id}", headers=setup["risk"], json={"flags": ["card_data"]})
    assert later.status_code == 409
    event = AuditEvent.get(AuditEvent.action == "incident.void")
    assert str(raised.id) in event.details and AuditEvent.select().where(AuditEvent.action == "clock.void").count() \
        == running


def test_the_incident_pages_show_void_and_offer_the_form_to_the_risk_team(app, client, setup, make_user):
    incident_id = record(client, setup).get_json()["id"]
    reviewer = signed_in(app, make_user("risk_reviewer"))
    page = text(reviewer.get(f"/incidents/{incident_id}"))
    assert "Void the incident" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    empty = reviewer.post(f"/incidents/{incident_id}/void", data={"csrf_token": token, "reason": ""})
    assert empty.status_code == 422 and Incident.get_by_id(incident_id).voided_at is None
    done = reviewer.post(f"/incidents/{incident_id}/void", data={"csrf_token": token, "reason": "entered twice"})
    assert done.status_code == 302
    page = text(reviewer.get(f"/incidents/{incident_id}"))
    assert "Void</span>" in page and "entered twice" in page and "Void the incident" not in page
    listed = text(reviewer.get(f"/engagements/{setup['engagement']}/incidents"))
    assert "badge-void" in listed
    provider = text(signed_in(app, make_user("provider_contributor")).get(f"/incidents/{incident_id}"))
    assert "Void the incident" not in provider
