"""Evidence: upload, review, withdraw and download, the page of one request, the review queue and the
provider's inbox (SPEC §2, §5). The web layer (API and pages) calls these; ``services.scope`` decides access.

Every write runs in one ``transaction()`` with its audit event and its ``RequestHistory`` rows, and moves
evidence and requests only as ``domain.evidence`` / ``domain.schedule`` allow. Each UPDATE re-checks the
state it moves from, so two reviewers deciding the same item at once get one success and one 409.

Uploads arrive as ``Upload``s whose bytes are already in the store's temporary files (``web.uploads``
streams them there while hashing); ``upload()`` owns them from then on: it sniffs, checks, and either
promotes each file to its content address just before the rows commit, or discards every one.
"""
from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import peewee as pw

import evidence_store
from domain import evidence as rules
from domain.bulk import parse_bulk
from domain.errors import Conflict, DomainError, NotFound, Unauthorised, ValidationError
from domain.recurrence import parse_frequency
from domain.schedule import initial_status
from domain.timeutil import local, parse_date
from models import (
    Engagement,
    Evidence,
    EvidenceFile,
    EvidenceRequest,
    RequestHistory,
    User,
    is_postgres,
    transaction,
    utcnow,
)
from services import scope
from services.audit import audit_log
from services.bulk import decide_all
from services.integrations import webhooks
from services.people import owners

from . import media_types
from .files import attach_files, first_file

MAX_COMMENT = 4000
MAX_NOTE = 4000
# Shown inline (the review page's side-by-side viewer), from a sandboxed response; everything else downloads.
INLINE_TYPES = {"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp"}


class TooLarge(DomainError):
    status = 413
    code = "too_large"


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"


@dataclass
class Upload:
    """One file of an upload: its name as sent and its bytes, finished in the store's temporary file."""
    filename: str
    staged: evidence_store.Staging


# ------------------------------------------------------------------------------------------ input

def _text(value, field_name: str, *, limit: int, required: bool = False) -> str:
    """Free text (comments, notes, reasons): may span lines; no other control or bidi characters."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(f"{field_name} must be text", field=field_name)
    value = unicodedata.normalize("NFC", value.strip())
    if required and not value:
        raise ValidationError(f"{field_name} is required", field=field_name)
    if len(value) > limit:
        raise ValidationError(f"{field_name} is longer than {limit} characters", field=field_name)
    if any((unicodedata.category(c) == "Cc" and c not in "\n\r\t") or unicodedata.category(c) in ("Cf", "Cs")
           for c in value):
        raise ValidationError(f"{field_name} contains control or invisible formatting characters", field=field_name)
    return value


def local_today(engagement: Engagement, now: dt.datetime | None = None) -> dt.date:
    return local(now or utcnow(), engagement.timezone).date()


def parse_effective_date(value, engagement: Engagement, now: dt.datetime | None = None) -> dt.date:
    """``effective_date``: required, strictly YYYY-MM-DD, not after the engagement's local today."""
    text = _text(value, "effective_date", limit=40, required=True)
    try:
        day = parse_date(text)
    except ValueError as exc:
        raise ValidationError(str(exc), field="effective_date") from None
    rules.check_effective_date(day, local_today(engagement, now))
    if day < dt.date(2000, 1, 1):
        raise ValidationError("effective_date must be after 2000-01-01", field="effective_date")
    return day


def _request_id(value) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    text = _text(value, "request_id", limit=20, required=True)
    if not (text.isascii() and text.isdigit()):
        raise ValidationError("request_id must be a request's id", field="request_id")
    return text


# ------------------------------------------------------------------------------------------ state moves

def _locked(model, row_id: int):
    """Re-read a row inside the transaction; on PostgreSQL lock it (SQLite's BEGIN IMMEDIATE already has)."""
    query = model.select().where(model.id == row_id)
    return (query.for_update() if is_postgres() else query).get()


def _record(subject: str, req_id: int, evidence_id: int | None, old: str, new: str, actor: User | None,
            reason: str, now: dt.datetime) -> None:
    RequestHistory.create(request=req_id, subject=subject, evidence=evidence_id, from_status=old, to_status=new,
                          at=now, actor=actor, actor_email=actor.email if actor else "", reason=reason)


