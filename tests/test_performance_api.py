"""Contract performance through /api/v1 (SPEC §8): KPIs from templates, results by JSON and CSV/XLSX import, the
client's review, credits as worked by hand (cap, multiplier, earn-back), rebasing by the other side, volume
relief, the escalation ladder, settling credits, and bad input that changes nothing."""
from __future__ import annotations

import datetime as dt
import io
import shutil

import openpyxl
import pytest

from domain.business_days import BusinessCalendar
from models import (
    AuditEvent,
    Finding,
    KpiEscalation,
    KpiResult,
    LibraryVersion,
    Notification,
    ServiceCredit,
    utcnow,
)
from services.alerts.scheduler import tick
from services.performance import ladder, scorecard
from services.performance.kpis import today_in
from services.register.engagements import create_accepted_engagement
from services.register.library_sync import DEFAULT_DIRECTORY
from tests.conftest import bearer

BANDS = [{"from": 0, "to": 50000, "unit_rate": "4.10"}, {"from": 50000, "to": None, "unit_rate": "3.90"}]


@pytest.fixture
def perf(make_user, client):
    client_admin, provider_admin = make_user("client_admin"), make_user("provider_admin")
    engagement = create_accepted_engagement(client_admin, {
        "name": "Cards contact centre", "provider": "BPO A", "frameworks": ["CONTRACT", "CPS230"], "place": "NSW",
        "timezone": "Australia/Sydney", "start_date": "2026-01-01"})
    parties = {"engagement": engagement, "eid": engagement.id, "client": bearer(client_admin),
               "provider": bearer(provider_admin), "reviewer": bearer(make_user("risk_reviewer")),
               "contributor": bearer(make_user("provider_contributor")), "client_admin": client_admin,
               "provider_admin": provider_admin}
    return parties


def ok(response, status=200):
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def error(response, status, field=None):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()["error"]
    assert body["message"]
    if field:
        assert body.get("field") == field, body
    return body


def add_kpi(client, perf, body, who="client"):
    return client.post(f"/api/v1/engagements/{perf['eid']}/kpis", json=body, headers=perf[who])


def submit(client, perf, period, results, who="contributor", **extra):
    return client.post(f"/api/v1/engagements/{perf['eid']}/kpi-results",
                       json={"period": period, "results": results, **extra}, headers=perf[who])


def accept_all(client, perf, items, decision="accept", comment=None):
    for item in items:
        ok(client.post(f"/api/v1/kpi-results/{item['id']}/review",
                       json={"decision": decision, **({"comment": comment} if comment else {})},
                       headers=perf["reviewer"]))


def setup_contract(client, perf):
    """ABANDON (critical, 60 %) and FCR (50 %), 4.10 a contact up to 50,000, repeat × 1.5, earn-back 2 months,
    30,000 contacts a month from February to May 2026."""
    abandon = ok(add_kpi(client, perf, {"template": "ABANDON", "allocation_pct": "60"}), 201)
    assert abandon["warning"] and "8-15" in abandon["warning"]
    fcr = ok(add_kpi(client, perf, {"template": "FCR", "allocation_pct": "50"}), 201)
    ok(client.patch(f"/api/v1/engagements/{perf['eid']}/commercial",
                    json={"bands": BANDS, "repeat_multiplier": "1.5", "earn_back_months": 2}, headers=perf["client"]))
    for month in ("2026-02", "2026-03", "2026-04", "2026-05"):
        ok(client.put(f"/api/v1/engagements/{perf['eid']}/months/{month}",
                      json={"forecast_volume": 30000, "actual_volume": 30000}, headers=perf["client"]))
    return abandon, fcr


def month(scorecard, text):
    return next(m for m in scorecard["months"] if m["month"] == text)


def test_templates_are_served_with_their_source(client, perf):
    items = ok(client.get("/api/v1/kpi-templates", headers=perf["provider"]))["items"]
    sl = next(t for t in items if t["code"] == "SL-80-20")
    assert sl["expected"] == "80" and sl["period"] == "weekly" and "clause 1" in sl["source"]
    assert set(sl["definition"]) == {"source", "formula", "sampling", "exclusions"}


