"""Integrations pages: the organisation's webhooks with their delivery log and a test button (admins), the
user's calendar feed; and the feed itself, ``GET /calendar/<secret>.ics``, which its secret authorises (a
calendar client has no session), served by its own blueprint."""
from __future__ import annotations

from flask import Blueprint, Response

from services.integrations import calendar
from web.auth import client_ip

feeds = Blueprint("calendar", __name__)


@feeds.route("/calendar/<secret>.ics")
def calendar_feed(secret: str) -> Response:
    user = calendar.user_for_secret(secret, ip=client_ip())
    return Response(calendar.ics(user), mimetype="text/calendar",
                    headers={"Cache-Control": "private, max-age=300",
                             "Content-Disposition": 'inline; filename="attest.ics"'})
