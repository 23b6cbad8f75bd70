"""Bulk review of KPI results (SPEC §8): several submitted results accepted with one comment, each its own
audited decision, all or nothing, through the same shape as the evidence review queue's bulk decision."""
from __future__ import annotations

import uuid

from test_evidence_pages import token
from test_pages import signed_in, text
from test_performance_api import add_kpi, error, ok, submit

from models import AuditEvent, KpiResult
from tests.test_performance_api import perf as perf  # noqa: F401 (the fixture)


def submitted(client, perf) -> list[int]:
    for template in ("CSAT", "FCR"):
        ok(add_kpi(client, perf, {"template": template}), 201)
    items = ok(submit(client, perf, "2026-03", [{"kpi": "CSAT", "value": "80"}, {"kpi": "FCR", "value": "75"}]),
               201)["items"]
    return [i["id"] for i in items]


def test_bulk_accept_of_kpi_results_is_one_audited_decision_each(client, perf):
    ids = submitted(client, perf)
    body = ok(client.post("/api/v1/kpi-results/review", json={"ids": ids, "decision": "accept",
                                                              "comment": "Matches the WFM extract"},
                          headers=perf["reviewer"]))
    assert [i["state"] for i in body["items"]] == ["accepted", "accepted"]
    events = AuditEvent.select().where(AuditEvent.action == "kpi_result.review")
    assert sorted(int(e.object_id) for e in events) == sorted(ids)


def test_bulk_kpi_review_is_all_or_nothing(client, perf):
    ids = submitted(client, perf)
    ok(client.post(f"/api/v1/kpi-results/{ids[0]}/review", json={"decision": "accept"}, headers=perf["reviewer"]))
    refused = error(client.post("/api/v1/kpi-results/review", json={"ids": ids, "decision": "accept"},
                                headers=perf["reviewer"]), 409, "ids")
    assert [i["id"] for i in refused["items"]] == [ids[0]]
    assert KpiResult.get_by_id(ids[1]).state == "submitted"
    error(client.post("/api/v1/kpi-results/review", json={"ids": [ids[1]], "decision": "excuse"},
                      headers=perf["reviewer"]), 422, "ids")  # an excuse needs its reason
    error(client.post("/api/v1/kpi-results/review", json={"ids": [ids[1]], "decision": "accept"},
                      headers=perf["provider"]), 404, "ids")  # the provider does not review its own results
    assert KpiResult.get_by_id(ids[1]).state == "submitted"


def test_the_scorecards_bulk_form_decides_once_on_a_double_click(app, client, perf, make_user):
    ids = submitted(client, perf)
    reviewer = signed_in(app, make_user("risk_reviewer"))
    url = f"/engagements/{perf['eid']}/performance"
    page = text(reviewer.get(url))
    assert 'form="bulk-results"' in page and 'id="bulk-results"' in page
    form = {"csrf_token": token(reviewer, url), "idempotency_key": str(uuid.uuid4()), "ids": ids,
            "decision": "accept", "comment": "Checked"}
    first, second = reviewer.post(f"{url}/results/review", data=form), reviewer.post(f"{url}/results/review", data=form)
    assert first.status_code == second.status_code == 302 and second.headers.get("Idempotent-Replayed") == "true"
    assert AuditEvent.select().where(AuditEvent.action == "kpi_result.review").count() == 2
    outsider = signed_in(app, make_user("risk_reviewer", org="Bank B"))
    assert outsider.post(f"{url}/results/review", data={**form, "csrf_token": token(outsider, "/"),
                                                        "idempotency_key": str(uuid.uuid4())}).status_code == 404
