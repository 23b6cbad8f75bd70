"""The overdue dashboard page (the risk team's landing) and its CSV / Excel exports."""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from flask import Response, render_template, request

from domain.errors import DomainError
from domain.timeutil import local
from services.performance import scorecard
from services.register import dashboard
from web import charts, exports
from web.pages import PER_PAGE, bp, current, page_number

HEATMAP_ROWS = 30  # engagements shown in the heat map (most overdue first); the API has them all
EXPORT_HEADERS = ("engagement", "control", "control_title", "requirement", "due_local", "status", "days_overdue",
                  "days_to_due", "owner", "request_id")


def _filters() -> tuple[dashboard.Filters, DomainError | None]:
    """The filters of the form, or the defaults with the error to show when a value is bad."""
    try:
        return dashboard.parse_filters(current(), request.args), None
    except DomainError as exc:
        return dashboard.Filters(), exc


def heatmap_rows(cells: list[dict], frameworks: list[str]) -> tuple[list[dict], int, int]:
    """Rows of the heat map (engagements by overdue count, at most HEATMAP_ROWS), the highest cell,
    and how many engagements were left out."""
    rows: dict[int, dict] = {}
    for cell in cells:
        row = rows.setdefault(cell["engagement_id"], {"id": cell["engagement_id"], "name": cell["engagement"],
                                                      "cells": {}, "overdue": 0})
        row["cells"][cell["framework"]] = cell
        row["overdue"] += cell["overdue"]
    ordered = sorted(rows.values(), key=lambda r: (-r["overdue"], r["name"]))
    highest = max((c["overdue"] for c in cells), default=0)
    return ordered[:HEATMAP_ROWS], highest, max(0, len(ordered) - HEATMAP_ROWS)


@bp.route("/dashboard")
def dashboard_page():
    user = current()
    filters, error = _filters()
    page = page_number()
    board = dashboard.overdue_dashboard(user, filters, page=page, per_page=PER_PAGE)
    frameworks = sorted({c["framework"] for c in board.heatmap})
    rows, highest, hidden = heatmap_rows(board.heatmap, frameworks)
    aging = charts.grouped_bars(list(board.by_aging), {"overdue": list(board.by_aging.values())}, height=180)
    trend = charts.grouped_bars([m["month"][2:] for m in board.trend],
                                {"accepted": [m["accepted"] for m in board.trend],
                                 "overdue": [m["overdue"] for m in board.trend]})
    return render_template(
        "dashboard/overdue.html", board=board, error=error, page=page,
        pages=max(1, -(-board.total // PER_PAGE)), owners=dashboard.owners_of(board.items),
        choices=dashboard.filter_choices(user), args=filters.as_args(), heat_frameworks=frameworks,
        heat_rows=rows, heat_highest=highest, heat_hidden=hidden, heat_level=charts.heat_level,
        aging_chart=aging, trend_chart=trend, days_overdue=dashboard.days_overdue,
        days_to_due=dashboard.days_to_due, kpi_misses=scorecard.misses_across(user, limit=10)), 422 if error else 200


def _export_rows() -> tuple[str, list[tuple]]:
    """Every overdue and due-soon request the filters select (not only one page), for a download."""
    user = current()
    filters = dashboard.parse_filters(current(), request.args)
    now = dashboard.utcnow()
    items = dashboard.all_items(user, filters, now)
    owners = dashboard.owners_of(items)
    rows = [(r.engagement.name, r.control.code, r.control.title, r.requirement.name,
             local(r.due_at, r.engagement.timezone), r.status,
             dashboard.days_overdue(r.due_at, now), dashboard.days_to_due(r.due_at, now),
             owners.get(r.id, ""), r.id) for r in items]
    return f"overdue-{dt.date.today().isoformat()}", rows


@bp.route("/dashboard.csv")
def dashboard_csv() -> Response:
    stem, rows = _export_rows()
    return exports.csv_download(f"{stem}.csv", EXPORT_HEADERS, rows)


@bp.route("/dashboard.xlsx")
def dashboard_xlsx() -> Response:
    stem, rows = _export_rows()
    return exports.xlsx_download(f"{stem}.xlsx", "Overdue and due soon", EXPORT_HEADERS, rows)


@bp.record_once
def _template_helpers(state) -> None:
    state.app.jinja_env.globals.update(days_overdue=dashboard.days_overdue, days_to_due=dashboard.days_to_due)
    state.app.jinja_env.filters["combine"] = combine
    state.app.jinja_env.filters["query_string"] = query_string


def combine(args: dict, **changes) -> dict:
    """Query arguments with some replaced (``args | combine(sort='due')``); a changed filter goes back to page 1."""
    merged = {k: v for k, v in args.items() if k != "page"} | changes
    return {k: v for k, v in merged.items() if v not in (None, "")}


def query_string(args: dict) -> str:
    """Query arguments encoded as ``url_for`` encodes them (Werkzeug's safe characters), for links that
    share one base URL (the heat map's cells)."""
    return urlencode(args, safe="!$'()*,/:;?@")