def _move_request(req: EvidenceRequest, new: str, *, actor: User | None, reason: str, now: dt.datetime,
                  evidence_id: int | None = None) -> None:
    old = req.status
    if old == new:
        return
    if not rules.request_move_allowed(old, new):
        raise Conflict(f"the request is {old}: it cannot become {new}")
    moved = (EvidenceRequest.update(status=new, updated_at=now)
             .where(EvidenceRequest.id == req.id, EvidenceRequest.status == old).execute())
    if not moved:
        raise Conflict("the request changed meanwhile; reload and try again")
    _record("request", req.id, evidence_id, old, new, actor, reason, now)
    req.status = new


def _move_evidence(item: Evidence, new: str, *, actor: User | None, reason: str, now: dt.datetime,
                   **columns) -> None:
    old = item.status
    rules.check_move(old, new)
    moved = (Evidence.update(status=new, **columns)
             .where(Evidence.id == item.id, Evidence.status == old).execute())
    if not moved:
        raise Conflict("the evidence was decided meanwhile; reload the page")
    _record("evidence", item.request_id, item.id, old, new, actor, reason, now)
    item.status = new
    for name, value in columns.items():
        setattr(item, name, value)


def _other_states(item: Evidence) -> list[str]:
    return [s for (s,) in Evidence.select(Evidence.status)
            .where(Evidence.request == item.request_id, Evidence.id != item.id).tuples()]


def _valid_until(day: dt.date, req: EvidenceRequest, engagement: Engagement) -> dt.date:
    """Validity of the requirement, capped at one interval of the control's schedule, plus the engagement's grace."""
    interval = parse_frequency(req.control.frequency).step
    return rules.valid_until(day, req.requirement.validity_days, grace_days=engagement.grace_days, interval=interval)


def _status_without_evidence(req: EvidenceRequest, engagement: Engagement, now: dt.datetime) -> str:
    """Where time puts a request that has nothing pending or accepted (upcoming, open or overdue)."""
    return initial_status(req.period_start, req.due_at, now, local_today(engagement, now),
                          dt.timedelta(days=engagement.grace_days))


# ------------------------------------------------------------------------------------------ upload

def upload(user: User, engagement_id: int | str, *, request_id, effective_date, note="", files: list[Upload],
           ip: str = "", now: dt.datetime | None = None,
           still_authorised: Callable[[], bool] = lambda: True) -> Evidence:
    """Submit ``files`` as one new version of one request of the engagement (a submission: its files are
    reviewed as one), all or nothing, in one transaction.

    Checks: the request belongs to the engagement and the user may upload to it (NotFound otherwise);
    ``effective_date`` (ValidationError); one to ``MAX_FILES`` files, none empty and none sent twice (422),
    each of a sniffed media type the requirement accepts (415): one bad file stores none. The request becomes
    ``submitted``; nothing earlier is overwritten. Takes ownership of the staged files: promoted to the store
    on success, discarded on any error.

    A file may take minutes to arrive: inside the transaction, the user is read again and ``still_authorised``
    (the caller's credential: token not revoked, session not ended) asked again; either gone is a 401 and
    nothing is stored.
    """
    try:
        return _upload(user, engagement_id, request_id=request_id, effective_date=effective_date, note=note,
                       files=files, ip=ip, now=now or utcnow(), still_authorised=still_authorised)
    finally:
        for item in files:
            item.staged.discard()  # no-op for promoted files


