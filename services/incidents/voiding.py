"""Voiding an incident recorded by mistake (``domain.incidents``): kept and shown void, its waiting and running
clocks closed as not required, the findings raised from it that are still open voided with it, all audited in one
transaction. Findings are voided on their own through their state machine (``findings.update_from_input``,
status ``void`` with a reason); change events through ``changes.void_change``."""
from __future__ import annotations

import datetime as dt

from domain.errors import Conflict, ValidationError
from domain.findings import FINAL_STATES
from domain.incidents import IncidentError, check_void
from models import Clock, Finding, Incident, User, transaction, utcnow
from services import scope
from services.audit import audit_log
from services.text import clean_text

from . import clocks, findings
from .incidents import incident_for


def void_incident(user: User, incident_id: int, data: dict, *, ip: str = "",
                  now: dt.datetime | None = None) -> Incident:
    """Void the incident with ``data['reason']`` (the client's risk team); 404 outside the caller's scope, 409 when
    it is void already, 422 without a reason."""
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    incident = incident_for(user, incident_id, "review")
    reason = clean_text(data, "reason", limit=2000, multiline=True)
    now = now or utcnow()
    with transaction():
        incident = Incident.get_by_id(incident.id)
        try:
            check_void(incident.voided_at, reason)
        except IncidentError as exc:
            raise Conflict(str(exc)) from None
        why = f"incident #{incident.id} voided: {reason}"[:2000]
        closed = [clocks.close_not_required(c, why, actor=user, ip=ip, action="clock.void").id
                  for c in Clock.select().where(Clock.incident == incident.id,
                                                Clock.state.in_(("pending", "running"))).order_by(Clock.id)]
        voided = [findings.update_from_input(user, f, {"status": "void", "reason": why}, ip=ip, now=now).id
                  for f in _open_findings(incident)]
        if not Incident.update(voided_at=now, voided_by_email=user.email, void_reason=reason).where(
                Incident.id == incident.id, Incident.voided_at.is_null()).execute():
            raise Conflict("this incident is already void")
        audit_log.record("incident.void", actor=user, object_type="incident", object_id=incident.id,
                         engagement=incident.engagement_id, ip=ip,
                         details={"reason": reason, "clocks_closed": closed, "findings_voided": voided})
    return Incident.get_by_id(incident.id)


def _open_findings(incident: Incident) -> list[Finding]:
    """The findings raised from the incident or one of its clocks that are not closed or void yet."""
    its_clocks = Clock.select(Clock.id).where(Clock.incident == incident.id)
    return list(Finding.select().where((Finding.incident == incident.id) | Finding.clock.in_(its_clocks),
                                       Finding.status.not_in(FINAL_STATES)).order_by(Finding.id))


def may_void(user: User) -> bool:
    return scope.permits(user, "review")
