"""Users and invitations (SPEC §1, §5): admins invite, change roles and deactivate the users of their own
organisation; an invitee sets its password from a one-time e-mailed link (real SMTP: aiosmtpd)."""
from __future__ import annotations

import re

import pytest
from conftest import PASSWORD, bearer, login

from models import ApiToken, AuditEvent, Invitation, OutboxMessage, User, utcnow
from services.messages import mail
from services.people import users

STRONG = "Tall-Giraffe-Orbit-42"


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def invite(client, headers, email, role, **extra):
    return client.post("/api/v1/users", json={"email": email, "role": role, **extra}, headers=headers)


def link_from_mail(server, to: str) -> str:
    message = next(m for m in server.messages if to in m["To"])
    return re.search(r"https?://\S+/invitations/\S+", message.get_body(("plain",)).get_content()).group(0)


def path_of(link: str) -> str:
    return re.sub(r"^https?://[^/]+", "", link)


def set_password(client, path: str, password: str = STRONG, again: str | None = None):
    page = client.get("/login")  # the same CSRF token as the invitation page's (one per session)
    return client.post(path, data={"csrf_token": csrf(page.get_data(as_text=True)), "password": password,
                                   "password_again": password if again is None else again})


def test_a_client_admin_invites_a_risk_reviewer_who_sets_a_password_from_the_mail_and_signs_in(
        client, make_user, smtp_server):
    admin = make_user("client_admin")
    response = invite(client, bearer(admin), "New.Reviewer@BankA.example", "risk_reviewer", full_name="Rita Review")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["email"], body["role"], body["status"]) == ("new.reviewer@banka.example", "risk_reviewer", "invited")
    assert mail.send_pending(smtp_server.url).sent == 1
    link = link_from_mail(smtp_server, "new.reviewer@banka.example")
    assert link.startswith(client.application.config["BASE_URL"])
    secret = link.rsplit("/", 1)[1]
    assert not Invitation.select().where(Invitation.token_hash == secret).exists()  # stored hashed
    # the link can be opened (mail scanners do) without being used up
    assert client.get(path_of(link)).status_code == 200
    done = set_password(client, path_of(link))
    assert done.status_code == 302 and "/login" in done.headers["Location"]
    reviewer = User.get(User.email == "new.reviewer@banka.example")
    assert login(client, reviewer, STRONG).status_code == 302
    assert client.get("/api/v1/engagements").status_code == 200
    # the link works once
    fresh = client.application.test_client()
    assert fresh.get(path_of(link)).status_code == 409
    again = set_password(fresh, path_of(link), "Another-Strong-Pass-77")
    assert again.status_code == 409 and "already been used" in again.get_data(as_text=True)
    assert login(fresh, reviewer, "Another-Strong-Pass-77").status_code == 401
    actions = [e.action for e in AuditEvent.select().order_by(AuditEvent.id)]
    assert "user.invite" in actions and "user.invitation_accepted" in actions


def test_invitation_links_expire_and_weak_or_mismatched_passwords_are_refused(client, make_user):
    admin = make_user("client_admin")
    invited = users.invite(admin, {"email": "late@banka.example", "role": "risk_reviewer"})
    path = path_of(invited.link)
    weak = set_password(client, path, "short")
    assert weak.status_code == 422 and "at least 12 characters" in weak.get_data(as_text=True)
    differ = set_password(client, path, STRONG, again=STRONG + "x")
    assert differ.status_code == 422 and "differ" in differ.get_data(as_text=True)
    assert User.get(User.email == "late@banka.example").password_hash == ""
    Invitation.update(expires_at=utcnow()).execute()
    expired = set_password(client, path)
    assert expired.status_code == 422 and "expired" in expired.get_data(as_text=True)
    assert User.get(User.email == "late@banka.example").password_hash == ""
    assert client.get("/invitations/" + "x" * 43).status_code == 404


