"""Administration end to end in headless Chromium: invitations through a real SMTP server, deactivation,
tokens, engagement and SoA editing, with axe-core on every new page."""
from __future__ import annotations

import re

import pytest
from conftest import bearer
from test_browser import _serious, sign_in

from models import Applicability, Control, Engagement, EvidenceRequest, User
from services.messages import mail
from services.register.engagements import create_accepted_engagement

pytestmark = pytest.mark.browser
STRONG = "Tall-Giraffe-Orbit-42"


def _axe(page, url: str) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe
    return _serious(Axe().run(page), url)


def _invitation_path(server, email: str) -> str:
    message = next(m for m in server.wait_for(1) if email in m["To"])
    link = re.search(r"https?://\S+/invitations/\S+", message.get_body(("plain",)).get_content()).group(0)
    return re.sub(r"^https?://[^/]+", "", link)


def test_a_client_admin_invites_a_risk_reviewer_who_sets_a_password_from_the_mail(browser_page, make_user,
                                                                                   smtp_server):
    page = browser_page
    admin = make_user("client_admin")
    sign_in(page, admin)
    page.wait_for_url(re.compile(r"/$"))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    page.wait_for_url(re.compile(r"/users$"))
    problems = _axe(page, "/users")
    page.get_by_label("E-mail").fill("rita@banka.example")
    page.get_by_label("Name").fill("Rita Review")
    page.locator("select#role").select_option("risk_reviewer")
    page.get_by_role("button", name="Send invitation").click()
    assert "Invitation sent to rita@banka.example" in page.get_by_role("status").first.inner_text()
    assert "Invited" in page.locator("tr", has_text="rita@banka.example").inner_text()
    assert mail.send_pending(smtp_server.url).sent == 1
    path = _invitation_path(smtp_server, "rita@banka.example")
    page.get_by_role("button", name="Sign out").click()

    page.goto(path)
    problems += _axe(page, "/invitations/…")
    page.get_by_label("New password").fill("short")
    page.get_by_label("Repeat the password").fill("short")
    page.get_by_role("button", name="Set password").click()
    assert "at least 12 characters" in page.locator("#password-error").inner_text()
    assert page.get_by_label("New password").get_attribute("aria-invalid") == "true"
    page.get_by_label("New password").fill(STRONG)
    page.get_by_label("Repeat the password").fill(STRONG)
    page.get_by_role("button", name="Set password").click()
    page.wait_for_url(re.compile(r"/login"))
    assert page.get_by_label("E-mail").input_value() == "rita@banka.example"
    page.get_by_label("Password").fill(STRONG)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))
    assert "risk reviewer" in page.locator("header.topbar").inner_text().lower()
    page.goto(path)  # the link worked once
    assert "already been used" in page.get_by_role("alert").inner_text()
    assert problems == []


def test_a_provider_admin_invites_and_deactivates_an_agent_whose_token_then_answers_401(
        browser_page, make_user, client):
    page = browser_page
    provider_admin = make_user("provider_admin")
    sign_in(page, provider_admin)
    page.wait_for_url(re.compile(r"/$"))
    page.goto("/users")
    assert page.locator("select#role").locator("option").all_inner_texts() == \
        ["provider admin", "provider contributor"]
    page.get_by_label("E-mail").fill("agent@bpoa.example")
    page.locator("select#role").select_option("provider_contributor")
    page.get_by_role("button", name="Send invitation").click()
    agent = User.get(User.email == "agent@bpoa.example")
    agent.password_hash = __import__("services.people.accounts", fromlist=["x"]).hash_password(STRONG)
    agent.save()
    headers = bearer(agent)
    assert client.get("/api/v1/engagements", headers=headers).status_code == 200
    page.get_by_role("button", name="Deactivate agent@bpoa.example").click()
    assert "deactivated" in page.get_by_role("status").first.inner_text()
    assert "Deactivated" in page.locator("tr", has_text="agent@bpoa.example").inner_text()
    assert client.get("/api/v1/engagements", headers=headers).status_code == 401
    # deactivating itself, the last admin, is refused with a clear message
    page.get_by_role("button", name=f"Deactivate {provider_admin.email}").click()
    assert "last active admin" in page.get_by_role("alert").inner_text()


