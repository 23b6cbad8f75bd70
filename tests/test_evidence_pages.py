"""Evidence pages through the test client: the request page (versions, history, forms by role), the
no-JavaScript upload, review and withdraw forms, the provider's inbox and the review queue with its
side-by-side viewer."""
from __future__ import annotations

import io
import re

import pytest
from test_pages import signed_in, text

from models import AuditEvent, Evidence, EvidenceFile, EvidenceRequest, EvidenceRequirement
from services.demo import files as demo_files

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def token(client, url: str) -> str:
    return CSRF.search(text(client.get(url))).group(1)


def form_upload(client, req, files, *, effective_date="2025-01-15", csrf=True):
    """POST the request page's plain multipart form (csrf_token first, as a browser sends it)."""
    data = {"csrf_token": token(client, f"/requests/{req.id}")} if csrf else {}
    data |= {"effective_date": effective_date, "note": "",
             "file": [(io.BytesIO(content), name) for name, content in files]}
    return client.post(f"/requests/{req.id}/upload", data=data, content_type="multipart/form-data")


@pytest.fixture
def world(evidence_world):
    return evidence_world


def test_request_page_shows_what_is_owed_and_the_forms_each_role_may_use(app, world, make_user):
    req = world.request()
    provider = signed_in(app, world.contributor)
    page = text(provider.get(f"/requests/{req.id}"))
    assert req.requirement.name in page and req.control.code in page
    assert "application/pdf" in page and "No evidence uploaded yet." in page
    assert f'action="/requests/{req.id}/upload?idempotency_key=' in page and 'multiple' in page
    assert f'data-upload-url="/api/v1/engagements/{world.engagement.id}/evidence"' in page
    assert "/static/upload.js" in page
    reviewer = text(signed_in(app, world.reviewer).get(f"/requests/{req.id}"))
    assert "Upload evidence" not in reviewer and "upload.js" not in reviewer
    outsider = signed_in(app, make_user("provider_contributor", org="BPO Z"))
    assert outsider.get(f"/requests/{req.id}").status_code == 404
    assert outsider.get("/requests/999999").status_code == 404


def test_form_upload_of_several_files_makes_one_version_and_history(app, world):
    req = world.request()
    client = signed_in(app, world.contributor)
    response = form_upload(client, req, [("q1.pdf", demo_files.pdf("one")), ("q1-annex.pdf", demo_files.pdf("two"))])
    assert response.status_code == 302, re.findall(r"form-error\">([^<]*)", text(response))
    assert response.headers["Location"].endswith(f"/requests/{req.id}")
    page = text(client.get(f"/requests/{req.id}"))
    assert "Uploaded version 1 (“q1.pdf”, “q1-annex.pdf”)" in page
    (version,) = Evidence.select().where(Evidence.request == req.id)
    assert (version.version, version.original_filename, version.status) == (1, "q1.pdf", "submitted")
    files = list(EvidenceFile.select().where(EvidenceFile.evidence == version.id).order_by(EvidenceFile.position))
    assert [f.original_filename for f in files] == ["q1.pdf", "q1-annex.pdf"]
    assert f'href="/api/v1/evidence/{version.id}/file"' in page  # the first file, as a single file always was
    assert f'href="/api/v1/evidence/{version.id}/files/{files[1].id}/file"' in page
    assert all(f.sha256 in page for f in files)
    assert "Version 1: q1.pdf and 1 more file" in page and "Files (2)" in page
    assert "Versions (1)" in page and "submitted" in page.lower()
    history = page[page.index('id="history-heading"'):]
    assert re.search(r"(open|overdue) → <strong>submitted</strong> <span class=\"small\">\(version 1\)", history)
    assert EvidenceRequest.get_by_id(req.id).status == "submitted"


def test_form_upload_errors_keep_the_page_and_store_nothing(app, world):
    req = world.request()
    client = signed_in(app, world.contributor)
    bad_type = form_upload(client, req, [("tool.pdf", b"MZ\x90\x00" + b"\x00" * 200)])
    assert bad_type.status_code == 415 and "this requirement accepts" in text(bad_type)
    future = form_upload(client, req, [("a.pdf", demo_files.pdf("x"))], effective_date="2999-01-01")
    assert future.status_code == 422 and 'id="form-error"' in text(future)
    assert form_upload(client, req, [("a.pdf", demo_files.pdf("x"))], csrf=False).status_code == 400
    assert not Evidence.select().where(Evidence.request == req.id).exists()


