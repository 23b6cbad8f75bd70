"""A double submit or a client's retry creates nothing twice: the API's Idempotency-Key header and the hidden
key of the page forms that create replay the first response; a failed attempt lets its key go."""
from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest

from models import ChangeEvent, ChangeEventRequest, Finding, IdempotencyKey, utcnow
from services.idempotency import keys
from tests.conftest import accept_invitation, bearer
from tests.test_pages import signed_in, text


@pytest.fixture
def centre(client, make_user):
    admin = make_user("client_admin")
    headers = bearer(admin)
    response = client.post("/api/v1/engagements", headers=headers, json={
        "name": "Double click centre", "provider": "BPO A", "frameworks": ["PCIDSS-4.0.1", "ISO27001-2022"],
        "place": "NSW", "start_date": "2026-01-01", "card_payments": True})
    assert response.status_code == 201
    accept_invitation(client, response.get_json()["id"], make_user("provider_admin"))
    return {"engagement": response.get_json()["id"], "admin": admin, "headers": headers,
            "risk": make_user("risk_reviewer"), "provider": make_user("provider_contributor")}


def test_a_repeated_idempotency_key_replays_the_first_response_and_creates_nothing_twice(client, centre):
    url = f"/api/v1/engagements/{centre['engagement']}/changes"
    headers = {**bearer(centre["provider"]), "Idempotency-Key": str(uuid.uuid4())}
    body = {"title": "New payment IVR platform", "kind": "significant_change",
            "occurred_at": (utcnow() - dt.timedelta(days=1)).isoformat() + "Z"}
    first = client.post(url, headers=headers, json=body)
    assert first.status_code == 201, first.get_json()
    opened = ChangeEventRequest.select().count()
    assert opened > 0
    again = client.post(url, headers=headers, json=body)
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert ChangeEvent.select().count() == 1 and ChangeEventRequest.select().count() == opened
    # the key belongs to its first request: on another route it is refused, and changes nothing
    findings = f"/api/v1/engagements/{centre['engagement']}/findings"
    reused = client.post(findings, headers={**centre["headers"], "Idempotency-Key": headers["Idempotency-Key"]},
                         json={"title": "Duplicate change event", "severity": "low"})
    assert reused.status_code == 201  # another user's key space: its own first use
    other_route = client.post(findings, headers=headers, json={"title": "x", "severity": "low"})
    assert other_route.status_code == 422 and other_route.get_json()["error"]["field"] == "Idempotency-Key"
    for bad in ("", " ", "x" * 201, "clé"):
        response = client.post(url, headers={**bearer(centre["provider"]), "Idempotency-Key": bad}, json=body)
        assert response.status_code == 422, bad
    assert ChangeEvent.select().count() == 1 and Finding.select().count() == 1


def test_a_failed_attempt_lets_its_key_go_so_the_corrected_one_runs(client, centre):
    url = f"/api/v1/engagements/{centre['engagement']}/findings"
    headers = {**centre["headers"], "Idempotency-Key": "retry-1"}
    assert client.post(url, headers=headers, json={"title": "", "severity": "high"}).status_code == 422
    created = client.post(url, headers=headers, json={"title": "Access review missing", "severity": "high"})
    assert created.status_code == 201 and Finding.select().count() == 1


def test_a_key_still_being_processed_answers_409(client, centre):
    url = f"/api/v1/engagements/{centre['engagement']}/findings"
    keys.claim(centre["admin"].id, "in-flight", f"POST {url}")
    response = client.post(url, headers={**centre["headers"], "Idempotency-Key": "in-flight"},
                           json={"title": "Raised twice", "severity": "low"})
    assert response.status_code == 409 and Finding.select().count() == 0


def test_a_creating_form_posted_twice_raises_one_finding(app, centre):
    reviewer = signed_in(app, centre["risk"])
    url = f"/engagements/{centre['engagement']}/findings"
    page = text(reviewer.get(url))
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"csrf_token": token, "idempotency_key": key, "title": "Clean desk breaches on floor 3",
            "severity": "medium", "owner": "", "due_date": "", "description": ""}
    first = reviewer.post(url, data=form)
    second = reviewer.post(url, data=form)
    assert first.status_code == second.status_code == 302
    assert second.headers["Location"] == first.headers["Location"]
    assert Finding.select().where(Finding.title == "Clean desk breaches on floor 3").count() == 1
    assert key != re.search(r'name="idempotency_key" value="([^"]+)"', text(reviewer.get(url))).group(1)


def test_keys_are_forgotten_after_a_day_by_the_scheduler(centre):
    from services.alerts.scheduler import tick
    keys.claim(centre["admin"].id, "old", "POST /api/v1/x", now=utcnow() - dt.timedelta(hours=25))
    keys.claim(centre["admin"].id, "new", "POST /api/v1/x")
    tick()
    assert [k.key for k in IdempotencyKey.select()] == ["new"]
