"""In Chromium: a user of a SAML organisation types only its e-mail, is sent to the IdP (an AuthnRequest by
HTTP-Redirect), whose page posts the signed response to the ACS, and lands in Attest with the mapped role."""
from __future__ import annotations

import re

import pytest
from test_identity_saml import DOMAIN, bank  # noqa: F401 - the SAML organisation fixture

from models import User

pytestmark = pytest.mark.browser


def test_a_saml_user_signs_in_through_the_idp_in_a_browser(browser_page, bank, saml_idp, app,  # noqa: F811
                                                             live_server, monkeypatch):
    monkeypatch.setitem(app.config, "BASE_URL", live_server)  # the ACS and audience the IdP answers to
    saml_idp.user = {"email": f"frank@{DOMAIN}", "groups": ["attest-admins"]}
    page = browser_page
    page.goto("/login")
    page.get_by_label("E-mail").fill(f"frank@{DOMAIN}")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(saml_idp.url) + r"/sso\?SAMLRequest="))
    page.get_by_role("button", name="Continue to Attest").click()
    page.wait_for_url(re.compile(re.escape(live_server) + r"/$"))
    assert page.get_by_role("button", name="Sign out").count() == 1
    frank = User.get(User.email == f"frank@{DOMAIN}")
    assert frank.role == "client_admin" and frank.organisation_id == bank.organisation_id