def _upload(user: User, engagement_id, *, request_id, effective_date, note, files: list[Upload], ip: str,
            now: dt.datetime, still_authorised: Callable[[], bool]) -> Evidence:
    engagement = scope.engagement_for(user, engagement_id)
    req = scope.request_for(user, _request_id(request_id), "upload")
    if req.engagement_id != engagement.id:
        raise NotFound("evidence request not found", field="request_id")
    day = parse_effective_date(effective_date, engagement, now)
    note = _text(note, "note", limit=MAX_NOTE)
    accepted = json.loads(req.requirement.accepted_types)
    checked = [(item, rules.safe_filename(item.filename or ""), _media_type(item, accepted)) for item in files]
    rules.check_submission([item.staged.sha256 for item in files])
    with transaction():
        locked = _locked(EvidenceRequest, req.id)
        if not User.get_by_id(user.id).active or not still_authorised():
            raise Unauthorised("your session or API token ended while the file was arriving; nothing was stored")
        version = (Evidence.select(pw.fn.MAX(Evidence.version)).where(Evidence.request == req.id).scalar() or 0) + 1
        first, first_name, first_type = checked[0]
        row = Evidence.create(
            request=req.id, engagement=engagement.id, sha256=first.staged.sha256, original_filename=first_name,
            media_type=first_type, size=first.staged.size, effective_date=day,
            valid_until=_valid_until(day, req, engagement), note=note, version=version,
            status="submitted", uploaded_by=user.id, uploaded_at=now)
        row.file_rows = [EvidenceFile.create(evidence=row.id, position=position, sha256=item.staged.sha256,
                                             size=item.staged.size, media_type=media_type,
                                             original_filename=filename, storage_key=item.staged.sha256)
                         for position, (item, filename, media_type) in enumerate(checked, start=1)]
        _record("evidence", req.id, row.id, "", "submitted", user, note, now)
        target = rules.request_after_upload(locked.status)
        if target:
            _move_request(locked, target, actor=user, reason=f"version {version} uploaded", now=now,
                          evidence_id=row.id)
        audit_log.record("evidence.upload", actor=user, object_type="evidence", object_id=row.id,
                         engagement=engagement.id, ip=ip,
                         details={"request_id": req.id, "sha256": row.sha256, "size": row.size,
                                  "media_type": first_type, "version": version, "filename": first_name,
                                  "effective_date": day.isoformat(),
                                  "files": [{"sha256": f.sha256, "size": f.size, "media_type": f.media_type,
                                             "filename": f.original_filename} for f in row.file_rows]})
        webhooks.emit("evidence.submitted", engagement, object_type="evidence", object_id=row.id,
                      title=f"Evidence submitted for request #{req.id} (version {version})",
                      path=f"/requests/{req.id}",
                      extra={"request_id": req.id, "version": version, "files": len(checked)}, now=now)
        for item, _, _ in checked:  # durable under its content address before the rows commit
            item.staged.promote()
    return row


def _media_type(item: Upload, accepted: list[str]) -> str:
    """The sniffed media type of one file (the sniffer's bomb and macro guards included), if accepted."""
    name = f"“{item.filename}”" if item.filename else "the file"
    if item.staged.size == 0:
        raise ValidationError(f"{name} is empty", field="file")
    detected = media_types.sniff(item.staged.path)
    media_type = media_types.resolve(detected, accepted)
    if media_type is None:
        raise UnsupportedMediaType(f"the content of {name} is {detected}; this requirement accepts "
                                   f"{', '.join(accepted)}", field="file")
    return media_type


# ------------------------------------------------------------------------------------------ review / withdraw

def review(user: User, evidence_id: int | str, decision, comment=None, *, ip: str = "",
           now: dt.datetime | None = None) -> Evidence:
    """Accept or reject a submitted item (client roles). A rejection needs a comment and sends the request
    back to the provider as ``rejected`` (unless another version is pending or an accepted one stands).
    Accepting supersedes every older accepted version. A decided item, an older version than one already
    accepted, and one's own upload are 409."""
    now = now or utcnow()
    item = scope.evidence_for(user, evidence_id, "review")
    if not isinstance(decision, str) or decision not in rules.DECISIONS:
        raise ValidationError("decision must be accept or reject", field="decision")
    comment = _text(comment, "comment", limit=MAX_COMMENT, required=decision == "reject")
    if item.uploaded_by_id == user.id:
        raise Conflict("you uploaded this evidence: someone else must review it")
    target = rules.DECISIONS[decision]
    with transaction():
        req = _locked(EvidenceRequest, item.request_id)
        current = Evidence.get_by_id(item.id)
        rules.check_move(current.status, target)
        accepted = list(Evidence.select().where(Evidence.request == req.id, Evidence.status == "accepted",
                                                Evidence.id != item.id))
        if target == "accepted" and any(other.version > current.version for other in accepted):
            raise Conflict("a newer version of this evidence is already accepted")
        _move_evidence(current, target, actor=user, reason=comment, now=now, reviewed_by=user.id,
                       reviewed_at=now, review_comment=comment)
        if target == "accepted":
            for older in accepted:
                _move_evidence(older, "superseded", actor=user, reason=f"superseded by version {current.version}",
                               now=now)
            request_target = "accepted"
        else:
            request_target = rules.request_after_decision(_other_states(current), "rejected")
        _move_request(req, request_target, actor=user, reason=comment or f"version {current.version} {target}",
                      now=now, evidence_id=current.id)
        audit_log.record("evidence.review", actor=user, object_type="evidence", object_id=current.id,
                         engagement=current.engagement_id, ip=ip,
                         details={"decision": decision, "comment": comment, "request_id": req.id,
                                  "version": current.version, "sha256": current.sha256})
        webhooks.emit("evidence.reviewed", item.request.engagement, object_type="evidence", object_id=current.id,
                      title=f"Evidence for request #{req.id} (version {current.version}) {target}",
                      path=f"/requests/{req.id}", occasion=target,
                      extra={"request_id": req.id, "version": current.version, "decision": decision}, now=now)
    current.request = item.request
    return current