def test_bad_invitations_change_nothing(client, make_user):
    admin = make_user("client_admin")
    headers = bearer(admin)
    existing = make_user("risk_reviewer")
    before = (User.select().count(), OutboxMessage.select().count())
    cases = [
        ({"email": existing.email, "role": "risk_reviewer"}, 409, "email"),
        ({"email": existing.email.upper(), "role": "risk_reviewer"}, 409, "email"),
        ({"email": "x@banka.example", "role": "provider_contributor"}, 422, "role"),
        ({"email": "x@banka.example", "role": "auditor"}, 422, "role"),
        ({"email": "not-an-email", "role": "risk_reviewer"}, 422, "email"),
        ({"email": "x@banka.example", "role": "risk_reviewer", "full_name": "Ann\u200b Lee"}, 422, "full_name"),
        ({"email": "x@banka.example", "role": "risk_reviewer", "full_name": "\u0410nna Lee"}, 422, "full_name"),
    ]
    for payload, status, field in cases:
        response = client.post("/api/v1/users", json=payload, headers=headers)
        assert response.status_code == status, (payload, response.get_json())
        assert response.get_json()["error"]["field"] == field
    assert (User.select().count(), OutboxMessage.select().count()) == before


def test_only_admins_manage_users_and_only_their_own_organisation(client, make_user):
    admin = make_user("client_admin")
    reviewer = make_user("risk_reviewer")
    other_admin = make_user("client_admin", org="Bank B")
    for user in (reviewer, make_user("provider_contributor"), make_user("auditor")):
        assert client.get("/api/v1/users", headers=bearer(user)).status_code == 404
        assert invite(client, bearer(user), "z@x.example", "risk_reviewer").status_code == 404
    listed = client.get("/api/v1/users", headers=bearer(admin)).get_json()
    assert {u["email"] for u in listed["items"]} == {admin.email, reviewer.email}
    response = client.post(f"/api/v1/users/{reviewer.id}/deactivate", headers=bearer(other_admin))
    assert response.status_code == 404
    assert User.get_by_id(reviewer.id).active


def test_a_provider_admin_invites_and_deactivates_an_agent_whose_token_then_answers_401(client, make_user):
    provider_admin = make_user("provider_admin")
    headers = bearer(provider_admin)
    assert invite(client, headers, "agent@bpoa.example", "risk_reviewer").status_code == 422
    created = invite(client, headers, "agent@bpoa.example", "provider_contributor").get_json()
    agent = User.get_by_id(created["id"])
    agent.password_hash = users.accounts.hash_password(STRONG)
    agent.save()
    agent_headers = bearer(agent)
    assert client.get("/api/v1/engagements", headers=agent_headers).status_code == 200
    browser = client.application.test_client()
    assert login(browser, agent, STRONG).status_code == 302
    assert browser.get("/engagements").status_code == 200
    response = client.post(f"/api/v1/users/{agent.id}/deactivate", headers=headers)
    assert response.status_code == 200 and response.get_json()["status"] == "deactivated"
    refused = client.get("/api/v1/engagements", headers=agent_headers)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert browser.get("/engagements").status_code == 302  # the session ended at once
    assert ApiToken.select().where(ApiToken.user == agent, ApiToken.revoked_at.is_null()).count() == 0
    assert login(browser, agent, STRONG).status_code == 401
    event = AuditEvent.select().where(AuditEvent.action == "user.deactivate").get()
    assert event.actor_email == provider_admin.email and event.object_id == str(agent.id)


def test_the_last_admin_cannot_deactivate_or_demote_itself(client, make_user):
    admin = make_user("client_admin")
    headers = bearer(admin)
    response = client.post(f"/api/v1/users/{admin.id}/deactivate", headers=headers)
    assert response.status_code == 409 and "last active admin" in response.get_json()["error"]["message"]
    demote = client.patch(f"/api/v1/users/{admin.id}", json={"role": "risk_reviewer"}, headers=headers)
    assert demote.status_code == 409
    assert User.get_by_id(admin.id).active and User.get_by_id(admin.id).role == "client_admin"
    second = make_user("client_admin")
    assert client.post(f"/api/v1/users/{admin.id}/deactivate", headers=headers).status_code == 200
    assert not User.get_by_id(admin.id).active and User.get_by_id(second.id).active


