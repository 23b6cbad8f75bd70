"""The demo engagement's evidence: small real files (PDF, PNG, CSV, XLSX, DOCX) in the store, in every state
(submitted, accepted, rejected with a reason, withdrawn, superseded), made through the real services so their
history and audit events are what a user's would be. A reviewer can review at once."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import peewee as pw

import evidence_store
from models import Engagement, Evidence, EvidenceRequest, EvidenceRequirement, User
from services.evidence import evidence as evidence_service

from . import files as demo_files

PDF = "application/pdf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
FILES: dict[str, tuple[str, Callable[[str], bytes]]] = {
    PDF: (".pdf", demo_files.pdf),
    "image/png": (".png", lambda _title: demo_files.png()),
    "text/csv": (".csv", lambda title: demo_files.csv_file([["item", "owner", "result"], [title, "J. Lee", "pass"]])),
    XLSX: (".xlsx", lambda title: demo_files.xlsx([["item", "owner", "result"], [title, "J. Lee", "pass"]])),
    DOCX: (".docx", demo_files.docx),
}
# (media type wanted, what happens after upload); one request each, so every state is on show
PLAN = (
    (PDF, "submitted"), (XLSX, "submitted"), ("image/png", "submitted"),
    ("text/csv", "accepted"), (PDF, "accepted"),
    (PDF, "rejected"), (XLSX, "rejected"),
    (PDF, "withdrawn"),
    (DOCX, "superseded"),
)
REJECTION = "The sign-off page is missing: upload the version signed by the control owner."
WITHDRAWAL = "Uploaded last quarter's report by mistake."


def stage(media_type: str, title: str) -> evidence_service.Upload:
    extension, make = FILES.get(media_type, FILES[PDF])
    staged = evidence_store.get_store().staging()
    staged.write(make(title))
    staged.finish()
    return evidence_service.Upload(f"{title}{extension}", staged)


def _requests(engagement: Engagement) -> list[EvidenceRequest]:
    return list(EvidenceRequest.select().join(EvidenceRequirement)
                .where(EvidenceRequest.engagement == engagement.id, EvidenceRequest.status.in_(("open", "overdue")),
                       EvidenceRequirement.produced_by == "provider")
                .order_by(EvidenceRequest.due_at, EvidenceRequest.id))


def _submit(uploader: User, req: EvidenceRequest, media_type: str, title: str, effective: str) -> Evidence:
    return evidence_service.upload(uploader, req.engagement_id, request_id=req.id, effective_date=effective,
                                   note="Demo evidence", files=[stage(media_type, title)])


def create_demo_evidence(engagement: Engagement, uploader: User, reviewer: User) -> dict[str, int]:
    """Evidence in every state on the engagement, once (nothing when it already has evidence)."""
    if Evidence.select().where(Evidence.engagement == engagement.id).exists():
        return {}
    free = _requests(engagement)
    effective = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    for media_type, outcome in PLAN:
        req = next((r for r in free if media_type in json.loads(r.requirement.accepted_types)), None)
        if req is None:
            media_type, req = PDF, next((r for r in free if PDF in json.loads(r.requirement.accepted_types)), None)
        if req is None:
            continue
        free.remove(req)
        # a file name: requirement names may hold a slash ("Access review / recertification"), refused in names
        title = f"{req.control.code} {req.requirement.name}"[:80].replace("/", "-").replace("\\", "-")
        item = _submit(uploader, req, media_type, title, effective)
        if outcome == "superseded":
            evidence_service.review(reviewer, item.id, "accept", "Accepted.")
            item = _submit(uploader, req, media_type, title + " (updated)", effective)
            evidence_service.review(reviewer, item.id, "accept", "Accepted: replaces the earlier version.")
        elif outcome == "accepted":
            evidence_service.review(reviewer, item.id, "accept", "Complete and signed off.")
        elif outcome == "rejected":
            evidence_service.review(reviewer, item.id, "reject", REJECTION)
        elif outcome == "withdrawn":
            evidence_service.withdraw(uploader, item.id, WITHDRAWAL)
    return dict(Evidence.select(Evidence.status, pw.fn.COUNT(Evidence.id)).where(Evidence.engagement == engagement.id)
                .group_by(Evidence.status).tuples())
