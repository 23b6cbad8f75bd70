"""Existence oracles: another tenant's id answers exactly what an id that does not exist answers — the same 404
and the same body, word for word — on every route that takes an id, API and pages, read and write; and ids
in paths are ASCII digits only."""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from werkzeug.routing import IntegerConverter

from models import AuditorGrant, Evidence, Finding, Incident, Notification, Pack, RequestComment, User
from services.demo import files as demo_files
from services.register.engagements import create_accepted_engagement
from tests.conftest import bearer, login
from tests.test_tenancy import BASE

MISSING = 10**9
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
def tenant_a(client, make_user):
    """Bank A's engagement with one of everything an id can name (created through the API)."""
    admin, contributor = make_user("client_admin", org="Bank A"), make_user("provider_contributor", org="BPO A")
    reviewer, auditor = make_user("risk_reviewer", org="Bank A"), make_user("auditor", org="Audit Firm")
    engagement = create_accepted_engagement(admin, {**BASE, "name": "A services", "provider": "BPO A"})
    headers, url = bearer(admin), f"/api/v1/engagements/{engagement.id}"
    client.post(f"{url}/incidents", headers=headers, json={
        "title": "Outage", "category": "security_incident", "flags": ["material"], "aware_party": "client",
        "occurred_at": (NOW - dt.timedelta(hours=3)).isoformat(),
        "aware_at": (NOW - dt.timedelta(hours=2)).isoformat()})
    client.post(f"{url}/findings", headers=headers, json={"title": "Gap", "severity": "high"})
    sub = client.post(f"{url}/subcontractors", headers=bearer(make_user("provider_admin", org="BPO A")),
                      json={"name": "Roster Tools", "services": ["Workforce management"], "countries": ["AU"]})
    assert sub.status_code == 201, sub.get_json()
    client.post(f"{url}/auditor-grants", headers=headers, json={
        "auditor_email": auditor.email, "frameworks": ["CPS234"], "starts_at": NOW.isoformat(),
        "expires_at": (NOW + dt.timedelta(days=3)).isoformat()})
    client.post(f"{url}/packs", headers=headers, json={"frameworks": ["CPS234"], "period_start": "2026-01-01",
                                                       "period_end": "2026-03-31"})
    request_id = client.get(f"{url}/requests?per_page=1&status=open", headers=headers).get_json()["items"][0]["id"]
    client.post(f"{url}/evidence", headers=bearer(contributor), content_type="multipart/form-data", data={
        "request_id": str(request_id), "effective_date": dt.date.today().isoformat(),
        "file": (io.BytesIO(demo_files.pdf("A's evidence")), "a.pdf")})
    client.post(f"/api/v1/requests/{request_id}/comments", headers=headers, json={"body": "Please add Q1."})
    token = client.post("/api/v1/tokens", headers=headers, json={"name": "A's"}).get_json()
    ids = {"engagement_id": engagement.id, "incident_id": Incident.get().id, "finding_id": Finding.get().id,
           "grant_id": AuditorGrant.get().id, "pack_id": Pack.get().id, "evidence_id": Evidence.get().id,
           "request_id": request_id, "subcontractor_id": sub.get_json()["id"], "user_id": reviewer.id,
           "token_id": token["id"], "notification_id": getattr(Notification.select().first(), "id", None)}
    assert RequestComment.select().count() == 1 and User.select().count() >= 4 and Evidence.select().count() == 1
    return ids, Incident.get()


def _routes(app):
    for rule in app.url_map.iter_rules():
        ints = [name for name, converter in rule._converters.items() if isinstance(converter, IntegerConverter)]
        if ints:
            yield rule, ints


def _fill(rule, ids: dict, rule_id: str, missing: bool) -> str | None:
    values = {}
    for name in rule.arguments:
        if name == "rule":
            values[name] = rule_id
        elif name in ids and ids[name] is not None:
            values[name] = MISSING if missing else ids[name]
        else:
            return None
    return rule.rule and re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", lambda m: str(values[m.group(1)]), rule.rule)


def _normalised(body: str) -> str:
    return re.sub(r'(name="csrf_token" value="|content=")[^"]+"', r'\1"', body)


@pytest.mark.parametrize("role, org", [("client_admin", "Bank B"), ("provider_admin", "BPO B")])
def test_another_tenants_ids_answer_exactly_like_missing_ones(app, client, tenant_a, make_user, role, org):
    ids, incident = tenant_a
    rule_id = incident.clocks.first().rule_id
    stranger = make_user(role, org=org)
    create_accepted_engagement(make_user("client_admin", org="Bank B"),
                      {**BASE, "name": "B services", "provider": "BPO B"})
    api = bearer(stranger)
    login(client, stranger)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
    differences, crawled = [], 0
    for rule, _ in _routes(app):
        theirs, missing = _fill(rule, ids, rule_id, False), _fill(rule, ids, rule_id, True)
        if theirs is None:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            answers = []
            for path in (theirs, missing):
                if path.startswith("/api/"):
                    response = client.open(path, method=method, headers=api, json={})
                else:
                    response = client.open(path, method=method, data={"csrf_token": csrf})
                answers.append((response.status_code, _normalised(response.get_data(as_text=True))))
            crawled += 1
            if answers[0] != answers[1] or answers[0][0] != 404:
                differences.append((method, rule.rule, answers[0][0], answers[1][0], answers[0][1][:120],
                                    answers[1][1][:120]))
    assert crawled >= 60
    assert differences == []


FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def test_ids_in_paths_are_ascii_digits_within_64_bits(client, make_user):
    admin = make_user("client_admin", org="Bank A")
    engagement = create_accepted_engagement(admin, {**BASE, "name": "A services", "provider": "BPO A"})
    login(client, admin)
    digits = str(engagement.id)
    assert client.get(f"/api/v1/engagements/{digits}", headers=bearer(admin)).status_code == 200
    assert client.get(f"/engagements/{digits}").status_code == 200
    for other in (digits.translate(FULLWIDTH), digits.translate(ARABIC_INDIC)):
        for path in (f"/api/v1/engagements/{other}", f"/engagements/{other}", f"/engagements/{other}/soa"):
            assert client.get(path, headers=bearer(admin)).status_code == 404, path
    assert client.get(f"/api/v1/engagements/{2**63}", headers=bearer(admin)).status_code == 404
    request_id = client.get(f"/api/v1/engagements/{digits}/requests?per_page=1",
                            headers=bearer(admin)).get_json()["items"][0]["id"]
    comment = client.post(f"/api/v1/requests/{request_id}/comments", headers=bearer(admin),
                          json={"body": "x", "evidence_id": str(request_id).translate(FULLWIDTH)})
    assert comment.status_code in (404, 422)
