"""The performance report carries the contract's KPI performance and service credits (SPEC §9, CPS 230 para 58):
the months its period touches, the scorecard's figures with their rows in the workbook."""
from __future__ import annotations

import io

from openpyxl import load_workbook

from models import PerformanceReport
from services.auditors import reports
from tests.test_performance_api import accept_all, ok, setup_contract, submit
from tests.test_performance_api import perf as perf  # noqa: F401 (the fixture)


def test_the_report_holds_kpi_performance_and_credits_of_its_months(client, perf, app):
    setup_contract(client, perf)  # 30,000 contacts a month at 4.10: 123,000.00 charged, 12 % at risk
    for period, (abandon, fcr) in {"2026-02": ("9", "72"), "2026-03": ("4", "60"), "2026-04": ("4", "80"),
                                   "2026-05": ("9", "60")}.items():
        accept_all(client, perf, ok(submit(client, perf, period, [{"kpi": "ABANDON", "value": abandon},
                                                                 {"kpi": "FCR", "value": fcr}]), 201)["items"])
    queued = ok(client.post(f"/api/v1/engagements/{perf['eid']}/reports", headers=perf["client"],
                            json={"period_start": "2026-02-10", "period_end": "2026-04-20"}), 202)
    [built] = reports.run_pending(app.config["EVIDENCE_STORE"], worker="test")
    assert built.status == "ready", built.error
    ready = ok(client.get(f"/api/v1/reports/{queued['id']}", headers=perf["client"]))
    book = load_workbook(io.BytesIO(client.get(ready["xlsx_url"], headers=perf["client"]).data))
    figures = {row[0].value: row[1].value for row in book["Summary"].iter_rows() if row and row[0].value}

    # February to April, May left out: six results, ABANDON missed in February and FCR in March
    assert (figures["KPIs"], figures["Results accepted"], figures["Results missed"], figures["Results met"],
            figures["Results below expected"]) == (2, 6, 2, 3, 1)
    rows = [[c.value for c in row] for row in book["KPI performance"].iter_rows(min_row=2)]
    assert len(rows) == 6 and {r[3] for r in rows} == {"2026-02", "2026-03", "2026-04"}
    assert ["ABANDON", "2026-02", "9", "missed"] in [[r[0], r[3], r[4], r[8]] for r in rows]

    # 14,760.00 at risk a month; ABANDON's 60 % of it is 8,856.00, FCR's 50 % is 7,380.00 (exact, to the cent)
    assert figures["At risk"] == "AUD 44280.00"
    assert figures["Credits"] == "AUD 16236.00"
    credits = sorted([c.value for c in row][:5] for row in book["Service credits"].iter_rows(min_row=2))
    assert [(c[0], c[1], c[4]) for c in credits] == [("2026-02", "ABANDON", "8856.00"), ("2026-03", "FCR", "7380.00")]
    html = reports.render_html(PerformanceReport.get_by_id(queued["id"]), perf["engagement"],
                               reports.gather(PerformanceReport.get_by_id(queued["id"])))
    assert "KPI performance" in html and "AUD 16236.00" in html
