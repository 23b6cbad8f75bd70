"""Evidence: streamed upload, metadata, download, review, withdraw; one request with its versions and
history; the review queue (SPEC §5)."""
from __future__ import annotations

from flask import g, jsonify, request, send_file

from domain.bulk import MAX_ITEMS
from domain.errors import ValidationError
from domain.evidence import MAX_FILES
from domain.timeutil import isoformat_utc
from models import Evidence, EvidenceFile, RequestComment, RequestHistory, utcnow
from models.evidence import EVIDENCE_STATES
from models.register import REQUEST_STATES
from services import scope
from services.evidence import comments, inbox
from services.evidence import evidence as evidence_service
from services.evidence.files import attach_files, file_url
from services.people import owners
from web import openapi as oas
from web.api import json_body, page_args, paginate, route
from web.api.engagements import request_json
from web.auth import api_user, client_ip, still_signed_in
from web.uploads import parse_upload, streamed_upload

oas.register_parameters({
    "engagement": {"description": "Only this engagement (an id in the caller's scope).", "schema": {"type": "integer"}},
    "disposition": {"description": "attachment (default), or inline for the viewer (PDF and images only; other "
                                   "types are still sent as attachments).",
                    "schema": {"type": "string", "enum": ["attachment", "inline"], "default": "attachment"}},
})

# The inline variant (the review page's viewer): framed by our own pages only, and sandboxed so that even a
# hostile PDF or image can run nothing and reach nothing.
INLINE_CSP = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; frame-ancestors 'self'"


def file_json(e: Evidence, f: EvidenceFile) -> dict:
    return {"id": f.id, "position": f.position, "sha256": f.sha256, "size": f.size, "media_type": f.media_type,
            "filename": f.original_filename, "url": file_url(e.id, f)}


def evidence_json(e: Evidence, uploader: str = "", reviewer: str | None = None) -> dict:
    """An item; its top-level file fields are its first file's, ``files`` lists every file of the submission
    (the item's ``file_rows``, set by the service)."""
    return {"id": e.id, "request_id": e.request_id, "engagement_id": e.engagement_id, "sha256": e.sha256,
            "size": e.size, "media_type": e.media_type, "filename": e.original_filename,
            "effective_date": e.effective_date.isoformat(),
            "valid_until": e.valid_until.isoformat() if e.valid_until else None,
            "version": e.version, "status": e.status, "note": e.note,
            "uploaded_by": uploader, "uploaded_at": isoformat_utc(e.uploaded_at),
            "reviewed_by": reviewer or None, "reviewed_at": isoformat_utc(e.reviewed_at),
            "review_comment": e.review_comment, "files": [file_json(e, f) for f in e.file_rows]}


def history_json(h: RequestHistory, emails: dict[int, str]) -> dict:
    return {"at": isoformat_utc(h.at), "subject": h.subject,
            "evidence_id": h.evidence_id, "from_status": h.from_status, "to_status": h.to_status,
            "actor": emails.get(h.actor_id, h.actor_email), "reason": h.reason}


@route("/engagements/<int:engagement_id>/evidence", methods=("POST",), status=201,
       summary="Upload evidence against one of the engagement's requests (multipart, streamed)",
       body="EvidenceUpload", body_type="multipart/form-data", response="Evidence",
       errors=(400, 404, 409, 413, 415, 422))
@streamed_upload
def upload_evidence(engagement_id: int):
    user = api_user()
    scope.engagement_for(user, engagement_id)  # another tenant's engagement: 404 before a byte is stored
    form = parse_upload(require_csrf=not _by_token(), max_files=MAX_FILES)
    created = evidence_service.upload(user, engagement_id, request_id=form.fields.get("request_id"),
                                      effective_date=form.fields.get("effective_date"),
                                      note=form.fields.get("note", ""), files=form.files, ip=client_ip(),
                                      still_authorised=still_signed_in)
    return jsonify(evidence_json(created, user.email)), 201


def _by_token() -> bool:
    return bool(g.get("auth_by_token"))


@route("/evidence/<int:evidence_id>", summary="One evidence item's metadata", response="Evidence",
       errors=(404,))
def evidence(evidence_id: int):
    item = evidence_service.evidence_detail(api_user(), evidence_id)
    return jsonify(evidence_json(item, item.uploader_email, item.reviewer_email))


@route("/evidence/<int:evidence_id>/file", summary="The evidence file (its first; an attachment; inline for the "
       "viewer)", params=("disposition",), response=oas.FILE, errors=(404, 422))
def evidence_file(evidence_id: int):
    return _send(evidence_id, None)


@route("/evidence/<int:evidence_id>/files/<int:file_id>/file",
       summary="One file of a submission (an attachment; inline for the viewer)", params=("disposition",),
       response=oas.FILE, errors=(404, 422))
