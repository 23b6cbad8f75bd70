"""Contract performance pages without JavaScript: add KPIs, enter and import results, review, settle a credit,
propose and decide a version, the chart's numbers, the exports, and tenancy."""
from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook

from models import KpiResult, KpiVersion, ServiceCredit
from services.performance import commercial, kpis, results
from services.register.engagements import create_accepted_engagement
from tests.conftest import csv_text
from tests.test_pages import csrf_token, signed_in, text


@pytest.fixture
def setup(app, make_user):
    client_admin, provider_admin = make_user("client_admin"), make_user("provider_admin")
    engagement = create_accepted_engagement(client_admin, {
        "name": "Retail", "provider": "BPO A", "frameworks": ["CONTRACT"], "place": "VIC", "start_date": "2026-01-01"})
    return engagement, client_admin, provider_admin, make_user("risk_reviewer")


def test_the_golden_set_is_picked_filled_reviewed_and_credited_through_the_forms(app, setup):
    engagement, client_admin, provider_admin, reviewer = setup
    url = f"/engagements/{engagement.id}/performance"
    admin = signed_in(app, client_admin)
    page = text(admin.get(url))
    assert "No KPIs yet" in page and "Add a KPI" in page
    for template, allocation in (("ABANDON", "60"), ("FCR", "")):
        response = admin.post(f"{url}/kpis", data={"csrf_token": csrf_token(admin, url), "template": template,
                                                   "allocation_pct": allocation, "client_owner": "",
                                                   "provider_owner": provider_admin.email})
        assert response.status_code == 302
    owners = {k.code: (k.provider_owner_id, str(kpis.current_version(k).allocation_pct))
              for k in kpis.kpis_of(engagement)}
    assert owners == {"ABANDON": (provider_admin.id, "60"), "FCR": (provider_admin.id, "15")}
    bad = admin.post(f"{url}/kpis", data={"csrf_token": csrf_token(admin, url), "template": "CSAT", "minimum": "95"})
    assert bad.status_code == 422 and "Nothing was changed" in text(bad) and "minimum 95 is better" in text(bad)
    page = text(admin.get(url))
    assert "a golden set of 8-15 measures is advised" in page
    assert admin.post(f"{url}/commercial", data={"csrf_token": csrf_token(admin, url),
                                                 "bands": "0-50000: 4.10\n50000-: 3.90", "at_risk_pct": "12"}
                      ).status_code == 302
    assert admin.post(f"{url}/months", data={"csrf_token": csrf_token(admin, url), "month": "2026-02",
                                             "forecast_volume": "30000", "actual_volume": "30000"}).status_code == 302

    provider = signed_in(app, provider_admin)
    entry = provider.post(f"{url}/results", data={"csrf_token": csrf_token(provider, url), "period": "2026-02",
                                                  "value-ABANDON": "9", "value-FCR": "80"})
    assert entry.status_code == 302
    csv = b"kpi,period,value,volume\nABANDON,2026-03,4,\nFCR,2026-13,80,\nNOPE,2026-03,1,\n"
    imported = provider.post(f"{url}/results", data={"csrf_token": csrf_token(provider, url),
                                                     "file": (io.BytesIO(csv), "march.csv")},
                             content_type="multipart/form-data")
    assert imported.status_code == 422
    assert re.search(r"Line 3: .*month YYYY-MM", text(imported)) and "Line 4: unknown KPI" in text(imported)
    assert KpiResult.select().count() == 2

    risk = signed_in(app, reviewer)
    for result in list(KpiResult.select()):
        assert risk.post(f"/kpi-results/{result.id}/review", data={"csrf_token": csrf_token(risk, url),
                                                                   "decision": "accept"}).status_code == 302
    page = re.sub(r"<[^>]+>", "", text(risk.get(url)))
    assert "9 ✗ missed" in page and "80 ✓ met" in page
    assert "8856.00" in page  # 30,000 × 4.10 × 12 % × 60 %
    credit = ServiceCredit.get()
    settle = risk.post(f"/service-credits/{credit.id}/settle", data={"csrf_token": csrf_token(risk, url),
                                                                     "state": "credited", "reference": "INV-7"})
    assert settle.status_code == 302 and ServiceCredit.get_by_id(credit.id).state == "credited"
    twice = risk.post(f"/service-credits/{credit.id}/settle", data={"csrf_token": csrf_token(risk, url),
                                                                    "state": "waived", "reason": "x"})
    assert twice.status_code == 409 and ServiceCredit.get_by_id(credit.id).state == "credited"

    workbook = load_workbook(io.BytesIO(risk.get(f"/engagements/{engagement.id}/scorecard.xlsx?from=2026-01"
                                                 "&to=2026-03").data))
    rows = list(workbook.active.iter_rows(values_only=True))
    assert rows[0][:5] == ("kpi", "name", "period", "value", "outcome")
    assert (rows[1][0], rows[1][2], rows[1][3], rows[1][4]) == ("ABANDON", "2026-02", "9", "missed")
    credits_csv = csv_text(risk.get(f"/engagements/{engagement.id}/credits.csv?from=2026-01&to=2026-03")
                           .get_data(as_text=True))
    assert "2026-02,ABANDON,60,1,8856.00,credited,INV-7" in credits_csv


