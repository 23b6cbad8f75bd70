"""One submission, several files, in headless Chromium at 390 px and 1280 px: the provider chooses two files, sees
them listed, sends them with one submit under one progress bar and gets one version holding both; the reviewer's
side-by-side view lists both files and shows either. axe-core finds no violation on the way; screenshots of each
step are written to the test's temporary directory."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from test_browser_evidence import padded_pdf, provider_requests
from test_layout_browser import LAPTOP, PHONE, _overflow, _signed_in, _violations

from models import Evidence, EvidenceFile

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [PHONE, LAPTOP])
def test_two_files_are_one_version_with_one_progress_bar(chromium, live_server, make_user, tmp_path, width):
    from services.register.engagements import create_accepted_engagement
    admin, reviewer = make_user("client_admin"), make_user("risk_reviewer")
    provider = make_user("provider_contributor")
    engagement = create_accepted_engagement(admin, {
        "name": "Collections centre", "provider": "BPO A", "place": "NSW", "frameworks": ["ISO27001-2022"],
        "start_date": (dt.date.today() - dt.timedelta(days=200)).isoformat()})
    (req,) = provider_requests(engagement, 1)
    files = [tmp_path / "sla-report.pdf", tmp_path / "review-minutes.pdf"]
    for i, path in enumerate(files):
        path.write_bytes(padded_pdf(f"Service review part {i + 1}", size=600_000))
    problems: list[str] = []

    context, page = _signed_in(chromium, live_server, provider, width)
    try:
        page.goto(f"/requests/{req.id}")
        page.wait_for_load_state("load")  # static/upload.js has enhanced the form
        page.get_by_label(re.compile(r"^Files")).set_input_files([str(p) for p in files])
        chosen = page.locator(".upload-list .upload-file .file-name")
        assert chosen.all_inner_texts() == ["sla-report.pdf", "review-minutes.pdf"]  # listed before sending
        problems += _violations(page, f"/requests/{req.id} (files chosen)")
        page.screenshot(path=str(tmp_path / f"chosen_{width}.png"))
        page.get_by_role("button", name="Upload", exact=True).click()
        page.get_by_text("Uploaded: version 1 (2 files)").wait_for()
        bars = page.locator(".upload-list progress")
        assert bars.count() == 1  # one bar for the submission
        value, maximum = bars.first.evaluate("b => [b.value, b.max]")
        assert value == maximum > sum(p.stat().st_size for p in files)  # the whole body's progress, ended full
        assert bars.first.get_attribute("aria-label") == "Upload progress of 2 files"
        problems += _violations(page, f"/requests/{req.id} (uploaded)")
        page.get_by_role("link", name="Uploaded: show the new version").click()
        assert page.get_by_role("heading", name="Versions (1)").is_visible()
        assert page.get_by_role("heading", name="Version 1: sla-report.pdf and 1 more file").is_visible()
        for path in files:
            assert page.get_by_role("link", name=f"Download {path.name}").is_visible()
        assert _overflow(page) <= 1, f"{_overflow(page)} px wider than {width}"
        problems += _violations(page, f"/requests/{req.id}")
        page.screenshot(path=str(tmp_path / f"request_{width}.png"), full_page=True)
    finally:
        context.close()
    (item,) = Evidence.select().where(Evidence.request == req.id)
    stored = EvidenceFile.select().where(EvidenceFile.evidence == item.id).order_by(EvidenceFile.position)
    assert [f.original_filename for f in stored] == ["sla-report.pdf", "review-minutes.pdf"]

    context, page = _signed_in(chromium, live_server, reviewer, width)
    try:
        page.goto(f"/review/{item.id}")
        assert page.get_by_text("Files (2), reviewed as one").is_visible()
        page.get_by_role("link", name="Show review-minutes.pdf").click()
        assert page.get_by_role("heading", name="File 2 of 2: review-minutes.pdf").is_visible()
        assert re.search(rf"/api/v1/evidence/{item.id}/files/\d+/file\?disposition=inline$",
                         page.locator("iframe.viewer-frame").get_attribute("src"))
        assert _overflow(page) <= 1
        problems += _violations(page, f"/review/{item.id}")
        page.screenshot(path=str(tmp_path / f"review_{width}.png"), full_page=True)
        page.get_by_role("button", name="Accept version 1").click()
        page.wait_for_url(re.compile(r"/review$"))
    finally:
        context.close()
    assert Evidence.get_by_id(item.id).status == "accepted"
    assert problems == []