def test_a_month_of_results_accepted_gives_credits_as_worked_by_hand_and_the_ladder_raises_a_finding(client, perf):
    abandon, fcr = setup_contract(client, perf)
    plan = {"2026-02": ("9", "72"), "2026-03": ("10", "60"), "2026-04": ("4", "80"), "2026-05": ("4.5", "76")}
    for period, (a, f) in plan.items():
        items = ok(submit(client, perf, period, [{"kpi": "ABANDON", "value": a, "volume": 30000},
                                                 {"kpi": "fcr", "value": f}]), 201)["items"]
        accept_all(client, perf, items)
    card = ok(client.get(f"/api/v1/engagements/{perf['eid']}/scorecard?from=2026-01&to=2026-06",
                         headers=perf["reviewer"]))
    outcomes = {k["code"]: [(r["period"], r["outcome"]) for r in k["results"]] for k in card["kpis"]}
    assert outcomes["ABANDON"] == [("2026-02", "missed"), ("2026-03", "missed"), ("2026-04", "met"),
                                   ("2026-05", "met")]
    assert outcomes["FCR"] == [("2026-02", "below_expected"), ("2026-03", "missed"), ("2026-04", "met"),
                               ("2026-05", "met")]
    # February: 123,000.00 charges, 14,760.00 at risk; ABANDON alone: 14,760 × 60 % = 8,856.00, and March missed
    # again, so it is payable at once despite the earn-back.
    feb = month(card, "2026-02")
    assert (feb["charges"], feb["at_risk"], feb["capped"], feb["total"]) == ("123000.00", "14760.00", False, "8856.00")
    assert [(c["kpi"], c["amount"], c["state"]) for c in feb["credits"]] == [("ABANDON", "8856.00", "payable")]
    # March: ABANDON repeat × 1.5 = 13,284.00 and FCR 7,380.00 exceed 14,760.00: both scaled by 5/7; April and May
    # met expected for both, so both are earned back.
    mar = month(card, "2026-03")
    assert (mar["capped"], mar["total"]) == (True, "14760.00")
    assert [(c["kpi"], c["multiplier"], c["accrued"], c["amount"], c["state"]) for c in mar["credits"]] == [
        ("ABANDON", "1.5", "13284.00", "9488.57", "earned_back"), ("FCR", "1", "7380.00", "5271.43", "earned_back")]
    assert month(card, "2026-04")["credits"] == [] and month(card, "2026-06")["charges"] is None

    finding = Finding.get(Finding.source == "kpi")
    engagement = perf["engagement"]
    assert finding.severity == "high" and "ABANDON" in finding.title
    assert finding.due_date == BusinessCalendar("NSW").add_business_days(today_in(engagement), 5)
    escalation = KpiEscalation.get(KpiEscalation.finding == finding.id)
    assert (escalation.tier, escalation.period) == ("operational", "2026-03")
    assert Notification.select().where(Notification.kind == "kpi_missed").count() > 0

    # settling: the payable February credit is credited with its invoice reference, once
    credit = feb["credits"][0]["id"]
    error(client.post(f"/api/v1/service-credits/{credit}/settle", json={"state": "credited"},
                      headers=perf["reviewer"]), 422, "reference")
    settled = ok(client.post(f"/api/v1/service-credits/{credit}/settle",
                             json={"state": "credited", "reference": "INV-2026-0042"}, headers=perf["reviewer"]))
    assert (settled["state"], settled["reference"]) == ("credited", "INV-2026-0042")
    error(client.post(f"/api/v1/service-credits/{credit}/settle", json={"state": "waived", "reason": "goodwill"},
                      headers=perf["reviewer"]), 409)
    earned = mar["credits"][0]["id"]
    error(client.post(f"/api/v1/service-credits/{earned}/settle", json={"state": "waived", "reason": "x"},
                      headers=perf["reviewer"]), 409)
    error(client.post(f"/api/v1/service-credits/{credit}/settle", json={"state": "credited", "reference": "X"},
                      headers=perf["provider"]), 404)

    # nobody planned: past the due date the finding moves up a tier, once per pass
    later = utcnow() + dt.timedelta(days=10)
    assert ladder.escalate_overdue_plans(later) == 1
    assert KpiEscalation.get_by_id(escalation.id).tier == "performance"
    assert ladder.escalate_overdue_plans(later) == 0
    assert Notification.select().where(Notification.kind == "kpi_escalated").count() > 0
    assert AuditEvent.select().where(AuditEvent.action == "kpi.escalate").count() == 2


