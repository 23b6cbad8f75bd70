"""Register pages without JavaScript: forms, tenancy, CSRF, the SoA's register as of a date, Excel exports."""
from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from domain.timeutil import local
from models import Subcontractor, utcnow
from services.register import subcontractors as register
from services.register.engagements import create_accepted_engagement
from tests.test_pages import csrf_token, signed_in, text


@pytest.fixture
def setup(app, make_user):
    client_admin, provider_admin = make_user("client_admin"), make_user("provider_admin")
    engagement = create_accepted_engagement(client_admin, {
        "name": "Retail", "provider": "BPO A", "frameworks": ["CPS230", "PRIVACY-AU"], "place": "VIC",
        "start_date": "2026-01-01"})
    return engagement, client_admin, provider_admin


def test_provider_proposes_through_the_form_and_client_decides(app, setup):
    engagement, client_admin, provider_admin = setup
    url = f"/engagements/{engagement.id}/subcontractors"
    provider = signed_in(app, provider_admin)
    form = {"csrf_token": csrf_token(provider, url), "name": "Roster Tools", "services": "WFM, Scheduling",
            "countries": "AU"}
    assert provider.post(url, data=form).status_code == 302
    sub = Subcontractor.get()
    assert register.loads(sub.services) == ["WFM", "Scheduling"]
    assert "Awaiting the client" in text(provider.get(url))
    client = signed_in(app, client_admin)
    page = text(client.get(url))
    assert "Propose a sub-contractor" not in page and "Approve" in page
    decision = f"/subcontractors/{sub.id}/decision"
    assert client.post(decision, data={"decision": "approve", "reason": "ok"}).status_code == 400  # no CSRF token
    response = client.post(decision, data={"csrf_token": csrf_token(client, url), "decision": "approve",
                                           "reason": ""})
    assert response.status_code == 422 and "a decision needs a reason" in text(response)
    assert client.post(decision, data={"csrf_token": csrf_token(client, url), "decision": "approve",
                                       "reason": "Onshore"}).status_code == 302
    assert Subcontractor.get_by_id(sub.id).status == "approved"


def test_register_pages_are_tenant_scoped(app, setup, make_user):
    engagement, _, provider_admin = setup
    register.propose(provider_admin, engagement.id, {"name": "Roster Tools", "services": ["WFM"],
                                                     "countries": ["AU"]})
    outsider = signed_in(app, make_user("client_admin", org="Bank B"))
    assert outsider.get(f"/engagements/{engagement.id}/subcontractors").status_code == 404
    assert outsider.get(f"/engagements/{engagement.id}/subcontractors.xlsx").status_code == 404
    assert "Roster Tools" not in text(outsider.get("/subcontractors"))
    assert "Roster Tools" in text(signed_in(app, provider_admin).get("/subcontractors"))


def test_soa_shows_and_exports_the_register_as_of_the_period_end(app, setup):
    engagement, client_admin, provider_admin = setup
    sub = register.propose(provider_admin, engagement.id, {"name": "Roster Tools", "services": ["WFM"],
                                                           "countries": ["AU"]})
    register.decide_on(client_admin, sub.id, {"decision": "approve", "reason": "ok"})
    client = signed_in(app, client_admin)
    today = local(utcnow(), engagement.timezone).date()  # the engagement's date, which may be ahead of UTC's
    page = text(client.get(f"/engagements/{engagement.id}/soa?as_of={today.isoformat()}"))
    assert f"Service provider register as of {today.isoformat()}" in page and "Roster Tools" in page
    before = text(client.get(f"/engagements/{engagement.id}/soa?as_of=2026-01-15"))
    assert "Roster Tools" not in before  # proposed after that date
    assert client.get(f"/engagements/{engagement.id}/soa?as_of=15/01/2026").status_code == 400
    book = load_workbook(io.BytesIO(client.get(f"/engagements/{engagement.id}/soa.xlsx?as_of={today}").data))
    assert book.sheetnames == ["Statement of Applicability", f"Register {today.isoformat()}"]
    rows = list(book[f"Register {today.isoformat()}"].iter_rows(values_only=True))
    assert rows[0][:3] == ("engagement", "tier", "name")
    assert [(r[1], r[2], r[9]) for r in rows[1:]] == [("provider", "BPO A", "approved"),
                                                      ("subcontractor", "Roster Tools", "approved")]
    across = load_workbook(io.BytesIO(client.get("/subcontractors.xlsx").data)).active
    assert [r[2] for r in across.iter_rows(min_row=2, values_only=True)] == ["BPO A", "Roster Tools"]
