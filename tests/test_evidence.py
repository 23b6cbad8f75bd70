"""Evidence through the API: upload (streamed, sniffed, versioned), review, withdraw, download, the request
page's data, the review queue and the provider inbox (SPEC §2, §5)."""
from __future__ import annotations

import datetime as dt
import hashlib
import os

import evidence_store
from domain.recurrence import parse_frequency
from models import AuditEvent, Evidence, EvidenceRequest, RequestHistory
from services.demo import files as demo_files
from services.evidence import evidence as evidence_service
from services.evidence import inbox

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def stored_files() -> list[str]:
    store = evidence_store.get_store()
    return [h for h in store.all_hashes()]


def test_upload_stores_the_file_once_by_hash_and_submits_the_request(evidence_world):
    w = evidence_world
    req = w.request()
    data = demo_files.pdf("Quarterly access recertification")
    response = w.upload(req, data, filename="recert Q1.pdf", note="Signed by the CISO")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert (body["size"], body["media_type"], body["version"], body["status"]) == (len(data), "application/pdf", 1,
                                                                                   "submitted")
    assert body["filename"] == "recert Q1.pdf" and body["uploaded_by"] == w.contributor.email
    store = evidence_store.get_store()
    with store.open(body["sha256"]) as handle:
        assert handle.read() == data
    assert store.temporary_files() == []
    assert EvidenceRequest.get_by_id(req.id).status == "submitted"
    moves = [(h.subject, h.from_status, h.to_status, h.evidence_id) for h in
             RequestHistory.select().where(RequestHistory.request == req.id).order_by(RequestHistory.id)]
    assert moves == [("evidence", "", "submitted", body["id"]), ("request", req.status, "submitted", body["id"])]
    event = AuditEvent.get(AuditEvent.action == "evidence.upload")
    assert event.object_id == str(body["id"]) and event.actor_id == w.contributor.id


def test_a_new_upload_is_a_new_version_and_nothing_is_overwritten(evidence_world):
    w = evidence_world
    req = w.request()
    first = w.upload(req, demo_files.pdf("v1")).get_json()
    second = w.upload(req, demo_files.pdf("v2"), filename="v2.pdf").get_json()
    assert (first["version"], second["version"]) == (1, 2)
    assert Evidence.select().where(Evidence.request == req.id).count() == 2
    assert {first["sha256"], second["sha256"]} <= set(stored_files())


def test_accept_then_a_newer_accepted_version_supersedes_the_older(evidence_world):
    w = evidence_world
    req = w.request()
    v1 = w.upload(req, demo_files.pdf("v1")).get_json()
    accepted = w.review(v1["id"], "accept", "Looks complete")
    assert accepted.status_code == 200 and accepted.get_json()["status"] == "accepted"
    assert accepted.get_json()["reviewed_by"] == w.reviewer.email
    assert EvidenceRequest.get_by_id(req.id).status == "accepted"
    v2 = w.upload(req, demo_files.pdf("v2")).get_json()
    assert EvidenceRequest.get_by_id(req.id).status == "submitted"
    assert w.review(v2["id"], "accept").status_code == 200
    assert Evidence.get_by_id(v1["id"]).status == "superseded"
    assert EvidenceRequest.get_by_id(req.id).status == "accepted"
    again = w.review(v1["id"], "accept")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "conflict"


def test_rejection_needs_a_reason_and_sends_the_request_back_with_it(evidence_world):
    w = evidence_world
    req = w.request()
    item = w.upload(req).get_json()
    for comment in (None, "", "   "):
        refused = w.review(item["id"], "reject", comment)
        assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "comment"
    assert Evidence.get_by_id(item["id"]).status == "submitted"
    rejected = w.review(item["id"], "reject", "Not signed by the control owner")
    assert rejected.status_code == 200 and rejected.get_json()["review_comment"] == "Not signed by the control owner"
    assert EvidenceRequest.get_by_id(req.id).status == "rejected"
    decided = w.review(item["id"], "accept")
    assert decided.status_code == 409
    box = inbox.provider_inbox(w.contributor)
    assert box.rejected[0].request.id == req.id and box.rejected[0].reason == "Not signed by the control owner"
    detail = w.client.get(f"/api/v1/requests/{req.id}", headers=w.auth(w.contributor)).get_json()
    assert detail["status"] == "rejected"
    assert detail["versions"][0]["review_comment"] == "Not signed by the control owner"
    assert [h["to_status"] for h in detail["history"]][-2:] == ["rejected", "rejected"]
    assert detail["history"][-1]["reason"] == "Not signed by the control owner"