def test_review_accept_and_reject_with_reason_through_the_forms(app, world):
    req_a, req_b = world.request(), world.request(skip=1)
    provider = signed_in(app, world.contributor)
    form_upload(provider, req_a, [("a.pdf", demo_files.pdf("a"))])
    form_upload(provider, req_b, [("b.pdf", demo_files.pdf("b"))])
    a = Evidence.get(Evidence.request == req_a.id)
    b = Evidence.get(Evidence.request == req_b.id)
    reviewer = signed_in(app, world.reviewer)
    page = text(reviewer.get(f"/requests/{req_a.id}"))
    assert "Accept version 1" in page and "Reject version 1" in page
    csrf = token(reviewer, f"/requests/{req_a.id}")
    assert reviewer.post(f"/evidence/{a.id}/review", data={"csrf_token": csrf, "decision": "accept"}).status_code == 302
    no_reason = reviewer.post(f"/evidence/{b.id}/review", data={"csrf_token": csrf, "decision": "reject"})
    assert no_reason.status_code == 422 and Evidence.get_by_id(b.id).status == "submitted"
    assert reviewer.post(f"/evidence/{b.id}/review", data={"decision": "reject", "comment": "x"}).status_code == 400
    rejected = reviewer.post(f"/evidence/{b.id}/review",
                             data={"csrf_token": csrf, "decision": "reject", "comment": "Unsigned: sign page 2",
                                   "return_to": "queue"})
    assert rejected.status_code == 302 and rejected.headers["Location"].endswith("/review")
    again = reviewer.post(f"/evidence/{a.id}/review", data={"csrf_token": csrf, "decision": "reject", "comment": "no"})
    assert again.status_code == 409
    assert (Evidence.get_by_id(a.id).status, Evidence.get_by_id(b.id).status) == ("accepted", "rejected")
    # the provider sees the reason on the request page and first in its inbox
    assert "Unsigned: sign page 2" in text(provider.get(f"/requests/{req_b.id}"))
    inbox = text(provider.get("/inbox"))
    assert "Rejected (1)" in inbox and inbox.index("Unsigned: sign page 2") < inbox.index("Overdue (")
    assert f'href="/requests/{req_b.id}#upload-heading"' in inbox
    assert {e.action for e in AuditEvent.select()} >= {"evidence.upload", "evidence.review"}


def test_withdraw_needs_a_reason_and_keeps_the_item(app, world):
    req = world.request()
    provider = signed_in(app, world.contributor)
    form_upload(provider, req, [("wrong.pdf", demo_files.pdf("wrong"))])
    item = Evidence.get(Evidence.request == req.id)
    page = text(provider.get(f"/requests/{req.id}"))
    assert "Withdraw version 1" in page
    csrf = token(provider, f"/requests/{req.id}")
    assert provider.post(f"/evidence/{item.id}/withdraw", data={"csrf_token": csrf}).status_code == 422
    assert provider.post(f"/evidence/{item.id}/withdraw",
                         data={"csrf_token": csrf, "reason": "wrong quarter"}).status_code == 302
    assert Evidence.get_by_id(item.id).status == "withdrawn"
    assert "wrong quarter" in text(provider.get(f"/requests/{req.id}"))
    reviewer = signed_in(app, world.reviewer)
    assert reviewer.post(f"/evidence/{item.id}/withdraw",
                         data={"csrf_token": token(reviewer, "/review"), "reason": "x"}).status_code == 404


def test_inbox_orders_rejected_overdue_then_due_soon_with_upload_links(app, world):
    page = text(signed_in(app, world.contributor).get("/inbox"))
    overdue = (EvidenceRequest.select().join(EvidenceRequirement)
               .where(EvidenceRequest.engagement == world.engagement.id, EvidenceRequest.status == "overdue",
                      EvidenceRequirement.produced_by == "provider").count())  # client-held evidence is not asked
    # the count is every overdue request; the rows are one page of 50 (the list is paged, not cut at 200)
    assert f"Overdue ({overdue})" in page
    assert page.index("Rejected (") < page.index("Overdue (") < page.index("Due soon (")
    assert page.count("#upload-heading") == min(overdue, 50)
    assert 'href="/inbox"' in page  # the provider's landing, in the nav


def test_review_queue_filters_and_side_by_side_viewer(app, world):
    pdf_req = world.request()
    png_req = world.request("image/png")
    provider = signed_in(app, world.contributor)
    form_upload(provider, pdf_req, [("report.pdf", demo_files.pdf("r"))])
    form_upload(provider, png_req, [("screen.png", demo_files.png())])
    reviewer = signed_in(app, world.reviewer)
    queue = text(reviewer.get("/review"))
    assert "2 items awaiting review" in queue
    assert queue.index("report.pdf") < queue.index("screen.png")  # oldest first
    narrowed = text(reviewer.get(f"/review?control={png_req.control.code}"))
    assert "screen.png" in narrowed and ("report.pdf" not in narrowed or pdf_req.control_id == png_req.control_id)
    assert reviewer.get("/review?framework=NOPE").status_code == 422
    assert reviewer.get("/review?engagement=99999").status_code == 422
    pdf = Evidence.get(Evidence.request == pdf_req.id)
    png = Evidence.get(Evidence.request == png_req.id)
    viewer = text(reviewer.get(f"/review/{pdf.id}"))
    assert f'<iframe class="viewer-frame" src="/api/v1/evidence/{pdf.id}/file?disposition=inline"' in viewer
    assert pdf_req.requirement.name in viewer and "Accept version 1" in viewer
    assert 'name="return_to" value="queue"' in viewer
    assert f'<img class="viewer-image" src="/api/v1/evidence/{png.id}/file?disposition=inline"' in \
        text(reviewer.get(f"/review/{png.id}"))
    inline = reviewer.get(f"/api/v1/evidence/{pdf.id}/file?disposition=inline")
    assert inline.status_code == 200 and "sandbox" in inline.headers["Content-Security-Policy"]


