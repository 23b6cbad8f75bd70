"""Integrations pages: the organisation's webhooks with their delivery log and a test button (its admins), the
user's calendar feed; and the feed itself, ``GET /calendar/<secret>.ics``, which its secret authorises (a
calendar client has no session), served by its own blueprint."""
from __future__ import annotations

import json

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from domain.errors import DomainError
from services import scope
from services.integrations import calendar, webhooks
from web.auth import client_ip
from web.pages import PER_PAGE, bp, current, page_number

feeds = Blueprint("calendar", __name__)


@feeds.route("/calendar/<secret>.ics")
def calendar_feed(secret: str) -> Response:
    """The feed; 304 without building it when the client's ETag names its current state, and the body built
    for this version already when there is one."""
    user = calendar.user_for_secret(secret, ip=client_ip())
    etag = calendar.version(user)
    headers = {"Cache-Control": "private, max-age=300", "ETag": f'"{etag}"'}
    if request.if_none_match.contains(etag):
        return Response(status=304, headers=headers)
    return Response(calendar.cached_ics(secret, user, etag), mimetype="text/calendar",
                    headers={**headers, "Content-Disposition": 'inline; filename="attest.ics"'})


# ------------------------------------------------------------------------------------------ webhooks

def _webhooks_page(*, secret: str | None = None, created=None, error: DomainError | None = None,
                   form: dict | None = None, status: int = 200):
    admin = scope.require_user_admin(current())
    return render_template("integrations/webhooks.html", rows=list(webhooks.list_endpoints(admin)),
                           events=webhooks.EVENTS, secret=secret, created=created, error=error,
                           form=form or {"url": "", "events": []}), status


@bp.route("/integrations/webhooks")
def webhooks_page():
    return _webhooks_page()


@bp.route("/integrations/webhooks", methods=["POST"])
def webhooks_create():
    form = {"url": request.form.get("url", ""), "events": request.form.getlist("events")}
    try:
        endpoint, secret = webhooks.create(current(), form["url"], form["events"], ip=client_ip())
    except DomainError as exc:
        return _webhooks_page(error=exc, form=form, status=exc.status)
    return _webhooks_page(secret=secret, created=endpoint)  # not a redirect: the secret is never stored in clear


@bp.route("/integrations/webhooks/<int:webhook_id>")
def webhook_page(webhook_id: int, secret: str | None = None):
    endpoint = scope.webhook_for(current(), webhook_id)
    query = webhooks.deliveries(current(), webhook_id)
    page = page_number()
    rows = list(query.paginate(page, PER_PAGE))
    attempts = webhooks.attempts_of(d.id for d in rows)
    titles = {d.id: json.loads(d.payload).get("data", {}).get("title", "") for d in rows}
    return render_template("integrations/webhook.html", hook=endpoint, rows=rows, attempts=attempts,
                           titles=titles, page=page, more=query.count() > page * PER_PAGE, secret=secret)


@bp.route("/integrations/webhooks/<int:webhook_id>/rotate", methods=["POST"])
def webhook_rotate(webhook_id: int):
    _endpoint, secret = webhooks.rotate_secret(current(), webhook_id, ip=client_ip())
    return webhook_page(webhook_id, secret=secret)  # not a redirect: the secret is never stored in clear


@bp.route("/integrations/webhooks/<int:webhook_id>/test", methods=["POST"])
def webhook_test(webhook_id: int):
    webhooks.send_test(current(), webhook_id, ip=client_ip())
    flash("A test event is queued: the next scheduler pass sends it; its attempt shows below.", "success")
    return redirect(url_for("pages.webhook_page", webhook_id=webhook_id))


@bp.route("/integrations/webhooks/<int:webhook_id>/delete", methods=["POST"])
def webhook_delete(webhook_id: int):
    endpoint = webhooks.delete(current(), webhook_id, ip=client_ip())
    flash(f"The webhook to {endpoint.url} is deleted: nothing more is sent to it.", "success")
    return redirect(url_for("pages.webhooks_page"))


# ------------------------------------------------------------------------------------------ calendar feed

def _calendar_page(*, url: str | None = None, error: DomainError | None = None, status: int = 200):
    return render_template("integrations/calendar.html", feeds=list(calendar.list_feeds(current())), url=url,
                           error=error), status


@bp.route("/integrations/calendar")
def calendar_page():
    return _calendar_page()


@bp.route("/integrations/calendar", methods=["POST"])
def calendar_create():
    try:
        _feed, secret = calendar.create(current(), ip=client_ip())
    except DomainError as exc:
        return _calendar_page(error=exc, status=exc.status)
    return _calendar_page(url=calendar.feed_url(secret))


@bp.route("/integrations/calendar/<int:feed_id>/revoke", methods=["POST"])
def calendar_revoke(feed_id: int):
    calendar.revoke(current(), feed_id, ip=client_ip())
    flash("Your calendar feed is revoked: its address no longer works.", "success")
    return redirect(url_for("pages.calendar_page"))
