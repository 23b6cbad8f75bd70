"""Comments on an evidence request or one of its versions: the provider and the client ask and answer without
a rejection ("please add page 2"). Each comment notifies the other side's people once (in-app and by e-mail,
as each chooses) and is an audit event in the same transaction; comments are never edited or deleted.

Who may comment is who may see the request and is a party to the engagement (``scope.request_for`` with the
``comment`` action): client and provider roles; an auditor reads the thread but does not write in it.
"""
from __future__ import annotations

import datetime as dt

import peewee as pw

from domain.errors import ValidationError
from models import Evidence, RequestComment, User, transaction, utcnow
from services import scope
from services.audit import audit_log
from services.messages import notifications
from services.text import clean_text

BODY_LIMIT = 4000
# Who hears of a comment: the other side's people who work the request.
READERS = {"client": ("provider", ("provider_admin", "provider_contributor")),
           "provider": ("client", ("client_admin", "risk_reviewer"))}


def thread(user: User, request_id: int | str) -> pw.ModelSelect:
    """The request's comments, oldest first (whoever may see the request may read them)."""
    req = scope.request_for(user, request_id)
    return (RequestComment.select().where(RequestComment.request == req.id)
            .order_by(RequestComment.created_at, RequestComment.id))


def post(user: User, request_id: int | str, data: dict, *, ip: str = "",
         now: dt.datetime | None = None) -> RequestComment:
    """Add a comment (``body``; ``evidence_id`` to name one version of this request)."""
    req = scope.request_for(user, request_id, "comment")
    body = clean_text(data, "body", limit=BODY_LIMIT, multiline=True)
    evidence_id = _version_of(req.id, data.get("evidence_id"))
    side = "client" if user.role in scope.CLIENT_ROLES else "provider"
    now = now or utcnow()
    with transaction():
        comment = RequestComment.create(request=req.id, evidence=evidence_id, author=user, author_email=user.email,
                                        side=side, body=body, created_at=now)
        audit_log.record("request.comment", actor=user, object_type="evidence_request", object_id=req.id,
                         engagement=req.engagement_id, ip=ip,
                         details={"comment": comment.id, "evidence": evidence_id, "length": len(body)})
        _notify_other_side(req, comment, side, now)
    return comment


def _version_of(request_id: int, value) -> int | None:
    """The evidence item a comment names, which must be a version of this request."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    if not (text.isascii() and text.isdigit() and 0 < int(text) < 2**63) or not Evidence.select().where(
            Evidence.id == int(text), Evidence.request == request_id).exists():
        raise ValidationError("evidence_id must be a version of this request", field="evidence_id")
    return int(text)


def _notify_other_side(req, comment: RequestComment, side: str, now: dt.datetime) -> None:
    other, roles = READERS[side]
    readers = notifications.engagement_users([req.engagement_id], sides=(other,), roles=roles)[req.engagement_id]
    excerpt = comment.body if len(comment.body) <= 200 else comment.body[:197] + "…"
    notifications.notify(readers, "comment_posted", "evidence_request", req.id, f"comment-{comment.id}",
                         title=f"{comment.author_email} commented on {req.control.code}: {req.requirement.name}",
                         body=excerpt, link=f"/requests/{req.id}#comments", engagement_id=req.engagement_id,
                         now=now)
