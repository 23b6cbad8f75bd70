"""Evidence pages: a page per request (versions, history, upload, review, withdraw), the provider's
"What is due" inbox, the review queue and its side-by-side viewer. Thin: services.evidence.evidence does the work
(and services.scope decides who may do what).

The upload form posts a plain multipart form (works without JavaScript); static/upload.js enhances it
with drag-and-drop and a progress bar per file, sending each file to the API with the X-CSRFToken header.
"""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from domain.errors import DomainError
from models import utcnow
from services import scope
from services.evidence import comments
from services.evidence import evidence as evidence_service
from services.register import dashboard
from web.auth import client_ip, still_signed_in
from web.pages import PER_PAGE, bp, current, page_number
from web.uploads import parse_upload, streamed_upload

INLINE_IMAGES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
bp.add_app_template_global(evidence_service.without_echoes, "history_lines")  # one line per event, on the page


@bp.app_template_filter("filesize")
def filesize(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


def _request_page(request_id: int, *, error: DomainError | None = None, status: int = 200,
                  comment_error: DomainError | None = None, comment_form: dict | None = None):
    user = current()
    detail = evidence_service.request_detail(user, request_id)
    return render_template("evidence/request.html", detail=detail, r=detail.request, error=error,
                           today=evidence_service.local_today(detail.engagement).isoformat(), now=utcnow(),
                           days_overdue=dashboard.days_overdue, thread=list(comments.thread(user, request_id)),
                           may_comment=scope.permits(user, "comment"), comment_error=comment_error,
                           comment_form=comment_form or {}), status


@bp.route("/requests/<int:request_id>")
def request_page(request_id: int):
    return _request_page(request_id)


@bp.route("/requests/<int:request_id>/upload", methods=["POST"])
@streamed_upload
def upload_page(request_id: int):
    """The no-JavaScript upload: one or several files as new versions, all or none."""
    user = current()
    detail = evidence_service.request_detail(user, request_id)  # 404 before a byte is stored
    try:
        form = parse_upload(require_csrf=True)
        created = evidence_service.upload(user, detail.engagement.id, request_id=str(request_id),
                                          effective_date=form.fields.get("effective_date"),
                                          note=form.fields.get("note", ""), files=form.files, ip=client_ip(),
                                          still_authorised=still_signed_in)
    except DomainError as exc:
        if exc.status in (400, 401):  # a forged CSRF token, a malformed body, a session ended: the error page
            raise
        return _request_page(request_id, error=exc, status=exc.status)
    names = ", ".join(f"“{e.original_filename}” (version {e.version})" for e in created)
    flash(f"Uploaded {names}: submitted for review.", "success")
    return redirect(url_for("pages.request_page", request_id=request_id))


@bp.route("/requests/<int:request_id>/comments", methods=["POST"])
def comment_page(request_id: int):
    try:
        comments.post(current(), request_id, request.form, ip=client_ip())
    except DomainError as exc:
        if exc.status == 404:
            raise
        return _request_page(request_id, comment_error=exc, comment_form=request.form, status=exc.status)
    flash("Comment posted: the other side is notified.", "success")
    return redirect(url_for("pages.request_page", request_id=request_id, _anchor="comments"))


def _back_to(evidence_request_id: int) -> str:
    """After a decision: the review queue when the form came from it, else the request's page."""
    if request.form.get("return_to") == "queue":
        return url_for("pages.review_queue_page")
    return url_for("pages.request_page", request_id=evidence_request_id)


@bp.route("/evidence/<int:evidence_id>/review", methods=["POST"])
def review_page(evidence_id: int):
    user = current()
    item = evidence_service.evidence_detail(user, evidence_id)
    decision = request.form.get("decision", "")
    try:
        evidence_service.review(user, evidence_id, decision, request.form.get("comment") or None, ip=client_ip())
    except DomainError as exc:
        if request.form.get("return_to") == "queue":
            return _viewer(evidence_id, error=exc, status=exc.status)
        return _request_page(item.request_id, error=exc, status=exc.status)
    flash(f"Version {item.version} “{item.original_filename}” {'accepted' if decision == 'accept' else 'rejected'}.",
          "success")
    return redirect(_back_to(item.request_id))


@bp.route("/evidence/<int:evidence_id>/withdraw", methods=["POST"])
def withdraw_page(evidence_id: int):
    user = current()
    item = evidence_service.evidence_detail(user, evidence_id)
    try:
        evidence_service.withdraw(user, evidence_id, request.form.get("reason") or None, ip=client_ip())
    except DomainError as exc:
        return _request_page(item.request_id, error=exc, status=exc.status)
    flash(f"Version {item.version} “{item.original_filename}” withdrawn; it is kept on the request's record.",
          "success")
    return redirect(url_for("pages.request_page", request_id=item.request_id))


@bp.route("/inbox")
def inbox_page():
    """What is due: rejected (with the reason) first, then overdue, then due soon."""
    return render_template("evidence/inbox.html", inbox=evidence_service.provider_inbox(current()), now=utcnow(),
                           days_overdue=dashboard.days_overdue, days_to_due=dashboard.days_to_due,
                           due_soon_days=evidence_service.DUE_SOON_DAYS)


QUEUE_FILTERS = ("engagement", "framework", "control")


@bp.route("/review")
def review_queue_page():
    user = current()
    args = {k: request.args.get(k, "") for k in QUEUE_FILTERS}
    error = None
    try:
        query = evidence_service.review_queue(user, **{k: v or None for k, v in args.items()})
    except DomainError as exc:  # an unknown filter value (or an engagement not in scope: the same answer)
        error, args = exc, {}
        query = evidence_service.review_queue(user)
    page, total = page_number(), query.count()
    rows = list(query.paginate(page, PER_PAGE))
    return render_template("evidence/queue.html", rows=rows, total=total, page=page,
                           pages=max(1, -(-total // PER_PAGE)), args={k: v for k, v in args.items() if v},
                           error=error, choices=dashboard.filter_choices(user)), 422 if error else 200


def _viewer(evidence_id: int, *, error: DomainError | None = None, status: int = 200):
    user = current()
    item = evidence_service.evidence_detail(user, evidence_id)
    detail = evidence_service.request_detail(user, item.request_id)
    view = ("pdf" if item.media_type == "application/pdf" else "image" if item.media_type in INLINE_IMAGES
            else "download")
    return render_template("evidence/review.html", item=item, detail=detail, r=detail.request, view=view,
                           error=error), status


@bp.route("/review/<int:evidence_id>")
def review_viewer(evidence_id: int):
    """Side by side: the request and its requirement beside the file (PDF and images inline)."""
    return _viewer(evidence_id)
