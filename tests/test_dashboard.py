"""The overdue dashboard (API and page) and the request list's filters, sort and exports: the numbers
are checked against the requests themselves, counted here independently in Python."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import Counter

import pytest
from conftest import bearer
from openpyxl import load_workbook
from test_openapi import Contract
from test_pages import engagement_data, signed_in, text

from models import Control, ControlObligation, EvidenceRequest, Framework, Obligation, utcnow
from services.register import dashboard
from services.register.engagements import create_accepted_engagement
from tests.conftest import csv_text

OWED = ("upcoming", "open", "rejected")


@pytest.fixture
def admin(make_user):
    return make_user("client_admin")


@pytest.fixture
def engagements(admin):
    """Two engagements of the same client with different providers, ~13 months in (many overdue)."""
    start = (dt.date.today() - dt.timedelta(days=400)).isoformat()
    first = create_accepted_engagement(admin, engagement_data(start_date=start))
    second = create_accepted_engagement(admin,
            engagement_data(name="Collections centre", provider="BPO B", start_date=start,
                                                      frameworks=["CPS234", "CPS230"]))
    # a mix of states: some overdue requests accepted, some rejected, so every status shows
    rows = list(EvidenceRequest.select().where(EvidenceRequest.status == "overdue").order_by(EvidenceRequest.id))
    for i, row in enumerate(rows):
        if i % 4 == 1:
            EvidenceRequest.update(status="accepted").where(EvidenceRequest.id == row.id).execute()
        elif i % 9 == 2:
            EvidenceRequest.update(status="rejected").where(EvidenceRequest.id == row.id).execute()
    return first, second


def expected(engagement_ids, now, window=14, where=lambda r: True) -> list[EvidenceRequest]:
    soon = now + dt.timedelta(days=window)
    return [r for r in EvidenceRequest.select().where(EvidenceRequest.engagement.in_(engagement_ids))
            if where(r) and (r.status == "overdue" or (r.status in OWED and r.due_at < soon))]


def bucket(days: int) -> str:
    return "1-7" if days <= 7 else "8-30" if days <= 30 else "31-90" if days <= 90 else "90+"


def frameworks_of_control() -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for control_id, code in (ControlObligation.select(ControlObligation.control, Framework.code)
                             .join(Obligation).join(Framework).where(ControlObligation.retired_in.is_null()).tuples()):
        out.setdefault(control_id, set()).add(code)
    return out


def test_api_summary_and_items_match_the_requests(client, admin, engagements):
    first, second = engagements
    contract = Contract(client.get("/api/v1/openapi.json").get_json())
    body = contract.check(client.get("/api/v1/dashboard/overdue?per_page=200", headers=bearer(admin)),
                          "get", "/api/v1/dashboard/overdue")
    contract.check(client.get("/api/v1/dashboard/overdue?window=5", headers=bearer(admin)),
                   "get", "/api/v1/dashboard/overdue")
    now = utcnow()
    rows = expected([first.id, second.id], now)
    assert body["total"] == len(rows) > 50
    assert body["summary"]["by_status"] == dict(Counter(r.status for r in rows))
    overdue = [r for r in rows if r.status == "overdue"]
    assert body["summary"]["by_aging"] == {b: Counter(bucket((now - r.due_at).days) for r in overdue).get(b, 0)
                                           for b in ("1-7", "8-30", "31-90", "90+")}
    # items: most overdue first, each with its whole days overdue
    items = body["items"]
    assert [i["id"] for i in items] == [r.id for r in sorted(rows, key=lambda r: (r.due_at, r.id))][:200]
    oldest = min(rows, key=lambda r: (r.due_at, r.id))
    assert items[0]["days_overdue"] == (now - oldest.due_at).days > 90
    assert all(i["days_overdue"] == 0 and i["days_to_due"] >= 0 for i in items if i["status"] != "overdue"
               and i["due_at"] > now.isoformat())
    # heat map: per engagement x framework in its scope, a request once under each framework its control maps to
    fw_of = frameworks_of_control()
    scoped = {first.id: {"ISO27001-2022", "CPS234"}, second.id: {"CPS234", "CPS230"}}
    heat = Counter()
    for r in rows:
        for code in fw_of.get(r.control_id, set()) & scoped[r.engagement_id]:
            heat[(r.engagement_id, code, r.status == "overdue")] += 1
    cells = {(c["engagement_id"], c["framework"]): (c["overdue"], c["due_soon"])
             for c in body["summary"]["by_engagement_framework"]}
    assert cells == {(e, f): (heat[(e, f, True)], heat[(e, f, False)])
                     for e, f, _ in heat}


def test_trend_counts_accepted_and_overdue_by_month_due(client, admin, engagements):
    body = client.get("/api/v1/dashboard/overdue", headers=bearer(admin)).get_json()
    trend = body["summary"]["trend"]
    now = utcnow()
    assert len(trend) == 12 and trend[-1]["month"] == now.strftime("%Y-%m")
    counted = Counter((r.due_at.strftime("%Y-%m"), r.status) for r in EvidenceRequest.select())
    for month in trend:
        assert month["accepted"] == counted[(month["month"], "accepted")]
        assert month["overdue"] == counted[(month["month"], "overdue")]
    assert sum(m["accepted"] for m in trend) > 0 and sum(m["overdue"] for m in trend) > 0


def test_filters_narrow_items_and_summary(client, admin, make_user, engagements):
    first, second = engagements
    headers = bearer(admin)
    now = utcnow()
    one = client.get(f"/api/v1/dashboard/overdue?engagement={second.id}&window=60", headers=headers).get_json()
    assert one["total"] == len(expected([second.id], now, 60)) and one["window_days"] == 60
    assert {c["engagement_id"] for c in one["summary"]["by_engagement_framework"]} == {second.id}

    iso = client.get("/api/v1/dashboard/overdue?framework=ISO27001-2022&per_page=200", headers=headers).get_json()
    iso_controls = {c for c, codes in frameworks_of_control().items() if "ISO27001-2022" in codes}
    assert iso["total"] == len(expected([first.id], now, where=lambda r: r.control_id in iso_controls))
    assert {i["engagement_id"] for i in iso["items"]} == {first.id}  # the second has no ISO 27001 in scope

    code = iso["items"][0]["control"]
    control = Control.get(Control.code == code)
    by_control = client.get(f"/api/v1/dashboard/overdue?control={code}&per_page=200", headers=headers).get_json()
    assert by_control["total"] == len(expected([first.id, second.id], now, where=lambda r: r.control_id == control.id))
    assert {i["control"] for i in by_control["items"]} == {code}

    owner = make_user("risk_reviewer")
    # the owner is the request's (who must deliver it), no longer read from the Statement of Applicability
    (EvidenceRequest.update(owner=owner)
     .where(EvidenceRequest.engagement == first, EvidenceRequest.control == control).execute())
    owned = client.get(f"/api/v1/dashboard/overdue?owner={owner.id}&per_page=200", headers=headers).get_json()
    assert owned["total"] == by_control["total"] - len(expected([second.id], now, where=lambda r: r.control_id ==
                                                                control.id))
    assert {i["owner"] for i in owned["items"]} == {owner.email}

    by_engagement = client.get("/api/v1/dashboard/overdue?sort=engagement&per_page=200", headers=headers).get_json()
    names = [i["engagement"] for i in by_engagement["items"]]
    assert names == sorted(names) and len(set(names)) == 2


@pytest.mark.parametrize("query, field", [("window=3", "window"), ("window=abc", "window"),
                                          ("sort=id;drop", "sort"), ("owner=-1", "owner"),
                                          ("engagement=x", "engagement"),
                                          ("framework=NOPE", "framework"), ("per_page=500", "per_page")])
def test_bad_filters_are_clear_errors(client, admin, engagements, query, field):
    response = client.get(f"/api/v1/dashboard/overdue?{query}", headers=bearer(admin))
    assert response.status_code in (400, 422)
    assert response.get_json()["error"]["field"] == field


def test_scope_provider_sees_its_own_engagements_and_outsiders_nothing(client, admin, make_user, engagements):
    first, second = engagements
    provider = make_user("provider_contributor", org="BPO B")
    body = client.get("/api/v1/dashboard/overdue?per_page=200", headers=bearer(provider)).get_json()
    assert body["total"] == len(expected([second.id], utcnow())) > 0
    assert {i["engagement_id"] for i in body["items"]} == {second.id}
    outsider = make_user("client_admin", org="Bank B")
    other = client.get(f"/api/v1/dashboard/overdue?engagement={first.id}", headers=bearer(outsider)).get_json()
    assert other["total"] == 0 and other["items"] == [] and other["summary"]["by_engagement_framework"] == []
    assert client.get("/api/v1/dashboard/overdue").status_code == 401


def test_dashboard_page_charts_tables_filters_and_nav(app, admin, engagements):
    first, second = engagements
    client = signed_in(app, admin)
    home = text(client.get("/"))
    assert 'href="/dashboard"' in home  # the risk team's landing target, in the main nav
    page = text(client.get("/dashboard"))
    board = dashboard.overdue_dashboard(admin, dashboard.Filters())
    assert f'<span class="kpi-n" id="kpi-overdue">{board.overdue}</span>' in page
    # charts are SVG with a title and description, each with a table of the same numbers
    assert page.count('<svg class="chart"') == 2 and 'aria-labelledby="aging-chart-title aging-chart-desc"' in page
    for label, n in board.by_aging.items():
        assert f'<tr><th scope="row">{label}</th><td class="num">{n}</td></tr>' in page
    assert 'id="heatmap"' in page and f'href="/dashboard?engagement={second.id}&framework=CPS230"' in page
    for field in ("engagement", "framework", "control", "owner", "window", "sort"):
        assert f'name="{field}"' in page
    assert page.count('href="/requests/') == min(50, board.total)  # every row links to its request page
    filtered = text(client.get(f"/dashboard?engagement={second.id}&window=30"))
    assert f'<option value="{second.id}" selected>' in filtered
    assert filtered.count("Retail contact centre") == 1  # only as a choice in the form: no rows of it
    bad = client.get("/dashboard?window=2")
    assert bad.status_code == 422 and "window must be one of" in text(bad)


def test_dashboard_exports_every_selected_request(app, admin, engagements):
    first, second = engagements
    client = signed_in(app, admin)
    response = client.get(f"/dashboard.csv?engagement={first.id}&sort=-due")
    assert response.headers["Content-Disposition"].startswith("attachment; filename=\"overdue-")
    rows = list(csv.reader(io.StringIO(csv_text(response.get_data(as_text=True)))))
    want = sorted(expected([first.id], utcnow()), key=lambda r: (r.due_at, r.id), reverse=True)
    assert rows[0][:2] == ["engagement", "control"]
    assert [int(r[-1]) for r in rows[1:]] == [r.id for r in want]
    sheet = load_workbook(io.BytesIO(client.get(f"/dashboard.xlsx?engagement={first.id}&sort=-due").data)).active
    # the due time is a real Excel datetime in the engagement's local time (naive; the header names the zone),
    # the CSV's the same instant in ISO 8601 with its offset
    assert [list(r) for r in sheet.iter_rows(min_row=2, values_only=True)] == \
        [[int(v) if i in (6, 7, 9) else dt.datetime.fromisoformat(v).replace(tzinfo=None) if i == 4 else (v or None)
          for i, v in enumerate(r)] for r in rows[1:]]
    assert sheet["E1"].value == f"due_local ({first.timezone})" and sheet["E2"].number_format == "yyyy-mm-dd hh:mm"


def test_request_list_filters_sort_days_overdue_and_export(app, admin, make_user, engagements):
    first, _second = engagements
    client = signed_in(app, admin)
    url = f"/engagements/{first.id}/requests"
    page = text(client.get(f"{url}?status=overdue&sort=-due"))
    overdue = list(EvidenceRequest.select().where(EvidenceRequest.engagement == first,
                                                  EvidenceRequest.status == "overdue")
                   .order_by(EvidenceRequest.due_at.desc(), EvidenceRequest.id.desc()))
    now = utcnow()
    shown = [int(n) for n in re.findall(r'<td class="num">(\d+)</td>\s*</tr>', page)]
    assert shown == [(now - r.due_at).days for r in overdue[:50]]
    assert page.count('href="/requests/') == min(50, len(overdue))
    cps = text(client.get(f"{url}?framework=CPS234"))
    cps_controls = {c for c, codes in frameworks_of_control().items() if "CPS234" in codes}
    total = EvidenceRequest.select().where(EvidenceRequest.engagement == first,
                                           EvidenceRequest.control.in_(list(cps_controls))).count()
    assert f"{total} requests" in cps
    assert client.get(f"{url}?framework=NOPE").status_code == 422
    assert client.get(f"{url}?sort=bogus").status_code == 422
    body = client.get(f"{url}.csv?status=overdue&sort=-due").get_data(as_text=True)
    exported = list(csv.reader(io.StringIO(csv_text(body))))
    assert [int(r[0]) for r in exported[1:]] == [r.id for r in overdue]
    assert [int(r[-1]) for r in exported[1:]] == [(now - r.due_at).days for r in overdue]
    sheet = load_workbook(io.BytesIO(client.get(f"{url}.xlsx?status=overdue").data)).active
    assert sheet.max_row == len(overdue) + 1
    outsider = signed_in(app, make_user("client_admin", org="Bank B"))
    assert outsider.get(f"{url}.csv").status_code == 404


def test_owner_choices_are_the_owners_of_the_callers_rows_only(admin, engagements, make_user):
    """The filter form offers as owners exactly the users who own requests of the caller's engagements: not a
    user who owns requests only on another client's engagement, nor one who owns none."""
    first, second = engagements
    other_admin = make_user("client_admin", org="Bank B")
    elsewhere = create_accepted_engagement(other_admin, engagement_data(name="Elsewhere", provider="BPO C"))
    mine, theirs, idle = (make_user("risk_reviewer"), make_user("client_admin", org="Bank B"),
                          make_user("risk_reviewer"))
    control = EvidenceRequest.select().where(EvidenceRequest.engagement == second).first().control_id
    (EvidenceRequest.update(owner=mine)
     .where(EvidenceRequest.engagement == second, EvidenceRequest.control == control).execute())
    EvidenceRequest.update(owner=theirs).where(EvidenceRequest.engagement == elsewhere.id).execute()
    assert dashboard.filter_choices(admin)["owners"] == [(mine.id, mine.email)]
    assert dashboard.filter_choices(other_admin)["owners"] == [(theirs.id, theirs.email)]
    assert idle.id not in {i for i, _e in dashboard.filter_choices(admin)["owners"]}
