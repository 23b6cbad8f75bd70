"""Governance pages: an engagement's forums, meetings and change requests; a meeting with its live agenda, the
holding form, decisions and actions; a change request with what its reader may do next; the action log across
engagements with its CSV/XLSX export."""
from __future__ import annotations

import datetime as dt
import json

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from icalendar import Calendar, Event

from domain import governance as rules
from domain import governance_exit as exit_rules
from domain.errors import DomainError
from domain.timeutil import local
from models import Engagement, Evidence, Forum, User, utcnow
from services import scope
from services.auditors import reports
from services.governance import changes, exit_readiness, forums, meetings
from services.governance.inputs import side_of
from web.auth import client_ip
from web.exports import FORMATS, table_download
from web.pages import PER_PAGE, bp, current, page_number

ACTION_HEADERS = ("Engagement", "Tier", "Action", "Owner", "Due", "Status", "Overdue", "Escalated", "Meeting")


def _engagement_people(engagement: Engagement) -> list[User]:
    return list(User.select().where(User.organisation.in_([engagement.client_id, engagement.provider_id]),
                                    User.active == True).order_by(User.email))  # noqa: E712


@bp.route("/engagements/<int:engagement_id>/governance", methods=["GET", "POST"])
def governance(engagement_id: int):
    user = current()
    engagement = scope.engagement_for(user, engagement_id, "governance")
    error, form, code = None, {}, 200
    if request.method == "POST":
        form = request.form
        try:
            row = changes.propose(user, engagement_id, {k: form.get(k, "") for k in ("title", "kind", "description")},
                                  ip=client_ip())
            flash(f"Change request “{row.title}” proposed.", "success")
            return redirect(url_for("pages.change_request_page", change_request_id=row.id))
        except DomainError as exc:
            error, code = exc, exc.status if exc.status != 404 else 422
    rows = list(forums.forums_of(engagement))
    return render_template(
        "governance/engagement.html", engagement=engagement, forums=rows,
        members=forums.members_of([f.id for f in rows]), upcoming=meetings.upcoming_meetings(engagement),
        recent=meetings.recent_meetings(engagement), change_requests=list(changes.change_requests_of(engagement)
                                                                          .limit(PER_PAGE)),
        monthly_total=changes.approved_monthly_total(engagement), kinds=rules.CHANGE_KINDS, error=error, form=form,
        can_manage=scope.permits(user, "manage_forum"), people=_engagement_people(engagement), tiers=rules.TIERS), code


@bp.route("/forums/<int:forum_id>", methods=["POST"])
def forum_edit(forum_id: int):
    user = current()
    row = scope.forum_for(user, forum_id)
    data = {k: request.form.get(k, "") for k in ("name", "cadence", "chair")}
    data["members"] = request.form.getlist("members")
    try:
        forums.update_forum(user, forum_id, data, ip=client_ip())
        flash("Forum updated.", "success")
    except DomainError as exc:
        flash(f"Forum not updated: {exc.message}", "error")
    return redirect(url_for("pages.governance", engagement_id=row.engagement_id))


def _meeting_page(meeting_id: int, error: DomainError | None = None, status: int = 200, form=None):
    user = current()
    meeting = scope.meeting_for(user, meeting_id)
    forum = Forum.get_by_id(meeting.forum_id)
    engagement = scope.engagement_for(user, meeting.engagement_id, "governance")
    minutes_request = meetings.minutes_request(meeting, engagement)
    candidates = list(Evidence.select().where(Evidence.engagement == engagement.id,
                                              Evidence.status.not_in(meetings.MINUTES_REFUSED))
                      .order_by((Evidence.request == (minutes_request.id if minutes_request else 0)).desc(),
                                Evidence.uploaded_at.desc()).limit(30))
    minutes = Evidence.get_or_none(Evidence.id == meeting.minutes_id) if meeting.minutes_id else None
    today = local(utcnow(), engagement.timezone).date()
    return render_template(
        "governance/meeting.html", meeting=meeting, forum=forum, engagement=engagement,
        agenda=meetings.agenda_of(meeting, forum, engagement), decisions=meetings.decisions_of(meeting),
        actions=meetings.actions_of(meeting), attendees=json.loads(meeting.attendees or "[]"), minutes=minutes,
        minutes_request=minutes_request, candidates=candidates, people=_engagement_people(engagement),
        decision_kinds=rules.DECISION_KINDS, error=error, form=form or {}, today=today,
        reports=reports.reports_of_meeting(meeting), can_report=scope.permits(user, "review")), status


