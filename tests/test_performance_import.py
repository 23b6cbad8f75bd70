"""A results import at scale: the statements it sends do not grow with its rows (the response's items included),
the items it answers are the rows stored, and a bad period shared by many rows is named on each of them."""
from __future__ import annotations

import io

import models
from models import AuditEvent, KpiResult
from tests.test_performance_api import add_kpi, error, ok, perf  # noqa: F401


def _weeks(count: int) -> list[str]:
    out, year, week = [], 2026, 1
    while len(out) < count:
        out.append(f"{year}-W{week:02d}")
        year, week = (year + 1, 1) if week == 52 else (year, week + 1)
    return out


def _import(client, parties, rows):
    text = "kpi,period,value,volume\n" + "\n".join(",".join(r) for r in rows) + "\n"
    return client.post(f"/api/v1/engagements/{parties['eid']}/kpi-results", headers=parties["contributor"],
                       data={"file": (io.BytesIO(text.encode()), "results.csv")}, content_type="multipart/form-data")


def _statements(monkeypatch, action):
    sent: list[str] = []
    original = models.db.obj.execute_sql

    def counting(sql, params=None, *args, **kwargs):
        sent.append(sql)
        return original(sql, params, *args, **kwargs)

    monkeypatch.setattr(models.db.obj, "execute_sql", counting)
    result = action()
    monkeypatch.setattr(models.db.obj, "execute_sql", original)
    return result, len([sql for sql in sent if '"api_token"' not in sql])  # its last use is written now and then


def test_an_import_sends_as_many_statements_for_many_rows_as_for_few(client, perf, monkeypatch):  # noqa: F811
    for code in ("SL-80-20", "ADHERENCE"):
        ok(add_kpi(client, perf, {"template": code}), 201)
    weeks = _weeks(40)  # 2026-W01 on: the engagement started on 1 January 2026, these weeks have all begun
    small = [[code, week, "88.5", "1000"] for week in weeks[:2] for code in ("SL-80-20", "ADHERENCE")]
    large = [[code, week, "91", ""] for week in weeks[2:] for code in ("SL-80-20", "ADHERENCE")]
    few, few_statements = _statements(monkeypatch, lambda: ok(_import(client, perf, small), 201)["items"])
    many, many_statements = _statements(monkeypatch, lambda: ok(_import(client, perf, large), 201)["items"])
    assert (len(few), len(many)) == (4, 76) and many_statements == few_statements
    stored = {r.id: r for r in KpiResult.select()}
    assert len(stored) == 80
    for item in few + many:
        row = stored[item["id"]]
        assert (item["kpi"], item["period"], item["value"], item["volume"], item["state"], item["n"]) == (
            row.kpi.code, row.period, format(row.value, "f"), row.volume, "submitted", 1)
        assert item["submitted_by"] == row.submitted_by.email and item["evidence_sha256"] == row.evidence_sha256
    assert AuditEvent.select().where(AuditEvent.action == "kpi_result.submit").count() == 2  # one per import


def test_a_bad_period_shared_by_many_rows_is_named_on_each(client, perf):  # noqa: F811
    ok(add_kpi(client, perf, {"template": "ADHERENCE"}), 201)
    rows = [["ADHERENCE", "2026-W60", "90", ""]] * 3 + [["ADHERENCE", "2099-W01", "90", ""]] * 2
    body = error(_import(client, perf, rows), 422)
    assert [(r["line"], "ISO week" in r["message"] or "future" in r["message"]) for r in body["rows"]] == [
        (2, True), (3, True), (4, True), (5, True), (6, True)]
    assert "future" in body["rows"][4]["message"]
    body = error(client.post(f"/api/v1/engagements/{perf['eid']}/kpi-results", headers=perf["contributor"],
                             json={"results": [{"kpi": "ADHERENCE", "period": ["2026-W02"], "value": 90}]}), 422)
    assert KpiResult.select().count() == 0
