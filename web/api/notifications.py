"""The caller's in-app notifications (SPEC §5 ``GET /notifications``, ``POST /notifications/<id>/read``)."""
from __future__ import annotations

from flask import jsonify, request

from domain.timeutil import isoformat_utc
from models.notifications import DELIVERY_MODES, NOTIFICATION_KINDS
from services.messages import notifications as notification_service
from web.api import json_body, paginate, route
from web.auth import api_user
from web.openapi import INSTANT, STRING, _object, register_parameters, register_schemas

register_schemas({
    "Notification": _object({
        "id": {"type": "integer"}, "kind": {"type": "string", "enum": list(NOTIFICATION_KINDS)},
        "object_type": STRING, "object_id": {"type": "integer"}, "occasion": STRING,
        "engagement_id": {"type": ["integer", "null"]}, "title": STRING, "body": STRING,
        "link": {"type": "string", "description": "A path in this application."}, "created_at": INSTANT,
        "read": {"type": "boolean"}, "read_at": {"type": ["string", "null"], "format": "date-time"},
    }),
    "NotificationSettings": _object({"mode": {"type": "string", "enum": list(DELIVERY_MODES),
                                              "description": "immediate: one e-mail each; digest: one a day."},
                                     "unread": {"type": "integer", "minimum": 0}}),
    "NotificationMode": {"type": "object", "required": ["mode"],
                         "properties": {"mode": {"type": "string", "enum": list(DELIVERY_MODES)}}},
}, pages=("Notification",))
register_parameters({"unread": {"description": "true: only unread notifications.",
                                "schema": {"type": "string", "enum": ["true", "false"]}}})


def notification_json(n) -> dict:
    return {"id": n.id, "kind": n.kind, "object_type": n.object_type, "object_id": n.object_id,
            "occasion": n.occasion, "engagement_id": n.engagement_id, "title": n.title, "body": n.body,
            "link": n.link, "created_at": isoformat_utc(n.created_at), "read": n.read_at is not None,
            "read_at": isoformat_utc(n.read_at)}


@route("/notifications", summary="The caller's notifications, newest first", params=("unread", "page", "per_page"),
       response="NotificationPage", errors=(400,))
def notifications():
    unread = request.args.get("unread") == "true"
    return paginate(notification_service.for_user(api_user(), unread_only=unread),
                    lambda rows: [notification_json(n) for n in rows])


@route("/notifications/<int:notification_id>/read", methods=("POST",), summary="Mark a notification read",
       response="Notification", errors=(400, 404))
def read_notification(notification_id: int):
    return jsonify(notification_json(notification_service.mark_read(api_user(), notification_id)))


def _settings(user) -> dict:
    return {"mode": notification_service.mode_of(user), "unread": notification_service.unread_count(user)}


@route("/notifications/settings", summary="The caller's delivery choice and unread count",
       response="NotificationSettings")
def notification_settings():
    return jsonify(_settings(api_user()))


@route("/notifications/settings", methods=("POST",), summary="Choose immediate e-mail or a daily digest",
       body="NotificationMode", response="NotificationSettings", errors=(400, 422))
def set_notification_settings():
    user = api_user()
    notification_service.set_mode(user, json_body().get("mode"))
    return jsonify(_settings(user))