def review_many(user: User, data: Any, *, ip: str = "", now: dt.datetime | None = None) -> list[Evidence]:
    """Several submitted items accepted (or rejected, with one reason) with one comment: each is ``review``ed,
    its own audited decision; one that cannot be decided means none is (``services.bulk``)."""
    bulk = parse_bulk(data, rules.DECISIONS)
    return decide_all(bulk.ids, lambda item: review(user, item, bulk.decision, bulk.comment, ip=ip, now=now),
                      noun="evidence")


def withdraw(user: User, evidence_id: int | str, reason=None, *, ip: str = "",
             now: dt.datetime | None = None) -> Evidence:
    """The uploading side withdraws a submitted item with a reason: it is kept, marked ``withdrawn``; the
    request goes back to where time puts it (open, overdue…) when nothing else is pending or accepted."""
    now = now or utcnow()
    item = scope.evidence_for(user, evidence_id, "withdraw")
    reason = _text(reason, "reason", limit=MAX_COMMENT, required=True)
    engagement = item.request.engagement
    with transaction():
        req = _locked(EvidenceRequest, item.request_id)
        current = Evidence.get_by_id(item.id)
        _move_evidence(current, "withdrawn", actor=user, reason=reason, now=now, withdrawn_at=now)
        fallback = _status_without_evidence(req, engagement, now)
        _move_request(req, rules.request_after_decision(_other_states(current), fallback), actor=user,
                      reason=reason, now=now, evidence_id=current.id)
        audit_log.record("evidence.withdraw", actor=user, object_type="evidence", object_id=current.id,
                         engagement=current.engagement_id, ip=ip,
                         details={"reason": reason, "request_id": req.id, "version": current.version})
    current.request = item.request
    return current


# ------------------------------------------------------------------------------------------ reading

def evidence_detail(user: User, evidence_id: int | str) -> Evidence:
    """One item the user may see, with its files (``file_rows``) and its uploader's and reviewer's e-mails."""
    item = attach_files([scope.evidence_for(user, evidence_id, "view")])[0]
    users = emails_of({item.uploaded_by_id, item.reviewed_by_id})
    item.uploader_email = users.get(item.uploaded_by_id, "")
    item.reviewer_email = users.get(item.reviewed_by_id, "")
    return item


def emails_of(ids) -> dict[int, str]:
    """User id -> e-mail for these ids (None and repeats allowed), in one query."""
    ids = [i for i in ids if i]
    return dict(User.select(User.id, User.email).where(User.id.in_(ids)).tuples()) if ids else {}


@dataclass
class RequestDetail:
    """What the request page and ``GET /requests/<id>`` show."""
    request: EvidenceRequest  # with .engagement, .control, .requirement
    accepted_types: list[str]
    versions: list[Evidence]  # newest first; each with .uploader_email and .reviewer_email
    history: list[RequestHistory]  # oldest first
    may_upload: bool
    may_review: bool
    may_withdraw: bool
    emails: dict[int, str] = field(default_factory=dict)  # user id -> e-mail, for the history's actors
    may_assign: bool = False  # may name another owner
    owner_choices: list[tuple[int, str]] = field(default_factory=list)  # who may own it (id, e-mail)

    @property
    def owner_email(self) -> str:
        return self.emails.get(self.request.owner_id, "") if self.request.owner_id else ""

    @property
    def engagement(self) -> Engagement:
        return self.request.engagement

    @property
    def standing_rejection(self) -> Evidence | None:
        """The rejected latest version (withdrawn ones aside) while the request still waits for a new one,
        overdue or not: what the provider has to fix."""
        if self.request.status not in STILL_REJECTED:
            return None
        latest = next((v for v in self.versions if v.status != "withdrawn"), None)
        return latest if latest is not None and latest.status == "rejected" else None