def test_role_changes_stay_on_the_admins_side(client, make_user):
    admin = make_user("client_admin")
    reviewer = make_user("risk_reviewer")
    headers = bearer(admin)
    assert client.patch(f"/api/v1/users/{reviewer.id}", json={"role": "provider_admin"},
                        headers=headers).status_code == 422
    promoted = client.patch(f"/api/v1/users/{reviewer.id}", json={"role": "client_admin"}, headers=headers)
    assert promoted.status_code == 200 and promoted.get_json()["role"] == "client_admin"
    event = AuditEvent.select().where(AuditEvent.action == "user.role_change").get()
    assert '"role": ["risk_reviewer", "client_admin"]' in event.details


def test_deactivate_user_command_ends_sessions_and_tokens(app, client, make_user):
    user = make_user("risk_reviewer")
    headers = bearer(user)
    assert login(client, user).status_code == 302
    result = app.test_cli_runner().invoke(args=["deactivate-user", "--email", user.email.upper()])
    assert result.exit_code == 0, result.output
    assert client.get("/api/v1/engagements", headers=headers).status_code == 401
    assert client.get("/engagements").status_code == 302
    missing = app.test_cli_runner().invoke(args=["deactivate-user", "--email", "nobody@x.example"])
    assert missing.exit_code == 1 and "no user" in missing.output


def test_changing_ones_password_needs_the_old_one_and_ends_other_sessions(app, make_user, client):
    user = make_user("risk_reviewer")
    other = app.test_client()
    assert login(client, user).status_code == 302 and login(other, user).status_code == 302
    page = client.get("/account").get_data(as_text=True)
    wrong = client.post("/account/password", data={"csrf_token": csrf(page), "old_password": "nope",
                                                    "new_password": STRONG, "new_password_again": STRONG})
    assert wrong.status_code == 422 and "current password is not right" in wrong.get_data(as_text=True)
    weak = client.post("/account/password", data={"csrf_token": csrf(page), "old_password": PASSWORD,
                                                   "new_password": "aaaaaaaaaaaaaaaa", "new_password_again":
                                                   "aaaaaaaaaaaaaaaa"})
    assert weak.status_code == 422
    done = client.post("/account/password", data={"csrf_token": csrf(page), "old_password": PASSWORD,
                                                   "new_password": STRONG, "new_password_again": STRONG})
    assert done.status_code == 302
    assert client.get("/engagements").status_code == 200  # this session goes on
    assert other.get("/engagements").status_code == 302  # every other one ended
    assert login(app.test_client(), user, PASSWORD).status_code == 401
    assert login(app.test_client(), user, STRONG).status_code == 302
    assert AuditEvent.select().where(AuditEvent.action == "user.password_change").count() == 1


@pytest.mark.parametrize("role", ["client_admin", "provider_admin"])
def test_users_page_lists_invites_and_deactivates(client, make_user, role):
    admin = make_user(role)
    login(client, admin)
    page = client.get("/users")
    assert page.status_code == 200 and admin.email in page.get_data(as_text=True)
    member = "risk_reviewer" if role == "client_admin" else "provider_contributor"
    posted = client.post("/users", data={"csrf_token": csrf(page.get_data(as_text=True)), "email": "new@org.example",
                                         "role": member, "full_name": "New Person"})
    assert posted.status_code == 302
    listing = client.get("/users").get_data(as_text=True)
    assert "new@org.example" in listing and "Invited" in listing
    new = User.get(User.email == "new@org.example")
    client.post(f"/users/{new.id}/deactivate", data={"csrf_token": csrf(listing)})
    assert not User.get_by_id(new.id).active


