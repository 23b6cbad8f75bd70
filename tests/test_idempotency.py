"""A double submit or a client's retry creates nothing twice: the API's Idempotency-Key header and the hidden
key of the page forms that create replay the first response; a failed attempt lets its key go."""
from __future__ import annotations

import datetime as dt
import io
import re
import uuid
from pathlib import Path

import pytest

from models import ChangeEvent, ChangeEventRequest, Evidence, Finding, IdempotencyKey, KpiResult, utcnow
from services.demo import files as demo_files
from services.idempotency import keys
from services.performance import kpis
from services.register.engagements import create_accepted_engagement
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


# the page routes whose forms create something: each form posting to one carries an idempotency key
CREATING_ENDPOINTS = (
    "upload_page", "comment_page", "submit_results", "add_kpi", "propose_version", "incident_notice",
    "webhooks_page", "calendar_page", "scim_tokens_page", "portal_observation", "meeting_write",
)
FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.S)


def test_every_form_that_creates_carries_an_idempotency_key():
    templates = Path(__file__).resolve().parent.parent / "templates"
    missing = []
    for path in templates.rglob("*.html"):
        for form in FORM.findall(path.read_text()):
            head = form[:form.index(">") + 1]
            if 'method="post"' not in head or "pages.meeting_write" in head and "'cancel'" in head or \
                    "pages.meeting_write" in head and "'held'" in head:
                continue
            if any(f"pages.{e}'" in head for e in CREATING_ENDPOINTS) and "idempotency_field(" not in form:
                missing.append(f"{path.name}: {head[:120]}")
    assert not missing, missing


def test_the_upload_form_posted_twice_stores_one_version(app, evidence_world):
    req = evidence_world.request()
    provider = signed_in(app, evidence_world.contributor)
    page = text(provider.get(f"/requests/{req.id}"))
    action = re.search(r'class="upload-form" method="post" enctype="multipart/form-data" action="([^"]+)"',
                       page).group(1).replace("&amp;", "&")
    assert "idempotency_key=" in action

    def post():
        return provider.post(action, content_type="multipart/form-data", data={
            "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
            "effective_date": dt.date.today().isoformat(), "note": "",
            "file": [(io.BytesIO(demo_files.pdf("March SLA report")), "sla.pdf")]})
    first, second = post(), post()
    assert first.status_code == second.status_code == 302
    assert second.headers["Idempotent-Replayed"] == "true"
    assert Evidence.select().where(Evidence.request == req.id).count() == 1


def test_the_kpi_results_form_posted_twice_submits_once(app, make_user):
    client_admin, provider_admin = make_user("client_admin"), make_user("provider_admin")
    engagement = create_accepted_engagement(
        client_admin, {"name": "Retail", "provider": "BPO A", "frameworks": ["CONTRACT"],
                                                  "place": "VIC", "start_date": "2026-01-01"})
    kpis.create_kpi(client_admin, engagement.id, {"template": "ABANDON"})
    provider = signed_in(app, provider_admin)
    url = f"/engagements/{engagement.id}/performance"
    page = text(provider.get(url))
    action = re.search(r'<form method="post" action="([^"]+)" class="panel" enctype="multipart/form-data"',
                       page).group(1).replace("&amp;", "&")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    csv = b"kpi,period,value,volume\nABANDON,2026-03,4,\n"

    def post():
        return provider.post(action, content_type="multipart/form-data",
                             data={"csrf_token": token, "file": (io.BytesIO(csv), "march.csv")})
    first, second = post(), post()
    assert first.status_code == second.status_code == 302, text(first)
    assert KpiResult.select().count() == 1
