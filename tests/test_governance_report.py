"""The performance report: requested for a period (and an executive meeting), built in the background through
the pack's renderer with progress, a PDF and a workbook holding the rows behind every figure; bad periods and
other tenants refused."""
from __future__ import annotations

import datetime as dt
import io
import re

from openpyxl import load_workbook

from models import AuditEvent, Forum, Meeting, PerformanceReport
from services.auditors import reports
from tests.conftest import bearer, login
from tests.test_governance import error, forum, next_meeting
from tests.test_governance import gov as gov  # noqa: F401 (the fixture)
from tests.test_openapi import Contract
from tests.test_openapi import spec as spec  # noqa: F401 (the fixture)


def test_a_report_is_built_for_the_executive_meeting(client, gov, spec, tmp_path, app, make_user):
    engagement = gov["engagement"]
    executive = next_meeting(forum(client, gov, "executive"))
    today = dt.date.today()
    body = {"period_start": (today - dt.timedelta(days=70)).isoformat(), "period_end": today.isoformat(),
            "meeting_id": executive.id}
    url = f"/api/v1/engagements/{engagement.id}/reports"
    queued = Contract(spec).check(client.post(url, json=body, headers=gov["client"]), "post",
                                  "/api/v1/engagements/{engagement_id}/reports")
    assert queued["status"] == "queued" and queued["meeting"] == executive.id and queued["file_url"] is None
    assert client.get(f"/api/v1/reports/{queued['id']}/file", headers=gov["client"]).status_code == 404
    for bad, field in (({**body, "period_end": (today - dt.timedelta(days=80)).isoformat()}, "period_end"),
                       ({**body, "period_start": ""}, "period_start"),
                       ({**body, "period_start": "2020-01-01"}, "period_end"),
                       ({**body, "meeting_id": 99999999}, "meeting_id")):
        error(client.post(url, json=bad, headers=gov["client"]), 422, field)
    error(client.post(url, json=body, headers=gov["provider"]), 404)  # the client reports to its Board and APRA
    assert PerformanceReport.select().count() == 1

    built = reports.run_pending(app.config["EVIDENCE_STORE"], worker="test")
    assert [r.status for r in built] == ["ready"], built[0].error
    ready = Contract(spec).check(client.get(f"/api/v1/reports/{queued['id']}", headers=gov["client"]), "get",
                                 "/api/v1/reports/{report_id}")
    assert ready["progress"] == 100 and ready["pdf_sha256"] and ready["xlsx_sha256"]
    pdf = client.get(ready["file_url"], headers=gov["client"])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    book = load_workbook(io.BytesIO(client.get(ready["xlsx_url"], headers=gov["client"]).data))
    assert "Summary" in book.sheetnames and "Evidence due in the period" in book.sheetnames
    figures = {row[0].value: row[1].value for row in book["Summary"].iter_rows() if row and row[0].value}
    rows = book["Evidence due in the period"].max_row - 1
    assert figures["Requests due"] == rows  # each figure is traceable to its rows
    assert reports.reports_of_meeting(Meeting.get_by_id(executive.id))[0].id == queued["id"]
    assert AuditEvent.select().where(AuditEvent.action == "report.download").count() == 2
    stranger = bearer(make_user("client_admin", org="Bank B"))
    assert client.get(f"/api/v1/reports/{queued['id']}", headers=stranger).get_json() == client.get(
        "/api/v1/reports/99999999", headers=stranger).get_json()


def test_the_executive_meeting_page_requests_and_links_its_report(gov, app):
    web = app.test_client()
    login(web, gov["admin"])
    executive = Meeting.select().join(Forum).where(Meeting.engagement == gov["engagement"].id,
                                                   Forum.tier == "executive").first()
    path = f"/meetings/{executive.id}"
    page = web.get(path).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert "Build the performance report" in page
    bad = web.post(f"{path}/report", data={"csrf_token": token, "period_start": "2026-05-01",
                                            "period_end": "2026-04-01"})
    assert bad.status_code == 422 and PerformanceReport.select().count() == 0
    today = dt.date.today()
    assert web.post(f"{path}/report", data={"csrf_token": token, "period_start": (today - dt.timedelta(days=30))
                                            .isoformat(), "period_end": today.isoformat()}).status_code == 302
    report = reports.run_pending(app.config["EVIDENCE_STORE"], worker="test")[0]
    assert report.status == "ready" and report.meeting_id == executive.id
    shown = web.get(path).get_data(as_text=True)
    assert f"/reports/{report.id}.pdf" in shown
    assert web.get(f"/reports/{report.id}.xlsx").status_code == 200
