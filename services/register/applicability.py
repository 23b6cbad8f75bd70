"""The Statement of Applicability as a working document: a client admin marks a control not applicable (with a
justification) or applicable again, names its owner, overrides its frequency and sets its first due date.
Every change re-plans the schedule (services.register.planning) and is audited; the audit trail is the SoA's history.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

from domain.errors import NotFound, ValidationError
from domain.names import refuse_invisible
from domain.recurrence import parse_frequency
from domain.timeutil import parse_date
from models import Applicability, AuditEvent, Control, Engagement, User, transaction, utcnow
from services import scope
from services.audit import audit_log
from services.people import owners
from services.people.accounts import normalise_email

from .planning import replan_engagement

EDITABLE = ("applicable", "justification", "owner", "frequency_override", "first_due_date")
ACTION = "applicability.update"
MAX_JUSTIFICATION = 2000


def row_for(engagement: Engagement, code: str) -> Applicability:
    row = (Applicability.select(Applicability, Control).join(Control, attr="control")
           .where(Applicability.engagement == engagement.id, Control.code == code).first())
    if row is None:
        raise NotFound(f"no control {code!r} in this engagement's Statement of Applicability")
    return row


def _applicable(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValidationError("applicable must be true or false", field="applicable")


def _justification(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError("justification must be text", field="justification")
    text = value.replace("\r\n", "\n").strip()
    refuse_invisible(text.replace("\n", " ").replace("\t", " "), "justification")
    if len(text) > MAX_JUSTIFICATION:
        raise ValidationError(f"justification is longer than {MAX_JUSTIFICATION} characters", field="justification")
    return text


def _frequency(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value) > 200:
        raise ValidationError("frequency_override must be an ISO 8601 duration (P3M) or an RRULE",
                              field="frequency_override")
    try:
        return parse_frequency(value).text
    except ValueError as exc:
        raise ValidationError(str(exc), field="frequency_override") from None


def _first_due(value: Any, engagement: Engagement) -> dt.date | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError("first_due_date must be a date (YYYY-MM-DD)", field="first_due_date")
    try:
        day = parse_date(value.strip())
    except ValueError as exc:
        raise ValidationError(str(exc), field="first_due_date") from None
    if day < engagement.start_date or (engagement.end_date and day > engagement.end_date):
        raise ValidationError("first_due_date must fall within the engagement's term", field="first_due_date")
    return day


def _owner(value: Any, engagement: Engagement) -> User | None:
    """A user of the engagement's client or provider organisation, by e-mail (none: no owner)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError("owner must be an e-mail address", field="owner")
    email = normalise_email(value)
    user = User.get_or_none(User.email == email, User.active == True,  # noqa: E712
                            User.organisation.in_([engagement.client_id, engagement.provider_id]))
    if user is None:
        raise ValidationError(f"{email} is not an active user of this engagement's client or provider", field="owner")
    return user


def _changes(row: Applicability, engagement: Engagement, data: dict) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    unknown = sorted(set(data) - set(EDITABLE))
    if unknown:
        raise ValidationError(f"{unknown[0]} cannot be changed; editable: {', '.join(EDITABLE)}", field=unknown[0])
    out: dict[str, Any] = {}
    if "applicable" in data:
        out["applicable"] = _applicable(data["applicable"])
    if "justification" in data:
        out["justification"] = _justification(data["justification"])
    applicable = out.get("applicable", row.applicable)
    justification = out.get("justification", row.justification if "applicable" not in out else "")
    if not applicable and not justification:
        raise ValidationError("a control marked not applicable needs a justification (why it does not apply)",
                              field="justification")
    if applicable and "applicable" in out and not row.applicable and not justification:
        out["justification"] = "Marked applicable."
    if "owner" in data:
        out["owner"] = _owner(data["owner"], engagement)
    if "frequency_override" in data:
        out["frequency_override"] = _frequency(data["frequency_override"])
    if "first_due_date" in data:
        out["first_due_date"] = _first_due(data["first_due_date"], engagement)
    return out


def _shown(field: str, value: Any) -> Any:
    if isinstance(value, User):
        return value.email
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _current(row: Applicability, field: str) -> Any:
    if field == "owner":
        return row.owner.email if row.owner_id else None
    return _shown(field, getattr(row, field))


def update(actor: User, engagement_id: int | str, code: str, data: dict, *, ip: str = "",
           now: dt.datetime | None = None) -> Applicability:
    """Edit one SoA row (client_admin of the engagement); re-plans the schedule; audited with old and new values."""
    engagement = scope.engagement_for(actor, engagement_id, "manage")
    with transaction():
        row = row_for(engagement, code)
        changes = _changes(row, engagement, data)
        diff = {f: [_current(row, f), _shown(f, v)] for f, v in changes.items() if _current(row, f) != _shown(f, v)}
        if not diff:
            return row
        stamp = utcnow()
        Applicability.update(**changes, edited_at=stamp, edited_by=actor, updated_at=stamp).where(
            Applicability.id == row.id).execute()
        planned = replan_engagement(engagement, now=now)
        owned = owners.own_unowned(engagement, row.control_id, changes["owner"]) if "owner" in diff else 0
        mine = [p for p in planned.problems if f"control {code}:" in p]
        if mine:  # e.g. an RRULE that parses but never occurs again
            raise ValidationError(mine[0], field="frequency_override")
        audit_log.record(ACTION, actor=actor, object_type="applicability", object_id=code, engagement=engagement,
                         ip=ip, details={"control": code, "changes": diff, "requests": planned.counts(),
                                         **({"requests_owned": owned} if owned else {})})
    return row_for(engagement, code)


def history(engagement: Engagement, limit: int = 50) -> list[dict]:
    """Who changed which SoA row, what and when (newest first), from the audit trail."""
    rows = (AuditEvent.select(AuditEvent.at, AuditEvent.actor_email, AuditEvent.object_id, AuditEvent.details)
            .where(AuditEvent.engagement == engagement.id, AuditEvent.action == ACTION)
            .order_by(AuditEvent.id.desc()).limit(limit))
    out = []
    for event in rows:
        try:
            details = json.loads(event.details)
        except (TypeError, ValueError):
            details = {}
        out.append({"at": event.at, "actor": event.actor_email, "control": event.object_id,
                    "changes": details.get("changes", {})})
    return out


def owners_by_id(rows: list[Applicability]) -> dict[int, str]:
    """Owner and editor e-mails of SoA rows, in one query."""
    ids = {r.owner_id for r in rows if r.owner_id} | {r.edited_by_id for r in rows if r.edited_by_id}
    if not ids:
        return {}
    return dict(User.select(User.id, User.email).where(User.id.in_(list(ids))).tuples())

