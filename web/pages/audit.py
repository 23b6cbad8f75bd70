"""An engagement's audit trail: filters (action, actor, dates), pages, and the CSV of what is filtered."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import peewee as pw
from flask import Response, render_template, request

from domain.errors import ValidationError
from domain.timeutil import isoformat_utc, local
from models import AuditEvent, Engagement
from services import scope
from services.audit import audit_log
from web import exports
from web.pages import PER_PAGE, bp, current, page_number

FILTERS = ("action", "actor", "from", "to")
CSV_HEADERS = ("id", "at_utc", "at_local", "actor", "action", "object_type", "object_id", "details", "prev_hash",
               "hash")


def _events(engagement_id: int, args: Mapping[str, str]) -> tuple[Engagement, pw.ModelSelect, pw.ModelSelect]:
    """The engagement, its events in the caller's scope, and those events filtered by ``args``."""
    user = current()
    engagement = scope.engagement_for(user, engagement_id)
    events = scope.audit_events_for(user).where(AuditEvent.engagement == engagement.id)
    return engagement, events, audit_log.filter_events(events, args, engagement.timezone)


@bp.route("/engagements/<int:engagement_id>/audit")
def audit_trail(engagement_id: int):
    filters = {name: request.args.get(name, "") for name in FILTERS}
    try:
        engagement, events, filtered = _events(engagement_id, request.args)
        error = None
    except ValidationError as exc:  # a bad date in the filter form: say so, show the unfiltered trail
        engagement, events, filtered = _events(engagement_id, {})
        error = exc
    total = filtered.count()
    pages = max(1, (total + PER_PAGE - 1) // PER_PAGE)
    page = min(page_number(), pages)
    return render_template("audit/events.html", engagement=engagement, rows=list(filtered.paginate(page, PER_PAGE)),
                           total=total, page=page, pages=pages, filters=filters, error=error,
                           actions=audit_log.actions_in(events),
                           # what the trail shown is filtered by: nothing when the filter was refused (the form
                           # keeps the input to correct; the count, pager and CSV link go by what is shown)
                           active={} if error else {k: v for k, v in filters.items() if v},
                           details_of=audit_log.details_of), 422 if error else 200


@bp.route("/engagements/<int:engagement_id>/audit.csv")
def audit_csv(engagement_id: int) -> Response:
    engagement, _, filtered = _events(engagement_id, request.args)
    tz = engagement.timezone
    rows = ((e.id, isoformat_utc(e.at), local(e.at, tz).isoformat(), e.actor_email, e.action, e.object_type,
             e.object_id, e.details, e.prev_hash, e.hash) for e in filtered.iterator())
    return exports.csv_download(f"audit-engagement-{engagement.id}-{dt.date.today().isoformat()}.csv",
                                CSV_HEADERS, rows)
