"""Evidence pages: a page per request (versions, history, upload, review, withdraw), the provider's
"What is due" inbox, the review queue and its side-by-side viewer. Thin: services.evidence.evidence does the work
(and services.scope decides who may do what).

The upload form posts a plain multipart form (works without JavaScript): its files are one submission (one
version). static/upload.js enhances it with a drag-and-drop list and one progress bar, sending every file in one
request to the API with the X-CSRFToken header.
"""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from domain.errors import DomainError
from domain.evidence import MAX_FILES
from domain.inbox import DUE_WINDOWS, page_count
from models import utcnow
from services import scope
from services.evidence import comments, inbox
from services.evidence import evidence as evidence_service
from services.people import owners
from services.register import dashboard
from web.auth import client_ip, still_signed_in
from web.pages import PER_PAGE, bp, bulk_form_data, current, page_number
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
                  comment_error: DomainError | None = None, comment_form: dict | None = None,
                  owner_error: DomainError | None = None):
    user = current()
    detail = evidence_service.request_detail(user, request_id)
    return render_template("evidence/request.html", detail=detail, r=detail.request, error=error,
                           today=evidence_service.local_today(detail.engagement).isoformat(), now=utcnow(),
                           days_overdue=dashboard.days_overdue, thread=list(comments.thread(user, request_id)),
                           may_comment=scope.permits(user, "comment"), comment_error=comment_error,
                           comment_form=comment_form or {}, owner_error=owner_error), status


@bp.route("/requests/<int:request_id>")
def request_page(request_id: int):
    return _request_page(request_id)


@bp.route("/requests/<int:request_id>/upload", methods=["POST"])
@streamed_upload
def upload_page(request_id: int):
    """The no-JavaScript upload: one or several files as one new version (one submission), all or none."""
    user = current()
    detail = evidence_service.request_detail(user, request_id)  # 404 before a byte is stored
    try:
        form = parse_upload(require_csrf=True, max_files=MAX_FILES)
        created = evidence_service.upload(user, detail.engagement.id, request_id=str(request_id),
                                          effective_date=form.fields.get("effective_date"),
                                          note=form.fields.get("note", ""), files=form.files, ip=client_ip(),
                                          still_authorised=still_signed_in)
    except DomainError as exc:
        if exc.status in (400, 401):  # a forged CSRF token, a malformed body, a session ended: the error page
            raise
        return _request_page(request_id, error=exc, status=exc.status)
    names = ", ".join(f"“{f.original_filename}”" for f in created.file_rows)
    flash(f"Uploaded version {created.version} ({names}): submitted for review.", "success")
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


@bp.route("/requests/<int:request_id>/owner", methods=["POST"])
def assign_owner_page(request_id: int):
    try:
        req = owners.assign(current(), request_id, request.form, ip=client_ip())
    except DomainError as exc:
        if exc.status == 404:
            raise
        return _request_page(request_id, owner_error=exc, status=exc.status)
    flash(f"{req.owner.email} now owns this request and is notified.", "success")
    return redirect(url_for("pages.request_page", request_id=request_id))


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


def _filters(user) -> tuple[inbox.WorkFilters, DomainError | None]:
    """The work list's filters from the query string; a bad value: no filters, and the error to show."""
    try:
        return inbox.parse_filters(user, request.args), None
    except DomainError as exc:  # an unknown value, or an engagement not in scope: the same answer
        return inbox.WorkFilters(), exc


@bp.route("/inbox")
def inbox_page():
    """What is due: rejected (with the reason) first, then overdue, then due soon; filtered and paged."""
    user = current()
    filters, error = _filters(user)
    return render_template("evidence/inbox.html", inbox=inbox.provider_inbox(user, filters, page=page_number()),
                           now=utcnow(), days_overdue=dashboard.days_overdue, days_to_due=dashboard.days_to_due,
                           due_soon_days=inbox.DUE_SOON_DAYS, sections=inbox.SECTIONS, due_windows=DUE_WINDOWS,
                           error=error, args=filters.as_args(),
                           choices=dashboard.filter_choices(user)), 422 if error else 200


@bp.route("/review")
def review_queue_page():
    return _queue_page()


@bp.route("/review/bulk", methods=["POST"])
def bulk_review_page():
    """Several submitted items decided together: each its own audited decision, all or nothing."""
    try:
        decided = evidence_service.review_many(current(), bulk_form_data(), ip=client_ip())
    except DomainError as exc:
        if exc.status in (400, 401):
            raise
        return _queue_page(bulk_error=exc, status=exc.status)
    verb = "accepted" if request.form.get("decision") == "accept" else "rejected"
    flash(f"{len(decided)} item{'' if len(decided) == 1 else 's'} {verb}, each recorded as its own decision.",
          "success")
    return redirect(url_for("pages.review_queue_page"))


def _queue_page(*, bulk_error: DomainError | None = None, status: int = 200):
    user = current()
    filters, error = _filters(user)
    query = inbox.review_queue(user, filters)
    total = query.count()
    page = page_number()  # past the last page, the pager says so and links to the last (as every list)
    rows = list(query.paginate(page, PER_PAGE))
    return render_template("evidence/queue.html", rows=rows, total=total, page=page, pages=page_count(total),
                           args=filters.as_args(), error=error, due_windows=DUE_WINDOWS, bulk_error=bulk_error,
                           choices=dashboard.filter_choices(user)), 422 if error else status


def _viewer(evidence_id: int, *, error: DomainError | None = None, status: int = 200):
    user = current()
    item = evidence_service.evidence_detail(user, evidence_id)
    detail = evidence_service.request_detail(user, item.request_id)
    wanted = request.args.get("file", "")
    shown = next((f for f in item.file_rows if str(f.id) == wanted), item.file_rows[0])  # the first by default
    view = ("pdf" if shown.media_type == "application/pdf" else "image" if shown.media_type in INLINE_IMAGES
            else "download")
    return render_template("evidence/review.html", item=item, detail=detail, r=detail.request, view=view,
                           shown=shown, error=error), status


@bp.route("/review/<int:evidence_id>")
def review_viewer(evidence_id: int):
    """Side by side: the request and its requirement beside the file (PDF and images inline)."""
    return _viewer(evidence_id)
