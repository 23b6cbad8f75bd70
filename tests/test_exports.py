"""Exports people open in Excel (SPEC: formula-safe): CSV quoting and typed XLSX cells, the SoA and request
status exports, which openpyxl loads."""
from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from models import Applicability
from tests.conftest import csv_text, login
from web.exports import safe_cell

TRICKY = ["=1+1", " =1+1", "\n=cmd|' /C calc'!A0", "\t=1", "\r=1", "\uff1dSUM(A1)", "  \uff0b1", "\uff20A1",
          "-2+3", "@SUM(A1)", "\u00a0=1"]


@pytest.mark.parametrize("value", TRICKY)
def test_formula_like_text_is_quoted_in_csv(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Plain", "  spaced text", "a=b", "100%", ""])
def test_plain_text_is_left_alone(value):
    assert safe_cell(value) == value


def test_soa_and_request_status_exports_are_safe_and_open(app, rights_world):
    engagement = rights_world["engagement"]
    first = Applicability.select().where(Applicability.engagement == engagement).order_by(Applicability.id).first()
    Applicability.update(justification=" =HYPERLINK(\"http://evil\")").where(Applicability.id == first.id).execute()
    browser = app.test_client()
    assert login(browser, rights_world["admin"]).status_code == 302
    body = browser.get(f"/engagements/{engagement.id}/soa.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(csv_text(body))))
    assert "' =HYPERLINK(\"http://evil\")" in [cell for row in rows for cell in row]
    book = load_workbook(io.BytesIO(browser.get(f"/engagements/{engagement.id}/soa.xlsx").data))
    cells = [c for row in book.active.iter_rows() for c in row if c.value == " =HYPERLINK(\"http://evil\")"]
    assert cells and all(c.data_type == "s" for c in cells)
    for suffix in ("csv", "xlsx"):
        response = browser.get(f"/engagements/{engagement.id}/requests.{suffix}?status=accepted")
        assert response.status_code == 200
    status_rows = list(csv.DictReader(io.StringIO(csv_text(
        browser.get(f"/engagements/{engagement.id}/requests.csv?status=accepted").get_data(as_text=True)))))
    assert status_rows and {r["status"] for r in status_rows} == {"accepted"}
    sheet = load_workbook(io.BytesIO(browser.get(f"/engagements/{engagement.id}/requests.xlsx").data)).active
    assert [c.value for c in sheet[1]][:2] == ["request_id", "control"] and sheet.max_row > 1
