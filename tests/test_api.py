"""The HTTP API: library reads, engagements, requests, pagination, errors, OpenAPI."""
import datetime as dt

import pytest

from models import Applicability, Engagement, EvidenceRequest, Organisation
from tests.conftest import bearer

FRAMEWORKS = ["ISO27001-2022", "CPS234", "CPS230", "PRIVACY-AU", "PCIDSS-4.0.1", "ISO22301-2019", "CONTRACT"]


def payload(**overrides):
    body = {"name": "Contact centre services", "provider": "BPO A", "frameworks": ["ISO27001-2022", "CPS234"],
            "place": "NSW", "timezone": "Australia/Sydney", "start_date": "2026-01-01",
            "card_payments": False, "offshore": False}
    body.update(overrides)
    return body


@pytest.fixture
def admin(make_user):
    user = make_user("client_admin")
    return user, bearer(user)


def test_frameworks_lists_the_seven_and_those_that_apply_under_a_setting(client, admin):
    body = client.get("/api/v1/frameworks", headers=admin[1]).get_json()
    assert sorted(f["code"] for f in body["items"]) == sorted(FRAMEWORKS + ["CARD-BRANDS", "SOCI", "CSA-2024"])
    assert {f["code"]: f["requires"] for f in body["items"] if f["requires"]} == {
        "CARD-BRANDS": "card_payments", "SOCI": "soci_reporting", "CSA-2024": "ransomware_reporting"}
    iso = next(f for f in body["items"] if f["code"] == "ISO27001-2022")
    assert iso["obligations"] >= 93 + 19


def test_obligations_of_a_framework_with_their_controls(client, admin):
    body = client.get("/api/v1/frameworks/CPS234/obligations?per_page=200", headers=admin[1]).get_json()
    refs = [o["ref"] for o in body["items"]]
    assert all(str(n) in refs for n in range(13, 37)) or "35" in refs
    para35 = next(o for o in body["items"] if o["ref"] == "35")
    assert para35["controls"], "para 35 must be served by at least one control"
    assert client.get("/api/v1/frameworks/NOPE/obligations", headers=admin[1]).status_code == 404


def test_controls_with_mappings_and_requirements(client, admin):
    body = client.get("/api/v1/controls?per_page=200", headers=admin[1]).get_json()
    assert body["total"] >= 60
    multi = [c for c in body["items"] if len(c["frameworks"]) >= 3]
    assert len(multi) >= 10
    one = client.get(f"/api/v1/controls/{multi[0]['code']}", headers=admin[1]).get_json()
    assert one["evidence_requirements"] and one["evidence_requirements"][0]["accepted_types"]
    assert {m["coverage"] for m in one["mappings"]} <= {"full", "partial"}
    pci = client.get("/api/v1/controls?framework=PCIDSS-4.0.1&per_page=200", headers=admin[1]).get_json()
    assert pci["total"] and all("PCIDSS-4.0.1" in c["frameworks"] for c in pci["items"])
    assert client.get("/api/v1/controls?framework=NOPE", headers=admin[1]).status_code == 422


@pytest.mark.parametrize("query", ["page=0", "page=abc", "per_page=201", "per_page=0", "per_page=-1",
                                   "page=100000000000000000000", "page=1.5"])
def test_pagination_out_of_range_is_a_clear_400(client, admin, query):
    response = client.get(f"/api/v1/controls?{query}", headers=admin[1])
    assert response.status_code == 400
    assert response.get_json()["error"]["message"]


def test_pagination_pages_through_everything(client, admin):
    first = client.get("/api/v1/controls?per_page=25", headers=admin[1]).get_json()
    codes = []
    for page in range(1, first["pages"] + 1):
        codes += [c["code"] for c in client.get(f"/api/v1/controls?per_page=25&page={page}",
                                                 headers=admin[1]).get_json()["items"]]
    assert len(codes) == len(set(codes)) == first["total"]
    beyond = client.get(f"/api/v1/controls?per_page=25&page={first['pages'] + 1}", headers=admin[1]).get_json()
    assert beyond["items"] == []


def test_create_engagement_generates_soa_and_first_requests(client, admin):
    response = client.post("/api/v1/engagements", json=payload(), headers=admin[1])
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    engagement = Engagement.get_by_id(body["id"])
    assert body["frameworks"] == ["CPS234", "ISO27001-2022"] and body["provider"] == "BPO A"
    # the provider is invited, not created or attached: it takes part once its admin accepts
    assert body["provider_status"] == "invited"
    assert not Organisation.select().where(Organisation.name == "BPO A").exists()
    soa = list(Applicability.select().where(Applicability.engagement == engagement))
    assert soa and all(row.justification for row in soa)
    assert any(row.applicable for row in soa) and any(not row.applicable for row in soa)
    requests = client.get(f"/api/v1/engagements/{body['id']}/requests?per_page=200", headers=admin[1]).get_json()
    assert requests["total"] > 0
    first = requests["items"][0]
    assert set(first) >= {"id", "control", "requirement", "accepted_types", "period_start", "period_end",
                          "due_at", "status"}
    assert first["due_at"].endswith("Z")
    upcoming = client.get(f"/api/v1/engagements/{body['id']}/requests?status=upcoming",
                          headers=admin[1]).get_json()
    assert upcoming["total"] > 0, "the next period of each schedule is shown as upcoming"


