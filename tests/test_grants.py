"""Auditor grants (SPEC §1, §5): who may grant, what a grant shows, expiry and revocation on every request,
every auditor read logged and visible to the client."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest

from models import AuditEvent, AuditorGrant, Evidence, Finding, utcnow
from tests.conftest import bearer, csv_text, login

FRAMEWORKS = ["ISO27001-2022", "CPS234"]


def iso(delta_hours: float) -> str:
    return (utcnow() + dt.timedelta(hours=delta_hours)).replace(tzinfo=dt.UTC).isoformat()


def grant_body(auditor, **overrides) -> dict:
    return {"auditor_email": auditor.email, "frameworks": FRAMEWORKS, "starts_at": iso(-1), "expires_at": iso(48),
            **overrides}


def snapshot() -> tuple:
    return (AuditorGrant.select().count(), [(g.id, g.revoked_at) for g in AuditorGrant.select()],
            Finding.select().count())


@pytest.fixture
def world(rights_world):
    w = rights_world
    w["headers"] = bearer(w["admin"])
    return w


def signed_in(app, user):
    browser = app.test_client()
    assert login(browser, user).status_code == 302
    return browser


def create(client, world, **overrides):
    return client.post(f"/api/v1/engagements/{world['engagement'].id}/auditor-grants",
                       json=grant_body(world["auditor"], **overrides), headers=world["headers"])


def test_client_admin_grants_and_revokes(client, world):
    response = create(client, world)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["frameworks"] == sorted(FRAMEWORKS) and body["state"] == "active"
    auditor = bearer(world["auditor"])
    engagement = world["engagement"].id
    assert client.get(f"/api/v1/engagements/{engagement}", headers=auditor).status_code == 200
    revoke = client.delete(f"/api/v1/auditor-grants/{body['id']}", headers=world["headers"])
    assert revoke.status_code == 200 and revoke.get_json()["state"] == "revoked"
    assert client.get(f"/api/v1/engagements/{engagement}", headers=auditor).status_code == 404  # at once
    again = client.delete(f"/api/v1/auditor-grants/{body['id']}", headers=world["headers"])
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "conflict"
    actions = [e.action for e in AuditEvent.select().where(AuditEvent.object_type == "auditor_grant")]
    assert actions == ["grant.create", "grant.revoke"]


@pytest.mark.parametrize("overrides, field", [
    ({"expires_at": iso(-2)}, "expires_at"),                       # before starts_at
    ({"starts_at": iso(10), "expires_at": iso(5)}, "expires_at"),
    ({"auditor_email": "nobody@audit.example"}, "auditor_email"),
    ({"auditor_email": "not an address"}, "auditor_email"),
    ({"frameworks": ["NOPE"]}, "frameworks"),
    ({"frameworks": ["CPS230"]}, "frameworks"),                    # a real framework outside the engagement
    ({"frameworks": []}, "frameworks"),
    ({"frameworks": "CPS234"}, "frameworks"),
    ({"starts_at": "tomorrow"}, "starts_at"),
    ({"starts_at": "2026-03-01T09:00:00"}, "starts_at"),          # no offset: never guessed
])
def test_bad_grants_are_refused_and_change_nothing(client, world, overrides, field):
    before = snapshot()
    response = create(client, world, **overrides)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["field"] == field
    assert snapshot() == before


def test_a_provider_user_cannot_be_granted(client, world):
    before = snapshot()
    response = create(client, world, auditor_email=world["contributor"].email)
    assert response.status_code == 422 and snapshot() == before


@pytest.mark.parametrize("who", ["reviewer", "contributor", "auditor", "other_client_admin"])
def test_only_the_engagements_client_admin_grants_or_revokes(client, world, make_user, who):
    user = make_user("client_admin", org="Bank B") if who == "other_client_admin" else world[who]
    headers = bearer(user)
    grant = create(client, world).get_json()
    before = snapshot()
    response = client.post(f"/api/v1/engagements/{world['engagement'].id}/auditor-grants",
                           json=grant_body(world["auditor"]), headers=headers)
    assert response.status_code == 404
    assert client.delete(f"/api/v1/auditor-grants/{grant['id']}", headers=headers).status_code == 404
    assert snapshot() == before


def test_expiry_is_enforced_on_every_request(app, client, world):
    grant = AuditorGrant.get_by_id(create(client, world).get_json()["id"])
    headers = bearer(world["auditor"])
    engagement = world["engagement"].id
    urls = [f"/api/v1/engagements/{engagement}", f"/api/v1/engagements/{engagement}/requests",
            f"/api/v1/engagements/{engagement}/applicability", f"/api/v1/engagements/{engagement}/oscal"]
    browser = signed_in(app, world["auditor"])
    evidence = Evidence.select().order_by(Evidence.id).first()
    pages = [f"/portal/engagements/{engagement}", f"/engagements/{engagement}/soa", f"/portal/evidence/{evidence.id}",
             f"/api/v1/evidence/{evidence.id}/file", f"/engagements/{engagement}/packs"]
    assert all(client.get(u, headers=headers).status_code == 200 for u in urls)
    assert all(browser.get(u).status_code == 200 for u in pages)
    AuditorGrant.update(expires_at=utcnow() - dt.timedelta(seconds=1)).where(AuditorGrant.id == grant.id).execute()
    assert all(client.get(u, headers=headers).status_code == 404 for u in urls)
    assert all(browser.get(u).status_code == 404 for u in pages)
    assert "No active access" in browser.get("/").get_data(as_text=True)


def test_a_grant_not_yet_started_shows_nothing(client, world):
    create(client, world, starts_at=iso(5), expires_at=iso(50))
    assert client.get(f"/api/v1/engagements/{world['engagement'].id}", headers=bearer(world["auditor"])).status_code \
        == 404


def test_auditor_soa_names_no_framework_outside_the_grant(app, client, world):
    create(client, world)
    auditor, engagement = world["auditor"], world["engagement"].id
    api = client.get(f"/api/v1/engagements/{engagement}/applicability?per_page=200", headers=bearer(auditor))
    texts = [row["justification"] for row in api.get_json()["items"]]
    browser = app.test_client()
    assert login(browser, auditor).status_code == 302
    texts.append(browser.get(f"/engagements/{engagement}/soa").get_data(as_text=True))
    texts.append(browser.get(f"/engagements/{engagement}/soa.csv").get_data(as_text=True))
    from openpyxl import load_workbook
    book = load_workbook(io.BytesIO(browser.get(f"/engagements/{engagement}/soa.xlsx").data))
    texts.append(" ".join(str(c.value) for row in book.active.iter_rows() for c in row))
    for text in texts:
        for hidden in ("PCIDSS", "PCI DSS", "PRIVACY-AU", "APP 8", "s16C"):
            assert hidden not in text, (hidden, text[:300])
    assert any("Required by CPS234, ISO27001-2022" in t for t in texts)
    # the client still reads its justification in full
    full = client.get(f"/api/v1/engagements/{engagement}/applicability?per_page=200", headers=world["headers"])
    assert any("PCIDSS-4.0.1" in row["justification"] for row in full.get_json()["items"])


def test_auditor_sees_only_accepted_evidence_of_granted_frameworks(app, client, world):
    create(client, world, frameworks=["CPS234"])
    browser = signed_in(app, world["auditor"])
    from services import scope
    visible = {e.id for e in scope.evidence_of(world["auditor"], world["engagement"])}
    assert visible and all(Evidence.get_by_id(i).status == "accepted" for i in visible)
    hidden = Evidence.select().where(Evidence.id.not_in(list(visible))).first()
    assert hidden is not None
    assert browser.get(f"/portal/evidence/{min(visible)}").status_code == 200
    assert browser.get(f"/portal/evidence/{hidden.id}").status_code == 404
    assert browser.get(f"/api/v1/evidence/{hidden.id}/file").status_code == 404
    Evidence.update(status="rejected").where(Evidence.id == min(visible)).execute()
    assert min(visible) not in {e.id for e in scope.evidence_of(world["auditor"], world["engagement"])}


def test_every_auditor_read_is_logged_and_the_client_sees_the_log(app, client, world):
    create(client, world)
    auditor, engagement = world["auditor"], world["engagement"].id
    browser = app.test_client()
    assert login(browser, auditor).status_code == 302
    evidence_id = Evidence.select().order_by(Evidence.id).first().id
    reads = [f"/portal/engagements/{engagement}", f"/engagements/{engagement}/soa",
             f"/engagements/{engagement}/soa.csv", f"/portal/evidence/{evidence_id}"]
    for url in reads:
        assert browser.get(url).status_code == 200, url
    assert browser.get(f"/api/v1/evidence/{evidence_id}/file").status_code == 200
    assert client.get(f"/api/v1/engagements/{engagement}/requests", headers=bearer(auditor)).status_code == 200
    events = list(AuditEvent.select().where(AuditEvent.actor == auditor, AuditEvent.engagement == engagement)
                  .order_by(AuditEvent.id))
    paths = [json.loads(e.details)["path"] for e in events if e.action == "auditor.view"]
    for url in reads + [f"/api/v1/engagements/{engagement}/requests"]:
        assert url in paths, url
    downloads = [e for e in events if e.action == "evidence.download"]
    assert [d.object_id for d in downloads] == [str(evidence_id)] * 2  # shown in the page, then downloaded
    # the client's access log: page, CSV and API
    admin = app.test_client()
    assert login(admin, world["admin"]).status_code == 302
    page = admin.get(f"/engagements/{engagement}/auditor-access").get_data(as_text=True)
    assert auditor.email in page and f"/api/v1/evidence/{evidence_id}/file" in page and "evidence.download" in page
    rows = list(csv.DictReader(io.StringIO(csv_text(admin.get(f"/engagements/{engagement}/auditor-access.csv")
                                           .get_data(as_text=True)))))
    assert {r["auditor"] for r in rows} == {auditor.email} and len(rows) == len(events)
    assert all(r["ip"] for r in rows)
    api = client.get(f"/api/v1/engagements/{engagement}/auditor-access", headers=world["headers"]).get_json()
    assert api["total"] == len(events)
    # and nobody but the client reads it
    assert client.get(f"/api/v1/engagements/{engagement}/auditor-access", headers=bearer(auditor)).status_code == 404
    assert signed_in(app, world["contributor"]).get(f"/engagements/{engagement}/auditor-access").status_code == 404


def test_grants_page_grants_and_revokes_with_csrf(app, world):
    browser = app.test_client()
    assert login(browser, world["admin"]).status_code == 302
    url = f"/engagements/{world['engagement'].id}/grants"
    page = browser.get(url).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    local = (dt.datetime.now() + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    start = (dt.datetime.now() - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    form = {"auditor_email": world["auditor"].email, "frameworks": ["CPS234"], "starts_at": start,
            "expires_at": local, "csrf_token": token}
    before = snapshot()
    assert browser.post(url, data={**form, "csrf_token": "forged"}).status_code == 400
    assert browser.post(url, data={**form, "expires_at": start}).status_code == 422
    assert snapshot() == before
    assert browser.post(url, data=form).status_code == 302
    grant = AuditorGrant.select().order_by(AuditorGrant.id.desc()).get()
    page = browser.get(url).get_data(as_text=True)
    assert world["auditor"].email in page and "Revoke now" in page and "Active" in page
    assert browser.post(f"/auditor-grants/{grant.id}/revoke", data={"csrf_token": token}).status_code == 302
    assert AuditorGrant.get_by_id(grant.id).revoked_at is not None
    assert "Revoked" in browser.get(url).get_data(as_text=True)


def test_portal_landing_shows_frameworks_and_expiry_and_takes_observations(app, client, world):
    create(client, world)
    browser = app.test_client()
    assert login(browser, world["auditor"]).status_code == 302
    home = browser.get("/").get_data(as_text=True)
    assert "Your audit access" in home and "ISO27001-2022" in home and "Access expires" in home
    assert "PCIDSS" not in home
    page = browser.get(f"/portal/engagements/{world['engagement'].id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    url = f"/portal/engagements/{world['engagement'].id}/observations"
    assert browser.post(url, data={"title": "", "csrf_token": token}).status_code == 302
    assert Finding.select().count() == 0
    assert browser.post(url, data={"title": "Access reviews undated", "description": "Q3 review has no date",
                                   "csrf_token": token}).status_code == 302
    finding = Finding.get()
    assert (finding.source, finding.raised_by_id, finding.status) == ("auditor", world["auditor"].id, "open")
    # a client cannot leave an observation as if it were an auditor
    admin = app.test_client()
    login(admin, world["admin"])
    assert admin.post(url, data={"title": "x", "csrf_token": token}).status_code in (400, 404)


def test_the_access_log_says_what_each_read_was_of(app, client, world):
    create(client, world)
    auditor, engagement = world["auditor"], world["engagement"].id
    browser = signed_in(app, auditor)
    item = Evidence.select().order_by(Evidence.id).first()
    code = item.request.control.code
    assert browser.get(f"/api/v1/evidence/{item.id}/file").status_code == 200
    assert browser.get(f"/requests/{item.request_id}").status_code == 200
    expected_file = f"evidence #{item.id} “{item.original_filename}” (version {item.version}, {code})"
    expected_request = f"request #{item.request_id} ({code}: "
    admin = signed_in(app, world["admin"])
    page = admin.get(f"/engagements/{engagement}/auditor-access").get_data(as_text=True)
    assert "What was read" in page and expected_file in page and expected_request in page
    rows = list(csv.DictReader(io.StringIO(csv_text(admin.get(f"/engagements/{engagement}/auditor-access.csv")
                                           .get_data(as_text=True)))))
    downloads = [r for r in rows if r["action"] == "evidence.download"]
    assert downloads and all(r["what"] == expected_file for r in downloads)
    api = client.get(f"/api/v1/engagements/{engagement}/auditor-access", headers=world["headers"]).get_json()
    assert {i["what"] for i in api["items"] if i["action"] == "evidence.download"} == {expected_file}


def test_polling_a_packs_progress_is_not_logged_as_reads(app, client, world):
    create(client, world)
    auditor, engagement = world["auditor"], world["engagement"].id
    browser = signed_in(app, auditor)
    queued = client.post(f"/api/v1/engagements/{engagement}/packs", headers=bearer(auditor),
                         json={"frameworks": FRAMEWORKS, "period_start": "2025-07-01", "period_end": "2025-09-30"})
    assert queued.status_code == 202, queued.get_json()
    pack_id = queued.get_json()["id"]
    before = AuditEvent.select().where(AuditEvent.actor == auditor, AuditEvent.action == "auditor.view").count()
    for _ in range(20):  # what the pack page's progress bar does while the pack builds
        assert browser.get(f"/api/v1/packs/{pack_id}", headers={"Accept": "application/json"}).status_code == 200
    assert AuditEvent.select().where(AuditEvent.actor == auditor, AuditEvent.action == "auditor.view").count() == before
    assert browser.get(f"/packs/{pack_id}").status_code == 200  # the page itself is a read
    assert AuditEvent.select().where(AuditEvent.actor == auditor,
                                     AuditEvent.action == "auditor.view").count() == before + 1


def test_an_auditors_pack_lists_only_its_firms_and_the_engagements_people(app, client, world, make_user):
    from models import Pack
    from services.auditors import packs
    create(client, world)
    rival = make_user("auditor", org="Audit Firm B")
    client.post(f"/api/v1/engagements/{world['engagement'].id}/auditor-grants", json=grant_body(rival),
                headers=world["headers"])
    item = Evidence.select().order_by(Evidence.id).first()
    for reader in (world["auditor"], rival, world["reviewer"]):
        assert signed_in(app, reader).get(f"/api/v1/evidence/{item.id}/file").status_code == 200
    today = utcnow().date().isoformat()
    body = {"frameworks": FRAMEWORKS, "period_start": today, "period_end": today}
    url = f"/api/v1/engagements/{world['engagement'].id}/packs"
    mine = client.post(url, json=body, headers=bearer(world["auditor"]))
    theirs = client.post(url, json=body, headers=world["headers"])
    readers_of = {key: {who for _day, who, _action, _n in packs.gather(Pack.get_by_id(r.get_json()["id"])).access}
                  for key, r in (("auditor", mine), ("client", theirs))}
    assert readers_of["auditor"] == {world["auditor"].email, world["reviewer"].email}  # not the other firm's
    assert readers_of["client"] == {world["auditor"].email, rival.email, world["reviewer"].email}


def test_a_new_auditor_is_invited_from_the_grant_with_their_audit_firm(client, world):
    from models import Organisation, OutboxMessage, User
    response = create(client, world, auditor_email="New.Auditor@sharp-audit.example", audit_firm="Sharp Audit")
    assert response.status_code == 201, response.get_json()
    auditor = User.get(User.email == "new.auditor@sharp-audit.example")
    assert auditor.role == "auditor" and auditor.password_hash == "" and auditor.active
    assert (auditor.organisation.name, auditor.organisation.kind) == ("Sharp Audit", "audit_firm")
    grant = AuditorGrant.get_by_id(response.get_json()["id"])
    assert grant.auditor_id == auditor.id
    invitation = OutboxMessage.get(OutboxMessage.to == auditor.email)
    assert "/invitations/" in invitation.body and "auditor of Sharp Audit" in invitation.body
    event = AuditEvent.get(AuditEvent.action == "grant.create")
    assert json.loads(event.details)["invited"] is True
    assert AuditEvent.select().where(AuditEvent.action == "user.invite").count() == 1
    # the same firm again: the second new auditor joins it, not a twin organisation
    again = create(client, world, auditor_email="second@sharp-audit.example", audit_firm="sharp audit")
    assert again.status_code == 201
    assert Organisation.select().where(Organisation.name ** "sharp audit").count() == 1


@pytest.mark.parametrize("overrides, field", [
    ({"auditor_email": "nobody@audit.example"}, "auditor_email"),                         # no firm to join
    ({"auditor_email": "nobody@audit.example", "audit_firm": "BPO A"}, "audit_firm"),    # not an audit firm
    ({"auditor_email": "nobody@audit.example", "audit_firm": "   "}, "auditor_email"),
    ({"auditor_email": "nobody@audit.example", "audit_firm": "Sharp Audit", "frameworks": []}, "frameworks"),
])
def test_an_invitation_that_cannot_be_made_creates_nobody(client, world, overrides, field):
    from models import Organisation, User
    before = (snapshot(), User.select().count(), Organisation.select().count())
    response = create(client, world, **overrides)
    assert response.status_code == 422 and response.get_json()["error"]["field"] == field
    assert (snapshot(), User.select().count(), Organisation.select().count()) == before


def test_the_grant_form_invites_a_new_auditor(app, world):
    from models import User
    admin = signed_in(app, world["admin"])
    url = f"/engagements/{world['engagement'].id}/grants"
    page = admin.get(url).get_data(as_text=True)
    assert 'name="audit_firm"' in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    local = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=10)))
    response = admin.post(url, data={"csrf_token": token, "auditor_email": "form@sharp-audit.example",
                                     "audit_firm": "Sharp Audit", "frameworks": ["CPS234"],
                                     "starts_at": (local - dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"),
                                     "expires_at": (local + dt.timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 302, re.findall(r'role="alert">(.*?)</div>', response.get_data(as_text=True))
    assert "invited by e-mail" in admin.get(url).get_data(as_text=True)
    assert User.get(User.email == "form@sharp-audit.example").role == "auditor"


def test_an_auditor_whose_access_ended_is_told_so_not_that_nothing_exists(app, client, world):
    import models
    grant = create(client, world).get_json()
    auditor_h = bearer(world["auditor"])
    pack = models.Pack.create(engagement=world["engagement"], frameworks=json.dumps(["CPS234"]),
                              period_start=dt.date(2026, 1, 1), period_end=dt.date(2026, 3, 31),
                              requested_by=world["auditor"])
    assert client.get(f"/api/v1/packs/{pack.id}", headers=auditor_h).status_code == 200
    AuditorGrant.update(expires_at=utcnow() - dt.timedelta(hours=1)).where(AuditorGrant.id == grant["id"]).execute()
    ended = client.get(f"/api/v1/packs/{pack.id}", headers=auditor_h)
    assert ended.status_code == 404 and ended.get_json()["error"]["code"] == "access_ended"
    assert "grant expired" in ended.get_json()["error"]["message"]
    browser = signed_in(app, world["auditor"])
    page = browser.get(f"/packs/{pack.id}").get_data(as_text=True)
    assert "your access to this engagement ended" in page and "pack not found" not in page
    library = browser.get("/library").get_data(as_text=True)
    assert "No active auditor grant" in library and "load-controls" not in library
    # anyone else still gets the plain answer: existence does not leak
    stranger = bearer(world["contributor"])
    other = client.get(f"/api/v1/packs/{pack.id}", headers=stranger)
    missing = client.get("/api/v1/packs/999999", headers=stranger)
    assert other.status_code == missing.status_code == 404 and other.get_json() == missing.get_json()