def evidence_file_of(evidence_id: int, file_id: int):
    return _send(evidence_id, file_id)


def _send(evidence_id: int, file_id: int | None):
    disposition = request.args.get("disposition", "attachment")
    if disposition not in ("attachment", "inline"):
        raise ValidationError("disposition must be attachment or inline", field="disposition")
    download = evidence_service.open_download(api_user(), evidence_id, client_ip(),
                                              inline=disposition == "inline", file_id=file_id)
    response = send_file(download.handle, mimetype=download.media_type, as_attachment=not download.inline,
                         download_name=download.filename, conditional=False, etag=False, max_age=None)
    response.content_length = download.size
    response.headers["X-Content-Type-Options"] = "nosniff"
    if download.inline:
        response.headers["Content-Security-Policy"] = INLINE_CSP
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@route("/evidence/<int:evidence_id>/review", methods=("POST",), body="EvidenceReview", response="Evidence",
       summary="Accept or reject submitted evidence (client roles; a rejection needs a comment)",
       errors=(400, 404, 409, 422))
def review_evidence(evidence_id: int):
    user = api_user()
    data = json_body()
    item = evidence_service.review(user, evidence_id, data.get("decision"), data.get("comment"), ip=client_ip())
    return jsonify(_with_emails(item))


@route("/evidence/review", methods=("POST",), body="EvidenceBulkReview", response="EvidenceList",
       summary="Accept or reject several submitted items with one comment (client roles): each is its own audited "
       "decision; if one cannot be decided, none is (the error lists each)", errors=(400, 404, 409, 422))
def review_evidence_bulk():
    user = api_user()
    return jsonify({"items": [_with_emails(item) for item in evidence_service.review_many(user, json_body(),
                                                                                          ip=client_ip())]})


@route("/evidence/<int:evidence_id>/withdraw", methods=("POST",), body="EvidenceWithdrawal", response="Evidence",
       summary="Withdraw submitted evidence, with a reason (the uploading side); it is kept, marked withdrawn",
       errors=(400, 404, 409, 422))
def withdraw_evidence(evidence_id: int):
    user = api_user()
    item = evidence_service.withdraw(user, evidence_id, json_body().get("reason"), ip=client_ip())
    return jsonify(_with_emails(item))


def _with_emails(item: Evidence) -> dict:
    attach_files([item])
    emails = evidence_service.emails_of({item.uploaded_by_id, item.reviewed_by_id})
    return evidence_json(item, emails.get(item.uploaded_by_id, ""), emails.get(item.reviewed_by_id))


@route("/requests/<int:request_id>", summary="One evidence request with every version and its history",
       response="RequestDetail", errors=(404,))
def evidence_request(request_id: int):
    detail = evidence_service.request_detail(api_user(), request_id)
    req = detail.request
    return jsonify({
        **request_json(req, req.engagement.timezone),
        "engagement_id": req.engagement_id, "engagement": req.engagement.name,
        "produced_by": req.requirement.produced_by, "validity_days": req.requirement.validity_days,
        "versions": [evidence_json(v, v.uploader_email, v.reviewer_email) for v in detail.versions],
        "history": [history_json(h, detail.emails) for h in detail.history],
        "owner": detail.owner_email or None,
        "may_upload": detail.may_upload, "may_review": detail.may_review, "may_withdraw": detail.may_withdraw})


@route("/requests/<int:request_id>/owner", methods=("POST",), body="RequestOwnerInput", response="RequestOwner",
       summary="Name who must deliver the request (the client's risk team or the provider's admin); the new owner "
       "is notified once", errors=(400, 404, 422))
def assign_request_owner(request_id: int):
    req = owners.assign(api_user(), request_id, json_body(), ip=client_ip())
    return jsonify({"id": req.id, "owner": req.owner.email})


def comment_json(c: RequestComment) -> dict:
    return {"id": c.id, "request_id": c.request_id, "evidence_id": c.evidence_id, "author": c.author_email,
            "side": c.side, "body": c.body, "created_at": isoformat_utc(c.created_at)}


@route("/requests/<int:request_id>/comments", summary="The comments on a request and its versions, oldest first",
       params=("page", "per_page"), response="RequestCommentPage", errors=(400, 404))
def request_comments(request_id: int):
    thread = comments.thread(api_user(), request_id)
    return paginate(thread, lambda rows: [comment_json(c) for c in rows])


@route("/requests/<int:request_id>/comments", methods=("POST",), status=201, body="RequestCommentInput",
       response="RequestComment", summary="Comment on a request or one of its versions (client and provider roles); "
       "the other side is notified once", errors=(400, 404, 422))
def post_request_comment(request_id: int):
    comment = comments.post(api_user(), request_id, json_body(), ip=client_ip())
    return jsonify(comment_json(comment)), 201