def test_pci_controls_apply_only_with_card_payments(client, admin):
    codes = ["PCIDSS-4.0.1", "ISO27001-2022"]
    without = client.post("/api/v1/engagements", json=payload(name="A", frameworks=codes), headers=admin[1])
    with_cards = client.post("/api/v1/engagements", json=payload(name="B", frameworks=codes, card_payments=True),
                             headers=admin[1])

    def applicable_pci(engagement_id):
        rows = client.get(f"/api/v1/engagements/{engagement_id}/applicability?per_page=200&applicable=true",
                          headers=admin[1]).get_json()["items"]
        return [r for r in rows if r["control"].startswith("PCI") or "PCI" in r["justification"]]
    assert len(applicable_pci(with_cards.get_json()["id"])) > len(applicable_pci(without.get_json()["id"]))
    not_applicable = client.get(f"/api/v1/engagements/{without.get_json()['id']}/applicability?applicable=false"
                                "&per_page=200", headers=admin[1]).get_json()["items"]
    assert any("card_payments" in r["justification"] for r in not_applicable)


def test_requests_filter_by_status(client, admin):
    start = (dt.date.today() - dt.timedelta(days=400)).isoformat()
    engagement_id = client.post("/api/v1/engagements", json=payload(start_date=start),
                                headers=admin[1]).get_json()["id"]
    overdue = client.get(f"/api/v1/engagements/{engagement_id}/requests?status=overdue&per_page=200",
                         headers=admin[1]).get_json()
    assert overdue["total"] > 0 and {r["status"] for r in overdue["items"]} == {"overdue"}
    assert client.get(f"/api/v1/engagements/{engagement_id}/requests?status=lost",
                      headers=admin[1]).status_code == 422


@pytest.mark.parametrize("field,value,code", [
    ("frameworks", ["NOPE-1"], 422), ("frameworks", [], 422), ("frameworks", "ISO27001-2022", 201),
    ("place", "Narnia", 422), ("timezone", "Mars/Olympus", 422), ("start_date", "next tuesday", 422),
    ("start_date", "2026-02-30", 422), ("name", "", 422), ("name", "x" * 201, 422), ("provider", None, 422),
    ("card_payments", "perhaps", 422), ("end_date", "2025-01-01", 422),
])
def test_bad_engagement_input_is_refused_and_nothing_is_written(client, admin, field, value, code):
    before = (Engagement.select().count(), EvidenceRequest.select().count(), Applicability.select().count())
    response = client.post("/api/v1/engagements", json=payload(**{field: value}), headers=admin[1])
    assert response.status_code == code, response.get_json()
    if code != 201:
        assert response.get_json()["error"]["message"]
        assert (Engagement.select().count(), EvidenceRequest.select().count(),
                Applicability.select().count()) == before


def test_duplicate_engagement_name_is_409(client, admin):
    assert client.post("/api/v1/engagements", json=payload(), headers=admin[1]).status_code == 201
    response = client.post("/api/v1/engagements", json=payload(), headers=admin[1])
    assert response.status_code == 409


