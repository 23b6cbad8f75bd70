"""Tables as downloads people open in Excel: CSV and XLSX, both safe against formula injection.

CSV has no types, so text that starts like a formula gets a leading quote; in XLSX every text
cell is written as a string cell, which Excel never evaluates, so the text stays as it was.
Times: give a cell an aware local datetime (``domain.timeutil.local``) or a date. CSV writes it as ISO 8601 with
its offset; XLSX as a real Excel date/datetime (a number with a date format, so it sorts and filters as one) in
that local time, naive since Excel has no zones, the header naming the zone.
"Starts like a formula" looks past leading whitespace and line breaks (spreadsheets trim them before
parsing) and counts the full-width forms of = + - @ (some spreadsheets fold them to ASCII).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence

from flask import Response
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from web.redaction import reader_redactor

FORMULA_CHARACTERS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20\u2212")  # ＝ ＋ － ＠ and the minus sign
CONTROL_STARTS = ("\t", "\r", "\n")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def safe_cell(value: object) -> object:
    """A value a spreadsheet will show, never evaluate: text starting like a formula gets a quote."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if looks_like_formula(text) else text


def _csv_cell(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return safe_cell(value)


def looks_like_formula(text: str) -> bool:
    """Would a spreadsheet read this text as a formula (or a DDE/command line)?"""
    if text.startswith(CONTROL_STARTS):
        return True
    stripped = text.lstrip()
    return bool(stripped) and stripped[0] in FORMULA_CHARACTERS


def _attachment(body: bytes | str, mimetype: str, filename: str) -> Response:
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


BOM = "\ufeff"  # Excel reads a CSV as UTF-8 only when it starts with the byte order mark


def csv_download(filename: str, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> Response:
    """Every CSV export: UTF-8 with a BOM (so Excel shows "Müller" and "São Paulo", not mojibake), formula-safe."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out)
    writer.writerow(headers)
    writer.writerows([_csv_cell(v) for v in row] for row in rows)
    return _attachment(out.getvalue().encode("utf-8"), "text/csv; charset=utf-8", filename)


Sheet = tuple[str, Sequence[str], Iterable[Sequence[object]]]  # title, headers, rows
FORMATS = "<any(csv, xlsx):fmt>"  # the end of an export's route: one view serves ``….csv`` and ``….xlsx``


def table_download(fmt: str, stem: str, title: str, headers: Sequence[str],
                   rows: Iterable[Sequence[object]]) -> Response:
    """One table as ``<stem>.csv`` or ``<stem>.xlsx`` (``fmt``; the sheet is named ``title``)."""
    if fmt == "csv":
        return csv_download(f"{stem}.csv", headers, rows)
    return xlsx_download(f"{stem}.xlsx", title, headers, rows)


def xlsx_download(filename: str, title: str, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> Response:
    """One sheet with a bold, frozen, filterable header row and readable column widths."""
    return xlsx_sheets_download(filename, [(title, headers, rows)])


def xlsx_sheets_download(filename: str, sheets: Sequence[Sheet]) -> Response:
    """A workbook of several such sheets, in order."""
    book = Workbook()
    book.remove(book.active)
    for title, headers, rows in sheets:
        _fill_sheet(book.create_sheet(title[:31]), headers, rows)
    out = io.BytesIO()
    book.save(out)
    return _attachment(out.getvalue(), XLSX, filename)


DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DATE_FORMAT = "yyyy-mm-dd"


def _xlsx_cell(cell, value: object, zones: set[str]) -> None:
    """Text as text; a datetime as Excel's, in its local time (its zone goes to ``zones``); a date as a date."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            zones.add(str(value.tzinfo))
        cell.value = value.replace(tzinfo=None)
        cell.number_format = DATETIME_FORMAT
    elif isinstance(value, dt.date):
        cell.value = value
        cell.number_format = DATE_FORMAT
    else:
        cell.value = value
        if isinstance(value, str):
            cell.data_type = "s"  # text stays text: "=…" is shown, never evaluated, and keeps no quote


def _zone_header(header: str, zones: set[str]) -> str:
    if not zones:
        return header
    return f"{header} ({zones.pop()})" if len(zones) == 1 else f"{header} (each engagement's local time)"


def _fill_sheet(sheet, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    rewrite = reader_redactor() or (lambda text: text)  # an auditor's workbook names no framework outside its grant
    headers = [rewrite(h) for h in headers]
    sheet.append(headers)
    widths = [len(h) for h in headers]
    zones: list[set[str]] = [set() for _ in headers]
    for number, row in enumerate(rows, start=2):
        values = ["" if v is None else rewrite(v) if isinstance(v, str) else v for v in row]
        for column, value in enumerate(values, start=1):
            _xlsx_cell(sheet.cell(row=number, column=column), value, zones[column - 1])
        widths = [max(w, min(60, len(str(v)))) for w, v in zip(widths, values, strict=True)]
    for cell, column_zones in zip(sheet[1], zones, strict=True):
        cell.value = _zone_header(cell.value, column_zones)
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width + 2
