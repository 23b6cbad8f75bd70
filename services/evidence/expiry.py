"""Evidence expiry: accepted evidence past its ``valid_until`` becomes ``expired``, and
the request it proved needs new evidence again (``accepted → open``) when it is still the control's
current request: an old period whose evidence aged out is history, not a new demand.

Set-based, in short batches, and idempotent: only ``accepted`` rows move, and each move re-checks the state it
leaves.
Both moves follow the state machines (``domain.evidence``, ``domain.schedule``) and are written to the
request's history with the reason, so the request page says why new evidence is needed.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import peewee as pw

from domain.evidence import can_move as evidence_can_move
from domain.schedule import can_move as request_can_move
from models import Evidence, EvidenceRequest, RequestHistory, is_postgres, transaction
from services.audit import audit_log
from services.messages import notifications

ACTOR = "scheduler"
BATCH = 25  # items per transaction: each also writes its history, audit event and notices
REASON = "accepted evidence expired (valid_until passed): new evidence is needed"


def expire_evidence(now: dt.datetime, batch: int = BATCH) -> Iterator[tuple[int, int]]:
    """Expire accepted evidence whose ``valid_until`` is before today (UTC), ``batch`` items per transaction
    (each with its history, audit event and notices), yielding (expired, reopened) once each commits. Each batch
    reads what is still to expire, so a pass killed between two resumes where it stopped."""
    if not (evidence_can_move("accepted", "expired") and request_can_move("accepted", "open")):
        raise RuntimeError("the state machines no longer allow evidence expiry")
    today = now.date()
    while True:
        with transaction():
            query = (Evidence.select(Evidence.id, Evidence.request, Evidence.engagement, Evidence.valid_until)
                     .where(Evidence.status == "accepted", Evidence.valid_until.is_null(False),
                            Evidence.valid_until < today).order_by(Evidence.id).limit(batch))
            chunk = list((query.for_update() if is_postgres() else query).tuples())
            if not chunk:
                return
            expired = (Evidence.update(status="expired")
                       .where(Evidence.id.in_([r[0] for r in chunk]), Evidence.status == "accepted").execute())
            reopened_ids = _reopen_current([r[1] for r in chunk], today, now)
            _history(chunk, reopened_ids, now)
            _audit(chunk, reopened_ids)
            _notify(chunk, reopened_ids, now)
        yield expired, len(reopened_ids)
        if len(chunk) < batch:
            return


def _reopen_current(request_ids: list[int], today: dt.date, now: dt.datetime) -> set[int]:
    """accepted → open (``domain.schedule.TRANSITIONS``) for the requests that are their control's current
    one and hold no other accepted evidence."""
    later = EvidenceRequest.alias()
    newer = (later.select(pw.SQL("1"))
             .where(later.engagement == EvidenceRequest.engagement, later.requirement == EvidenceRequest.requirement,
                    later.period_start > EvidenceRequest.period_start, later.period_start <= today))
    still_proved = Evidence.select(Evidence.request).where(Evidence.request.in_(request_ids),
                                                           Evidence.status == "accepted")
    ids = {r for (r,) in EvidenceRequest.select(EvidenceRequest.id)
           .where(EvidenceRequest.id.in_(request_ids), EvidenceRequest.status == "accepted",
                  EvidenceRequest.id.not_in(still_proved), ~pw.fn.EXISTS(newer)).tuples()}
    if ids:
        (EvidenceRequest.update(status="open", updated_at=now)
         .where(EvidenceRequest.id.in_(sorted(ids)), EvidenceRequest.status == "accepted").execute())
    return ids


def _audit(chunk: list[tuple], reopened: set[int]) -> None:
    """One audit event per engagement and batch (a catch-up after downtime may expire thousands at once):
    the evidence ids, the requests reopened and why. Each item's own move is in the request history."""
    by_engagement: dict[int, list[tuple]] = {}
    for row in chunk:
        by_engagement.setdefault(row[2], []).append(row)
    for engagement_id, rows in sorted(by_engagement.items()):
        audit_log.record("evidence.expire", actor_email=ACTOR, object_type="evidence",
                         object_id=(str(rows[0][0]) if len(rows) == 1 else f"{rows[0][0]}..{rows[-1][0]}")[:40],
                         engagement=engagement_id,
                         details={"evidence": [{"id": r[0], "request_id": r[1], "valid_until": r[3].isoformat()}
                                               for r in rows],
                                  "requests_reopened": sorted(r[1] for r in rows if r[1] in reopened),
                                  "reason": REASON})


def _history(chunk: list[tuple], reopened: set[int], now: dt.datetime) -> None:
    rows = [{"request": request_id, "evidence": evidence_id, "from_status": "accepted", "to_status": "expired",
             "at": now, "actor": None, "actor_email": ACTOR, "reason": f"valid until {valid_until.isoformat()}"}
            for evidence_id, request_id, _engagement_id, valid_until in chunk]
    rows += [{"request": request_id, "evidence": None, "from_status": "accepted", "to_status": "open", "at": now,
              "actor": None, "actor_email": ACTOR, "reason": REASON} for request_id in sorted(reopened)]
    for i in range(0, len(rows), BATCH):
        RequestHistory.insert_many(rows[i:i + BATCH]).execute()


def _notify(chunk: list[tuple], reopened: set[int], now: dt.datetime) -> None:
    providers = notifications.engagement_users({r[2] for r in chunk if r[1] in reopened}, ("provider",))
    rows = []
    for _evidence_id, request_id, engagement_id, valid_until in chunk:
        if request_id not in reopened:
            continue
        for user_id in providers.get(engagement_id, []):
            rows.append({"user": user_id, "kind": "evidence_expired", "object_type": "request",
                         "object_id": request_id, "occasion": f"expired-{valid_until.isoformat()}",
                         "engagement": engagement_id, "title": f"Evidence expired: request #{request_id} needs "
                                                                f"new evidence",
                         "body": REASON, "link": f"/requests/{request_id}", "created_at": now})
    notifications.insert(rows)
