"""An engagement's provider takes part by consent: naming a provider invites it; nothing reaches the provider
(the engagement, its requests, owner look-ups, notifications) until one of its admins accepts; and the answer to
the client is the same whatever the name (a provider, a client, an audit firm, nobody yet)."""
import pytest

from models import AuditEvent, Engagement, Notification, Organisation
from tests.conftest import bearer

BASE = {"frameworks": ["ISO27001-2022"], "place": "NSW", "start_date": "2026-01-01"}


@pytest.fixture
def world(make_user):
    return {"admin": make_user("client_admin", org="Bank A"),
            "other_client": make_user("client_admin", org="Bank B"),
            "provider_admin": make_user("provider_admin", org="BPO A"),
            "agent": make_user("provider_contributor", org="BPO A"),
            "rival": make_user("provider_admin", org="BPO B"),
            "auditor": make_user("auditor", org="Audit Firm")}


def _create(client, admin, name, provider):
    return client.post("/api/v1/engagements", json={**BASE, "name": name, "provider": provider},
                       headers=bearer(admin))


def _shape(response):
    body = response.get_json()
    return response.status_code, tuple(sorted(body)), body["provider_status"]


def _owner(client, admin, engagement_id, email):
    return client.patch(f"/api/v1/engagements/{engagement_id}/applicability/AC-01", json={"owner": email},
                        headers=bearer(admin))


def test_every_name_answers_alike_and_nothing_is_resolved(client, world):
    admin = world["admin"]
    orgs_before = Organisation.select().count()
    answers = [_create(client, admin, f"E{i}", name) for i, name in
               enumerate(["bpo a", "Bank B", "Audit Firm", "Nobody Yet Pty Ltd"])]
    assert {_shape(a) for a in answers} == {(201, tuple(sorted(answers[0].get_json())), "invited")}
    assert [a.get_json()["provider"] for a in answers] == ["bpo a", "Bank B", "Audit Firm", "Nobody Yet Pty Ltd"]
    # no organisation is created for an unknown name (one user-less placeholder at most)
    assert Organisation.select().count() <= orgs_before + 1
    assert not Organisation.select().where(Organisation.name == "Nobody Yet Pty Ltd").exists()


def test_owner_of_an_invited_engagement_is_refused_alike_for_every_email(client, world):
    admin = world["admin"]
    engagement_id = _create(client, admin, "Inbound", "BPO A").get_json()["id"]
    known, unknown = (_owner(client, admin, engagement_id, email) for email in
                      (world["provider_admin"].email, "nobody@bpoa.example"))
    assert known.status_code == unknown.status_code == 422
    assert known.get_json()["error"]["message"].replace(world["provider_admin"].email, "X") == \
        unknown.get_json()["error"]["message"].replace("nobody@bpoa.example", "X")


def test_provider_sees_nothing_until_its_admin_accepts(client, world):
    admin, padmin, agent = world["admin"], world["provider_admin"], world["agent"]
    engagement_id = _create(client, admin, "Inbound", "bpo a").get_json()["id"]
    for user in (padmin, agent, world["rival"]):
        assert client.get(f"/api/v1/engagements/{engagement_id}", headers=bearer(user)).status_code == 404
        assert client.get(f"/api/v1/engagements/{engagement_id}/requests", headers=bearer(user)).status_code == 404
    pending = client.get("/api/v1/engagement-invitations", headers=bearer(padmin)).get_json()["items"]
    assert [(i["engagement_name"], i["client"], i["state"]) for i in pending] == [("Inbound", "Bank A", "pending")]
    assert Notification.select().where(Notification.user == padmin.id,
                                       Notification.kind == "engagement_invitation").count() == 1
    for outsider in ("rival", "agent", "auditor", "other_client"):
        listed = client.get("/api/v1/engagement-invitations", headers=bearer(world[outsider])).get_json()
        assert listed["items"] == [], outsider
    invitation = pending[0]["id"]
    missing = client.post("/api/v1/engagement-invitations/999999/decision", json={"decision": "accept"},
                          headers=bearer(world["rival"]))
    for outsider in ("rival", "agent", "admin"):
        refused = client.post(f"/api/v1/engagement-invitations/{invitation}/decision", json={"decision": "accept"},
                              headers=bearer(world[outsider]))
        assert (refused.status_code, refused.get_json()) == (404, missing.get_json()), outsider
    accepted = client.post(f"/api/v1/engagement-invitations/{invitation}/decision",
                           json={"decision": "accept"}, headers=bearer(padmin))
    assert accepted.status_code == 200 and accepted.get_json()["state"] == "accepted"
    assert Engagement.get_by_id(engagement_id).provider.name == "BPO A"
    for user in (padmin, agent):
        assert client.get(f"/api/v1/engagements/{engagement_id}", headers=bearer(user)).get_json()[
            "provider_status"] == "accepted"
    assert _owner(client, admin, engagement_id, agent.email).status_code == 200
    again = client.post(f"/api/v1/engagement-invitations/{invitation}/decision", json={"decision": "decline"},
                        headers=bearer(padmin))
    assert again.status_code == 409
    assert AuditEvent.select().where(AuditEvent.action == "engagement.invitation.accept").count() == 1
    assert Notification.select().where(Notification.user == admin.id,
                                       Notification.kind == "engagement_invitation").count() == 1


