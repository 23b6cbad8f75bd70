"""Reading the audit trail: GET /api/v1/audit-events and the engagement's audit page, in the caller's scope
(services.scope.audit_events_for), with filters and a CSV export."""
import csv
import datetime as dt
import io

import pytest

from domain.timeutil import isoformat_utc
from models import AuditEvent, AuditorGrant, User, utcnow
from services.audit import audit_log
from services.register.engagements import create_accepted_engagement
from tests.conftest import bearer, csv_text, login

ENGAGEMENT = {"name": "Contact centre services", "provider": "BPO A", "frameworks": ["CPS234"], "place": "NSW",
              "timezone": "Australia/Sydney", "start_date": "2026-01-01"}


@pytest.fixture
def world(client, make_user):
    """Bank A (admin, reviewer) with an engagement on BPO A (contributor); Bank B with its own; an auditor."""
    admin, reviewer = make_user("client_admin"), make_user("risk_reviewer")
    contributor = make_user("provider_contributor")
    other_admin = make_user("client_admin", org="Bank B")
    auditor = make_user("auditor")
    # created with the providers' consent taken as given: each engagement's trail starts with its one creation
    mine = {"id": create_accepted_engagement(admin, ENGAGEMENT).id}
    theirs = {"id": create_accepted_engagement(other_admin, {**ENGAGEMENT, "provider": "BPO B"}).id}
    AuditorGrant.create(auditor=auditor, engagement=mine["id"], frameworks='["CPS234"]', granted_by=admin,
                        starts_at=utcnow() - dt.timedelta(days=1), expires_at=utcnow() + dt.timedelta(days=1))
    return {"admin": admin, "reviewer": reviewer, "contributor": contributor, "other_admin": other_admin,
            "auditor": auditor, "mine": mine["id"], "theirs": theirs["id"]}


def events(client, user, query=""):
    response = client.get(f"/api/v1/audit-events{query}", headers=bearer(user))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_each_event_has_the_spec_fields_and_its_stored_hash(client, world):
    body = events(client, world["admin"], f"?engagement={world['mine']}")
    (event,) = body["items"]
    stored = AuditEvent.get_by_id(event["id"])
    assert event["action"] == "engagement.create" and event["actor"] == world["admin"].email
    assert event["object_type"] == "engagement" and event["object_id"] == str(world["mine"])
    assert event["details"]["name"] == ENGAGEMENT["name"] and event["hash"] == stored.hash
    assert event["at"] == isoformat_utc(stored.at) and event["at"].endswith("Z")


def test_engagement_events_are_seen_by_its_parties_only(client, world):
    mine, theirs = world["mine"], world["theirs"]
    for who in ("admin", "reviewer", "contributor"):
        assert {e["engagement"] for e in events(client, world[who])["items"]} == {mine}, who
    assert {e["engagement"] for e in events(client, world["other_admin"])["items"]} == {theirs}
    for who, engagement in (("admin", theirs), ("contributor", theirs), ("other_admin", mine), ("admin", "x"),
                            ("admin", 2**70)):
        response = client.get(f"/api/v1/audit-events?engagement={engagement}", headers=bearer(world[who]))
        assert response.status_code == 404, (who, engagement)


def test_an_auditor_sees_only_its_own_events_even_on_its_granted_engagement(client, world):
    auditor = world["auditor"]
    assert events(client, auditor, f"?engagement={world['mine']}")["items"] == []
    audit_log.record("auditor.view", actor=auditor, engagement=world["mine"], details={"path": "/x"})
    items = events(client, auditor)["items"]
    # the auditor's own reads are logged too (web/access_log.py), the first listing above among them
    assert {e["actor"] for e in items} == {auditor.email} and {e["action"] for e in items} == {"auditor.view"}
    assert "/x" in [e["details"].get("path") for e in items]


def test_sign_ins_are_seen_by_the_user_and_its_organisations_admin(client, world):
    reviewer = world["reviewer"]
    login(client, reviewer, password="not the password")
    assert login(client, reviewer).status_code == 302
    client.post("/logout", data={})  # without CSRF: refused, nothing recorded
    client.get("/logout")
    wanted = ["auth.login", "auth.login_failed"]
    assert [e["action"] for e in events(client, reviewer, "?action=auth.login,auth.login_failed")["items"]] == wanted
    assert [e["action"] for e in events(client, world["admin"], f"?actor={reviewer.email}")["items"]] == wanted
    assert events(client, world["other_admin"], "?action=auth.login,auth.login_failed")["items"] == []
    assert events(client, world["contributor"], "?action=auth.login,auth.login_failed")["items"] == []