def test_every_request_list_links_to_the_request_page(app, world):
    client = signed_in(app, world.admin)
    e = world.engagement.id
    for url in (f"/engagements/{e}", f"/engagements/{e}/requests", "/dashboard"):
        page = text(client.get(url))
        assert re.search(r'href="/requests/\d+"', page), url
    home = text(client.get("/"))
    assert 'class="kpi kpi-overdue kpi-link" href="/dashboard"' in home and 'href="/review"' in home
    assert f'href="/engagements/{e}/requests?status=overdue"' in home


def section(page: str, table_id: str) -> str:
    """The HTML of one table of a page (empty when it is absent)."""
    start = page.find(f'id="{table_id}"')
    return page[start:page.find("</table>", start)] if start >= 0 else ""


def test_a_rejection_stays_in_front_of_the_provider_with_its_reason_once_overdue(app, world):
    import datetime as dt

    from models import utcnow
    from services.alerts.scheduler import tick
    req = world.request(statuses=("open",))
    item = world.upload(req).get_json()
    assert world.review(item["id"], "reject", "Page 2 of the access review is missing").status_code == 200
    EvidenceRequest.update(due_at=utcnow() - dt.timedelta(days=30)).where(EvidenceRequest.id == req.id).execute()
    tick()
    assert EvidenceRequest.get_by_id(req.id).status == "overdue"
    provider = signed_in(app, world.contributor)
    inbox = text(provider.get("/inbox"))
    rejected = section(inbox, "inbox-rejected")
    assert f'href="/requests/{req.id}"' in rejected and "Page 2 of the access review is missing" in rejected
    assert "d overdue" in rejected
    assert f'href="/requests/{req.id}"' not in section(inbox, "inbox-overdue")  # once, where its reason is
    page = text(provider.get(f"/requests/{req.id}"))
    assert "Rejected: what to fix" in page and "Page 2 of the access review is missing" in page
    assert "now overdue" in page
    assert world.upload(req, demo_files.pdf("Access review Q1, both pages")).status_code == 201
    inbox = text(provider.get("/inbox"))
    assert f'href="/requests/{req.id}"' not in section(inbox, "inbox-rejected")
    assert "Rejected: what to fix" not in text(provider.get(f"/requests/{req.id}"))


def test_the_effective_date_defaults_to_the_end_of_the_period_the_evidence_proves(app, world):
    import datetime as dt
    provider = signed_in(app, world.contributor)
    past = world.request(statuses=("overdue",))
    assert past.period_end < dt.date.today()
    page = text(provider.get(f"/requests/{past.id}"))
    assert re.search(rf'name="effective_date" value="{past.period_end.isoformat()}"', page)
    running = (EvidenceRequest.select().where(EvidenceRequest.engagement == world.engagement.id,
                                              EvidenceRequest.period_end > dt.date.today() + dt.timedelta(days=2),
                                              EvidenceRequest.status.in_(("open", "upcoming"))).first())
    page = text(provider.get(f"/requests/{running.id}"))
    today = re.search(r'name="effective_date" value="([\d-]+)" max="([\d-]+)"', page)
    assert today.group(1) == today.group(2)  # a period still running: today, never a future date


def test_the_history_shows_each_event_once(app, world):
    """An upload and a decision move the version and the request together: one line each on the page, not two."""
    req = world.request()
    provider = signed_in(app, world.contributor)
    assert form_upload(provider, req, [("q1.pdf", demo_files.pdf("one"))]).status_code == 302
    item = Evidence.get(Evidence.request == req.id)
    world.review(item.id, "reject", "Page 2 is missing")
    page = text(signed_in(app, world.reviewer).get(f"/requests/{req.id}"))
    history = page[page.index('id="history-heading"'):]
    lines = re.findall(r"<li>.*?</li>", history, re.S)
    assert len(lines) == 2, lines
    assert sum("<strong>rejected</strong>" in line for line in lines) == 1
    assert "Page 2 is missing" in lines[-1]
    assert "(version 1)" in lines[0] and "<strong>submitted</strong>" in lines[0]