def test_tokens_page_and_password_change(browser_page, make_user):
    page = browser_page
    user = make_user("risk_reviewer")
    sign_in(page, user)
    page.wait_for_url(re.compile(r"/$"))
    page.get_by_role("link", name=user.email).click()
    page.wait_for_url(re.compile(r"/account$"))
    problems = _axe(page, "/account")
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("GRC sync")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_label("Your new token").input_value()
    assert secret.startswith("att_")
    problems += _axe(page, "/tokens")
    page.goto("/tokens")
    assert secret not in page.content() and "GRC sync" in page.content()
    page.get_by_role("button", name="Revoke GRC sync").click()
    assert "revoked" in page.get_by_role("status").first.inner_text()
    page.goto("/account")
    from conftest import PASSWORD
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(STRONG)
    page.get_by_label("Repeat the new password").fill(STRONG)
    page.get_by_role("button", name="Change password").click()
    assert "password is changed" in page.get_by_role("status").first.inner_text()
    page.goto("/engagements")
    assert "/login" not in page.url  # this session goes on
    assert problems == []


def test_an_engagement_and_its_soa_are_edited_and_the_schedule_follows(browser_page, make_user):
    page = browser_page
    admin = make_user("client_admin")
    engagement = create_accepted_engagement(admin, {"name": "Inbound", "provider": "BPO A", "frameworks": ["CPS234"],
                                           "place": "NSW", "start_date": "2025-07-01"})
    total = EvidenceRequest.select().where(EvidenceRequest.engagement == engagement.id).count()
    sign_in(page, admin)
    page.wait_for_url(re.compile(r"/$"))
    page.goto(f"/engagements/{engagement.id}")
    page.get_by_role("link", name="Edit engagement").click()
    problems = _axe(page, "/engagements/…/edit")
    page.get_by_label("End date").fill("2020-01-01")
    page.get_by_role("button", name="Save changes").click()
    assert "end_date must be after start_date" in page.locator("#end_date-error").inner_text()
    page.get_by_label("End date").fill("2026-12-31")
    page.get_by_label("Grace (days)").fill("10")
    page.get_by_label("Contract reference").fill("MSA-7")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(re.compile(rf"/engagements/{engagement.id}$"))
    assert "updated" in page.get_by_role("status").first.inner_text()
    row = Engagement.get_by_id(engagement.id)
    assert (row.end_date.isoformat(), row.grace_days, row.contract_ref) == ("2026-12-31", 10, "MSA-7")
    assert EvidenceRequest.select().where(EvidenceRequest.engagement == engagement.id).count() == total

    item = (Applicability.select(Applicability, Control).join(Control)
            .where(Applicability.engagement == engagement.id, Applicability.applicable == True).first())  # noqa: E712
    page.goto(f"/engagements/{engagement.id}/soa")
    page.get_by_role("link", name=f"Edit {item.control.code}").click()
    problems += _axe(page, "/engagements/…/soa/…")
    page.get_by_label("Not applicable").check()
    page.get_by_label("Justification").fill("")
    page.get_by_role("button", name="Save").click()
    assert "needs a justification" in page.locator("#justification-error").inner_text()
    assert Applicability.get_by_id(item.id).applicable
    page.get_by_label("Justification").fill("The client runs this control itself.")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(rf"/engagements/{engagement.id}/soa$"))
    assert not Applicability.get_by_id(item.id).applicable
    changes = page.get_by_role("region", name="Changes").inner_text()
    assert admin.email in changes and item.control.code in changes and "applicable: True → False" in changes
    problems += _axe(page, "/engagements/…/soa")
    assert not EvidenceRequest.select().where(EvidenceRequest.control == item.control_id,
                                              EvidenceRequest.engagement == engagement.id,
                                              EvidenceRequest.status == "upcoming").exists()
    assert problems == []