def test_withdraw_keeps_the_item_and_reopens_the_request(evidence_world):
    w = evidence_world
    req = w.request(statuses=("open",))
    item = w.upload(req).get_json()
    refused = w.withdraw(item["id"], reason=None)
    assert refused.status_code == 422
    withdrawn = w.withdraw(item["id"], "Wrong quarter")
    assert withdrawn.status_code == 200 and withdrawn.get_json()["status"] == "withdrawn"
    assert Evidence.get_by_id(item["id"]).status == "withdrawn"
    assert EvidenceRequest.get_by_id(req.id).status == "open"
    assert w.withdraw(item["id"], "again").status_code == 409
    assert w.review(item["id"], "accept").status_code == 409
    # the client reviews, it does not withdraw the provider's evidence
    other = w.upload(req).get_json()
    assert w.withdraw(other["id"], "no", user=w.reviewer).status_code == 404


def test_download_is_an_attachment_with_nosniff_and_is_audited(evidence_world):
    w = evidence_world
    req = w.request()
    data = demo_files.pdf("download me")
    item = w.upload(req, data, filename="Überprüfung \"Q1\".pdf").get_json()
    response = w.client.get(f"/api/v1/evidence/{item['id']}/file", headers=w.auth(w.reviewer))
    assert response.status_code == 200 and response.data == data
    assert response.mimetype == "application/pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "filename*=UTF-8''%C3%9Cberpr%C3%BCfung" in disposition
    inline = w.client.get(f"/api/v1/evidence/{item['id']}/file?disposition=inline", headers=w.auth(w.reviewer))
    assert inline.headers["Content-Disposition"].startswith("inline;")
    assert inline.headers["Content-Security-Policy"].startswith("sandbox;")
    downloads = AuditEvent.select().where(AuditEvent.action == "evidence.download",
                                          AuditEvent.object_id == str(item["id"]))
    assert downloads.count() == 2 and {e.actor_id for e in downloads} == {w.reviewer.id}


def test_a_csv_is_never_shown_inline(evidence_world):
    w = evidence_world
    req = w.request("text/csv")
    item = w.upload(req, demo_files.csv_file([["user", "role"], ["a", "agent"]]), filename="users.csv").get_json()
    assert item["media_type"] == "text/csv"
    response = w.client.get(f"/api/v1/evidence/{item['id']}/file?disposition=inline", headers=w.auth(w.reviewer))
    assert response.headers["Content-Disposition"].startswith("attachment;")


def test_review_queue_is_oldest_first_filtered_and_never_the_reviewers_own(evidence_world):
    w = evidence_world
    first_request = w.request()
    first = w.upload(first_request).get_json()
    second = w.upload(w.request(not_control=first_request.control_id)).get_json()
    queue = w.client.get("/api/v1/review-queue", headers=w.auth(w.reviewer)).get_json()
    assert [i["id"] for i in queue["items"]] == [first["id"], second["id"]]
    control = queue["items"][1]["control"]
    filtered = w.client.get(f"/api/v1/review-queue?control={control}&engagement={w.engagement.id}",
                            headers=w.auth(w.reviewer)).get_json()
    assert [i["id"] for i in filtered["items"]] == [second["id"]]
    assert w.client.get("/api/v1/review-queue", headers=w.auth(w.contributor)).get_json()["total"] == 0
    assert w.client.get("/api/v1/review-queue?control=NOPE-99", headers=w.auth(w.reviewer)).status_code == 422
    # an unknown framework is a bad filter value like an unknown control (422), as on the inbox and the dashboard
    assert w.client.get("/api/v1/review-queue?framework=NOPE", headers=w.auth(w.reviewer)).status_code == 422


def test_client_held_evidence_is_uploaded_by_the_risk_team_and_reviewed_by_someone_else(evidence_world):
    w = evidence_world
    req = w.request(produced_by="client", statuses=("open", "overdue", "upcoming"))
    assert w.upload(req, user=w.contributor).status_code == 404  # the provider is not asked for it
    item = w.upload(req, user=w.reviewer)
    assert item.status_code == 201, item.get_json()
    own = w.review(item.get_json()["id"], "accept", user=w.reviewer)
    assert own.status_code == 409
    assert w.review(item.get_json()["id"], "accept", user=w.admin).status_code == 200
    assert req.id not in [i.request.id for i in inbox.provider_inbox(w.contributor).items]