def test_a_rebasing_needs_the_other_side_and_judges_its_periods_again(client, perf):
    _abandon, fcr = setup_contract(client, perf)
    for period, value in (("2026-02", "72"), ("2026-03", "60")):
        accept_all(client, perf, ok(submit(client, perf, period, [{"kpi": "FCR", "value": value}]), 201)["items"])
    assert [c["amount"] for c in month(ok(client.get(f"/api/v1/engagements/{perf['eid']}/scorecard?from=2026-03&"
                                                     "to=2026-03", headers=perf["client"])), "2026-03")["credits"]] \
        == ["7380.00"]
    proposal = {"minimum": "55", "reason": "new CRM changes how repeats are matched", "effective_from": "2026-03"}
    error(client.patch(f"/api/v1/kpis/{fcr['id']}", json={**proposal, "minimum": "90"}, headers=perf["provider"]),
          422, "minimum")
    error(client.patch(f"/api/v1/kpis/{fcr['id']}", json={**proposal, "effective_from": "2026-W10"},
                       headers=perf["provider"]), 422, "period")
    proposed = ok(client.patch(f"/api/v1/kpis/{fcr['id']}", json=proposal, headers=perf["provider"]))
    assert [(v["n"], v["state"]) for v in proposed["versions"]] == [(1, "approved"), (2, "proposed")]
    assert proposed["minimum"] == "70"  # in effect only once the client approves
    error(client.patch(f"/api/v1/kpis/{fcr['id']}", json=proposal, headers=perf["client"]), 409)
    error(client.post(f"/api/v1/kpis/{fcr['id']}/versions/2/decision", json={"decision": "approve"},
                      headers=perf["provider"]), 422, "decision")
    error(client.post(f"/api/v1/kpis/{fcr['id']}/versions/2/decision", json={"decision": "reject"},
                      headers=perf["client"]), 422, "reason")
    ok(client.post(f"/api/v1/kpis/{fcr['id']}/versions/2/decision", json={"decision": "approve"},
                   headers=perf["client"]))
    error(client.post(f"/api/v1/kpis/{fcr['id']}/versions/2/decision", json={"decision": "approve"},
                      headers=perf["client"]), 409)
    kpi = ok(client.get(f"/api/v1/kpis/{fcr['id']}", headers=perf["reviewer"]))
    assert [(v["n"], v["state"], v["effective_from"]) for v in kpi["versions"]] == [
        (1, "approved", "2026-01"), (2, "approved", "2026-03")]
    assert kpi["minimum"] == "55"
    by_period = {r["period"]: (r["outcome"], r["version"]) for r in kpi["results"]}
    assert by_period == {"2026-02": ("below_expected", 1), "2026-03": ("below_expected", 2)}
    assert kpi["credits"] == []  # March is no longer a miss
    assert AuditEvent.select().where(AuditEvent.action.in_(("kpi.version_propose", "kpi.version_decision"))).count() \
        == 2


def test_volume_relief_excuses_the_misses_of_volume_sensitive_kpis_in_a_surge_month(client, perf):
    ok(add_kpi(client, perf, {"template": "SL-80-20"}), 201)  # weekly, volume-sensitive, critical
    ok(client.put(f"/api/v1/engagements/{perf['eid']}/months/2026-02",
                  json={"forecast_volume": 10000, "actual_volume": 11500}, headers=perf["client"]))
    # 2026-W05 ends on Sunday 1 February: it counts in February's surge
    items = ok(submit(client, perf, None, [{"kpi": "SL-80-20", "period": "2026-W05", "value": "60"},
                                           {"kpi": "SL-80-20", "period": "2026-W04", "value": "60"}]), 201)["items"]
    accept_all(client, perf, items)
    outcomes = {r.period: (r.judged, r.outcome, r.excuse_reason) for r in KpiResult.select()}
    assert outcomes == {"2026-W05": ("missed", "excused", "volume above the forecast band"),
                        "2026-W04": ("missed", "missed", "")}
    assert not Finding.select().where(Finding.source == "kpi").exists()  # an excused week breaks the run
    # the volumes are corrected: no surge, so no relief
    ok(client.put(f"/api/v1/engagements/{perf['eid']}/months/2026-02",
                  json={"forecast_volume": 10000, "actual_volume": 10500}, headers=perf["client"]))
    assert KpiResult.get(KpiResult.period == "2026-W05").outcome == "missed"


