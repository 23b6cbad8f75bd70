"""The overdue dashboard (SPEC §5 ``GET /dashboard/overdue``)."""
from __future__ import annotations

from flask import jsonify, request

from domain.timeutil import isoformat_utc, local
from models.register import REQUEST_STATES
from services.register import dashboard
from web import openapi as oas
from web.api import page_args, route
from web.auth import api_user

INT = {"type": "integer", "minimum": 0}
oas.register_schemas({
    "OverdueItem": oas._object({
        "id": {"type": "integer"}, "engagement_id": {"type": "integer"}, "engagement": oas.STRING,
        "control": oas.STRING, "control_title": oas.STRING, "requirement": oas.STRING,
        "due_at": {**oas.INSTANT, "description": "UTC, with a Z suffix."},
        "due_local": {**oas.INSTANT, "description": "The same instant in the engagement's time zone."},
        "status": {"type": "string", "enum": list(REQUEST_STATES)},
        "days_overdue": {**INT, "description": "Whole days since the due instant (0 while not yet due)."},
        "days_to_due": {**INT, "description": "Whole days left until the due instant (0 once past)."},
        "owner": {**oas.NULLABLE_STRING, "description": "E-mail of the person who must deliver it."},
    }),
    "OverdueDashboard": {
        "description": "A page of overdue and due-soon requests, with the summary of all of them.",
        "allOf": [oas.ref("Page")],
        "properties": {
            "items": {"type": "array", "items": oas.ref("OverdueItem")},
            "window_days": {"type": "integer", "enum": list(dashboard.WINDOWS)},
            "summary": oas._object({
                "by_status": {"type": "object", "additionalProperties": INT,
                              "propertyNames": {"enum": list(REQUEST_STATES)}},
                "by_aging": oas._object({label: INT for label, _first, _last in dashboard.AGING},
                                        description="Overdue requests by whole days past due."),
                "by_engagement_framework": {"type": "array", "items": oas._object({
                    "engagement_id": {"type": "integer"}, "engagement": oas.STRING, "framework": oas.STRING,
                    "overdue": INT, "due_soon": INT})},
                "trend": {"type": "array", "items": oas._object({
                    "month": {"type": "string", "pattern": r"^\d{4}-\d{2}$"}, "accepted": INT, "overdue": INT}),
                    "description": "Requests due in each of the last 12 months: accepted, and still overdue."},
            }),
        },
        "unevaluatedProperties": False,
    },
})
oas.register_parameters({
    # described as h_evidence's review queue describes it (register_parameters refuses two meanings)
    "engagement": {"description": "Only this engagement (an id in the caller's scope).", "schema": {"type": "integer"}},
    "owner": {"description": "Only requests this person must deliver (their owner): a user id, or me.",
              "schema": {"type": "string", "pattern": "^(me|[1-9][0-9]*)$"}},
    "window": {"description": "Due soon means due within this many days.",
               "schema": {"type": "integer", "enum": list(dashboard.WINDOWS), "default": dashboard.DEFAULT_WINDOW}},
    "sort": {"description": "due (most overdue first), -due, engagement, control or status.",
             "schema": {"type": "string", "enum": list(dashboard.SORTS)}},
})


def item_json(r, now, owners: dict[int, str]) -> dict:
    return {"id": r.id, "engagement_id": r.engagement.id, "engagement": r.engagement.name,
            "control": r.control.code, "control_title": r.control.title, "requirement": r.requirement.name,
            "due_at": isoformat_utc(r.due_at), "due_local": local(r.due_at, r.engagement.timezone).isoformat(),
            "status": r.status, "days_overdue": dashboard.days_overdue(r.due_at, now),
            "days_to_due": dashboard.days_to_due(r.due_at, now), "owner": owners.get(r.id)}


@route("/dashboard/overdue", summary="Overdue and due-soon requests across the caller's engagements",
       params=("engagement", "framework", "control", "owner", "window", "sort", "page", "per_page"),
       response="OverdueDashboard", errors=(400, 422))
def overdue_dashboard():
    user = api_user()
    page, per_page = page_args()
    board = dashboard.overdue_dashboard(user, dashboard.parse_filters(user, request.args), page=page,
                                        per_page=per_page)
    owners = dashboard.owners_of(board.items)
    return jsonify({
        "items": [item_json(r, board.now, owners) for r in board.items], "page": page, "per_page": per_page,
        "total": board.total, "pages": -(-board.total // per_page), "window_days": board.filters.window,
        "summary": {"by_status": board.by_status, "by_aging": board.by_aging,
                    "by_engagement_framework": board.heatmap, "trend": board.trend}})