def test_a_kpi_page_shows_the_definition_and_a_rebasing_is_decided_by_the_other_side(app, setup):
    engagement, client_admin, provider_admin, _ = setup
    kpi, _warning = kpis.create_kpi(client_admin, engagement.id, {"template": "QA-SCORE"})
    url = f"/kpis/{kpi.id}"
    provider = signed_in(app, provider_admin)
    page = text(provider.get(url))
    assert "client-approved scorecard" in page and "Version 1 in effect today" in page
    missing_reason = provider.post(f"{url}/versions", data={"csrf_token": csrf_token(provider, url),
                                                            "effective_from": "2026-04", "minimum": "75"})
    assert missing_reason.status_code == 422
    assert provider.post(f"{url}/versions", data={"csrf_token": csrf_token(provider, url), "effective_from": "2026-04",
                                                  "minimum": "75", "reason": "new QA form"}).status_code == 302
    assert "awaiting the other side" in text(provider.get(url))
    admin = signed_in(app, client_admin)
    assert admin.post(f"{url}/versions/2/decision", data={"csrf_token": csrf_token(admin, url),
                                                          "decision": "approve"}).status_code == 302
    assert KpiVersion.get(KpiVersion.kpi == kpi.id, KpiVersion.n == 2).state == "approved"


def test_the_trend_chart_carries_the_same_numbers_as_the_grid(app, setup):
    engagement, client_admin, provider_admin, reviewer = setup
    kpis.create_kpi(client_admin, engagement.id, {"template": "CSAT"})
    rows = [results.Row(1, "CSAT", "2026-02", "86"), results.Row(2, "CSAT", "2026-03", "79.5")]
    for result in results.submit(provider_admin, engagement.id, rows):
        results.review(reviewer, result.id, {"decision": "accept"})
    html = signed_in(app, reviewer).get(f"/engagements/{engagement.id}/performance?from=2026-01&to=2026-04"
                                        ).get_data(as_text=True)
    desc = re.search(r'<desc id="trend-\d+-desc">([^<]+)</desc>', html).group(1)
    assert "2026-02: 86 (met)" in desc and "2026-03: 79.5 (missed)" in desc and "expected 85" in desc
    assert "79.5" in text(signed_in(app, reviewer).get(f"/engagements/{engagement.id}/performance?from=2026-01"
                                                       "&to=2026-04"))


def test_performance_pages_are_tenant_scoped(app, setup, make_user):
    engagement, client_admin, provider_admin, _ = setup
    kpi, _ = kpis.create_kpi(client_admin, engagement.id, {"template": "CSAT"})
    commercial.put_month(client_admin, engagement.id, "2026-02", {"actual_volume": 10})
    outsider = signed_in(app, make_user("client_admin", org="Bank B"))
    for path in (f"/engagements/{engagement.id}/performance", f"/kpis/{kpi.id}",
                 f"/engagements/{engagement.id}/scorecard.csv", f"/engagements/{engagement.id}/credits.xlsx"):
        assert outsider.get(path).status_code == 404, path
    provider = signed_in(app, provider_admin)
    url = f"/engagements/{engagement.id}/performance"
    assert provider.post(f"{url}/months", data={"csrf_token": csrf_token(provider, url), "month": "2026-03",
                                                "actual_volume": "5"}).status_code == 404


def test_the_dashboard_shows_the_latest_kpi_misses_in_scope(app, setup, make_user):
    engagement, client_admin, provider_admin, reviewer = setup
    kpis.create_kpi(client_admin, engagement.id, {"template": "CSAT"})
    for result in results.submit(provider_admin, engagement.id, [results.Row(1, "CSAT", "2026-02", "70")]):
        results.review(reviewer, result.id, {"decision": "accept"})
    page = re.sub(r"<[^>]+>", "", text(signed_in(app, reviewer).get("/dashboard")))
    assert "Latest KPI misses" in page and "Retail: CSAT missed in 2026-02 (70)" in page
    outsider = re.sub(r"<[^>]+>", "", text(signed_in(app, make_user("risk_reviewer", org="Bank B")).get("/dashboard")))
    assert "Latest KPI misses" not in outsider and "CSAT" not in outsider