# ------------------------------------------------------------------------------------------ reactivation

def reactivate_events() -> list[AuditEvent]:
    return list(AuditEvent.select().where(AuditEvent.action == "user.reactivate").order_by(AuditEvent.id))


def test_a_reactivated_user_signs_in_again_while_its_old_sessions_and_tokens_stay_ended(app, client, make_user):
    admin = make_user("client_admin")
    reviewer = make_user("risk_reviewer")
    headers, old_token = bearer(admin), bearer(reviewer)
    old_browser = app.test_client()
    assert login(old_browser, reviewer).status_code == 302
    assert client.post(f"/api/v1/users/{reviewer.id}/deactivate", headers=headers).status_code == 200
    assert client.get("/api/v1/engagements", headers=old_token).status_code == 401
    made_while_deactivated = bearer(reviewer)  # create-token does not refuse a deactivated user

    response = client.post(f"/api/v1/users/{reviewer.id}/reactivate", headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["deactivated_at"]) == ("active", None)
    for stale in (old_token, made_while_deactivated):
        assert client.get("/api/v1/engagements", headers=stale).status_code == 401
    assert ApiToken.select().where(ApiToken.user == reviewer, ApiToken.revoked_at.is_null()).count() == 0
    assert old_browser.get("/engagements").status_code == 302  # the old session cookie stays worthless
    fresh = app.test_client()
    assert login(fresh, reviewer).status_code == 302  # with the password it had
    assert fresh.get("/engagements").status_code == 200
    assert client.get("/api/v1/engagements", headers=bearer(reviewer)).status_code == 200
    [event] = reactivate_events()
    assert (event.actor_email, event.object_type, event.object_id) == (admin.email, "user", str(reviewer.id))
    assert '"tokens_revoked": 1' in event.details


def test_only_the_users_own_admins_reactivate_it_and_others_get_404(client, make_user):
    admin = make_user("client_admin")
    reviewer = make_user("risk_reviewer")
    users.deactivate(admin, reviewer.id)
    outsiders = (make_user("client_admin", org="Bank B"), make_user("risk_reviewer"),
                 make_user("provider_admin"), make_user("auditor"))
    for outsider in outsiders:
        response = client.post(f"/api/v1/users/{reviewer.id}/reactivate", headers=bearer(outsider))
        assert response.status_code == 404, (outsider.role, response.get_json())
    assert client.post(f"/api/v1/users/{reviewer.id}/reactivate").status_code == 401
    assert not User.get_by_id(reviewer.id).active and reactivate_events() == []


def test_reactivating_an_active_or_invited_user_is_409_and_changes_nothing(client, make_user):
    admin = make_user("client_admin")
    reviewer = make_user("risk_reviewer")
    pending = users.invite(admin, {"email": "pending@banka.example", "role": "risk_reviewer"})
    invited = pending.user
    headers, reviewer_token = bearer(admin), bearer(reviewer)
    before = [(u.session_nonce, u.active) for u in User.select().order_by(User.id)]
    mails = OutboxMessage.select().count()
    for user in (reviewer, invited, admin):
        response = client.post(f"/api/v1/users/{user.id}/reactivate", headers=headers)
        assert response.status_code == 409, response.get_json()
        assert response.get_json()["error"]["message"] == f"{user.email} is already active"
    assert [(u.session_nonce, u.active) for u in User.select().order_by(User.id)] == before
    assert client.get("/api/v1/engagements", headers=reviewer_token).status_code == 200
    assert OutboxMessage.select().count() == mails and reactivate_events() == []
    assert users.invitation_for(pending.link.rsplit("/", 1)[1]).user.id == invited.id  # its link still works


