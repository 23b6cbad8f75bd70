"""The work lists at scale and the work around them: the provider's inbox and the review queue filtered
(engagement, framework, due window, owner), paged by 50 with counts per section; an owner per request
(defaulted from the Statement of Applicability, reassigned, audited, notified once, "my requests"); and bulk
decisions in the review queue, each its own audited decision, all or nothing, safe against a double click."""
from __future__ import annotations

import importlib
import re
import uuid

import pytest
from test_evidence_pages import token
from test_pages import signed_in, text

from models import (
    Applicability,
    AuditEvent,
    Evidence,
    EvidenceRequest,
    EvidenceRequirement,
    Notification,
    db,
    utcnow,
)
from services.demo import files as demo_files
from services.evidence import inbox
from services.people import owners
from services.scope import controls_in_frameworks

ROWS = re.compile(r'href="/requests/\d+#upload-heading"')


@pytest.fixture
def world(evidence_world):
    return evidence_world


def owed(world, *conditions) -> int:
    return (EvidenceRequest.select().join(EvidenceRequirement)
            .where(EvidenceRequest.engagement == world.engagement.id, EvidenceRequirement.produced_by == "provider",
                   *conditions).count())


# ------------------------------------------------------------------------------------------ the inbox scales

def test_the_inbox_is_paged_by_50_with_every_sections_count(app, world):
    overdue = owed(world, EvidenceRequest.status == "overdue")
    assert overdue > 50, "the fixture should owe more than a page"
    provider = signed_in(app, world.contributor)
    first = text(provider.get("/inbox"))
    assert f"Overdue ({overdue})" in first and len(ROWS.findall(first)) == 50
    assert "Page 1 of" in first and 'href="/inbox?page=2"' in first
    total = inbox.provider_inbox(world.contributor).total  # rejected, overdue and due soon, read in a row
    pages = -(-total // 50)
    assert f"Page 1 of {pages}" in first
    last = text(provider.get(f"/inbox?page={pages}"))
    assert len(ROWS.findall(last)) == total - 50 * (pages - 1)
    # nonsense and out-of-range pages show a real page: never a count without its rows and pager
    for nonsense in ("999999999", "-3", "abc", "1e9", "99999999999999999999999"):
        page = text(provider.get(f"/inbox?page={nonsense}"))
        assert ROWS.search(page) and "Page " in page, nonsense
    assert len(ROWS.findall(text(provider.get("/inbox?page=999999999")))) == len(ROWS.findall(last))


def test_inbox_filters_narrow_every_count(app, world):
    provider = signed_in(app, world.contributor)
    cps = owed(world, EvidenceRequest.status == "overdue",
               EvidenceRequest.control.in_(controls_in_frameworks(["CPS230"])))
    page = text(provider.get("/inbox?framework=CPS230"))
    assert f"Overdue ({cps})" in page
    only_overdue = text(provider.get("/inbox?due=overdue"))
    assert "Due soon (0)" in only_overdue
    later = text(provider.get("/inbox?due=later"))
    assert "Overdue (0)" in later
    bad = provider.get("/inbox?due=yesterday")
    assert bad.status_code == 422 and "due must be one of overdue, 7d, 30d, later" in text(bad)


def test_the_inbox_api_takes_the_same_filters_and_pages(app, world, make_user):
    headers = world.auth(world.contributor)
    body = world.client.get("/api/v1/inbox?per_page=20&page=2", headers=headers).get_json()
    assert body["total"] == sum(body["counts"].values()) and len(body["items"]) == 20 and body["page"] == 2
    assert body["counts"]["overdue"] == owed(world, EvidenceRequest.status == "overdue")
    assert {i["section"] for i in body["items"]} <= set(inbox.SECTIONS)
    narrowed = world.client.get(f"/api/v1/inbox?engagement={world.engagement.id}&framework=CPS230&due=overdue",
                                headers=headers).get_json()
    assert narrowed["counts"]["due_soon"] == 0 and narrowed["counts"]["overdue"] == owed(
        world, EvidenceRequest.status == "overdue", EvidenceRequest.control.in_(controls_in_frameworks(["CPS230"])))
    for query, field in (("due=soon", "due"), ("engagement=abc", "engagement"), ("framework=NOPE", "framework"),
                         ("owner=-1", "owner"), ("owner=you", "owner")):
        answer = world.client.get(f"/api/v1/inbox?{query}", headers=headers)
        assert answer.status_code == 422 and answer.get_json()["error"]["field"] == field, query
    assert world.client.get("/api/v1/inbox?page=0", headers=headers).status_code == 400  # as every list's paging
    # the engagement's request list takes the due window and owner too
    listed = world.client.get(f"/api/v1/engagements/{world.engagement.id}/requests?due=overdue&per_page=1",
                              headers=headers).get_json()
    assert listed["total"] == (EvidenceRequest.select().where(EvidenceRequest.engagement == world.engagement.id,
                                                              EvidenceRequest.status != "retired",
                                                              EvidenceRequest.due_at < utcnow()).count())
    assert world.client.get(f"/api/v1/engagements/{world.engagement.id}/requests?owner=me",
                            headers=headers).get_json()["total"] == 0
    assert world.client.get(f"/api/v1/engagements/{world.engagement.id}/requests?due=today",
                            headers=headers).status_code == 422
    # another tenant's engagement answers exactly as a missing one
    other = make_user("client_admin", org="Bank B")
    from services.register.engagements import create_accepted_engagement
    theirs = create_accepted_engagement(other, {"name": "Theirs", "provider": "BPO Z", "place": "VIC",
                                       "frameworks": ["CPS234"], "start_date": "2026-01-05"})
    missing = world.client.get("/api/v1/inbox?engagement=99999999", headers=headers)
    foreign = world.client.get(f"/api/v1/inbox?engagement={theirs.id}", headers=headers)
    assert foreign.status_code == missing.status_code == 404 and foreign.get_json() == missing.get_json()


def test_the_review_queue_takes_the_due_window_and_says_when_a_page_is_past_the_last(app, world):
    late = world.request(statuses=("overdue",))
    soon = world.request(statuses=("upcoming", "open"))
    assert world.upload(late).status_code == 201 and world.upload(soon).status_code == 201
    headers = world.auth(world.reviewer)
    overdue = world.client.get("/api/v1/review-queue?due=overdue", headers=headers).get_json()
    assert [i["request_id"] for i in overdue["items"]] == [late.id]
    assert world.client.get("/api/v1/review-queue?due=never", headers=headers).status_code == 422
    reviewer = signed_in(app, world.reviewer)
    page = text(reviewer.get("/review?page=999999999"))
    assert "2 items awaiting review" in page and re.search(r"There is no page \d+: the list has 1 page\.", page)
    assert "Go to page 1" in page


# ------------------------------------------------------------------------------------------ an owner per request

def test_the_owner_is_back_filled_from_the_soa_owner_of_the_producing_side(world):
    req = world.request()
    client_req = world.request(produced_by="client")
    Applicability.update(owner=world.contributor).where(Applicability.engagement == world.engagement.id,
                                                        Applicability.control == req.control_id).execute()
    Applicability.update(owner=world.contributor).where(Applicability.engagement == world.engagement.id,
                                                        Applicability.control == client_req.control_id).execute()
    EvidenceRequest.update(owner=None).where(EvidenceRequest.engagement == world.engagement.id).execute()
    migration = importlib.import_module("migrations.230_request_owner")
    db.execute_sql(migration.BACK_FILL)
    assert EvidenceRequest.get_by_id(req.id).owner_id == world.contributor.id
    # a provider's person does not owe the client's own evidence
    if client_req.control_id != req.control_id:
        assert EvidenceRequest.get_by_id(client_req.id).owner_id is None
    # new requests take the same default
    rows = [{"control": req.control_id, "requirement": req.requirement_id},
            {"control": client_req.control_id, "requirement": client_req.requirement_id}]
    owners.fill_default_owners(world.engagement, rows)
    assert rows[0]["owner"] == world.contributor.id and rows[1]["owner"] is None


def test_naming_the_soa_owner_gives_them_the_rows_unowned_requests_of_their_side(world, make_user):
    req = world.request()
    taken = world.request(skip=1)
    lead = make_user("provider_contributor", org="BPO A")
    EvidenceRequest.update(owner=None).where(EvidenceRequest.engagement == world.engagement.id).execute()
    EvidenceRequest.update(owner=lead.id).where(EvidenceRequest.id == taken.id).execute()
    code = req.control.code
    answer = world.client.patch(f"/api/v1/engagements/{world.engagement.id}/applicability/{code}",
                                json={"owner": world.contributor.email}, headers=world.auth(world.admin))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert EvidenceRequest.get_by_id(req.id).owner_id == world.contributor.id
    if taken.control_id == req.control_id:
        assert EvidenceRequest.get_by_id(taken.id).owner_id == lead.id  # a request someone was given stays
    client_side = (EvidenceRequest.select().join(EvidenceRequirement)
                   .where(EvidenceRequest.engagement == world.engagement.id,
                          EvidenceRequest.control == req.control_id, EvidenceRequirement.produced_by == "client"))
    assert all(r.owner_id is None for r in client_side)


def test_an_owner_is_assigned_audited_notified_once_and_lists_my_requests(app, world, make_user):
    req = world.request()
    lead = make_user("provider_contributor", org="BPO A")
    url = f"/api/v1/requests/{req.id}/owner"
    answer = world.client.post(url, json={"owner": lead.email}, headers=world.auth(world.reviewer))
    assert answer.status_code == 200 and answer.get_json() == {"id": req.id, "owner": lead.email}
    again = world.client.post(url, json={"owner": lead.id}, headers=world.auth(world.reviewer))
    assert again.status_code == 200
    events = list(AuditEvent.select().where(AuditEvent.action == "request.assign"))
    assert len(events) == 1 and events[0].object_id == str(req.id)
    notes = list(Notification.select().where(Notification.user == lead.id, Notification.kind == "request_assigned"))
    assert len(notes) == 1 and notes[0].link == f"/requests/{req.id}"
    detail = world.client.get(f"/api/v1/requests/{req.id}", headers=world.auth(lead)).get_json()
    assert detail["owner"] == lead.email
    mine = world.client.get("/api/v1/inbox?owner=me&per_page=200", headers=world.auth(lead)).get_json()
    assert [i["id"] for i in mine["items"]] == [req.id] and mine["items"][0]["owner"] == lead.email
    assert text(signed_in(app, lead).get("/inbox?owner=me")).count("#upload-heading") == 1
    # the dashboard's owner filter now has someone to choose
    board = text(signed_in(app, world.admin).get("/dashboard"))
    assert f'<option value="{lead.id}"' in board


def test_only_the_risk_team_or_the_providers_admin_assign_and_only_to_the_producing_side(app, world, make_user):
    req = world.request()
    url = f"/api/v1/requests/{req.id}/owner"
    other_tenant = make_user("provider_contributor", org="BPO Elsewhere")
    client_person = world.reviewer
    refused = [world.client.post(url, json={"owner": who}, headers=world.auth(world.reviewer))
               for who in (other_tenant.email, "nobody@example.com", client_person.email, other_tenant.id, 0,
                           None, ["x"], "")]
    assert {r.status_code for r in refused} == {422}
    assert len({r.get_data() for r in refused}) == 1  # one body: nothing tells another organisation's users apart
    assert world.client.post(url, json={"owner": world.contributor.email},
                             headers=world.auth(world.contributor)).status_code == 404  # a contributor may not
    admin = make_user("provider_admin", org="BPO A")
    assert world.client.post(url, json={"owner": world.contributor.email},
                             headers=world.auth(admin)).status_code == 200
    outsider = make_user("client_admin", org="Bank B")
    assert world.client.post(url, json={"owner": outsider.email},
                             headers=world.auth(outsider)).status_code == 404
    assert EvidenceRequest.get_by_id(req.id).owner_id == world.contributor.id


def test_the_request_page_shows_the_owner_and_changes_it(app, world, make_user):
    req = world.request()
    lead = make_user("provider_contributor", org="BPO A")
    reviewer = signed_in(app, world.reviewer)
    page = text(reviewer.get(f"/requests/{req.id}"))
    assert "Nobody yet" in page
    assert f'action="/requests/{req.id}/owner"' in page and lead.email in page
    posted = reviewer.post(f"/requests/{req.id}/owner",
                           data={"csrf_token": token(reviewer, f"/requests/{req.id}"), "owner": str(lead.id)})
    assert posted.status_code == 302
    assert lead.email in text(reviewer.get(f"/requests/{req.id}"))
    bad = reviewer.post(f"/requests/{req.id}/owner",
                        data={"csrf_token": token(reviewer, f"/requests/{req.id}"), "owner": str(world.admin.id)})
    assert bad.status_code == 422 and "owner must be an active user" in text(bad)
    assert "Change owner" not in text(signed_in(app, world.contributor).get(f"/requests/{req.id}"))


# ------------------------------------------------------------------------------------------ bulk decisions

def three_submitted(world) -> list[int]:
    ids = []
    for skip in range(3):
        req = world.request(skip=skip)
        ids.append(world.upload(req, demo_files.pdf(f"report {skip}")).get_json()["id"])
    return ids


def test_bulk_accept_is_one_audited_decision_per_item(world):
    ids = three_submitted(world)
    answer = world.client.post("/api/v1/evidence/review", json={"ids": ids, "decision": "accept",
                                                                "comment": "Checked together"},
                               headers=world.auth(world.reviewer))
    assert answer.status_code == 200 and [i["status"] for i in answer.get_json()["items"]] == ["accepted"] * 3
    events = list(AuditEvent.select().where(AuditEvent.action == "evidence.review").order_by(AuditEvent.id))
    assert sorted(int(e.object_id) for e in events) == sorted(ids)
    assert {Evidence.get_by_id(i).review_comment for i in ids} == {"Checked together"}


def test_bulk_is_all_or_nothing_and_names_each_item_it_cannot_decide(world, make_user):
    ids = three_submitted(world)
    assert world.review(ids[1], "accept").status_code == 200
    headers = world.auth(world.reviewer)
    refused = world.client.post("/api/v1/evidence/review", json={"ids": ids, "decision": "accept"}, headers=headers)
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert [i["id"] for i in error["items"]] == [ids[1]] and f"evidence {ids[1]}" in error["message"]
    assert [Evidence.get_by_id(i).status for i in (ids[0], ids[2])] == ["submitted", "submitted"]
    mixed = world.client.post("/api/v1/evidence/review", json={"ids": [ids[0], ids[1], 99999999],
                                                               "decision": "accept"}, headers=headers)
    assert mixed.status_code == 422 and [i["id"] for i in mixed.get_json()["error"]["items"]] == [ids[1], 99999999]
    no_reason = world.client.post("/api/v1/evidence/review", json={"ids": [ids[0], ids[2]], "decision": "reject"},
                                  headers=headers)
    assert no_reason.status_code == 422 and Evidence.get_by_id(ids[0]).status == "submitted"
    for body in ({"ids": [], "decision": "accept"}, {"ids": [ids[0], ids[0]], "decision": "accept"},
                 {"ids": ["x"], "decision": "accept"}, {"ids": [ids[0]], "decision": "maybe"}, {"ids": "1"}):
        assert world.client.post("/api/v1/evidence/review", json=body, headers=headers).status_code == 422, body
    assert AuditEvent.select().where(AuditEvent.action == "evidence.review").count() == 1
    # another tenant's reviewer: as if the items did not exist
    outsider = make_user("risk_reviewer", org="Bank B")
    foreign = world.client.post("/api/v1/evidence/review", json={"ids": [ids[0]], "decision": "accept"},
                                headers=world.auth(outsider))
    missing = world.client.post("/api/v1/evidence/review", json={"ids": [99999999], "decision": "accept"},
                                headers=world.auth(outsider))
    assert foreign.status_code == missing.status_code == 404
    strip = [{k: v for k, v in item.items() if k != "id"} for item in foreign.get_json()["error"]["items"]]
    assert strip == [{k: v for k, v in item.items() if k != "id"} for item in missing.get_json()["error"]["items"]]


def test_bulk_reject_from_the_queue_form_survives_a_double_click(app, world):
    ids = three_submitted(world)
    reviewer = signed_in(app, world.reviewer)
    queue = text(reviewer.get("/review"))
    assert 'form="bulk-review"' in queue and 'name="idempotency_key"' in queue
    form = {"csrf_token": token(reviewer, "/review"), "idempotency_key": str(uuid.uuid4()), "ids": ids[:2],
            "decision": "reject", "comment": "Unsigned: sign page 2"}
    first = reviewer.post("/review/bulk", data=form)
    second = reviewer.post("/review/bulk", data=form)
    assert first.status_code == second.status_code == 302
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert [Evidence.get_by_id(i).status for i in ids] == ["rejected", "rejected", "submitted"]
    assert AuditEvent.select().where(AuditEvent.action == "evidence.review").count() == 2
    wrong = reviewer.post("/review/bulk", data={"csrf_token": token(reviewer, "/review"), "ids": ids,
                                                "decision": "accept"})
    assert wrong.status_code == 409 and f"evidence {ids[0]}" in text(wrong)
    assert Evidence.get_by_id(ids[2]).status == "submitted"
    api = world.client.post("/api/v1/evidence/review", json={"ids": [ids[2]], "decision": "accept"},
                            headers={**world.auth(world.reviewer), "Idempotency-Key": "bulk-1"})
    replay = world.client.post("/api/v1/evidence/review", json={"ids": [ids[2]], "decision": "accept"},
                               headers={**world.auth(world.reviewer), "Idempotency-Key": "bulk-1"})
    assert api.status_code == replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"


def test_the_bulk_routes_are_in_the_openapi_document(world):
    doc = world.client.get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/evidence/review", "/api/v1/kpi-results/review", "/api/v1/inbox",
                 "/api/v1/requests/{request_id}/owner"):
        assert any(p.endswith(path.removeprefix("/api/v1")) for p in doc["paths"]), path
