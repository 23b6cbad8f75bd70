"""Exit readiness per engagement and across engagements: each applicable exit control (``domain.governance_exit``)
current, stale or missing from its accepted evidence, the readiness figure and its monthly trend. A fixed number
of queries whatever the rows."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import peewee as pw

from domain import governance_exit as rules
from domain.timeutil import local
from models import Applicability, Control, Engagement, Evidence, EvidenceRequest, User, utcnow
from services import scope

PROVED = ("accepted", "expired", "superseded")  # evidence that was accepted at ``reviewed_at``


@dataclass(frozen=True)
class ExitItem:
    control: str
    title: str
    state: str
    valid_until: dt.date | None
    evidence_id: int | None
    request_id: int | None  # the control's latest request: where to upload


def _applicable(engagement_ids: list[int]) -> dict[int, list[Control]]:
    out: dict[int, list[Control]] = defaultdict(list)
    order = {code: i for i, code in enumerate(rules.EXIT_CONTROLS)}
    rows = (Control.select(Control, Applicability.engagement)
            .join(Applicability, on=(Applicability.control == Control.id))
            .where(Applicability.engagement.in_(engagement_ids), Applicability.applicable == True,  # noqa: E712
                   Control.code.in_(rules.EXIT_CONTROLS), Control.retired_in.is_null()))
    for control in rows:
        out[control.applicability.engagement_id].append(control)
    for controls in out.values():
        controls.sort(key=lambda c: order[c.code])
    return out


def _proofs(engagement_ids: list[int]) -> dict[tuple[int, int], list[tuple[dt.date, dt.date | None, int]]]:
    """(engagement, control) -> (accepted on, valid until, evidence id) of every accepted exit item."""
    out: dict[tuple[int, int], list] = defaultdict(list)
    rows = (Evidence.select(Evidence.engagement, EvidenceRequest.control, Evidence.reviewed_at, Evidence.valid_until,
                            Evidence.id)
            .join(EvidenceRequest).join(Control, on=(EvidenceRequest.control == Control.id))
            .where(Evidence.engagement.in_(engagement_ids), Evidence.status.in_(PROVED),
                   Control.code.in_(rules.EXIT_CONTROLS)).tuples())
    for engagement, control, reviewed, until, evidence in rows:
        out[(engagement, control)].append(((reviewed or utcnow()).date(), until, evidence))
    return out


def _latest_requests(engagement: Engagement, control_ids: list[int]) -> dict[int, int]:
    rows = (EvidenceRequest.select(EvidenceRequest.control, pw.fn.MAX(EvidenceRequest.id))
            .where(EvidenceRequest.engagement == engagement.id, EvidenceRequest.control.in_(control_ids or [0]))
            .group_by(EvidenceRequest.control).tuples())
    return dict(rows)


def _item(control: Control, proofs: list, today: dt.date, request_id: int | None) -> ExitItem:
    best = max(proofs, key=lambda p: (p[1] or dt.date.min, p[2]), default=None)
    until = best[1] if best else None
    state = rules.item_state(until, today) if best else "missing"
    return ExitItem(control.code, control.title, state, until, best[2] if best else None, request_id)


def today_of(engagement: Engagement) -> dt.date:
    return local(utcnow(), engagement.timezone).date()


def exit_items(engagement: Engagement, today: dt.date | None = None) -> list[ExitItem]:
    today = today or today_of(engagement)
    controls = _applicable([engagement.id])[engagement.id]
    proofs = _proofs([engagement.id])
    requests = _latest_requests(engagement, [c.id for c in controls])
    return [_item(c, proofs[(engagement.id, c.id)], today, requests.get(c.id)) for c in controls]


def trend(engagement: Engagement, today: dt.date | None = None) -> list[tuple[dt.date, int | None]]:
    """The readiness figure at the end of each of the last months, and today."""
    today = today or today_of(engagement)
    controls = _applicable([engagement.id])[engagement.id]
    proofs = _proofs([engagement.id])
    return [(day, rules.readiness([rules.state_on([(a, u) for a, u, _e in proofs[(engagement.id, c.id)]], day)
                                   for c in controls])) for day in rules.month_ends(today)]


@dataclass(frozen=True)
class EngagementReadiness:
    engagement: Engagement
    readiness: int | None
    counts: dict[str, int]


def readiness_across(user: User) -> list[EngagementReadiness]:
    engagements = list(scope.engagements_for(user).where(Engagement.id.in_(scope.governed_engagements(user)))
                       .order_by(Engagement.name))
    ids = [e.id for e in engagements]
    applicable, proofs = _applicable(ids), _proofs(ids)
    out = []
    for engagement in engagements:
        today = today_of(engagement)
        states = [_item(c, proofs[(engagement.id, c.id)], today, None).state for c in applicable[engagement.id]]
        out.append(EngagementReadiness(engagement, rules.readiness(states),
                                       {s: states.count(s) for s in rules.STATES}))
    return out