@bp.route("/meetings/<int:meeting_id>")
def meeting_page(meeting_id: int):
    return _meeting_page(meeting_id)


MEETING_WRITES = {
    "held": lambda user, mid, form: meetings.hold_meeting(user, mid, {
        "held_at": form.get("held_at", ""), "attendees": form.getlist("attendees"),
        "minutes_evidence_id": form.get("minutes_evidence_id", "")}, ip=client_ip()),
    "decision": lambda user, mid, form: meetings.add_decision(user, mid, {
        "kind": form.get("kind", ""), "text": form.get("text", "")}, ip=client_ip()),
    "action": lambda user, mid, form: meetings.add_action(user, mid, {
        k: form.get(k, "") for k in ("title", "owner", "due_date", "finding_id", "kpi")}, ip=client_ip()),
    "cancel": lambda user, mid, form: meetings.cancel_meeting(user, mid, {"reason": form.get("reason", "")},
                                                              ip=client_ip()),
    "report": lambda user, mid, form: reports.request_report(user, scope.meeting_for(user, mid).engagement_id, {
        "period_start": form.get("period_start", ""), "period_end": form.get("period_end", ""),
        "meeting_id": mid}, ip=client_ip()),
}
MEETING_DONE = {"held": "Meeting recorded as held.", "decision": "Decision recorded.", "action": "Action raised.",
                "cancel": "Meeting cancelled.",
                "report": "Performance report requested: it is built in the background."}


@bp.route("/meetings/<int:meeting_id>/<any(held, decision, action, cancel, report):what>", methods=["POST"])
def meeting_write(meeting_id: int, what: str):
    user = current()
    scope.meeting_for(user, meeting_id)
    try:
        MEETING_WRITES[what](user, meeting_id, request.form)
    except DomainError as exc:
        return _meeting_page(meeting_id, exc, exc.status if exc.status != 404 else 422, request.form)
    flash(MEETING_DONE[what], "success")
    return redirect(url_for("pages.meeting_page", meeting_id=meeting_id))


@bp.route("/actions/<int:action_id>", methods=["POST"])
def action_close(action_id: int):
    user = current()
    action = scope.action_for(user, action_id)
    try:
        meetings.update_action(user, action_id, {"status": request.form.get("status", "")}, ip=client_ip())
        flash("Action updated.", "success")
    except DomainError as exc:
        flash(f"Action not updated: {exc.message}", "error")
    return redirect(request.form.get("next") if request.form.get("next") == url_for("pages.action_log_page")
                    else url_for("pages.meeting_page", meeting_id=action.meeting_id))


def _log_args() -> dict:
    return {k: request.args.get(k, "") for k in meetings.ACTION_FILTERS}


def _action_log_query(args: dict):
    try:
        return meetings.action_log(current(), args), None
    except DomainError as exc:
        return meetings.action_log(current(), {}), exc


