"""Exit readiness: the transition-assistance items current, stale or missing, the readiness figure and its trend,
per engagement and across engagements, and a stale item on the next agenda."""
from __future__ import annotations

import datetime as dt

from domain import governance_exit as rules
from models import Control, Evidence, EvidenceRequest, Meeting
from tests.conftest import bearer, login
from tests.test_governance import gov as gov  # noqa: F401 (the fixture)
from tests.test_governance import upload_minutes
from tests.test_openapi import Contract
from tests.test_openapi import spec as spec  # noqa: F401 (the fixture)

D = dt.date


def test_item_states_readiness_and_month_ends():
    assert rules.item_state(None, D(2026, 5, 1)) == "missing"
    assert rules.item_state(D(2026, 5, 1), D(2026, 5, 1)) == "current"
    assert rules.item_state(D(2026, 4, 30), D(2026, 5, 1)) == "stale"
    assert rules.readiness([]) is None
    assert rules.readiness(["current", "stale", "missing"]) == 33
    assert rules.readiness(["current", "current", "missing"]) == 67  # half up
    assert rules.readiness(["current"] + ["missing"] * 7) == 13  # 12.5 rounds up
    proofs = [(D(2026, 1, 10), D(2026, 4, 10))]
    assert [rules.state_on(proofs, d) for d in (D(2026, 1, 9), D(2026, 2, 1), D(2026, 5, 1))] == [
        "missing", "current", "stale"]
    assert rules.month_ends(D(2026, 3, 15), 3) == [D(2025, 12, 31), D(2026, 1, 31), D(2026, 2, 28), D(2026, 3, 15)]


def _exit_request(engagement, code: str) -> EvidenceRequest:
    return (EvidenceRequest.select().join(Control)
            .where(EvidenceRequest.engagement == engagement.id, Control.code == code)
            .order_by(EvidenceRequest.period_start.desc()).first())


def test_an_item_goes_current_then_stale_and_shows_on_the_agenda(client, gov, spec, make_user):
    engagement = gov["engagement"]
    url = f"/api/v1/engagements/{engagement.id}/exit-readiness"
    body = Contract(spec).check(client.get(url, headers=gov["client"]), "get",
                                "/api/v1/engagements/{engagement_id}/exit-readiness")
    assert [i["control"] for i in body["items"]] == list(rules.EXIT_CONTROLS)
    assert {i["state"] for i in body["items"]} == {"missing"} and body["readiness"] == 0
    assert len(body["trend"]) == rules.TREND_MONTHS + 1

    runbooks = _exit_request(engagement, "EX-01")
    evidence_id = upload_minutes(client, gov, Meeting(scheduled_for=runbooks.due_at), request=runbooks)
    assert client.post(f"/api/v1/evidence/{evidence_id}/review", json={"decision": "accept"},
                       headers=gov["reviewer"]).status_code == 200
    body = client.get(url, headers=gov["client"]).get_json()
    item = next(i for i in body["items"] if i["control"] == "EX-01")
    assert item["state"] == "current" and item["evidence_id"] == evidence_id
    assert body["readiness"] == 11  # 1 of 9
    assert body["trend"][-1]["readiness"] == 11 and body["trend"][0]["readiness"] == 0

    # the runbooks were not kept current: their evidence lapsed
    Evidence.update(valid_until=dt.date.today() - dt.timedelta(days=2)).where(Evidence.id == evidence_id).execute()
    body = client.get(url, headers=gov["client"]).get_json()
    assert next(i for i in body["items"] if i["control"] == "EX-01")["state"] == "stale" and body["readiness"] == 0
    meeting = Meeting.select().where(Meeting.engagement == engagement.id, Meeting.status == "scheduled").first()
    agenda = client.get(f"/api/v1/meetings/{meeting.id}", headers=gov["client"]).get_json()["agenda"]
    assert [i["title"][:5] for i in agenda["stale_exit_items"]["items"]] == ["EX-01"]

    web = client.application.test_client()
    login(web, gov["admin"])
    page = web.get(f"/engagements/{engagement.id}/exit-readiness").get_data(as_text=True)
    assert "Stale" in page and "EX-01" in page
    across = web.get("/exit-readiness").get_data(as_text=True)
    assert engagement.name in across and "0%" in across
    stranger = bearer(make_user("client_admin", org="Bank B"))
    assert client.get(url, headers=stranger).get_json() == client.get(
        "/api/v1/engagements/99999999/exit-readiness", headers=stranger).get_json()
