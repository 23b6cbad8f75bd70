"""CPS 230 para 59: the client's own agreement with the provider starts CPS230-ARRANGEMENT (59(a), 20 business
days), and an offshoring arrangement needs APRA told before it (59(b))."""
from __future__ import annotations

from models import Arrangement, AuditEvent, Clock, Subcontractor
from tests.test_clocks_facts import bank as bank  # noqa: F401 (the fixture)
from tests.test_openapi import Contract
from tests.test_openapi import spec as spec  # noqa: F401 (the fixture)
from tests.test_subcontractors import OFFSHORE_SITE, decide, propose
from tests.test_subcontractors import parties as parties  # noqa: F401 (the fixture)


def arrange(client, bank, who="risk", **body):
    data = {"kind": "material_change", "agreement_date": "2026-12-21"} | body
    return client.post(f"/api/v1/engagements/{bank['engagement']}/arrangements", headers=bank[who], json=data)


def test_a_material_change_to_the_clients_own_agreement_starts_the_arrangement_clock(client, bank, spec):
    response = arrange(client, bank, description="Added the collections queue")
    body = Contract(spec).check(response, "post", "/api/v1/engagements/{engagement_id}/arrangements")
    clock = body["clock"]
    assert clock["rule"] == "CPS230-ARRANGEMENT" and clock["state"] == "running"
    assert clock["started_at"] == "2026-12-20T13:00:00Z"  # 00:00 AEDT on 21 December
    assert clock["deadline_local"] == "2027-01-21T23:59:59+11:00"  # 20 NSW business days, holidays skipped
    assert clock["basis"].startswith("20 business days NSW") and "changed on 2026-12-21" in clock["basis"]
    assert arrange(client, bank).status_code == 201 and Arrangement.select().count() == 1  # a double submit
    listed = Contract(spec).check(client.get(f"/api/v1/engagements/{bank['engagement']}/arrangements",
                                             headers=bank["provider"]),
                                  "get", "/api/v1/engagements/{engagement_id}/arrangements")
    assert [a["id"] for a in listed["items"]] == [body["id"]]
    entered = arrange(client, bank, kind="entered", agreement_date="2026-11-02").get_json()
    notice = client.post(f"/api/v1/arrangements/{entered['id']}/notice", headers=bank["risk"],
                         json={"notified_at": "2026-11-10T10:00:00+11:00"})
    assert notice.status_code == 200 and notice.get_json()["clock"]["state"] == "met"


def test_an_offshoring_arrangement_needs_apra_told_before_it(client, bank):
    late = arrange(client, bank, kind="entered", offshore=True, agreement_date="2026-11-02",
                   apra_notified_on="2026-11-03")
    assert late.status_code == 422
    error = late.get_json()["error"]
    assert error["field"] == "apra_notified_on" and "para 59(b)" in error["message"]
    assert "after the agreement date" in error["message"]
    assert arrange(client, bank, kind="entered", offshore=True, agreement_date="2026-11-02").status_code == 422
    good = arrange(client, bank, kind="entered", offshore=True, agreement_date="2026-11-02",
                   apra_notified_on="2026-10-20")
    assert good.status_code == 201, good.get_json()


def test_bad_arrangements_are_refused_and_change_nothing(client, bank):
    for body, field in (({"kind": "renewed"}, "kind"), ({"agreement_date": "21/12/2026"}, "agreement_date"),
                        ({"agreement_date": None}, "agreement_date"), ({"offshore": "yes"}, "offshore"),
                        ({"apra_notified_on": "2999-01-01"}, "apra_notified_on")):
        response = arrange(client, bank, **body)
        assert response.status_code == 422 and response.get_json()["error"]["field"] == field, body
    assert arrange(client, bank, who="provider").status_code == 404  # the client's agreement
    assert arrange(client, bank, who="stranger").status_code == 404
    assert Arrangement.select().count() == 0 and Clock.select().count() == 0
    assert AuditEvent.select().where(AuditEvent.action == "arrangement.create").count() == 0
    stranger = client.post("/api/v1/arrangements/1/notice", headers=bank["stranger"],
                           json={"notified_at": "2027-01-05T10:00:00+11:00"})
    assert stranger.status_code == 404


def test_an_offshore_sub_contractor_agreed_before_apra_was_told_is_not_approved(client, parties):
    sub = propose(client, parties, OFFSHORE_SITE | {"agreement_date": "2026-11-02"}).get_json()
    notice = client.post(f"/api/v1/subcontractors/{sub['id']}/apra-notice", headers=parties["client"],
                         json={"notified_on": "2026-11-20"})
    assert notice.status_code == 200, notice.get_json()
    refused = decide(client, parties, sub["id"], {"decision": "approve", "reason": "DD done"})
    assert refused.status_code == 422 and "para 59(b)" in refused.get_json()["error"]["message"]
    assert Subcontractor.get_by_id(sub["id"]).status == "proposed"