def without_echoes(history: list[RequestHistory]) -> list[RequestHistory]:
    """One line per event: a decision or upload moves the version and the request together, recorded as two rows
    (``subject`` evidence and request, same instant, version and new state), which read as the same line twice.
    The request's row stands for both (it keeps the version's reason when it has none); a version's move that the
    request did not follow (version 2 rejected while version 1 stands) keeps its own line."""
    by_key = {(h.at, h.evidence_id, h.to_status, h.actor_id): h for h in history
              if h.subject == "request" and h.evidence_id is not None}
    kept = []
    for row in history:
        twin = by_key.get((row.at, row.evidence_id, row.to_status, row.actor_id)) if row.subject == "evidence" else None
        if twin is None:
            kept.append(row)
        elif not twin.reason:
            twin.reason = row.reason
    return kept


def request_detail(user: User, request_id: int | str) -> RequestDetail:
    """One request with every version (who, when, hash, status, review comment), its history and what the
    user may do. Four queries whatever the number of versions. Auditors see accepted versions only."""
    req = scope.request_for(user, request_id, "view")
    versions_query = Evidence.select().where(Evidence.request == req.id).order_by(Evidence.version.desc())
    history_query = RequestHistory.select().where(RequestHistory.request == req.id)
    if user.role == "auditor":
        versions_query = versions_query.where(Evidence.status.in_(scope.AUDITOR_EVIDENCE_STATES))
        history_query = history_query.where(RequestHistory.subject == "request")
    versions = attach_files(list(versions_query))
    history = list(history_query.order_by(RequestHistory.at, RequestHistory.id))
    emails = emails_of({v.uploaded_by_id for v in versions} | {v.reviewed_by_id for v in versions}
                    | {h.actor_id for h in history} | {req.owner_id})
    for v in versions:
        v.uploader_email, v.reviewer_email = emails.get(v.uploaded_by_id, ""), emails.get(v.reviewed_by_id, "")
    may_upload = scope.may_upload(user, req.requirement)
    may_assign = scope.permits(user, "assign_owner")
    return RequestDetail(may_assign=may_assign, owner_choices=owners.candidates(req) if may_assign else [],
                         request=req, accepted_types=json.loads(req.requirement.accepted_types), versions=versions,
                         history=history, may_upload=may_upload,
                         may_review=scope.permits(user, "review") and any(
                             v.status == "submitted" and v.uploaded_by_id != user.id for v in versions),
                         may_withdraw=may_upload and any(v.status == "submitted" for v in versions), emails=emails)


STILL_REJECTED = ("rejected", "overdue")  # the request states in which a rejected latest version still stands


# ------------------------------------------------------------------------------------------ download

@dataclass
class Download:
    evidence: Evidence
    handle: BinaryIO
    filename: str
    media_type: str
    inline: bool
    size: int


def open_download(user: User, evidence_id: int | str, ip: str = "", inline: bool = False,
                  file_id: int | str | None = None) -> Download:
    """Open one of an item's files for the user (its first unless ``file_id`` names another of its files),
    recording ``evidence.download``. ``inline`` is granted for PDF and images only (the viewer); anything else
    is always an attachment. NotFound if the file is not one of this item's (another item's or tenant's id
    answers as a missing one) or is missing from the store."""
    item = scope.evidence_for(user, evidence_id, "view")
    chosen = _file_of(item, file_id)
    inline = inline and chosen.media_type in INLINE_TYPES
    try:
        handle = evidence_store.get_store().open(chosen.sha256)
    except FileNotFoundError:
        raise NotFound("the evidence file is missing from the store (run verify-evidence)") from None
    try:
        with transaction():
            audit_log.record("evidence.download", actor=user, object_type="evidence", object_id=item.id,
                             engagement=item.engagement_id, ip=ip,
                             details={"sha256": chosen.sha256, "inline": inline, "version": item.version,
                                      "file": chosen.position, "filename": chosen.original_filename})
    except BaseException:
        handle.close()
        raise
    return Download(item, handle, chosen.original_filename, chosen.media_type, inline, chosen.size)


def _file_of(item: Evidence, file_id: int | str | None) -> EvidenceFile:
    query = EvidenceFile.select().where(EvidenceFile.evidence == item.id)
    if file_id is None:
        query = query.order_by(EvidenceFile.position)
    else:
        key = str(file_id)
        if not (key.isascii() and key.isdigit() and len(key) < 19):
            raise NotFound("evidence file not found")
        query = query.where(EvidenceFile.id == int(key))
    found = query.first()
    if found is None and file_id is None:
        return first_file(item)
    if found is None:
        raise NotFound("evidence file not found")
    return found
