"""The overdue dashboard in headless Chromium: the risk team's nav link, charts, filters chosen on the page
(not typed into the URL), sorting by a column header, and the CSV export of what the filters select."""
from __future__ import annotations

import csv
import io
import re

import pytest
from test_browser import _realistic_engagement, sign_in

from models import EvidenceRequest, utcnow
from services.register import dashboard
from tests.conftest import csv_text

pytestmark = pytest.mark.browser


def test_dashboard_filters_sort_and_export(browser_page, make_user, tmp_path):
    admin = make_user("client_admin", org="Demo Bank")
    engagement = _realistic_engagement(admin)
    reviewer = make_user("risk_reviewer", org="Demo Bank")
    page = browser_page
    sign_in(page, reviewer)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    page.wait_for_url(re.compile(r"/dashboard$"))
    overdue = EvidenceRequest.select().where(EvidenceRequest.status == "overdue").count()
    assert page.locator("#kpi-overdue").inner_text() == str(overdue)
    assert page.get_by_role("img", name="Overdue requests by days past due").is_visible()
    assert page.get_by_role("img", name="Accepted and overdue requests by month due").is_visible()
    assert page.locator("#heatmap tbody tr").count() == 1

    # filters are a form on the page
    page.get_by_label("Framework", exact=True).select_option("CPS234")
    page.get_by_label("Due within").select_option("60")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"framework=CPS234.*window=60|window=60.*framework=CPS234"))
    assert page.get_by_label("Framework", exact=True).input_value() == "CPS234"
    heading = page.get_by_role("heading", name=re.compile("^Requests")).inner_text()
    total = int(re.search(r"Requests \((\d+)\)", heading)[1])
    assert total == dashboard.overdue_dashboard(reviewer, dashboard.Filters(framework="CPS234", window=60)).total > 0

    # sort by clicking the Due header: latest first, then the days-overdue column falls
    page.locator("#overdue-items thead").get_by_role("link", name="Due").click()
    page.wait_for_url(re.compile(r"sort=-due"))
    days = [int(t) for t in page.locator("#overdue-items tbody td.num").all_inner_texts()]
    assert days == sorted(days)  # latest due first: fewest days overdue first

    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    target = tmp_path / "overdue.csv"
    download.value.save_as(target)
    rows = list(csv.reader(io.StringIO(csv_text(target.read_text(encoding="utf-8")))))
    assert rows[0][:3] == ["engagement", "control", "control_title"] and len(rows) - 1 == total
    assert {r[0] for r in rows[1:]} == {engagement.name}
    now = utcnow()
    first = EvidenceRequest.get_by_id(int(rows[1][-1]))
    assert int(rows[1][6]) == max(0, (now - first.due_at).days)
