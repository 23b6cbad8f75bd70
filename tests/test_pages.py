"""Server-rendered pages: content per role, tenancy (404 outside scope), the new-engagement form,
the Statement of Applicability export and the security headers."""
from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re

import peewee as pw
import pytest
from conftest import login

from domain.timeutil import local
from models import (
    Applicability,
    AuditorGrant,
    Control,
    ControlObligation,
    Engagement,
    EngagementFramework,
    EngagementInvitation,
    EvidenceRequest,
    EvidenceRequirement,
    Framework,
    Obligation,
    Organisation,
    utcnow,
)
from services.register.engagements import create_accepted_engagement
from tests.conftest import csv_text

START = (dt.date.today() - dt.timedelta(days=400)).isoformat()


def engagement_data(**overrides) -> dict:
    data = {"name": "Retail contact centre", "provider": "BPO A", "frameworks": ["ISO27001-2022", "CPS234"],
            "place": "NSW", "timezone": "Australia/Sydney", "start_date": START, "contract_ref": "MSA-7"}
    return data | overrides


@pytest.fixture
def admin(make_user):
    return make_user("client_admin")


@pytest.fixture
def engagement(admin):
    return create_accepted_engagement(admin, engagement_data())


def signed_in(app, user):
    client = app.test_client()
    assert login(client, user).status_code == 302
    return client


def text(response) -> str:
    """The body with HTML entities decoded, so assertions compare what a reader sees."""
    return html.unescape(response.get_data(as_text=True))


def csrf_token(client, url: str = "/engagements/new") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', text(client.get(url))).group(1)


def db_counts(engagement) -> dict[str, int]:
    return dict(EvidenceRequest.select(EvidenceRequest.status, pw.fn.COUNT(EvidenceRequest.id))
                .where(EvidenceRequest.engagement == engagement).group_by(EvidenceRequest.status).tuples())


def grant(auditor, engagement, frameworks, *, hours_left: float = 24, starts_hours_ago: float = 1):
    now = utcnow()
    return AuditorGrant.create(auditor=auditor, engagement=engagement, frameworks=json.dumps(frameworks),
                               starts_at=now - dt.timedelta(hours=starts_hours_ago),
                               expires_at=now + dt.timedelta(hours=hours_left))


ENGAGEMENT_URLS = ["/engagements/{id}", "/engagements/{id}/requests", "/engagements/{id}/soa",
                   "/engagements/{id}/soa.csv", "/engagements/{id}/soa.xlsx"]


# ---------------------------------------------------------------- sign-in, layout, headers

@pytest.mark.parametrize("url", ["/", "/library", "/coverage", "/engagements", "/engagements/new",
                                 "/engagements/1", "/controls/AC-01"])
