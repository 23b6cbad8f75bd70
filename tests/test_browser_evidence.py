"""The provider's and reviewer's day in headless Chromium: a provider signs in, sees what is due, withdraws a wrong
file, uploads several files as one version under one progress bar (and one by drag-and-drop); a reviewer accepts
one and rejects one with a reason from the review queue's side-by-side view; the provider sees the reason.
axe-core checks the provider's and the reviewer's pages on the way."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from test_browser import _serious, sign_in

from models import AuditEvent, Evidence, EvidenceFile, EvidenceRequest, EvidenceRequirement
from services.demo import files as demo_files

pytestmark = pytest.mark.browser


def padded_pdf(text: str, size: int = 2 * 1024 * 1024) -> bytes:
    """A real PDF, made large enough that the upload takes more than one network write."""
    body = demo_files.pdf(text)
    return body + b"\n%" + b"0" * (size - len(body))


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login"))


def provider_requests(engagement, n: int) -> list[EvidenceRequest]:
    return list(EvidenceRequest.select().join(EvidenceRequirement)
                .where(EvidenceRequest.engagement == engagement, EvidenceRequest.status == "overdue",
                       EvidenceRequirement.produced_by == "provider",
                       EvidenceRequirement.accepted_types.contains('"application/pdf"'))
                .order_by(EvidenceRequest.due_at, EvidenceRequest.id).limit(n))


def test_provider_uploads_and_withdraws_reviewer_decides_provider_sees_the_reason(browser_page, make_user, tmp_path):
    from axe_playwright_python.sync_playwright import Axe

    from services.register.engagements import create_accepted_engagement
    axe, problems = Axe(), []
    admin = make_user("client_admin")
    reviewer = make_user("risk_reviewer")
    provider = make_user("provider_contributor")
    engagement = create_accepted_engagement(admin, {
        "name": "Inbound sales centre", "provider": "BPO A", "place": "NSW", "frameworks": ["ISO27001-2022", "CPS234"],
        "start_date": (dt.date.today() - dt.timedelta(days=200)).isoformat()})
    first, second = provider_requests(engagement, 2)
    page = browser_page

    # the provider lands, opens "What is due" and goes to the upload in one click
    sign_in(page, provider)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="What is due").click()
    page.wait_for_url(re.compile(r"/inbox$"))
    problems += _serious(axe.run(page), "/inbox")
    assert page.get_by_role("heading", name=re.compile(r"^Overdue \(\d+\)")).is_visible()
    page.get_by_role("link", name=re.compile(rf"Upload for .*request {first.id}\)")).click()
    page.wait_for_url(re.compile(rf"/requests/{first.id}#upload-heading$"))
    page.wait_for_load_state("load")  # static/upload.js has enhanced the form
    problems += _serious(axe.run(page), f"/requests/{first.id}")

    # a wrong file first, withdrawn with a reason
    wrong = tmp_path / "old-access-review.pdf"
    wrong.write_bytes(padded_pdf("Access review, last quarter", size=200_000))
    page.get_by_label(re.compile(r"^Files")).set_input_files(str(wrong))
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("Uploaded: version 1").wait_for()
    page.get_by_role("link", name="Uploaded: show the new version").click()
    page.get_by_label("Reason for withdrawing version 1").fill("Last quarter's review, uploaded by mistake")
    page.get_by_role("button", name="Withdraw version 1").click()
    assert "withdrawn" in page.get_by_role("status").first.inner_text()
    assert page.get_by_text("Last quarter's review, uploaded by mistake").first.is_visible()

    # several files at once: one submission (one version), sent on one XMLHttpRequest under one progress bar
    page.wait_for_load_state("load")
    files = [tmp_path / "access-review.pdf", tmp_path / "access-review-annex.pdf"]
    for i, path in enumerate(files):
        path.write_bytes(padded_pdf(f"Access review part {i + 1}"))
    page.get_by_label(re.compile(r"^Files")).set_input_files([str(p) for p in files])
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("Uploaded: version 2 (2 files)").wait_for()
    assert page.locator(".upload-status").count() == 1
    (bar,) = page.locator(".upload-list progress").all()
    value, maximum = bar.evaluate("b => [b.value, b.max]")
    # the bar's scale came from the upload's own progress events (the whole multipart body, a bit larger
    # than the files) and it ended full
    assert maximum > sum(p.stat().st_size for p in files) and value == maximum
    page.get_by_role("link", name="Uploaded: show the new version").click()
    assert page.get_by_role("heading", name="Versions (2)").is_visible()
    assert page.get_by_role("heading", name="Version 2: access-review.pdf and 1 more file").is_visible()

    # the second request: a file dropped on the drop zone
    page.goto(f"/requests/{second.id}")
    page.wait_for_load_state("load")
    # a refused file (empty): its bar empties and is marked failed, never full like a success
    refused = page.evaluate_handle("""() => { const dt = new DataTransfer();
        dt.items.add(new File([], "notes.pdf", {type: "application/pdf"})); return dt; }""")
    page.dispatch_event("[data-dropzone]", "drop", {"dataTransfer": refused})
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text(re.compile(r"^Not uploaded: ")).wait_for()
    failed_bar = page.locator(".upload-list progress").last
    assert failed_bar.evaluate("b => [b.value, b.classList.contains('failed')]") == [0, True]
    assert failed_bar.get_attribute("aria-label") == "Failed upload of notes.pdf"
    content = list(padded_pdf("Vulnerability scan", size=300_000))
    drop = page.evaluate_handle("""bytes => { const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(bytes)], "scan.pdf", {type: "application/pdf"})); return dt; }""",
                                content)
    page.dispatch_event("[data-dropzone]", "drop", {"dataTransfer": drop})
    assert page.locator("#file").evaluate("i => i.files.length") == 1
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("Uploaded: version 1").wait_for()
    sign_out(page)

    # the reviewer works the queue: oldest first, side by side, accept one and reject one with a reason
    sign_in(page, reviewer)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Review queue").click()
    page.wait_for_url(re.compile(r"/review$"))
    problems += _serious(axe.run(page), "/review")
    assert page.get_by_text("2 items awaiting review").is_visible()
    rows = page.locator("#review-queue tbody tr")
    assert "access-review.pdf" in rows.nth(0).inner_text() and "scan.pdf" in rows.nth(1).inner_text()
    rows.nth(0).get_by_role("link", name=re.compile("^Review ")).click()
    page.wait_for_url(re.compile(r"/review/\d+$"))
    frame = page.locator("iframe.viewer-frame")
    assert re.search(r"/api/v1/evidence/\d+/file\?disposition=inline$", frame.get_attribute("src"))
    problems += _serious(axe.run(page), page.url)
    page.get_by_role("button", name="Accept version 2").click()
    page.wait_for_url(re.compile(r"/review$"))
    page.get_by_role("link", name=re.compile(r"^Review scan\.pdf")).click()
    page.get_by_role("button", name="Reject version 1").click()
    assert page.get_by_role("alert").inner_text() == "comment is required"  # nothing decided without a reason
    assert Evidence.get(Evidence.original_filename == "scan.pdf").status == "submitted"
    page.get_by_label(re.compile(r"^Comment")).fill("The scan report is unsigned: attach the signed copy.")
    page.get_by_role("button", name="Reject version 1").click()
    page.wait_for_url(re.compile(r"/review$"))
    assert page.get_by_text("Nothing awaits review").is_visible()
    sign_out(page)

    # the provider sees the reason first in its inbox and on the request's page
    sign_in(page, provider)
    page.goto("/inbox")
    rejected = page.locator("#inbox-rejected")
    assert "The scan report is unsigned: attach the signed copy." in rejected.inner_text()
    rejected.get_by_role("link", name="Upload for").click()
    assert page.get_by_role("heading", name="Rejected: what to fix").is_visible()
    assert page.get_by_text("The scan report is unsigned: attach the signed copy.").first.is_visible()

    states = {e.original_filename: e.status for e in Evidence.select()}
    assert states == {"old-access-review.pdf": "withdrawn", "access-review.pdf": "accepted", "scan.pdf": "rejected"}
    accepted = Evidence.get(Evidence.original_filename == "access-review.pdf")
    assert [f.original_filename for f in accepted.files.order_by(EvidenceFile.position)] == [
        "access-review.pdf", "access-review-annex.pdf"]
    assert (EvidenceRequest.get_by_id(first.id).status, EvidenceRequest.get_by_id(second.id).status) == \
        ("accepted", "rejected")
    actions = [e.action for e in AuditEvent.select().order_by(AuditEvent.id)]
    assert actions.count("evidence.upload") == 3 and actions.count("evidence.review") == 2
    assert "evidence.withdraw" in actions
    assert problems == []
