"""The work lists at scale in headless Chromium, on a phone (390 px) and a laptop (1280 px), with axe-core: a
provider with some 140 overdue requests gets one page of 50 (a bounded page height) and a pager that works, and
filters that narrow it; a reviewer changes a request's owner and decides several items at once from the queue.
Screenshots of each page at both widths are written to the test's temporary directory."""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from conftest import bearer
from test_layout_browser import LAPTOP, PHONE, _overflow, _signed_in, _violations

from models import EvidenceRequest, EvidenceRequirement, utcnow
from services.demo import files as demo_files
from services.register.engagements import create_accepted_engagement

pytestmark = pytest.mark.browser
OVERDUE = 140
MAX_HEIGHT = {LAPTOP: 7000, PHONE: 16000}  # px: 50 rows and the page around them (139 rows made 10,700 at 1280)


@pytest.fixture
def backlog(client, make_user):
    """A provider owing ~140 overdue requests, and three submitted evidence items for the reviewer."""
    users = {role: make_user(role) for role in ("client_admin", "risk_reviewer", "provider_contributor")}
    engagement = create_accepted_engagement(users["client_admin"], {
        "name": "Retail banking contact centre", "provider": "BPO A", "place": "NSW",
        "frameworks": ["ISO27001-2022", "CPS234", "CPS230"],
        "start_date": (dt.date.today() - dt.timedelta(days=200)).isoformat()})
    owed = (EvidenceRequest.select(EvidenceRequest.id).join(EvidenceRequirement)
            .where(EvidenceRequest.engagement == engagement.id, EvidenceRequirement.produced_by == "provider"))
    overdue = owed.where(EvidenceRequest.status == "overdue").count()
    if overdue < OVERDUE:  # a backlog: more of the schedule fell overdue while nobody delivered
        late = [i for (i,) in owed.where(EvidenceRequest.status.in_(("upcoming", "open")))
                .order_by(EvidenceRequest.id).limit(OVERDUE - overdue).tuples()]
        EvidenceRequest.update(status="overdue", due_at=utcnow() - dt.timedelta(days=3)).where(
            EvidenceRequest.id.in_(late)).execute()
    pdf = list(owed.where(EvidenceRequest.status == "overdue",
                          EvidenceRequirement.accepted_types.contains('"application/pdf"'))
               .order_by(EvidenceRequest.id).limit(3))
    for n, req in enumerate(pdf):
        answer = client.post(f"/api/v1/engagements/{engagement.id}/evidence",
                             data={"request_id": str(req.id), "effective_date": dt.date.today().isoformat(),
                                   "file": (io.BytesIO(demo_files.pdf(f"Report {n}")), f"report-{n}.pdf")},
                             headers=bearer(users["provider_contributor"]), content_type="multipart/form-data")
        assert answer.status_code == 201, answer.get_data(as_text=True)
    return {"users": users, "engagement": engagement, "requests": pdf}


def _rows(page) -> int:
    return page.locator("a[href$='#upload-heading']").count()


@pytest.mark.parametrize("width", [LAPTOP, PHONE])
def test_a_provider_with_140_overdue_requests_gets_a_page_of_50_and_a_pager(chromium, live_server, backlog,
                                                                             width, tmp_path):
    context, page = _signed_in(chromium, live_server, backlog["users"]["provider_contributor"], width)
    problems = []
    try:
        page.goto("/inbox")
        assert _rows(page) == 50
        height = page.evaluate("document.documentElement.scrollHeight")
        print(f"inbox at {width} px: {height} px high")
        assert height < MAX_HEIGHT[width], height
        assert _overflow(page) <= 0
        heading = page.get_by_role("heading", name=re.compile(r"^Overdue \(\d+\)"))
        assert int(re.search(r"\((\d+)\)", heading.inner_text())[1]) >= OVERDUE - 3
        page.screenshot(path=str(tmp_path / f"inbox-{width}.png"), full_page=True)
        problems += _violations(page, "/inbox")
        pager = page.get_by_role("navigation", name="Pages")
        pager.get_by_role("link", name="Next →").click()
        page.wait_for_url(re.compile(r"page=2"))
        assert _rows(page) == 50 and "Page 2 of" in pager.inner_text()
        page.goto("/inbox?page=999999999")
        assert _rows(page) > 0 and page.get_by_role("navigation", name="Pages").is_visible()
        # filters narrow the list and every count
        page.goto("/inbox")
        page.get_by_label("Due", exact=True).select_option("30d")
        page.get_by_role("button", name="Apply filters").click()
        page.wait_for_url(re.compile(r"due=30d"))
        assert page.get_by_role("heading", name="Overdue (0)").is_visible()
        problems += _violations(page, "/inbox?due=30d")
    finally:
        context.close()
    assert problems == []


@pytest.mark.parametrize("width", [LAPTOP, PHONE])
def test_a_reviewer_reassigns_a_request_and_accepts_several_items_at_once(chromium, live_server, backlog, make_user,
                                                                          width, tmp_path):
    lead = make_user("provider_admin", org="BPO A")
    first = backlog["requests"][0]
    context, page = _signed_in(chromium, live_server, backlog["users"]["risk_reviewer"], width)
    problems = []
    try:
        page.goto(f"/requests/{first.id}")
        page.get_by_label("Who must deliver it").select_option(label=lead.email)
        page.get_by_role("button", name="Change owner").click()
        page.wait_for_url(re.compile(rf"/requests/{first.id}$"))
        assert lead.email in page.locator("#request-owner").inner_text()
        problems += _violations(page, "/requests/<id>")
        page.goto("/review")
        assert page.get_by_text("3 items awaiting review").is_visible()
        problems += _violations(page, "/review")
        page.screenshot(path=str(tmp_path / f"review-{width}.png"), full_page=True)
        boxes = page.locator("input[name='ids']")
        boxes.nth(0).check()
        boxes.nth(1).check()
        page.get_by_label("Comment (the reason, to reject)").fill("Checked against the WFM extract")
        page.get_by_role("button", name="Accept selected").click()
        page.wait_for_url(re.compile(r"/review$"))
        assert page.get_by_text("2 items accepted, each recorded as its own decision.").is_visible()
        assert page.get_by_text("1 item awaiting review").is_visible()
        problems += _violations(page, "/review (after)")
        assert _overflow(page) <= 0
    finally:
        context.close()
    assert problems == []