@route("/review-queue", summary="Submitted evidence awaiting the caller's review, oldest first",
       params=("engagement", "framework", "control", "due", "owner", "page", "per_page"),
       response="ReviewQueueItemPage", errors=(400, 404, 422))
def review_queue():
    user = api_user()
    return paginate(inbox.review_queue(user, inbox.parse_filters(user, request.args)), _queue_json)


@route("/inbox", summary="What the caller owes evidence for: rejected (with the reason), overdue, then due soon",
       params=("engagement", "framework", "control", "due", "owner", "page", "per_page"), response="Inbox",
       errors=(400, 404, 422))
def inbox_list():
    user = api_user()
    page, per_page = page_args()
    now = utcnow()
    box = inbox.provider_inbox(user, inbox.parse_filters(user, request.args), page=page, per_page=per_page,
                               clamp=False, now=now)
    emails = evidence_service.emails_of({item.request.owner_id for item in box.items})
    return jsonify({"items": [_inbox_json(item, emails, now) for item in box.items], "page": page,
                    "per_page": per_page, "total": box.total, "pages": -(-box.total // per_page),
                    "counts": box.counts})


def _inbox_json(item: inbox.InboxItem, emails: dict[int, str], now) -> dict:
    r = item.request
    return {**request_json(r, r.engagement.timezone), "engagement_id": r.engagement_id,
            "engagement": r.engagement.name, "section": item.section, "rejection_reason": item.reason or None,
            "days_overdue": max(0, (now - r.due_at).days), "owner": emails.get(r.owner_id)}


def _queue_json(rows: list[Evidence]) -> list[dict]:
    attach_files(rows)
    emails = evidence_service.emails_of({e.uploaded_by_id for e in rows})
    return [{**evidence_json(e, emails.get(e.uploaded_by_id, "")), "engagement": e.engagement.name,
             "control": e.request.control.code, "control_title": e.request.control.title,
             "requirement": e.request.requirement.name, "due_at": isoformat_utc(e.request.due_at)} for e in rows]


# ------------------------------------------------------------------------------------------ OpenAPI

_ID = {"type": "integer"}
_STATES = sorted(set(REQUEST_STATES) | set(EVIDENCE_STATES))
_EMAIL = {"type": "string"}
_EVIDENCE = {
    "id": _ID, "request_id": _ID, "engagement_id": _ID,
    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "SHA-256 of the file's bytes."},
    "size": {"type": "integer", "minimum": 1, "description": "Bytes."},
    "media_type": {"type": "string", "description": "Sniffed from the content, one the requirement accepts."},
    "filename": {"type": "string", "description": "The original file name as sent (NFC); a name with a path "
                 "separator, a control or invisible formatting character, or over 200 characters is refused."},
    "effective_date": {**oas.DATE, "description": "When the evidence was produced."},
    "valid_until": {"type": ["string", "null"], "format": "date"},
    "version": {"type": "integer", "minimum": 1},
    "status": {"type": "string", "enum": list(EVIDENCE_STATES)},
    "note": oas.STRING,
    "uploaded_by": {**_EMAIL, "description": "The uploader's e-mail ('' if the user was removed)."},
    "uploaded_at": oas.INSTANT,
    "reviewed_by": {"type": ["string", "null"], "description": "The reviewer's e-mail."},
    "reviewed_at": {"type": ["string", "null"], "format": "date-time"},
    "review_comment": oas.STRING,
    "files": {"type": "array", "minItems": 1, "description": "Every file of the submission, in the order sent (the "
              "fields above describe the first); one version is reviewed as one.", "items": oas._object({
                  "id": _ID, "position": {"type": "integer", "minimum": 1},
                  "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "size": {"type": "integer", "minimum": 1},
                  "media_type": oas.STRING, "filename": oas.STRING,
                  "url": {"type": "string", "description": "Its download (GET, an attachment)."}})},
}
oas.register_schemas({
    "RequestComment": oas._object({
        "id": _ID, "request_id": _ID, "evidence_id": {"type": ["integer", "null"]},
        "author": {**_EMAIL, "description": "The author's e-mail."},
        "side": {"type": "string", "enum": ["client", "provider"]}, "body": oas.STRING, "created_at": oas.INSTANT}),
    "RequestCommentInput": oas._object({
        "body": {"type": "string", "minLength": 1, "maxLength": comments.BODY_LIMIT},
        "evidence_id": {"type": "integer", "description": "A version of this request the comment is about."}},
        optional=("evidence_id",)),
}, pages=("RequestComment",))
oas.register_schemas({
    "Evidence": oas._object(_EVIDENCE),
    "InboxItem": oas._object({
        **oas.SCHEMAS["EvidenceRequest"]["properties"], "engagement_id": _ID, "engagement": oas.STRING,
        "section": {"type": "string", "enum": list(inbox.SECTIONS)},
        "rejection_reason": {**oas.NULLABLE_STRING, "description": "The latest rejection's comment (rejected)."},
        "days_overdue": {"type": "integer", "minimum": 0},
        "owner": {**oas.NULLABLE_STRING, "description": "E-mail of the person who must deliver it."}}),
    "ReviewQueueItem": oas._object({**_EVIDENCE, "engagement": oas.STRING, "control": oas.STRING,
                                    "control_title": oas.STRING, "requirement": oas.STRING,
                                    "due_at": oas.INSTANT}),
    "EvidenceUpload": {
        "type": "object", "required": ["file", "request_id", "effective_date"],
        "description": "multipart/form-data. Send csrf_token before file (or an X-CSRFToken header) when signed in "
                       "with a browser session.",
        "properties": {
            "csrf_token": {"type": "string", "description": "Session uploads only; must precede the file part."},
            "request_id": {"type": "integer", "description": "An evidence request of this engagement."},
            "effective_date": {**oas.DATE, "description": "When the evidence was produced; not in the future."},
            "note": {"type": "string", "maxLength": evidence_service.MAX_NOTE},
            "file": {"type": "array", "minItems": 1, "maxItems": MAX_FILES,
                     "items": {"type": "string", "contentMediaType": "application/octet-stream"},
                     "description": "One or several file parts: one submission (one version, reviewed as one). "
                                    "All together at most MAX_UPLOAD_MB, each different; each type is sniffed "
                                    "from its content; one refused file stores none."},
        }},
    "EvidenceReview": {
        "type": "object", "required": ["decision"],
        "properties": {"decision": {"type": "string", "enum": ["accept", "reject"]},
                       "comment": {"type": "string", "maxLength": evidence_service.MAX_COMMENT,
                                   "description": "Required to reject: the reason the provider sees."}}},
    "EvidenceBulkReview": {
        "type": "object", "required": ["ids", "decision"],
        "properties": {"ids": {"type": "array", "minItems": 1, "maxItems": MAX_ITEMS, "uniqueItems": True,
                               "items": {"type": "integer", "minimum": 1}, "description": "Submitted evidence ids."},
                       "decision": {"type": "string", "enum": ["accept", "reject"]},
                       "comment": {"type": "string", "maxLength": evidence_service.MAX_COMMENT,
                                   "description": "One comment for every item; required to reject."}}},
    "EvidenceList": oas._object({"items": {"type": "array", "items": oas.ref("Evidence")}}),
    "EvidenceWithdrawal": {
        "type": "object", "required": ["reason"],
        "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": evidence_service.MAX_COMMENT}}},
    "RequestDetail": oas._object({
        **oas.SCHEMAS["EvidenceRequest"]["properties"],
        "engagement_id": _ID, "engagement": oas.STRING,
        "produced_by": {"type": "string", "enum": ["provider", "client"]},
        "validity_days": {"type": "integer", "minimum": 1},
        "versions": {"type": "array", "items": oas.ref("Evidence"), "description": "Newest first."},
        "history": {"type": "array", "description": "Every state change, oldest first.", "items": oas._object({
            "at": oas.INSTANT, "subject": {"type": "string", "enum": ["request", "evidence"]},
            "evidence_id": {"type": ["integer", "null"]},
            "from_status": {"type": "string", "enum": ["", *_STATES]},
            "to_status": {"type": "string", "enum": _STATES},
            "actor": oas.STRING, "reason": oas.STRING})},
        "owner": {**oas.NULLABLE_STRING, "description": "E-mail of the person who must deliver it."},
        "may_upload": {"type": "boolean"}, "may_review": {"type": "boolean"}, "may_withdraw": {"type": "boolean"},
    }, description="An evidence request, what it owes, every version and its history."),
}, pages=("ReviewQueueItem",))
oas.register_schemas({
    "RequestOwnerInput": oas._object({"owner": {
        "type": ["string", "integer"], "description": "The new owner's e-mail or user id: an active user of the party "
        "that delivers the request (the provider, or the client for the evidence only it holds)."}}),
    "RequestOwner": oas._object({"id": _ID, "owner": {**_EMAIL, "description": "The owner's e-mail."}}),
})
oas.register_schemas({"Inbox": {
    "description": "A page of the caller's inbox (the sections read one after the other), with the count of each "
                   "section over the filters.",
    "allOf": [oas.ref("Page")],
    "properties": {"items": {"type": "array", "items": oas.ref("InboxItem")},
                   "counts": oas._object({name: {"type": "integer", "minimum": 0} for name in inbox.SECTIONS})},
    "unevaluatedProperties": False}})