def test_a_user_deactivated_before_setting_its_password_gets_a_new_link_when_reactivated(client, make_user):
    admin = make_user("client_admin")
    invited = users.invite(admin, {"email": "late@banka.example", "role": "risk_reviewer"})
    users.deactivate(admin, invited.user.id)
    response = client.post(f"/api/v1/users/{invited.user.id}/reactivate", headers=bearer(admin))
    assert response.status_code == 200 and response.get_json()["status"] == "invited"
    message = OutboxMessage.select().where(OutboxMessage.to == "late@banka.example").order_by(
        OutboxMessage.id.desc()).first()
    assert f"{admin.email} reactivated your Attest account" in message.body
    link = re.search(r"https?://\S+/invitations/\S+", message.body).group(0)
    assert link != invited.link
    assert set_password(client, path_of(invited.link)).status_code == 422  # the old link stays expired
    assert set_password(client, path_of(link)).status_code == 302
    assert login(client.application.test_client(), User.get_by_id(invited.user.id), STRONG).status_code == 302
    assert '"invited": true' in reactivate_events()[0].details


def test_reactivate_user_command(app, client, make_user):
    user = make_user("risk_reviewer")
    old_token = bearer(user)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["deactivate-user", "--email", user.email]).exit_code == 0
    result = runner.invoke(args=["reactivate-user", "--email", user.email.upper()])
    assert result.exit_code == 0, result.output
    assert f"reactivated {user.email}: it signs in with its password" in result.output
    assert client.get("/api/v1/engagements", headers=old_token).status_code == 401
    assert login(client, user).status_code == 302
    [event] = reactivate_events()
    assert (event.actor_email, event.object_id) == ("cli", str(user.id))
    again = runner.invoke(args=["reactivate-user", "--email", user.email])
    assert again.exit_code == 1 and "already active" in again.output
    missing = runner.invoke(args=["reactivate-user", "--email", "nobody@x.example"])
    assert missing.exit_code == 1 and "no user" in missing.output
    assert len(reactivate_events()) == 1
    invited = users.invite(make_user("client_admin"), {"email": "never@banka.example", "role": "risk_reviewer"}).user
    users.deactivate_by_email(invited.email)
    relinked = runner.invoke(args=["reactivate-user", "--email", invited.email])
    assert relinked.exit_code == 0 and "a new link to set its password is e-mailed" in relinked.output
    mail = OutboxMessage.select().where(OutboxMessage.to == invited.email).order_by(OutboxMessage.id.desc()).first()
    assert "An administrator reactivated your Attest account" in mail.body and "/invitations/" in mail.body


def reactivate_form(page: str, user_id: int) -> tuple[str, str] | None:
    """The users page's Reactivate form for that user: its action and CSRF token, or None."""
    match = re.search(rf'<form method="post" action="(/users/{user_id}/reactivate)" class="inline-form">\s*'
                      r'<input type="hidden" name="csrf_token" value="([^"]+)">\s*'
                      r'<button type="submit" class="btn">Reactivate', page)
    return match.groups() if match else None


def test_the_users_page_reactivates_a_deactivated_user_through_its_form(client, make_user):
    admin = make_user("provider_admin")
    agent = make_user("provider_contributor")
    login(client, admin)
    page = client.get("/users").get_data(as_text=True)
    assert reactivate_form(page, agent.id) is None and reactivate_form(page, admin.id) is None
    users.deactivate(admin, agent.id)
    action, token = reactivate_form(client.get("/users").get_data(as_text=True), agent.id)
    refused = client.post(action)  # no CSRF token
    assert refused.status_code == 400 and not User.get_by_id(agent.id).active
    done = client.post(action, data={"csrf_token": token}, follow_redirects=True)
    assert done.status_code == 200 and f"{agent.email} is reactivated" in done.get_data(as_text=True)
    assert User.get_by_id(agent.id).active and len(reactivate_events()) == 1
    listing = done.get_data(as_text=True)
    assert reactivate_form(listing, agent.id) is None
    assert f'action="/users/{agent.id}/deactivate"' in listing
    again = client.post(action, data={"csrf_token": token}, follow_redirects=True)
    assert "is already active" in again.get_data(as_text=True) and len(reactivate_events()) == 1