def test_a_rejected_result_is_resubmitted_as_a_new_version_and_an_excuse_needs_a_reason(client, perf):
    ok(add_kpi(client, perf, {"template": "CSAT"}), 201)
    first = ok(submit(client, perf, "2026-03", [{"kpi": "CSAT", "value": "70"}]), 201)["items"][0]
    error(submit(client, perf, "2026-03", [{"kpi": "CSAT", "value": "71"}]), 409)
    error(client.post(f"/api/v1/kpi-results/{first['id']}/review", json={"decision": "reject"},
                      headers=perf["reviewer"]), 422, "comment")
    ok(client.post(f"/api/v1/kpi-results/{first['id']}/review",
                   json={"decision": "reject", "comment": "survey extract is missing week 2"},
                   headers=perf["reviewer"]))
    second = ok(submit(client, perf, "2026-03", [{"kpi": "CSAT", "value": "71"}]), 201)["items"][0]
    assert second["n"] == 2
    error(client.post(f"/api/v1/kpi-results/{second['id']}/review", json={"decision": "excuse"},
                      headers=perf["reviewer"]), 422, "comment")
    excused = ok(client.post(f"/api/v1/kpi-results/{second['id']}/review",
                             json={"decision": "excuse", "comment": "survey platform outage"},
                             headers=perf["reviewer"]))
    assert (excused["state"], excused["outcome"], excused["judged"]) == ("accepted", "excused", "missed")
    error(client.post(f"/api/v1/kpi-results/{second['id']}/review", json={"decision": "accept"},
                      headers=perf["reviewer"]), 409)
    error(client.post(f"/api/v1/kpi-results/{second['id']}/review", json={"decision": "accept"},
                      headers=perf["provider"]), 404)


def _xlsx(rows) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_import_is_all_or_nothing_and_names_every_bad_row(client, perf):
    ok(add_kpi(client, perf, {"template": "QA-SCORE"}), 201)
    ok(add_kpi(client, perf, {"template": "ADHERENCE"}), 201)
    good = [["QA-SCORE", f"2026-{m:02d}", "86.5", ""] for m in range(1, 11)]
    bad = [["QA-SCORE", "2026-13", "80", ""], ["NOPE", "2026-01", "80", ""], ["ADHERENCE", "2026-01", "80", ""],
           ["QA-SCORE", "2026-11", "NaN", ""], ["QA-SCORE", "2026-01", "80", ""], ["QA-SCORE", "2099-01", "80", ""],
           ["ADHERENCE", "2026-W03", "101", ""], ["QA-SCORE", "2025-06", "80", ""]]
    text = "kpi,period,value,volume\n" + "\n".join(",".join(r) for r in good + bad) + "\n"
    response = client.post(f"/api/v1/engagements/{perf['eid']}/kpi-results", headers=perf["contributor"],
                           data={"file": (io.BytesIO(text.encode()), "results.csv")},
                           content_type="multipart/form-data")
    body = error(response, 422)
    assert [r["line"] for r in body["rows"]] == list(range(12, 20))
    assert "appears twice (first on line 2)" in body["rows"][4]["message"]
    assert KpiResult.select().count() == 0
    data = _xlsx([["kpi", "period", "value", "volume"]] + [[r[0], r[1], float(r[2]), None] for r in good])
    response = client.post(f"/api/v1/engagements/{perf['eid']}/kpi-results", headers=perf["contributor"],
                           data={"file": (io.BytesIO(data), "results.xlsx")}, content_type="multipart/form-data")
    items = ok(response, 201)["items"]
    assert len(items) == 10 and {i["value"] for i in items} == {"86.5"}
    assert len({i["evidence_sha256"] for i in items}) == 1 and len(items[0]["evidence_sha256"]) == 64
    again = client.post(f"/api/v1/engagements/{perf['eid']}/kpi-results", headers=perf["contributor"],
                        data={"file": (io.BytesIO(data), "results.xlsx")}, content_type="multipart/form-data")
    assert len(error(again, 409)["rows"]) == 10
    garbage = client.post(f"/api/v1/engagements/{perf['eid']}/kpi-results", headers=perf["contributor"],
                          data={"file": (io.BytesIO(b"PK\x03\x04junk"), "x.xlsx")}, content_type="multipart/form-data")
    error(garbage, 422, "file")


@pytest.mark.parametrize("body,field", [
    ({"template": "FCR", "minimum": "80"}, "minimum"),
    ({"template": "SL-80-20", "allocation_pct": "5"}, "allocation_pct"),
    ({"template": "FCR", "allocation_pct": "251"}, "allocation_pct"),
    ({"template": "NOPE"}, "template"),
    ({"template": "FCR", "definition": {"source": "x"}}, "definition"),
    ({"template": "FCR", "expected": "110"}, "value"),
    ({"code": "X1", "name": "No definition", "category": "quality", "unit": "score", "direction": "higher",
      "period": "monthly", "expected": "1", "minimum": "0"}, "definition"),
])
def test_bad_kpis_are_refused_and_change_nothing(client, perf, body, field):
    error(add_kpi(client, perf, body), 422, field)
    assert ok(client.get(f"/api/v1/engagements/{perf['eid']}/kpis", headers=perf["client"]))["total"] == 0