def test_body_that_is_not_json_is_400(client, admin):
    response = client.post("/api/v1/engagements", data="name=x", headers=admin[1],
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400


def test_provider_name_that_is_a_client_is_invited_like_any_other(client, admin, make_user):
    """Refusing another client's name told anyone who can type a name that the client exists: the name is
    invited like any other, and nobody at that client sees or can accept the invitation."""
    bank_b = make_user("client_admin", org="Bank B")
    response = client.post("/api/v1/engagements", json=payload(provider="Bank B"), headers=admin[1])
    assert response.status_code == 201 and response.get_json()["provider_status"] == "invited"
    assert client.get("/api/v1/engagement-invitations", headers=bearer(bank_b)).get_json()["items"] == []


def test_openapi_describes_every_route(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in spec["paths"][path], f"{method} {path} missing from openapi.json"


def test_unknown_api_route_is_json_404(client, admin):
    response = client.get("/api/v1/nothing-here", headers=admin[1])
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_due_filters_use_the_engagements_local_days(client, admin):
    engagement_id = client.post("/api/v1/engagements", json=payload(start_date="2026-01-01"),
                                headers=admin[1]).get_json()["id"]
    url = f"/api/v1/engagements/{engagement_id}/requests?per_page=200"
    # monthly requests for January are due 31 Jan 23:59:59 Sydney = 31 Jan 12:59:59Z
    january = client.get(url + "&due_after=2026-01-31&due_before=2026-02-01", headers=admin[1]).get_json()
    assert january["total"] > 0
    assert all(r["due_local"].startswith("2026-01-31T23:59:59") for r in january["items"])
    none = client.get(url + "&due_after=2026-02-01&due_before=2026-02-02", headers=admin[1]).get_json()
    assert none["total"] == 0
    assert client.get(url + "&due_before=soon", headers=admin[1]).status_code == 422


def test_no_requests_are_planned_after_the_engagement_ends(client, admin):
    today = dt.date.today()
    body = payload(start_date=(today - dt.timedelta(days=200)).isoformat(),
                   end_date=(today - dt.timedelta(days=100)).isoformat())
    engagement_id = client.post("/api/v1/engagements", json=body, headers=admin[1]).get_json()["id"]
    starts = {r.period_start for r in EvidenceRequest.select().where(EvidenceRequest.engagement == engagement_id)}
    assert starts and max(starts) <= today - dt.timedelta(days=100)


@pytest.mark.parametrize("body", [[1, 2], "a string", 42, {"frameworks": [["nested"]]}])
def test_json_that_is_not_an_engagement_object_is_refused(client, admin, body):
    response = client.post("/api/v1/engagements", json=body, headers=admin[1])
    assert response.status_code == 422 and response.get_json()["error"]["message"]
    assert Engagement.select().count() == 0


@pytest.mark.parametrize("field,value,blamed", [
    ("start_date", "20250101", "start_date"), ("start_date", "2025-W01-1", "start_date"),
    ("start_date", "no timezone here", "start_date"), ("end_date", "9999-12-31", "end_date"),
    ("timezone", "localtime", "timezone"), ("timezone", "Factory", "timezone"),
    ("name", "Contact\x00centre", "name"), ("name", "Contact\u202ecentre", "name"),
    ("provider", "BPO\nA", "provider"), ("contract_ref", "MSA\x07", "contract_ref"),
])
def test_tricky_values_are_refused_and_the_right_field_is_blamed(client, admin, field, value, blamed):
    response = client.post("/api/v1/engagements", json=payload(**{field: value}), headers=admin[1])
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["field"] == blamed
    assert Engagement.select().count() == 0


def test_engagement_names_are_unique_whatever_the_case(client, admin):
    assert client.post("/api/v1/engagements", json=payload(name="Inbound Sales"), headers=admin[1]).status_code == 201
    response = client.post("/api/v1/engagements", json=payload(name="inbound sales"), headers=admin[1])
    assert response.status_code == 409 and response.get_json()["error"]["field"] == "name"


@pytest.mark.parametrize("path", ["/api/v1/engagements/99999999999999999999999",
                                  "/api/v1/engagements/99999999999999999999999/requests",
                                  "/api/v1/engagements/0"])
def test_impossible_ids_are_404_not_500(client, admin, path):
    assert client.get(path, headers=admin[1]).status_code == 404


def test_due_filters_outside_the_calendar_are_422_not_500(client, admin):
    engagement_id = client.post("/api/v1/engagements", json=payload(), headers=admin[1]).get_json()["id"]
    for value in ("0001-01-01", "9999-12-31"):
        response = client.get(f"/api/v1/engagements/{engagement_id}/requests?due_before={value}", headers=admin[1])
        assert response.status_code == 422, value


def test_search_wildcards_are_literal(client, admin):
    everything = client.get("/api/v1/controls?per_page=200", headers=admin[1]).get_json()["total"]
    assert client.get("/api/v1/controls?q=%25", headers=admin[1]).get_json()["total"] < everything
    assert client.get("/api/v1/controls?q=_", headers=admin[1]).get_json()["total"] < everything
    assert client.get("/api/v1/controls?q=ac-0", headers=admin[1]).get_json()["total"] > 0


def test_applicable_filter_accepts_true_false_and_refuses_the_rest(client, admin):
    engagement_id = client.post("/api/v1/engagements", json=payload(), headers=admin[1]).get_json()["id"]
    url = f"/api/v1/engagements/{engagement_id}/applicability?per_page=200&applicable="
    yes = client.get(url + "true", headers=admin[1]).get_json()
    no = client.get(url + "no", headers=admin[1]).get_json()
    assert yes["total"] and no["total"] and {r["applicable"] for r in yes["items"]} == {True}
    assert {r["applicable"] for r in no["items"]} == {False}
    assert client.get(url + "maybe", headers=admin[1]).status_code == 422
