"""Governance (SPEC §9): forums, meetings with their live agendas, holding, decisions and actions, the
cross-engagement action log, and priced change control."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from flask import Response, current_app, jsonify, request, url_for

from domain import governance as rules
from domain import governance_exit as exit_rules
from domain.errors import ValidationError
from domain.timeutil import isoformat_utc, local
from models import Action, ChangeRequest, Decision, Engagement, Forum, Meeting, PerformanceReport, utcnow
from services import scope
from services.auditors import reports
from services.governance import changes, exit_readiness, forums, meetings
from web import openapi as oas
from web.api import json_body, paginate, route
from web.auth import api_user, client_ip

EMAILS = {"type": "array", "items": oas.STRING}
NULL_STRING = oas.NULLABLE_STRING
MONEY = {"type": ["string", "null"], "pattern": r"^-?\d+\.\d{2}$", "description": "Exact decimal, two places."}
AGENDA_SECTION = oas._object({"count": {"type": "integer"}, "items": {"type": "array", "items": {"type": "object"}}})
AGENDA_SECTIONS = ("kpi_results", "overdue_requests", "findings", "actions", "escalated_actions", "clocks",
                   "change_requests", "subcontractor_proposals", "stale_exit_items")
oas.register_schemas({
    "Forum": oas._object({
        "id": {"type": "integer"}, "engagement": {"type": "integer"}, "name": oas.STRING,
        "tier": {"type": "string", "enum": list(rules.TIERS)},
        "cadence": {**oas.STRING, "description": "P1W, P1M, P3M or an RRULE, counted from anchor."},
        "anchor": oas.DATE, "chair": NULL_STRING, "members": EMAILS, "next_meeting_at": NULL_STRING,
    }, description="A governance forum of an engagement."),
    "NewForum": {"type": "object", "required": ["name", "tier", "cadence"],
                 "properties": {"name": oas.STRING, "tier": {"type": "string", "enum": list(rules.TIERS)},
                                "cadence": oas.STRING, "anchor": oas.DATE, "chair": oas.STRING, "members": EMAILS}},
    "ForumChange": {"type": "object",
                    "properties": {"name": oas.STRING, "tier": {"type": "string", "enum": list(rules.TIERS)},
                                   "cadence": oas.STRING, "anchor": oas.DATE, "chair": NULL_STRING,
                                   "members": EMAILS}, "additionalProperties": False},
    "Agenda": {"type": "object", "properties": {"built_at": NULL_STRING,
                                                **{name: AGENDA_SECTION for name in AGENDA_SECTIONS}}},
    "Decision": oas._object({"id": {"type": "integer"}, "meeting": {"type": "integer"},
                             "kind": {"type": "string", "enum": list(rules.DECISION_KINDS)}, "text": oas.STRING,
                             "created_at": oas.INSTANT}),
    "NewDecision": {"type": "object", "required": ["kind", "text"],
                    "properties": {"kind": {"type": "string", "enum": list(rules.DECISION_KINDS)},
                                   "text": oas.STRING}},
    "Action": oas._object({
        "id": {"type": "integer"}, "meeting": {"type": "integer"}, "engagement": {"type": "integer"},
        "tier": oas.STRING, "title": oas.STRING, "owner": oas.STRING, "due_date": oas.DATE,
        "status": {"type": "string", "enum": list(rules.ACTION_TRANSITIONS)},
        "finding": {"type": ["integer", "null"]}, "kpi": oas.STRING, "overdue": {"type": "boolean"},
        "escalated_at": NULL_STRING}, description="An action raised at a meeting."),
    "NewAction": {"type": "object", "required": ["title", "owner", "due_date"],
                  "properties": {"title": oas.STRING, "owner": {**oas.STRING, "description": "A user's e-mail."},
                                 "due_date": oas.DATE, "finding_id": {"type": "integer"}, "kpi": oas.STRING}},
    "ActionChange": {"type": "object", "additionalProperties": False,
                     "properties": {"status": {"type": "string", "enum": ["done", "cancelled"]},
                                    "title": oas.STRING, "owner": oas.STRING, "due_date": oas.DATE}},
    "Meeting": oas._object({
        "id": {"type": "integer"}, "forum": {"type": "integer"}, "forum_name": oas.STRING, "tier": oas.STRING,
        "engagement": {"type": "integer"}, "scheduled_for": oas.INSTANT, "scheduled_local": oas.STRING,
        "status": {"type": "string", "enum": list(rules.MEETING_TRANSITIONS)}, "held_at": NULL_STRING,
        "attendees": EMAILS, "minutes_evidence_id": {"type": ["integer", "null"]},
        "minutes_request_id": {"type": ["integer", "null"],
                               "description": "The SP-07 review-minutes request of the meeting's period."},
        "cancelled_at": NULL_STRING, "cancel_reason": NULL_STRING,
        "agenda": oas.ref("Agenda"), "decisions": {"type": "array", "items": oas.ref("Decision")},
        "actions": {"type": "array", "items": oas.ref("Action")}},
        optional=("agenda", "decisions", "actions"), description="A meeting with its agenda."),
    "NewMeeting": {"type": "object", "required": ["scheduled_for"],
                   "properties": {"scheduled_for": oas.INSTANT}},
    "CancelledMeeting": {"type": "object", "required": ["reason"], "properties": {"reason": oas.STRING}},
    "HeldMeeting": {"type": "object", "required": ["attendees", "minutes_evidence_id"],
                    "properties": {"held_at": oas.INSTANT, "attendees": EMAILS,
                                   "minutes_evidence_id": {"type": "integer"}}},
    "ChangeRequest": oas._object({
        "id": {"type": "integer"}, "engagement": {"type": "integer"}, "title": oas.STRING,
        "kind": {"type": "string", "enum": list(rules.CHANGE_KINDS)}, "description": oas.STRING,
        "status": {"type": "string", "enum": list(rules.CHANGE_STATES)}, "proposed_side": oas.STRING,
        "proposed_at": oas.INSTANT, "one_off_price": MONEY, "monthly_price": MONEY, "fte_impact": MONEY,
        "kpi_impact": oas.STRING, "priced_at": NULL_STRING, "decided_at": NULL_STRING, "decision_reason": oas.STRING,
        "significant": {"type": "boolean"}, "implemented_at": NULL_STRING,
        "change_event": {"type": ["integer", "null"]},
        "requests": {"type": "array", "items": {"type": "integer"}}},
        optional=("requests",), description="A priced change request."),
    "NewChangeRequest": {"type": "object", "required": ["title", "kind"],
                         "properties": {"title": oas.STRING, "kind": {"type": "string",
                                                                      "enum": list(rules.CHANGE_KINDS)},
                                        "description": oas.STRING}},
    "ChangeRequestPrice": {"type": "object", "required": ["one_off_price", "monthly_price"],
                           "properties": {"one_off_price": oas.STRING, "monthly_price": oas.STRING,
                                          "fte_impact": oas.STRING, "kpi_impact": oas.STRING}},
    "ChangeRequestDecision": {"type": "object", "required": ["decision", "reason"],
                              "properties": {"decision": {"type": "string", "enum": ["approve", "reject"]},
                                             "reason": oas.STRING}},
    "ChangeRequestImplemented": {"type": "object",
                                 "properties": {"implemented_at": oas.INSTANT, "significant": {"type": "boolean"}}},
    "ExitReadiness": oas._object({
        "engagement": {"type": "integer"},
        "readiness": {"type": ["integer", "null"], "description": "Per cent of the exit items that are current."},
        "items": {"type": "array", "items": oas._object({
            "control": oas.STRING, "title": oas.STRING, "state": {"type": "string", "enum": list(exit_rules.STATES)},
            "valid_until": {"type": ["string", "null"], "format": "date"},
            "evidence_id": {"type": ["integer", "null"]}, "request_id": {"type": ["integer", "null"]}})},
        "trend": {"type": "array", "items": oas._object({"date": oas.DATE,
                                                           "readiness": {"type": ["integer", "null"]}})},
    }, description="Exit readiness: each exit item current, stale or missing, and the readiness figure."),
    "NewPerformanceReport": {"type": "object", "required": ["period_start", "period_end"],
                             "properties": {"period_start": oas.DATE, "period_end": oas.DATE,
                                            "meeting_id": {"type": "integer",
                                                           "description": "The executive meeting it is made for."}}},
    "PerformanceReport": oas._object({
        "id": {"type": "integer"}, "engagement": {"type": "integer"}, "meeting": {"type": ["integer", "null"]},
        "period_start": oas.DATE, "period_end": oas.DATE,
        "status": {"type": "string", "enum": ["queued", "building", "ready", "failed"]},
        "progress": {"type": "integer", "minimum": 0, "maximum": 100}, "error": oas.STRING,
        "created_at": oas.INSTANT, "finished_at": NULL_STRING, "pdf_sha256": NULL_STRING,
        "xlsx_sha256": NULL_STRING, "file_url": NULL_STRING, "xlsx_url": NULL_STRING},
        description="The performance report of a period, built like a pack."),
    "ReportFile": {"type": "object", "description": "The report's PDF (application/pdf) or workbook, not JSON."},
}, pages=("Forum", "Meeting", "Action", "ChangeRequest", "PerformanceReport"))
oas.register_parameters({
    "action_status": {"description": "Only actions in this status.",
                      "schema": {"type": "string", "enum": list(rules.ACTION_TRANSITIONS)}},
    "report_status": {"name": "status", "description": "Only reports in this status.",
                      "schema": {"type": "string", "enum": ["queued", "building", "ready", "failed"]}},
    "tier": {"description": "Only this forum tier.", "schema": {"type": "string", "enum": list(rules.TIERS)}},
    "action_owner": {"description": "Only actions owned by this e-mail address.", "schema": oas.STRING},
    "overdue": {"description": "true: only open actions past their due date.", "schema": {"type": "boolean"}},
    "format": {"description": "xlsx: the workbook instead of the PDF.", "schema": {"type": "string",
                                                                                  "enum": ["pdf", "xlsx"]}},
    "change_status": {"description": "Only change requests in this state.",
                      "schema": {"type": "string", "enum": list(rules.CHANGE_STATES)}},
})


# --------------------------------------------------------------------------- serialisers

def forums_json(rows: list[Forum]) -> list[dict]:
    members = forums.members_of([f.id for f in rows])
    chairs = {u.id: u.email for users in members.values() for u in users}
    return [{"id": f.id, "engagement": f.engagement_id, "name": f.name, "tier": f.tier, "cadence": f.cadence,
             "anchor": f.anchor.isoformat(), "chair": chairs.get(f.chair_id),
             "members": [u.email for u in members[f.id]],
             "next_meeting_at": isoformat_utc(f.next_check_at)} for f in rows]


def action_json(a: Action, tz: str) -> dict:
    return {"id": a.id, "meeting": a.meeting_id, "engagement": a.engagement_id, "tier": a.tier, "title": a.title,
            "owner": a.owner.email, "due_date": a.due_date.isoformat(), "status": a.status, "finding": a.finding_id,
            "kpi": a.kpi, "overdue": rules.is_overdue(a.status, a.due_date, local_today(tz)),
            "escalated_at": isoformat_utc(a.escalated_at)}


def local_today(tz: str) -> dt.date:
    return local(utcnow(), tz).date()


def decision_json(d: Decision) -> dict:
    return {"id": d.id, "meeting": d.meeting_id, "kind": d.kind, "text": d.text,
            "created_at": isoformat_utc(d.created_at)}


def meeting_json(m: Meeting, forum: Forum, engagement: Engagement, *, full: bool = False) -> dict:
    out = {"id": m.id, "forum": forum.id, "forum_name": forum.name, "tier": forum.tier, "engagement": engagement.id,
           "scheduled_for": isoformat_utc(m.scheduled_for),
           "scheduled_local": local(m.scheduled_for, engagement.timezone).isoformat(), "status": m.status,
           "held_at": isoformat_utc(m.held_at), "attendees": json.loads(m.attendees or "[]"),
           "minutes_evidence_id": m.minutes_id, "cancelled_at": isoformat_utc(m.cancelled_at),
           "cancel_reason": m.cancel_reason}
    minutes_request = meetings.minutes_request(m, engagement) if full else None
    out["minutes_request_id"] = minutes_request.id if minutes_request else None
    if full:
        out["agenda"] = meetings.agenda_of(m, forum, engagement)
        out["decisions"] = [decision_json(d) for d in meetings.decisions_of(m)]
        out["actions"] = [action_json(a, engagement.timezone) for a in meetings.actions_of(m)]
    return out


def _money(value) -> str | None:
    return None if value is None else str(Decimal(value).quantize(rules.CENT))


def change_request_json(c: ChangeRequest, opened: list[int] | None = None) -> dict:
    out = {"id": c.id, "engagement": c.engagement_id, "title": c.title, "kind": c.kind, "description": c.description,
           "status": c.status, "proposed_side": c.proposed_side, "proposed_at": isoformat_utc(c.proposed_at),
           "one_off_price": _money(c.one_off_price), "monthly_price": _money(c.monthly_price),
           "fte_impact": _money(c.fte_impact), "kpi_impact": c.kpi_impact, "priced_at": isoformat_utc(c.priced_at),
           "decided_at": isoformat_utc(c.decided_at), "decision_reason": c.decision_reason,
           "significant": c.significant, "implemented_at": isoformat_utc(c.implemented_at),
           "change_event": c.change_event_id}
    if opened is not None:
        out["requests"] = opened
    return out


def _meeting_response(meeting_id: int) -> dict:
    meeting = scope.meeting_for(api_user(), meeting_id)
    forum = Forum.get_by_id(meeting.forum_id)
    return meeting_json(meeting, forum, Engagement.get_by_id(meeting.engagement_id), full=True)


# --------------------------------------------------------------------------- forums

def _governed_engagement(engagement_id: int) -> Engagement:
    return scope.engagement_for(api_user(), engagement_id, "governance")


@route("/engagements/<int:engagement_id>/forums", summary="The engagement's governance forums",
       params=("page", "per_page"), response="ForumPage", errors=(400, 404))
def engagement_forums(engagement_id: int):
    return paginate(forums.forums_of(_governed_engagement(engagement_id)), forums_json)


@route("/engagements/<int:engagement_id>/forums", methods=("POST",), status=201,
       summary="Add a forum (client_admin or provider_admin)", body="NewForum", response="Forum",
       errors=(404, 409, 422))
def create_forum(engagement_id: int):
    forum = forums.create_forum(api_user(), engagement_id, json_body(), ip=client_ip())
    return jsonify(forums_json([forum])[0]), 201


@route("/forums/<int:forum_id>", methods=("PATCH",), summary="Edit a forum: name, tier, cadence, chair, members",
       body="ForumChange", response="Forum", errors=(404, 409, 422))
def update_forum(forum_id: int):
    forum = forums.update_forum(api_user(), forum_id, json_body(), ip=client_ip())
    return jsonify(forums_json([forum])[0])


# --------------------------------------------------------------------------- meetings

@route("/forums/<int:forum_id>/meetings", summary="The forum's meetings, latest first",
       params=("page", "per_page"), response="MeetingPage", errors=(400, 404))
def forum_meetings(forum_id: int):
    forum = scope.forum_for(api_user(), forum_id)
    engagement = Engagement.get_by_id(forum.engagement_id)
    return paginate(meetings.meetings_of(forum), lambda rows: [meeting_json(m, forum, engagement) for m in rows])


@route("/forums/<int:forum_id>/meetings", methods=("POST",), status=201,
       summary="Schedule an extra meeting of the forum", body="NewMeeting", response="Meeting",
       errors=(404, 409, 422))
def schedule_meeting(forum_id: int):
    meeting = meetings.schedule_extra(api_user(), forum_id, json_body(), ip=client_ip())
    return jsonify(_meeting_response(meeting.id)), 201


@route("/meetings/<int:meeting_id>", summary="A meeting with its agenda (live until held), decisions and actions",
       response="Meeting", errors=(404,))
def meeting(meeting_id: int):
    return jsonify(_meeting_response(meeting_id))


@route("/meetings/<int:meeting_id>/held", methods=("POST",),
       summary="Record the meeting as held: held_at, attendees, minutes (an evidence item of the engagement)",
       body="HeldMeeting", response="Meeting", errors=(404, 409, 422))
def hold_meeting(meeting_id: int):
    meetings.hold_meeting(api_user(), meeting_id, json_body(), ip=client_ip())
    return jsonify(_meeting_response(meeting_id))


@route("/meetings/<int:meeting_id>/cancel", methods=("POST",),
       summary="Cancel a scheduled meeting with a reason: its agenda is kept, the forum's next meeting is still "
               "scheduled on its cadence, calendars show it cancelled", body="CancelledMeeting", response="Meeting",
       errors=(404, 409, 422))
def cancel_meeting(meeting_id: int):
    meetings.cancel_meeting(api_user(), meeting_id, json_body(), ip=client_ip())
    return jsonify(_meeting_response(meeting_id))


@route("/meetings/<int:meeting_id>/decisions", methods=("POST",), status=201, summary="Record a decision",
       body="NewDecision", response="Decision", errors=(404, 409, 422))
def add_decision(meeting_id: int):
    return jsonify(decision_json(meetings.add_decision(api_user(), meeting_id, json_body(), ip=client_ip()))), 201


@route("/meetings/<int:meeting_id>/actions", methods=("POST",), status=201,
       summary="Raise an action with its owner and due date", body="NewAction", response="Action",
       errors=(404, 409, 422))
def add_action(meeting_id: int):
    action = meetings.add_action(api_user(), meeting_id, json_body(), ip=client_ip())
    return jsonify(_action_response(action.id)), 201


def _action_response(action_id: int) -> dict:
    action = scope.action_for(api_user(), action_id)
    return action_json(action, Engagement.get_by_id(action.engagement_id).timezone)


@route("/actions/<int:action_id>", methods=("PATCH",), summary="Close an action or change it while open",
       body="ActionChange", response="Action", errors=(404, 409, 422))
def update_action(action_id: int):
    meetings.update_action(api_user(), action_id, json_body(), ip=client_ip())
    return jsonify(_action_response(action_id))


@route("/actions", summary="The action log across the caller's engagements, soonest due first",
       params=("engagement", "action_status", "tier", "action_owner", "overdue", "page", "per_page"),
       response="ActionPage", errors=(400, 422))
def action_log():
    args = {k: request.args.get(k, "") for k in ("engagement", "tier", "overdue")}
    args["status"], args["owner"] = request.args.get("action_status", ""), request.args.get("action_owner", "")
    query = meetings.action_log(api_user(), args)
    return paginate(query, lambda rows: [action_json(a, a.engagement.timezone) for a in rows])


# --------------------------------------------------------------------------- change control

@route("/engagements/<int:engagement_id>/change-requests", summary="The engagement's change requests, newest first",
       params=("change_status", "page", "per_page"), response="ChangeRequestPage", errors=(400, 404))
def change_requests(engagement_id: int):
    engagement = _governed_engagement(engagement_id)
    status = request.args.get("change_status", "")
    if status and status not in rules.CHANGE_STATES:
        raise ValidationError(f"change_status must be one of {', '.join(rules.CHANGE_STATES)}", field="change_status")
    query = changes.change_requests_of(engagement, status)
    return paginate(query, lambda rows: [change_request_json(c) for c in rows])


@route("/engagements/<int:engagement_id>/change-requests", methods=("POST",), status=201,
       summary="Propose a change request (either side)", body="NewChangeRequest", response="ChangeRequest",
       errors=(404, 409, 422))
def propose_change_request(engagement_id: int):
    return jsonify(change_request_json(changes.propose(api_user(), engagement_id, json_body(), ip=client_ip()))), 201


@route("/change-requests/<int:change_request_id>", summary="One change request", response="ChangeRequest",
       errors=(404,))
def change_request(change_request_id: int):
    return jsonify(change_request_json(scope.change_request_for(api_user(), change_request_id)))


@route("/change-requests/<int:change_request_id>/price", methods=("POST",),
       summary="The provider prices a proposed change (exact decimals)", body="ChangeRequestPrice",
       response="ChangeRequest", errors=(404, 409, 422))
def price_change_request(change_request_id: int):
    return jsonify(change_request_json(changes.price(api_user(), change_request_id, json_body(), ip=client_ip())))


@route("/change-requests/<int:change_request_id>/decision", methods=("POST",),
       summary="The client approves or rejects a priced change with a reason, once", body="ChangeRequestDecision",
       response="ChangeRequest", errors=(404, 409, 422))
def decide_change_request(change_request_id: int):
    return jsonify(change_request_json(changes.decide(api_user(), change_request_id, json_body(), ip=client_ip())))


@route("/change-requests/<int:change_request_id>/implemented", methods=("POST",),
       summary="Record an approved change as implemented; significant: records the significant_change event",
       body="ChangeRequestImplemented", response="ChangeRequest", errors=(404, 409, 422))
def implemented_change_request(change_request_id: int):
    row, opened = changes.implemented(api_user(), change_request_id, json_body(), ip=client_ip())
    return jsonify(change_request_json(row, opened))


# --------------------------------------------------------------------------- exit readiness

@route("/engagements/<int:engagement_id>/exit-readiness",
       summary="The exit items (current, stale or missing), the readiness figure and its monthly trend",
       response="ExitReadiness", errors=(404,))
def engagement_exit_readiness(engagement_id: int):
    engagement = _governed_engagement(engagement_id)
    items = exit_readiness.exit_items(engagement)
    return jsonify({"engagement": engagement.id, "readiness": exit_rules.readiness([i.state for i in items]),
                    "items": [{"control": i.control, "title": i.title, "state": i.state,
                               "valid_until": i.valid_until.isoformat() if i.valid_until else None,
                               "evidence_id": i.evidence_id, "request_id": i.request_id} for i in items],
                    "trend": [{"date": day.isoformat(), "readiness": figure}
                              for day, figure in exit_readiness.trend(engagement)]})


# --------------------------------------------------------------------------- the performance report

def report_json(r: PerformanceReport) -> dict:
    ready = r.status == "ready"
    return {"id": r.id, "engagement": r.engagement_id, "meeting": r.meeting_id,
            "period_start": r.period_start.isoformat(), "period_end": r.period_end.isoformat(), "status": r.status,
            "progress": r.progress, "error": r.error, "created_at": isoformat_utc(r.created_at),
            "finished_at": isoformat_utc(r.finished_at), "pdf_sha256": r.pdf_sha256 or None,
            "xlsx_sha256": r.xlsx_sha256 or None,
            "file_url": url_for("api.report_file", report_id=r.id) if ready else None,
            "xlsx_url": url_for("api.report_file", report_id=r.id, format="xlsx") if ready else None}


@route("/engagements/<int:engagement_id>/reports", summary="The engagement's performance reports, newest first",
       params=("page", "per_page", "report_status"), response="PerformanceReportPage", errors=(400, 404, 422))
def engagement_reports(engagement_id: int):
    engagement = _governed_engagement(engagement_id)
    query = reports.reports_of(engagement, request.args.get("status", ""))
    return paginate(query, lambda rows: [report_json(r) for r in rows])


@route("/engagements/<int:engagement_id>/reports", methods=("POST",), status=202,
       summary="Request the performance report for a period (client side; built in the background)",
       body="NewPerformanceReport", response="PerformanceReport", errors=(404, 422))
def request_report(engagement_id: int):
    row = reports.request_report(api_user(), engagement_id, json_body(), ip=client_ip())
    return jsonify(report_json(row)), 202, {"Location": url_for("api.performance_report", report_id=row.id)}


@route("/reports/<int:report_id>", summary="A performance report's status and progress",
       response="PerformanceReport", errors=(404,))
def performance_report(report_id: int):
    return jsonify(report_json(scope.performance_report_for(api_user(), report_id)))


@route("/reports/<int:report_id>/file", summary="The report's PDF, or with format=xlsx its workbook (404 until ready)",
       params=("format",), response="ReportFile", errors=(404,))
def report_file(report_id: int):
    fmt = "xlsx" if request.args.get("format") == "xlsx" else "pdf"
    row, handle, media_type = reports.report_file(api_user(), report_id, current_app.config["EVIDENCE_STORE"], fmt,
                                                  ip=client_ip())
    size = row.xlsx_size if fmt == "xlsx" else row.pdf_size
    return Response(handle, mimetype=media_type, direct_passthrough=True,
                    headers={"Content-Disposition": f'attachment; filename="performance-report-{row.id}.{fmt}"',
                             "Content-Length": str(size)})