def test_filters_by_action_actor_and_dates(client, world):
    admin, mine = world["admin"], world["mine"]
    audit_log.record("evidence.download", actor=world["contributor"], engagement=mine)
    audit_log.record("evidence.review", actor=world["reviewer"], engagement=mine)
    q = f"?engagement={mine}"
    assert events(client, admin, q)["total"] == 3
    assert [e["action"] for e in events(client, admin, q)["items"]] == \
        ["evidence.review", "evidence.download", "engagement.create"]  # newest first
    assert events(client, admin, q + "&action=evidence.review")["total"] == 1
    assert events(client, admin, q + f"&actor={world['contributor'].email.upper()}")["total"] == 1
    today = dt.datetime.now(dt.UTC).date()
    assert events(client, admin, q + f"&from={today - dt.timedelta(days=1)}&to={today + dt.timedelta(days=1)}")[
        "total"] == 3
    assert events(client, admin, q + f"&to={today - dt.timedelta(days=2)}")["total"] == 0
    assert events(client, admin, q + f"&from={today + dt.timedelta(days=2)}")["total"] == 0
    instant = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
    assert events(client, admin, q + "&to=" + instant.replace("+", "%2B"))["total"] == 3
    page = events(client, admin, q + "&per_page=2&page=2")
    assert page["total"] == 3 and page["pages"] == 2 and len(page["items"]) == 1


@pytest.mark.parametrize("query, field", [("from=yesterday", "from"), ("to=2026-02-30", "to"),
                                          ("from=2026-03-02&to=2026-03-01", "from"),
                                          ("to=2026-03-01T10:00", "to"), ("action=" + "x" * 41, "action")])
def test_bad_filters_are_422(client, world, query, field):
    response = client.get(f"/api/v1/audit-events?{query}", headers=bearer(world["admin"]))
    assert response.status_code == 422 and response.get_json()["error"]["field"] == field


def test_the_page_shows_the_trail_with_filters(client, world):
    admin, mine = world["admin"], world["mine"]
    audit_log.record("evidence.download", actor=world["contributor"], engagement=mine, details={"file": "soc2.pdf"})
    login(client, admin)
    page = client.get(f"/engagements/{mine}/audit")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "engagement.create" in html and "soc2.pdf" in html
    assert 'aria-current="page">Audit trail' in html
    filtered = client.get(f"/engagements/{mine}/audit?action=evidence.download").get_data(as_text=True)
    assert "soc2.pdf" in filtered and "1 event matching" in filtered
    bad = client.get(f"/engagements/{mine}/audit?from=soon&action=evidence.download")
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "Filter not applied" in html
    # the unfiltered trail is shown: its count, CSV link and pages do not carry the refused filter
    assert "matching the filters" not in html and "from=soon" not in html.split("</form>", 1)[1]
    assert f'href="/engagements/{mine}/audit.csv"' in html and 'value="soon"' in html  # the form keeps it
    assert client.get(f"/engagements/{world['theirs']}/audit").status_code == 404
    assert client.get(f"/engagements/{world['theirs']}/audit.csv").status_code == 404


def test_the_csv_has_every_filtered_event_and_is_formula_safe(client, world):
    admin, mine = world["admin"], world["mine"]
    audit_log.record("evidence.download", actor_email="=HYPERLINK(\"http://x\")@x.example", engagement=mine)
    login(client, admin)
    response = client.get(f"/engagements/{mine}/audit.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(csv_text(response.get_data(as_text=True)))))
    assert [r["action"] for r in rows] == ["evidence.download", "engagement.create"]
    assert rows[0]["actor"].startswith("'=")
    assert rows[1]["hash"] == AuditEvent.get(AuditEvent.action == "engagement.create").hash
    only = client.get(f"/engagements/{mine}/audit.csv?action=engagement.create").get_data(as_text=True)
    assert len(list(csv.DictReader(io.StringIO(csv_text(only))))) == 1


def test_deactivated_users_see_nothing(client, world):
    admin = world["admin"]
    token = bearer(admin)
    User.update(active=False).where(User.id == admin.id).execute()
    assert client.get("/api/v1/audit-events", headers=token).status_code == 401