def test_pool_duplicates_bad_settings_and_tenancy(client, perf, make_user):
    ok(add_kpi(client, perf, {"template": "FCR", "allocation_pct": "100"}), 201)
    ok(add_kpi(client, perf, {"template": "CSAT", "allocation_pct": "100"}), 201)
    error(add_kpi(client, perf, {"template": "QA-SCORE", "allocation_pct": "51"}), 422, "allocation_pct")
    error(add_kpi(client, perf, {"template": "FCR"}), 409, "code")
    error(add_kpi(client, perf, {"template": "ASA"}, who="contributor"), 404)
    for body, field in (({"bands": [{"from": 0, "to": 10, "unit_rate": "1"}, {"from": 5, "to": 20, "unit_rate": "1"}]},
                         "bands"), ({"currency": "XYZ"}, "currency"), ({"at_risk_pct": "101"}, "at_risk_pct"),
                        ({"pool_pct": "150"}, "allocation_pct"), ({"nonsense": 1}, "nonsense")):
        error(client.patch(f"/api/v1/engagements/{perf['eid']}/commercial", json=body, headers=perf["client"]),
              422, field)
    error(client.put(f"/api/v1/engagements/{perf['eid']}/months/2026-3", json={}, headers=perf["client"]), 422)
    error(client.put(f"/api/v1/engagements/{perf['eid']}/months/2099-03", json={"actual_volume": 5},
                     headers=perf["client"]), 422, "actual_volume")
    for body in ({"period": "2026-W03", "results": [{"kpi": "FCR", "value": "70"}]},
                 {"period": "2026-02", "results": [{"kpi": "FCR", "value": "Infinity"}]},
                 {"period": "2099-02", "results": [{"kpi": "FCR", "value": "70"}]},
                 {"period": "2026-02", "results": []}):
        assert client.post(f"/api/v1/engagements/{perf['eid']}/kpi-results", json=body,
                           headers=perf["contributor"]).status_code == 422
    assert KpiResult.select().count() == 0
    # another client's admin: the same 404 as a missing id
    outsider = bearer(make_user("client_admin", org="Bank B"))
    kpi_id = ok(client.get(f"/api/v1/engagements/{perf['eid']}/kpis", headers=perf["client"]))["items"][0]["id"]
    missing = client.get("/api/v1/kpis/999999", headers=outsider)
    foreign = client.get(f"/api/v1/kpis/{kpi_id}", headers=outsider)
    assert (foreign.status_code, foreign.get_json()) == (missing.status_code, missing.get_json()) == (404, {
        "error": {"code": "not_found", "message": "KPI not found"}})
    error(client.get(f"/api/v1/engagements/{perf['eid']}/scorecard", headers=outsider), 404)
    error(client.get(f"/api/v1/engagements/{perf['eid']}/scorecard?from=2026-05&to=2026-01",
                     headers=perf["client"]), 422, "from")
    assert ServiceCredit.select().count() == 0


def test_a_closed_kpi_finding_reopens_one_tier_up_when_the_next_result_is_missed(client, perf):
    ok(add_kpi(client, perf, {"template": "PCI-CALL"}), 201)  # critical, monthly
    for period in ("2026-02", "2026-03"):
        accept_all(client, perf, ok(submit(client, perf, period, [{"kpi": "PCI-CALL", "value": "97"}]), 201)["items"])
    finding = Finding.get(Finding.source == "kpi")
    Finding.update(status="closed", closed_at=utcnow()).where(Finding.id == finding.id).execute()  # plan worked
    accept_all(client, perf, ok(submit(client, perf, "2026-04", [{"kpi": "PCI-CALL", "value": "98.5"}]), 201)["items"])
    reopened = Finding.get_by_id(finding.id)
    escalation = KpiEscalation.get(KpiEscalation.finding == finding.id)
    assert (reopened.status, reopened.closed_at, escalation.tier, escalation.followed_up_in) == (
        "open", None, "performance", None)
    assert AuditEvent.select().where(AuditEvent.action == "finding.reopen").count() == 1
    # March and April were both missed too, but the reopened finding already carries the run: no second one
    assert Finding.select().where(Finding.source == "kpi").count() == 1
    # closed again, and May meets the level: the follow-up is done and nothing reopens
    Finding.update(status="closed", closed_at=utcnow()).where(Finding.id == finding.id).execute()
    accept_all(client, perf, ok(submit(client, perf, "2026-05", [{"kpi": "PCI-CALL", "value": "100"}]), 201)["items"])
    assert Finding.get_by_id(finding.id).status == "closed"
    assert KpiEscalation.get(KpiEscalation.finding == finding.id).followed_up_in == "2026-05"


