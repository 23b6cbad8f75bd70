"""The auditor's view of contract performance: the pack and the OSCAL export carry the scorecard and credits
when the pack or the grant covers CONTRACT, and nothing of it otherwise."""
from __future__ import annotations

import json

import pytest

from services.auditors import oscal, packs
from services.performance import commercial, kpis, results
from services.register.engagements import create_accepted_engagement
from tests.conftest import bearer
from tests.fixtures.rights import make_grant


@pytest.fixture
def scored(make_user):
    admin, provider, risk = make_user("client_admin"), make_user("provider_admin"), make_user("risk_reviewer")
    engagement = create_accepted_engagement(admin, {"name": "Cards", "provider": "BPO A", "place": "NSW",
                                           "frameworks": ["CONTRACT", "CPS234"], "start_date": "2026-01-01"})
    kpis.create_kpi(admin, engagement.id, {"template": "ABANDON", "allocation_pct": "60"})
    commercial.update_settings(admin, engagement.id, {"bands": [{"from": 0, "to": None, "unit_rate": "4.10"}]})
    commercial.put_month(admin, engagement.id, "2026-02", {"actual_volume": 30000})
    for result in results.submit(provider, engagement.id, [results.Row(1, "ABANDON", "2026-02", "9")],
                                 extract_sha256="ab" * 32):
        results.review(risk, result.id, {"decision": "accept"})
    return {"engagement": engagement, "admin": admin, "auditor": make_user("auditor")}


def test_the_pack_carries_the_scorecard_and_credits_only_with_contract(scored):
    engagement, admin = scored["engagement"], scored["admin"]
    period = {"period_start": "2026-01-01", "period_end": "2026-03-31"}
    with_contract = packs.gather(packs.request_pack(admin, engagement.id, {"frameworks": ["CONTRACT"], **period}))
    assert [r["outcome"] for r in with_contract.performance["kpis"][0]["results"]] == ["missed"]
    html = packs.render_html(with_contract, "0" * 64)
    assert "Contract performance (2026-01 to 2026-03)" in html and "ABANDON 8856.00 (payable)" in html
    without = packs.gather(packs.request_pack(admin, engagement.id, {"frameworks": ["CPS234"], **period}))
    assert without.performance is None and "Contract performance" not in packs.render_html(without, "0" * 64)


def test_oscal_observes_kpi_results_for_the_parties_and_a_contract_grant_only(client, scored):
    engagement, auditor = scored["engagement"], scored["auditor"]
    document = oscal.assessment_results(scored["admin"], engagement.id)
    oscal.validate(document)
    kpi = [o for r in document["assessment-results"]["results"] for o in r.get("observations", [])
           if o["title"].startswith("KPI ")]
    assert [o["title"] for o in kpi] == ["KPI ABANDON 2026-02: missed"]
    assert {"name": "sha256", "ns": oscal.NS, "value": "ab" * 32} in kpi[0]["props"]
    make_grant(auditor, engagement, ["CPS234"])
    assert "KPI ABANDON" not in json.dumps(oscal.assessment_results(auditor, engagement.id))
    assert client.get(f"/api/v1/engagements/{engagement.id}/scorecard", headers=bearer(auditor)).status_code == 404
    make_grant(auditor, engagement, ["CONTRACT"])
    assert "KPI ABANDON" in json.dumps(oscal.assessment_results(auditor, engagement.id))
    card = client.get(f"/api/v1/engagements/{engagement.id}/scorecard?from=2026-01&to=2026-03",
                      headers=bearer(auditor))
    assert card.status_code == 200 and card.get_json()["kpis"][0]["code"] == "ABANDON"