def test_pages_need_a_signed_in_user(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_layout_shows_role_nav_and_sign_out(app, admin, make_user):
    page = text(signed_in(app, admin).get("/"))
    assert admin.email in page and "client admin" in page
    for label in ("Library", "Coverage", "Engagements", "New engagement", "Sign out"):
        assert label in page
    assert 'href="#main"' in page  # skip link
    reviewer_page = text(signed_in(app, make_user("risk_reviewer")).get("/"))
    assert 'href="/engagements/new"' not in reviewer_page


def test_security_headers_and_no_inline_styles_or_scripts(app, admin, engagement):
    client = signed_in(app, admin)
    for url in ["/", "/library", "/library/CPS230", "/coverage", "/engagements", "/engagements/new",
                f"/engagements/{engagement.id}", f"/engagements/{engagement.id}/requests",
                f"/engagements/{engagement.id}/soa", "/controls/AC-01", "/engagements/99999"]:
        response = client.get(url)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        page = text(response)
        assert not re.search(r"\sstyle=", page), url
        assert not re.search(r"<script(?![^>]*\ssrc=)", page), url
        assert not re.search(r"\son[a-z]+=", page), url


# ---------------------------------------------------------------- home and engagements list

def test_home_lists_own_engagements_with_request_counts(app, admin, engagement, make_user):
    create_accepted_engagement(make_user("client_admin", org="Bank B"), engagement_data(name="Other bank's centre"))
    page = text(signed_in(app, make_user("risk_reviewer")).get("/"))
    assert "Retail contact centre" in page
    assert "Other bank's centre" not in page
    for status, n in db_counts(engagement).items():
        assert f'aria-label="{n} {status} requests"' in page
    assert f'href="/engagements/{engagement.id}/requests?status=overdue"' in page


def test_engagements_list_for_provider_shows_only_its_engagements(app, admin, engagement, make_user):
    create_accepted_engagement(admin, engagement_data(name="Other provider's centre", provider="BPO B"))
    page = text(signed_in(app, make_user("provider_contributor")).get("/engagements"))
    assert "Retail contact centre" in page
    assert "Other provider" not in page


# ---------------------------------------------------------------- library

def test_library_lists_frameworks_with_obligation_counts(app, admin):
    page = text(signed_in(app, admin).get("/library"))
    frameworks = list(Framework.select().where(Framework.retired_in.is_null()))
    assert len(frameworks) >= 7
    for fw in frameworks:
        n = Obligation.select().where(Obligation.framework == fw, Obligation.retired_in.is_null()).count()
        assert re.search(rf'href="/library/{re.escape(fw.code)}">{re.escape(fw.code)}</a></td>\s*<td>'
                         rf'{re.escape(fw.title)}</td>\s*<td>{re.escape(fw.version)}</td>\s*<td class="num">{n}</td>',
                         page), fw.code


def test_framework_page_lists_obligations_with_2026_refs_marked_and_mapped_controls(app, engagement, make_user):
    auditor = make_user("auditor")  # an auditor reads the library of its granted frameworks (and no other)
    assert signed_in(app, auditor).get("/library/CPS230").status_code == 404
    grant(auditor, engagement, ["CPS230"])
    page = text(signed_in(app, auditor).get("/library/CPS230"))
    ob = Obligation.select().join(Framework).where(Framework.code == "CPS230", Obligation.ref == "33").get()
    row = page[page.index('id="ob-33"'):].split("</tr>")[0]
    # the 2026 number secondary sources report is not confirmed by a primary source: shown as unverified only
    assert ob.alt_ref == "32" and ob.alt_ref_verification == "unverified"
    assert "2026: " in row and "unverified" in row and f"2026: {ob.alt_ref}" not in row
    mapped = (ControlObligation.select(Control.code, ControlObligation.coverage).join(Control)
              .where(ControlObligation.obligation == ob).tuples())
    assert mapped
    for code, coverage in mapped:
        assert f'href="/controls/{code}"' in row and coverage in row
    assert f"badge-verif-{ob.verification}" in row


def test_unknown_framework_and_control_are_404(app, admin):
    client = signed_in(app, admin)
    assert client.get("/library/NOPE").status_code == 404
    assert client.get("/controls/NOPE-99").status_code == 404


def test_control_page_shows_requirements_and_mappings_by_framework(app, admin):
    control = Control.get(Control.code == "AC-01")
    page = text(signed_in(app, admin).get("/controls/AC-01"))
    assert control.title in page and control.description in page
    for req in EvidenceRequirement.select().where(EvidenceRequirement.control == control):
        assert req.name in page and f"{req.validity_days} days" in page
        for media_type in json.loads(req.accepted_types):
            assert media_type in page
    codes = {c for (c,) in ControlObligation.select(Framework.code).join(Obligation).join(Framework)
             .where(ControlObligation.control == control).tuples()}
    assert len(codes) > 1
    for code in codes:
        assert f'<a href="/library/{code}" class="mono">{code}</a>' in page


# ---------------------------------------------------------------- coverage

def test_coverage_defaults_to_first_framework(app, admin):
    first = Framework.select().where(Framework.retired_in.is_null()).order_by(Framework.code).first()
    page = text(signed_in(app, admin).get("/coverage"))
    assert f'<option value="{first.code}" selected>' in page


def test_coverage_matrix_cells_and_summary_match_the_library(app, admin):
    import time
    fw = Framework.get(Framework.code == "ISO27001-2022")
    client = signed_in(app, admin)
    started = time.perf_counter()
    page = text(client.get("/coverage?framework=ISO27001-2022"))
    assert time.perf_counter() - started < 2.0
    obligations = list(Obligation.select().where(Obligation.framework == fw, Obligation.retired_in.is_null()))
    mappings = list(ControlObligation.select().join(Obligation)
                    .where(Obligation.framework == fw, ControlObligation.retired_in.is_null()))
    assert page.count('<th scope="row" class="ob"') == len(obligations)
    assert page.count('<th scope="col" class="ctl">') == len({m.control_id for m in mappings})
    assert page.count('<td class="cell-full">') == sum(m.coverage == "full" for m in mappings)
    assert page.count('<td class="cell-partial">') == sum(m.coverage == "partial" for m in mappings)
    full = {m.obligation_id for m in mappings if m.coverage == "full"}
    assert f"<strong>{len(obligations)}</strong> obligations" in page
    assert f"<strong>{len([o for o in obligations if o.id in full and o.provable])}</strong> covered fully" in page


def test_coverage_of_unknown_framework_is_404(app, admin):
    assert signed_in(app, admin).get("/coverage?framework=NOPE").status_code == 404


# ---------------------------------------------------------------- engagement pages: who sees what

@pytest.mark.parametrize("role", ["client_admin", "risk_reviewer", "provider_admin", "provider_contributor"])
@pytest.mark.parametrize("url", ENGAGEMENT_URLS)
def test_parties_see_the_engagement_pages(app, engagement, make_user, role, url):
    response = signed_in(app, make_user(role)).get(url.format(id=engagement.id))
    assert response.status_code == 200
    if not url.endswith((".csv", ".xlsx")):
        assert "Retail contact centre" in text(response)


@pytest.mark.parametrize("outsider", ["other_client_admin", "other_client_reviewer", "other_provider",
                                      "auditor_without_grant", "auditor_expired", "auditor_other_engagement"])
@pytest.mark.parametrize("url", ENGAGEMENT_URLS + ["/engagements/{id}/requests?status=open&page=2"])
def test_out_of_scope_engagement_pages_are_404(app, admin, engagement, make_user, outsider, url):
    user = {
        "other_client_admin": lambda: make_user("client_admin", org="Bank B"),
        "other_client_reviewer": lambda: make_user("risk_reviewer", org="Bank B"),
        "other_provider": lambda: make_user("provider_admin", org="BPO B"),
        "auditor_without_grant": lambda: make_user("auditor"),
    }.get(outsider, lambda: make_user("auditor"))()
    if outsider == "auditor_expired":
        grant(user, engagement, ["ISO27001-2022"], hours_left=-1, starts_hours_ago=48)
    if outsider == "auditor_other_engagement":
        other = create_accepted_engagement(admin, engagement_data(name="Another centre"))
        grant(user, other, ["ISO27001-2022"])
    response = signed_in(app, user).get(url.format(id=engagement.id))
    assert response.status_code == 404
    assert "Retail contact centre" not in text(response)


def test_unknown_engagement_is_404(app, admin):
    assert signed_in(app, admin).get("/engagements/987654").status_code == 404


def test_auditor_sees_only_granted_frameworks(app, engagement, make_user):
    auditor = make_user("auditor")
    grant(auditor, engagement, ["CPS234"])
    client = signed_in(app, auditor)
    visible = {c for (c,) in Control.select(Control.code).join(ControlObligation).join(Obligation).join(Framework)
               .where(Framework.code == "CPS234").tuples()}
    rows = list(csv.DictReader(io.StringIO(csv_text(text(client.get(f"/engagements/{engagement.id}/soa.csv"))))))
    assert rows and {r["control"] for r in rows} == visible
    assert {r["control"] for r in rows} != {c.code for c in Control.select()}
    page = text(client.get(f"/engagements/{engagement.id}/requests"))
    scoped = EvidenceRequest.select().where(EvidenceRequest.engagement == engagement,
                                            EvidenceRequest.control.in_(
                                                Control.select(Control.id).where(Control.code.in_(visible))))
    assert f"{scoped.count()} requests" in page


# ---------------------------------------------------------------- engagement detail, requests, SoA

def test_engagement_detail_counts_and_next_due_in_local_time(app, admin, make_user):
    row = create_accepted_engagement(admin,
            engagement_data(name="Perth centre", place="WA", timezone="Australia/Perth"))
    page = text(signed_in(app, admin).get(f"/engagements/{row.id}"))
    counts = db_counts(row)
    for status in ("upcoming", "open", "submitted", "accepted", "rejected", "overdue"):
        assert re.search(rf'data-status="{status}"><a [^>]*>{counts.get(status, 0)}</a>', page), status
    assert f"Evidence requests <span class=\"muted\">({sum(counts.values())})</span>" in page
    first = (EvidenceRequest.select().where(EvidenceRequest.engagement == row,
                                            EvidenceRequest.status.in_(["overdue", "rejected", "open", "upcoming"]))
             .order_by(EvidenceRequest.due_at, EvidenceRequest.id).first())
    shown = local(first.due_at, "Australia/Perth")
    assert shown.strftime("%H:%M") == "23:59"  # the end of the period's last local day
    assert f'<time datetime="{shown.isoformat()}">{shown.strftime("%a %d %b %Y %H:%M")}</time>' in page
    assert page.count("<time ") == 20
    assert "WA · Australia/Perth" in page


def test_requests_page_paginates_and_filters(app, admin, engagement):
    client = signed_in(app, admin)
    total = EvidenceRequest.select().where(EvidenceRequest.engagement == engagement).count()
    assert total > 60
    page1 = text(client.get(f"/engagements/{engagement.id}/requests"))
    page2 = text(client.get(f"/engagements/{engagement.id}/requests?page=2"))
    assert page1.count("<time ") == 50
    assert page2.count("<time ") == min(50, total - 50)
    assert f"page 2 of {-(-total // 50)}" in page2
    overdue = db_counts(engagement)["overdue"]
    filtered = text(client.get(f"/engagements/{engagement.id}/requests?status=overdue"))
    assert f"{overdue} requests overdue" in filtered
    body = filtered[filtered.index("<tbody>"):filtered.index("</tbody>")]
    assert re.findall(r'class="badge badge-(\w+)"', body) == ["overdue"] * min(overdue, 50)
    assert client.get(f"/engagements/{engagement.id}/requests?status=bogus").status_code == 422


def test_soa_page_filters_applicable(app, admin, engagement):
    client = signed_in(app, admin)
    total = Applicability.select().where(Applicability.engagement == engagement).count()
    not_applicable = Applicability.select().where(Applicability.engagement == engagement,
                                                  ~Applicability.applicable).count()
    assert 0 < not_applicable < total
    page = text(client.get(f"/engagements/{engagement.id}/soa"))
    assert f"{total} controls shown · {total - not_applicable} applicable" in page
    only_no = text(client.get(f"/engagements/{engagement.id}/soa?applicable=no"))
    assert only_no.count('badge-no">No</span>') == not_applicable
    assert 'badge-yes">Yes</span>' not in only_no


def test_soa_csv_download(app, make_user, admin, engagement):
    response = signed_in(app, make_user("risk_reviewer")).get(f"/engagements/{engagement.id}/soa.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(csv_text(text(response)))))
    assert rows[0] == ["control", "title", "applicable", "justification", "frequency", "first_due_date"]
    expected = {a.control.code: a for a in Applicability.select(Applicability, Control).join(Control)
                .where(Applicability.engagement == engagement)}
    assert len(rows) - 1 == len(expected)
    for code, _title, applicable, justification, _freq, first_due in rows[1:]:
        row = expected[code]
        assert applicable == ("yes" if row.applicable else "no")
        assert justification == row.justification
        assert first_due == (row.first_due_date.isoformat() if row.first_due_date else "")
    pci_only = [r for r in rows[1:] if "card payments" in r[3]]
    assert pci_only and all(r[2] == "no" for r in pci_only)  # card_payments is off
    applicable_only = list(csv.reader(io.StringIO(csv_text(text(signed_in(app, admin).get(
        f"/engagements/{engagement.id}/soa.csv?applicable=yes"))))))
    assert {r[2] for r in applicable_only[1:]} == {"yes"}


def test_soa_excel_download_matches_the_csv(app, make_user, admin, engagement):
    from openpyxl import load_workbook
    client = signed_in(app, make_user("risk_reviewer"))
    response = client.get(f"/engagements/{engagement.id}/soa.xlsx")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = [[("" if v is None else v) for v in row] for row in sheet.iter_rows(values_only=True)]
    assert rows == list(csv.reader(io.StringIO(csv_text(text(client.get(f"/engagements/{engagement.id}/soa.csv"))))))
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref


def test_excel_cells_keep_formula_like_text_as_text():
    from openpyxl import load_workbook

    from web.exports import xlsx_download
    response = xlsx_download("x.xlsx", "T", ("a", "b"), [("=HYPERLINK(\"http://evil\")", 3), ("@SUM(A1)", None)])
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    assert sheet["A2"].value == '=HYPERLINK("http://evil")' and sheet["A2"].data_type == "s"
    assert sheet["A3"].value == "@SUM(A1)" and sheet["B2"].value == 3


def test_exports_neutralise_spreadsheet_formulas():
    from web.exports import safe_cell
    assert safe_cell("=HYPERLINK(\"http://evil\")") == "'=HYPERLINK(\"http://evil\")"
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)" and safe_cell("-1+2") == "'-1+2"
    assert safe_cell("Plain text") == "Plain text" and safe_cell(42) == 42 and safe_cell(None) == ""


# ---------------------------------------------------------------- the new-engagement form

def form_data(client, **overrides) -> dict:
    data = {"csrf_token": csrf_token(client), "name": "Inbound sales", "provider": "BPO A",
            "frameworks": ["ISO27001-2022", "PCIDSS-4.0.1"], "place": "VIC", "timezone": "Australia/Melbourne",
            "start_date": START, "end_date": "", "contract_ref": "SOW-12", "card_payments": "1"}
    return {k: v for k, v in (data | overrides).items() if v is not None}


def snapshot() -> tuple[int, ...]:
    return (Engagement.select().count(), EngagementFramework.select().count(), Applicability.select().count(),
            EvidenceRequest.select().count(), Organisation.select().count())


def test_new_engagement_form_lists_frameworks_and_places(app, admin):
    page = text(signed_in(app, admin).get("/engagements/new"))
    for fw in Framework.select():
        assert f'name="frameworks" value="{fw.code}"' in page
    for place in ("ACT", "NSW", "NT", "QLD", "SA", "TAS", "VIC", "WA"):
        assert f'<option value="{place}">' in page
    assert 'value="Australia/Sydney"' in page
    for field in ("name", "provider", "place", "timezone", "start_date", "end_date", "contract_ref"):
        assert f'<label for="{field}">' in page and f'id="{field}"' in page


def test_create_engagement_through_the_form(app, admin):
    client = signed_in(app, admin)
    response = client.post("/engagements/new", data=form_data(client))
    assert response.status_code == 302
    row = Engagement.get(Engagement.name == "Inbound sales")
    assert response.headers["Location"].endswith(f"/engagements/{row.id}")
    assert (row.place, row.timezone, row.card_payments, row.offshore, row.contract_ref) == \
        ("VIC", "Australia/Melbourne", True, False, "SOW-12")
    # the provider named is invited, not attached: it takes part once one of its admins accepts
    invitation = EngagementInvitation.get(EngagementInvitation.engagement == row)
    assert row.client_id == admin.organisation_id
    assert (invitation.provider_name, invitation.state) == ("BPO A", "pending")
    assert sorted(c for (c,) in EngagementFramework.select(Framework.code).join(Framework)
                  .where(EngagementFramework.engagement == row).tuples()) == ["ISO27001-2022", "PCIDSS-4.0.1"]
    assert Applicability.select().where(Applicability.engagement == row, Applicability.applicable).count() > 0
    assert EvidenceRequest.select().where(EvidenceRequest.engagement == row).count() > 0
    page = text(client.get(response.headers["Location"]))
    assert "Inbound sales" in page and "created" in page


@pytest.mark.parametrize("overrides, field, message", [
    ({"frameworks": ["ISO27001-2022", "NOPE-1"]}, "frameworks", "unknown framework code(s): NOPE-1"),
    ({"frameworks": None}, "frameworks", "frameworks must be a non-empty list"),
    ({"place": "XYZ"}, "place", "unknown place"),
    ({"start_date": "next tuesday"}, "start_date", "is not a date"),
    ({"start_date": "2025-06-01", "end_date": "2025-05-01"}, "end_date", "end_date must be after start_date"),
    ({"timezone": "Mars/Olympus"}, "timezone", "unknown timezone"),
    ({"name": "   "}, "name", "name is required"),
    ({"name": "Retail contact centre"}, "name", "already exists"),
])
def test_bad_form_input_is_422_with_the_message_and_creates_nothing(app, admin, engagement, overrides, field,
                                                                    message):
    client = signed_in(app, admin)
    data = form_data(client, **overrides)
    before = snapshot()
    response = client.post("/engagements/new", data=data | {"provider": "Brand New BPO"})
    assert response.status_code == 422
    page = text(response)
    assert message in page
    assert re.search(rf'id="{field}-error">.*{re.escape(message)}', page)
    assert snapshot() == before
    assert 'value="Brand New BPO"' in page and 'value="SOW-12"' in page  # entered values kept
    if overrides.get("frameworks") is not None:
        assert 'value="ISO27001-2022" checked' in page


@pytest.mark.parametrize("token", [None, "forged-token", "IjAxMjM0NTY3ODki.Zz.forged"])
def test_missing_or_forged_csrf_is_400_and_creates_nothing(app, admin, token):
    client = signed_in(app, admin)
    before = snapshot()
    response = client.post("/engagements/new", data=form_data(client, csrf_token=token))
    assert response.status_code == 400
    assert "CSRF" in text(response)
    assert snapshot() == before


@pytest.mark.parametrize("role", ["risk_reviewer", "provider_admin", "provider_contributor", "auditor"])
def test_only_client_admin_may_create(app, make_user, role):
    client = signed_in(app, make_user(role))
    assert client.get("/engagements/new").status_code == 404
    before = snapshot()
    assert client.post("/engagements/new", data=form_data(client)).status_code == 404
    assert snapshot() == before


def test_user_supplied_text_is_escaped_on_every_page(app, admin):
    from services.register.engagements import create_accepted_engagement
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    row = create_accepted_engagement(admin, engagement_data(name=evil, provider=evil + " BPO", contract_ref=evil[:90]))
    client = signed_in(app, admin)
    for url in ("/", "/engagements", f"/engagements/{row.id}", f"/engagements/{row.id}/requests",
                f"/engagements/{row.id}/soa"):
        raw = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in raw and "<img src=x" not in raw, url
        assert "&lt;script&gt;alert" in raw, url


def test_coverage_exports_one_row_per_obligation(app, admin):
    from openpyxl import load_workbook

    from models import Framework, Obligation
    client = signed_in(app, admin)
    response = client.get("/coverage.csv?framework=CPS234")
    assert response.status_code == 200 and response.headers["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(csv_text(text(response)))))
    assert rows[0] == ["framework", "ref", "alt_ref", "obligation", "coverage", "controls_full", "controls_partial"]
    cps234 = Framework.get(Framework.code == "CPS234")
    assert sorted(r[1] for r in rows[1:]) == sorted(o.ref for o in Obligation.select().where(
        Obligation.framework == cps234, Obligation.retired_in.is_null()))
    para35 = next(r for r in rows[1:] if r[1] == "35")
    assert para35[4] == "full" and para35[5]
    sheet = load_workbook(io.BytesIO(client.get("/coverage.xlsx?framework=CPS234").data)).active
    assert [[("" if v is None else v) for v in row] for row in sheet.iter_rows(values_only=True)] == rows
    assert client.get("/coverage.csv?framework=NOPE").status_code == 404
    assert client.get("/coverage.pdf?framework=CPS234").status_code == 404


@pytest.mark.parametrize("page", ["0", "-4", "abc", "100000000000000000000"])
def test_request_list_page_numbers_are_forgiving(app, admin, engagement, page):
    response = signed_in(app, admin).get(f"/engagements/{engagement.id}/requests?page={page}")
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/findings", "/notifications", "/review", "/dashboard"])
def test_a_page_past_the_last_says_so_and_links_to_the_last_page(app, make_user, path):
    client = signed_in(app, make_user("risk_reviewer"))
    response = client.get(f"{path}?page=999999999")
    assert response.status_code == 200
    page = text(response)
    assert re.search(r"There is no page \d+: the list has 1 page\.", page), path
    assert re.search(r'<a rel="prev" href="[^"]*page=1[^"]*">Go to page 1</a>', page), path
    assert "There is no page" not in text(client.get(path))