def test_declined_engagement_stays_the_clients_alone(client, world):
    admin, padmin = world["admin"], world["provider_admin"]
    engagement_id = _create(client, admin, "Inbound", "BPO A").get_json()["id"]
    invitation = client.get("/api/v1/engagement-invitations", headers=bearer(padmin)).get_json()["items"][0]["id"]
    for bad in ({"decision": "maybe"}, {"decision": []}, {"decision": "decline", "reason": {}}, []):
        assert client.post(f"/api/v1/engagement-invitations/{invitation}/decision", json=bad,
                           headers=bearer(padmin)).status_code in (400, 422), bad
    declined = client.post(f"/api/v1/engagement-invitations/{invitation}/decision",
                           json={"decision": "decline", "reason": "no such contract"}, headers=bearer(padmin))
    assert declined.status_code == 200 and declined.get_json()["state"] == "declined"
    assert client.get(f"/api/v1/engagements/{engagement_id}", headers=bearer(padmin)).status_code == 404
    mine = client.get(f"/api/v1/engagements/{engagement_id}", headers=bearer(admin)).get_json()
    assert (mine["provider"], mine["provider_status"]) == ("BPO A", "declined")
    assert client.get("/api/v1/engagement-invitations", headers=bearer(padmin)).get_json()["items"] == []


def test_provider_admin_accepts_on_the_invitations_page(app, client, world):
    from tests.test_pages import csrf_token, signed_in, text
    engagement_id = _create(client, world["admin"], "Inbound", "BPO A").get_json()["id"]
    admin = signed_in(app, world["admin"])
    mine = text(admin.get(f"/engagements/{engagement_id}"))
    assert "BPO A (invited, not yet accepted)" in mine
    # the lists and the engagement's own pages name the invited provider, never the placeholder
    for listing in ("/engagements", "/", f"/engagements/{engagement_id}/requests"):
        page = text(admin.get(listing))
        assert "BPO A (invited, not yet accepted)" in page and "provider not yet accepted" not in page, listing
    browser = signed_in(app, world["provider_admin"])
    page = text(browser.get("/engagement-invitations"))
    assert "Inbound" in page and "Bank A" in page and 'value="accept"' in page
    invitation = client.get("/api/v1/engagement-invitations", headers=bearer(world["provider_admin"])).get_json()
    url = f"/engagement-invitations/{invitation['items'][0]['id']}/decision"
    assert browser.post(url, data={"decision": "accept"}).status_code == 400  # no CSRF token: refused
    assert browser.get(f"/engagements/{engagement_id}").status_code == 404
    token = csrf_token(browser, "/engagement-invitations")
    rival = signed_in(app, world["rival"])
    assert rival.post(url, data={"decision": "accept", "csrf_token": csrf_token(rival, "/engagement-invitations")}
                      ).status_code == 404
    answered = browser.post(url, data={"decision": "accept", "csrf_token": token})
    assert answered.status_code == 302 and answered.headers["Location"].endswith(f"/engagements/{engagement_id}")
    assert "BPO A" in text(browser.get(f"/engagements/{engagement_id}"))
