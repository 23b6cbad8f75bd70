"""Every page shows local time with its offset, never bare UTC: an engagement's times in its timezone, a user's
own (tokens, notifications, sign-ins, webhooks) in the timezone of the engagements they work on; CSV exports start
with the UTF-8 byte order mark Excel needs to read accents."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

from openpyxl import load_workbook

from domain.timeutil import local, local_text
from models import ApiToken, EvidenceRequest, Notification, User
from services.register.engagements import create_accepted_engagement
from tests.test_pages import signed_in, text

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def test_local_text_always_names_the_offset():
    summer = dt.datetime(2026, 1, 15, 23, 30)  # naive UTC
    assert local_text(summer, "Australia/Sydney") == "16 Jan 2026 10:30 AEDT (+11:00)"
    assert local_text(summer.replace(month=7), "Australia/Sydney") == "16 Jul 2026 09:30 AEST (+10:00)"
    assert local_text(summer, "Asia/Kolkata") == "16 Jan 2026 05:00 IST (+05:30)"
    assert local_text(summer, "Asia/Manila") == "16 Jan 2026 07:30 PST (+08:00)"
    assert local_text(summer, "America/Sao_Paulo") == "15 Jan 2026 20:30 (-03:00)"  # a zone named only by "-03"
    assert local_text(None, "Australia/Sydney") == ""


def test_no_template_renders_bare_utc():
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if re.search(r"\(UTC\)|\}\} UTC\b|datetime=\"\{\{[^}]*isoformat\(\) \}\}Z", line):
                offenders.append(f"{path.relative_to(TEMPLATES)}:{number}")
    assert not offenders, offenders


def test_tokens_users_and_notifications_pages_show_the_readers_local_time(app, make_user):
    admin = make_user("client_admin")
    create_accepted_engagement(
        admin, {"name": "Perth centre", "provider": "BPO A", "frameworks": ["CPS234"], "place": "WA",
                              "timezone": "Australia/Perth", "start_date": "2026-01-01"})
    moment = dt.datetime(2026, 3, 2, 1, 5)  # naive UTC: 09:05 in Perth (+08:00)
    ApiToken.create(user=admin, name="CI", token_hash="ab" * 32, prefix="att_abcd", created_at=moment,
                    last_used_at=moment)
    Notification.create(user=admin, kind="digest", object_type="engagement", object_id=1, occasion="x",
                        title="Weekly digest", created_at=moment)
    browser = signed_in(app, admin)
    User.update(last_login_at=moment).where(User.id == admin.id).execute()  # after the test's own sign-in
    for url in ("/tokens", "/users", "/notifications"):
        page = text(browser.get(url))
        assert "02 Mar 2026 09:05 AWST (+08:00)" in page, url
        assert "01:05" not in page and " UTC" not in page, url


def test_exports_write_real_local_dates_to_excel_and_a_bom_and_offsets_to_csv(app, make_user):
    admin = make_user("client_admin")
    engagement = create_accepted_engagement(
        admin, {"name": "Perth centre", "provider": "BPO A", "frameworks": ["CPS234"],
                                           "place": "WA", "timezone": "Australia/Perth", "start_date": "2026-01-01"})
    browser = signed_in(app, admin)
    raw = browser.get(f"/engagements/{engagement.id}/requests.csv").data
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads the file as UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    due = rows[0].index("due_local")
    first = EvidenceRequest.select().where(EvidenceRequest.engagement == engagement.id).order_by(
        EvidenceRequest.due_at, EvidenceRequest.id).first()
    assert rows[1][due].endswith("+08:00")
    book = load_workbook(io.BytesIO(browser.get(f"/engagements/{engagement.id}/requests.xlsx").data))
    sheet = book.active
    headers = [c.value for c in sheet[1]]
    column = next(i for i, h in enumerate(headers) if h.startswith("due_local"))
    assert headers[column] == "due_local (Australia/Perth)"
    period = headers.index("period_start")
    cells = {int(r[0].value): r for r in sheet.iter_rows(min_row=2)}
    cell = cells[first.id][column]
    assert cell.is_date and cell.number_format == "yyyy-mm-dd hh:mm"
    assert cell.value == local(first.due_at, "Australia/Perth").replace(tzinfo=None)
    assert cells[first.id][period].is_date and cells[first.id][period].value.date() == first.period_start