def test_load_controls_refuses_a_broken_kpi_catalogue_and_loads_nothing(app, library, tmp_path):
    shutil.copytree(DEFAULT_DIRECTORY, tmp_path / "lib")
    catalogue = tmp_path / "lib" / "kpis.yaml"
    catalogue.write_text(catalogue.read_text().replace("unit: seconds", "unit: minutes", 1))
    (tmp_path / "lib" / "common" / "access.yaml").write_text(
        (tmp_path / "lib" / "common" / "access.yaml").read_text() + "\n# a change that would be a new library\n")
    versions = LibraryVersion.select().count()
    result = app.test_cli_runner().invoke(args=["load-controls", "--path", str(tmp_path / "lib")])
    assert result.exit_code == 1
    assert "kpis.yaml:" in result.output and "ASA: unit 'minutes'" in result.output and "NOT loaded" in result.output
    assert LibraryVersion.select().count() == versions


def test_kpi_misses_since_lists_what_a_meeting_should_discuss(client, perf):
    setup_contract(client, perf)
    for period, (a, f) in {"2026-02": ("9", "72"), "2026-03": ("4", "60"), "2026-04": ("4", "80")}.items():
        accept_all(client, perf, ok(submit(client, perf, period, [{"kpi": "ABANDON", "value": a},
                                                                 {"kpi": "FCR", "value": f}]), 201)["items"])
    since_march = scorecard.kpi_misses_since(perf["engagement"], dt.date(2026, 3, 1))
    assert [(m["kpi"], m["period"], m["outcome"]) for m in since_march] == [("FCR", "2026-03", "missed")]
    everything = scorecard.kpi_misses_since(perf["engagement"], dt.date(2026, 1, 1))
    assert [(m["kpi"], m["period"], m["outcome"]) for m in everything] == [
        ("FCR", "2026-03", "missed"), ("ABANDON", "2026-02", "missed"), ("FCR", "2026-02", "below_expected")]


def test_a_critical_weekly_kpi_missed_two_weeks_running_escalates_at_the_scheduler_pass(client, perf):
    ok(add_kpi(client, perf, {"template": "SL-80-20", "provider_owner": perf["provider_admin"].email}), 201)
    items = ok(submit(client, perf, None, [{"kpi": "SL-80-20", "period": "2026-W10", "value": "70"},
                                           {"kpi": "SL-80-20", "period": "2026-W11", "value": "74.9"}]), 201)["items"]
    accept_all(client, perf, items)
    finding = Finding.get(Finding.source == "kpi")
    assert finding.owner_id == perf["provider_admin"].id and "2026-W11" in finding.title
    assert ladder.escalate_overdue_plans(utcnow()) == 0  # not due yet
    result = tick(utcnow() + dt.timedelta(days=12))
    assert result.kpi_escalated == 1
    assert KpiEscalation.get(KpiEscalation.finding == finding.id).tier == "performance"
    assert tick(utcnow() + dt.timedelta(days=12)).kpi_escalated == 0  # re-dated: one move per due date


def test_name_and_owners_change_at_once_without_a_version(client, perf):
    kpi = ok(add_kpi(client, perf, {"template": "CSAT"}), 201)
    changed = ok(client.patch(f"/api/v1/kpis/{kpi['id']}", json={"name": "Customer satisfaction (voice)",
                                                                  "provider_owner": perf["provider_admin"].email},
                              headers=perf["provider"]))
    assert (changed["name"], changed["provider_owner"], len(changed["versions"])) == (
        "Customer satisfaction (voice)", perf["provider_admin"].email, 1)
    error(client.patch(f"/api/v1/kpis/{kpi['id']}", json={"client_owner": perf["provider_admin"].email},
                       headers=perf["client"]), 422, "client_owner")
    error(client.patch(f"/api/v1/kpis/{kpi['id']}", json={"name": "x", "minimum": "70", "reason": "r",
                                                          "effective_from": "2026-03"}, headers=perf["client"]), 422)
    assert AuditEvent.select().where(AuditEvent.action == "kpi.update").count() == 1