def test_effective_date_sets_valid_until(evidence_world):
    w = evidence_world
    req = w.request()
    day = dt.date.today() - dt.timedelta(days=10)
    body = w.upload(req, effective_date=day.isoformat()).get_json()
    validity = dt.timedelta(days=req.requirement.validity_days)
    interval = parse_frequency(req.control.frequency).step  # never longer than the control's interval
    grace = dt.timedelta(days=w.engagement.grace_days)  # plus the engagement's grace, as a late request gets
    assert body["effective_date"] == day.isoformat()
    assert body["valid_until"] == (min(day + validity, day + interval) + grace).isoformat()


def test_the_temporary_directory_is_empty_after_every_upload(evidence_world):
    store = evidence_store.get_store()
    evidence_world.upload(evidence_world.request())
    assert os.listdir(store.tmp_dir) == []


def test_the_schedulers_time_driven_moves_are_in_the_request_history(evidence_world):
    from services.alerts.scheduler import tick
    w = evidence_world
    req = w.request(statuses=("open",))
    later = req.due_at + dt.timedelta(days=w.engagement.grace_days + 1)
    result = tick(later)
    assert EvidenceRequest.get_by_id(req.id).status == "overdue"
    move = RequestHistory.get(RequestHistory.request == req.id)
    assert (move.from_status, move.to_status, move.actor_email, move.actor_id) == ("open", "overdue", "scheduler", None)
    assert move.at == later and "grace" in move.reason
    moved = result.overdue
    assert moved >= 1
    assert RequestHistory.select().where(RequestHistory.to_status == "overdue").count() == moved
    tick(later)  # a second pass at the same instant records nothing more
    assert RequestHistory.select().where(RequestHistory.to_status == "overdue").count() == moved


def test_rejecting_a_newer_version_keeps_the_accepted_one_standing(evidence_world):
    w = evidence_world
    req = w.request()
    v1 = w.upload(req, demo_files.pdf("v1")).get_json()
    w.review(v1["id"], "accept")
    v2 = w.upload(req, demo_files.pdf("v2")).get_json()
    v3 = w.upload(req, demo_files.pdf("v3")).get_json()
    assert w.review(v2["id"], "reject", "Wrong period").status_code == 200
    assert EvidenceRequest.get_by_id(req.id).status == "submitted"  # v3 still pending
    assert w.withdraw(v3["id"], "Replaced").status_code == 200
    assert EvidenceRequest.get_by_id(req.id).status == "accepted"  # v1 still stands
    assert Evidence.get_by_id(v1["id"]).status == "accepted"
    older = w.upload(req, demo_files.pdf("v4")).get_json()
    newest = w.upload(req, demo_files.pdf("v5")).get_json()
    assert w.review(newest["id"], "accept").status_code == 200
    conflict = w.review(older["id"], "accept")  # an older version than the accepted one
    assert conflict.status_code == 409 and "newer" in conflict.get_json()["error"]["message"]
    detail = evidence_service.request_detail(w.reviewer, req.id)
    assert [v.version for v in detail.versions] == [5, 4, 3, 2, 1]
    assert [v.status for v in detail.versions] == ["accepted", "submitted", "withdrawn", "rejected", "superseded"]
    assert detail.may_review and not detail.may_upload


def test_several_files_in_one_upload_are_one_version(app, evidence_world):
    """The page form and the API send several ``file`` parts; ``web.uploads.parse_upload`` streams each into
    the store and the service makes them one submission: one version holding every file, in order."""
    import io

    from web.uploads import parse_upload
    w = evidence_world
    req = w.request()
    files = {text: demo_files.pdf(text) for text in ("one", "two", "three")}
    data = {"request_id": str(req.id), "effective_date": dt.date.today().isoformat(),
            "file": [(io.BytesIO(body), f"{text}.pdf") for text, body in files.items()]}
    with app.test_request_context(f"/api/v1/engagements/{w.engagement.id}/evidence", method="POST",
                                  data=data, content_type="multipart/form-data"):
        form = parse_upload(require_csrf=False)
    assert [(u.filename, u.staged.size) for u in form.files] == [(f"{t}.pdf", len(b)) for t, b in files.items()]
    created = evidence_service.upload(w.contributor, w.engagement.id, request_id=form.fields["request_id"],
                                      effective_date=form.fields["effective_date"], files=form.files)
    assert created.version == 1 and Evidence.select().where(Evidence.request == req.id).count() == 1
    assert [f.original_filename for f in created.file_rows] == ["one.pdf", "two.pdf", "three.pdf"]
    assert [f.sha256 for f in created.file_rows] == [hashlib.sha256(b).hexdigest() for b in files.values()]
    assert (created.original_filename, created.sha256) == ("one.pdf", created.file_rows[0].sha256)
    assert evidence_store.get_store().temporary_files() == []