@bp.route("/actions")
def action_log_page():
    args = _log_args()
    query, error = _action_log_query(args)
    page, total = page_number(), query.count()
    engagements = list(scope.engagements_for(current()).where(Engagement.id.in_(
        scope.governed_engagements(current()))).order_by(Engagement.name))
    return render_template("governance/actions.html", rows=list(query.paginate(page, PER_PAGE)), args=args,
                           error=error, page=page, pages=max(1, -(-total // PER_PAGE)), total=total,
                           engagements=engagements, tiers=rules.TIERS, states=tuple(rules.ACTION_TRANSITIONS),
                           today=utcnow().date())


@bp.route(f"/actions.{FORMATS}")
def action_log_export(fmt: str):
    query, _error = _action_log_query(_log_args())
    rows = [(a.engagement.name, a.tier, a.title, a.owner.email, a.due_date, a.status,
             "yes" if meetings.is_overdue(a, a.engagement) else "",
             local(a.escalated_at, a.engagement.timezone).date() if a.escalated_at else "", a.meeting_id)
            for a in query.limit(10000)]
    return table_download(fmt, "actions", "Actions", ACTION_HEADERS, rows)


@bp.route("/change-requests/<int:change_request_id>", methods=["GET", "POST"])
def change_request_page(change_request_id: int):
    user = current()
    row = scope.change_request_for(user, change_request_id)
    engagement = scope.engagement_for(user, row.engagement_id, "governance")
    error, code = None, 200
    if request.method == "POST":
        form = request.form
        step = form.get("step", "")
        try:
            if step == "price":
                changes.price(user, row.id, {k: form.get(k, "") for k in (
                    "one_off_price", "monthly_price", "fte_impact", "kpi_impact")}, ip=client_ip())
            elif step == "decision":
                changes.decide(user, row.id, {"decision": form.get("decision", ""), "reason": form.get("reason", "")},
                               ip=client_ip())
            elif step == "implemented":
                changes.implemented(user, row.id, {"significant": form.get("significant", "")}, ip=client_ip())
            else:
                raise DomainError("unknown step")
            flash("Change request updated.", "success")
            return redirect(url_for("pages.change_request_page", change_request_id=row.id))
        except DomainError as exc:
            error, code = exc, exc.status if exc.status != 404 else 422
        row = scope.change_request_for(user, change_request_id)
    return render_template("governance/change_request.html", row=row, engagement=engagement, side=side_of(user),
                           error=error), code


@bp.route("/engagements/<int:engagement_id>/exit-readiness")
def exit_readiness_page(engagement_id: int):
    engagement = scope.engagement_for(current(), engagement_id, "governance")
    items = exit_readiness.exit_items(engagement)
    return render_template("governance/exit.html", engagement=engagement, items=items,
                           readiness=exit_rules.readiness([i.state for i in items]),
                           trend=exit_readiness.trend(engagement))


@bp.route("/exit-readiness")
def exit_readiness_across():
    return render_template("governance/exit_across.html", rows=exit_readiness.readiness_across(current()),
                           states=exit_rules.STATES)


MEETING_LENGTH = dt.timedelta(hours=1)


@bp.route("/engagements/<int:engagement_id>/meetings.ics")
def meetings_calendar(engagement_id: int) -> Response:
    """The engagement's meetings as an RFC 5545 calendar (stable UIDs, times in UTC): scheduled and held, a
    year back."""
    engagement = scope.engagement_for(current(), engagement_id, "governance")
    calendar = Calendar()
    calendar.add("prodid", "-//Attest//Governance meetings//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"{engagement.name}: governance meetings")
    for meeting in meetings.calendar_meetings(engagement):
        event = Event()
        event.add("uid", f"meeting-{meeting.id}@attest")
        start = meeting.scheduled_for.replace(tzinfo=dt.UTC)
        event.add("dtstamp", meeting.created_at.replace(tzinfo=dt.UTC))
        event.add("dtstart", start)
        event.add("dtend", start + MEETING_LENGTH)
        event.add("summary", f"{meeting.forum.name} ({engagement.name})")
        event.add("status", "CANCELLED" if meeting.status == "cancelled" else "CONFIRMED")
        event.add("url", url_for("pages.meeting_page", meeting_id=meeting.id, _external=True))
        calendar.add_component(event)
    return Response(calendar.to_ical(), mimetype="text/calendar",
                    headers={"Content-Disposition": f'attachment; filename="meetings-{engagement.id}.ics"'})


@bp.route("/reports/<int:report_id>.<any(pdf, xlsx):fmt>")
def report_download(report_id: int, fmt: str) -> Response:
    row, handle, media_type = reports.report_file(current(), report_id, current_app.config["EVIDENCE_STORE"], fmt,
                                                  ip=client_ip())
    return Response(handle, mimetype=media_type, direct_passthrough=True,
                    headers={"Content-Disposition": f'attachment; filename="performance-report-{row.id}.{fmt}"'})
