"""Priced change control meets the commercial view (SPEC §9: "approved monthly prices show in the engagement's
commercial view beside the charges"): the approved and implemented change requests' one-off and monthly prices
stand beside each month's charges in the page, the API and the months' CSV/Excel export, exact to the cent."""
from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

from openpyxl import load_workbook

from domain import governance as rules
from models import ChangeRequest
from services.register.engagements import create_accepted_engagement
from tests.conftest import bearer, csv_text, login


def month_of(day: dt.date) -> str:
    return day.strftime("%Y-%m")


def mid_month(back: int) -> dt.datetime:
    """Noon UTC on the 15th of the month ``back`` months before this one."""
    day = dt.date.today().replace(day=1)
    for _ in range(back):
        day = (day - dt.timedelta(days=1)).replace(day=1)
    return dt.datetime.combine(day.replace(day=15), dt.time(2))


def test_change_prices_by_month_are_exact():
    changes = [rules.PricedChange(1, "a", "implemented", "2026-03", Decimal("100.10"), Decimal("20.05")),
               rules.PricedChange(2, "b", "approved", "2026-05", Decimal("0"), Decimal("0.10"))]
    prices = rules.change_prices_by_month(changes, ["2026-02", "2026-03", "2026-04", "2026-05"])
    assert prices == {"2026-02": (Decimal("0.00"), Decimal("0.00")),
                      "2026-03": (Decimal("100.10"), Decimal("20.05")),
                      "2026-04": (Decimal("0.00"), Decimal("20.05")),
                      "2026-05": (Decimal("0.00"), Decimal("20.15"))}


def _change(client, engagement, client_h, provider_h, title: str, prices: tuple[str, str], decision: str | None):
    row = client.post(f"/api/v1/engagements/{engagement.id}/change-requests", headers=provider_h,
                      json={"title": title, "kind": "new_language"}).get_json()
    priced = client.post(f"/api/v1/change-requests/{row['id']}/price", headers=provider_h,
                         json={"one_off_price": prices[0], "monthly_price": prices[1], "fte_impact": "1"})
    assert priced.status_code == 200, priced.get_json()
    if decision:
        decided = client.post(f"/api/v1/change-requests/{row['id']}/decision", headers=client_h,
                              json={"decision": decision, "reason": "Within the change budget"})
        assert decided.status_code == 200, decided.get_json()
    return row["id"]


def test_agreed_change_prices_stand_beside_the_months_charges(client, make_user):
    admin, provider = make_user("client_admin"), make_user("provider_admin")
    engagement = create_accepted_engagement(admin, {
        "name": "Cards contact centre", "provider": "BPO A", "frameworks": ["CONTRACT", "CPS230"], "place": "NSW",
        "timezone": "Australia/Sydney", "start_date": (dt.date.today() - dt.timedelta(days=120)).isoformat()})
    client_h, provider_h = bearer(admin), bearer(provider)
    two_back, last, this = mid_month(2), mid_month(1), month_of(dt.date.today())
    for at, charges in ((two_back, "180000.00"), (last, "182500.50")):
        assert client.put(f"/api/v1/engagements/{engagement.id}/months/{month_of(at)}", headers=client_h,
                          json={"forecast_volume": 40000, "charges": charges}).status_code == 200
    language = _change(client, engagement, client_h, provider_h, "Vietnamese language line",
                       ("12500.00", "3400.10"), "approve")
    ChangeRequest.update(decided_at=two_back).where(ChangeRequest.id == language).execute()
    implemented = client.post(f"/api/v1/change-requests/{language}/implemented", headers=provider_h,
                              json={"implemented_at": last.isoformat() + "Z"})
    assert implemented.status_code == 200, implemented.get_json()
    _change(client, engagement, client_h, provider_h, "Web chat channel", ("800.00", "99.95"), "approve")
    _change(client, engagement, client_h, provider_h, "Rejected: weekend IVR", ("1.00", "1.00"), "reject")
    _change(client, engagement, client_h, provider_h, "Awaiting a decision", ("2.00", "2.00"), None)

    body = client.get(f"/api/v1/engagements/{engagement.id}/commercial", headers=client_h).get_json()
    months = {m["month"]: m for m in body["months"]}
    # implemented last month: its prices from then; approved this month and not implemented yet: from this month
    assert (months[month_of(two_back)]["change_one_off"], months[month_of(two_back)]["change_monthly"]) == (
        "0.00", "0.00")
    assert months[month_of(last)]["charges"] == "182500.50"
    assert (months[month_of(last)]["change_one_off"], months[month_of(last)]["change_monthly"]) == (
        "12500.00", "3400.10")
    assert (months[this]["charges"], months[this]["change_one_off"], months[this]["change_monthly"]) == (
        None, "800.00", "3500.05")
    assert [(c["title"], c["status"], c["from_month"], c["monthly_price"]) for c in body["approved_changes"]] == [
        ("Vietnamese language line", "implemented", month_of(last), "3400.10"),
        ("Web chat channel", "approved", this, "99.95")]

    login(client, admin)
    page = client.get(f"/engagements/{engagement.id}/performance").get_data(as_text=True)
    assert "Changes monthly" in page and "3500.05" in page and "Vietnamese language line" in page
    assert "Rejected: weekend IVR" not in page and "Awaiting a decision" not in page
    exported = client.get(f"/engagements/{engagement.id}/commercial.csv")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(csv_text(exported.get_data(as_text=True)))))
    assert {r["month"]: r["change_monthly"] for r in rows}[month_of(last)] == "3400.10"
    book = load_workbook(io.BytesIO(client.get(f"/engagements/{engagement.id}/commercial.xlsx").data))
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    values = {r[0]: dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert Decimal(str(values[this]["change_monthly"])) == Decimal("3500.05")


def test_another_tenant_gets_the_same_404_for_the_export(client, make_user):
    admin = make_user("client_admin")
    engagement = create_accepted_engagement(admin, {
        "name": "Cards contact centre", "provider": "BPO A", "frameworks": ["CONTRACT"], "place": "NSW",
        "start_date": (dt.date.today() - dt.timedelta(days=30)).isoformat()})
    login(client, make_user("client_admin", org="Bank B"))
    foreign = client.get(f"/engagements/{engagement.id}/commercial.csv")
    missing = client.get("/engagements/99999999/commercial.csv")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.get_data() == missing.get_data()
