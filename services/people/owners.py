"""Who must deliver a request: its owner, a person of the producing party (the provider, or the client for
the evidence only it holds). A new request takes the Statement of Applicability row's owner when that owner is
an active user of the producing side; the client's risk team or the provider's admin reassigns it, audited,
the new owner notified once.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from domain.errors import ValidationError
from models import Applicability, Engagement, EvidenceRequest, EvidenceRequirement, User, transaction, utcnow
from services import scope
from services.audit import audit_log
from services.messages import notifications

from .accounts import normalise_email


def fill_default_owners(engagement: Engagement, rows: list[dict]) -> None:
    """Set ``owner`` on rows about to be inserted (each with ``control`` and ``requirement`` ids) from the
    Statement of Applicability (None where it names nobody on the producing side): two queries whatever the
    number of rows."""
    for row in rows:
        row.setdefault("owner", None)
    if not rows:
        return
    side_of_org = {engagement.client_id: "client", engagement.provider_id: "provider"}
    owners = {control: (uid, side_of_org.get(org)) for control, uid, org in (
        Applicability.select(Applicability.control, User.id, User.organisation)
        .join(User, on=(Applicability.owner == User.id))
        .where(Applicability.engagement == engagement.id, User.active == True).tuples())}  # noqa: E712
    if not owners:
        return
    produced_by = dict(EvidenceRequirement.select(EvidenceRequirement.id, EvidenceRequirement.produced_by)
                       .where(EvidenceRequirement.id.in_(sorted({r["requirement"] for r in rows}))).tuples())
    for row in rows:
        uid, side = owners.get(row["control"], (None, None))
        if uid is not None and side == produced_by.get(row["requirement"]):
            row["owner"] = uid


def own_unowned(engagement: Engagement, control_id: int, owner: User | None) -> int:
    """A Statement of Applicability row given an owner: the row's still-owed requests that nobody owns yet and
    that the owner's side produces become theirs (a request someone was given stays with them)."""
    side = {engagement.client_id: "client", engagement.provider_id: "provider"}.get(
        owner.organisation_id if owner is not None else None)
    if side is None:
        return 0
    produced = EvidenceRequirement.select(EvidenceRequirement.id).where(EvidenceRequirement.produced_by == side)
    return (EvidenceRequest.update(owner=owner.id)
            .where(EvidenceRequest.engagement == engagement.id, EvidenceRequest.control == control_id,
                   EvidenceRequest.owner.is_null(), EvidenceRequest.requirement.in_(produced),
                   EvidenceRequest.status.not_in(("accepted", "retired"))).execute())


def candidates(req: EvidenceRequest) -> list[tuple[int, str]]:
    """The people who may own the request: active users of its producing side, (id, e-mail) by e-mail."""
    return list(User.select(User.id, User.email)
                .where(User.organisation == _producing_org(req), User.active == True)  # noqa: E712
                .order_by(User.email).tuples())


def _producing_org(req: EvidenceRequest) -> int:
    engagement = req.engagement
    return engagement.client_id if req.requirement.produced_by == "client" else engagement.provider_id


def _new_owner(value: Any, req: EvidenceRequest) -> User:
    """The owner named by e-mail or id. Anyone else (unknown, inactive, another organisation, another
    tenant) gets the same answer, so the check tells nothing about other organisations' users."""
    side = "client" if req.requirement.produced_by == "client" else "provider"
    refused = ValidationError(f"owner must be an active user of the engagement's {side}, who delivers this "
                              "request", field="owner")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise refused
    text = str(value).strip()
    if text.isascii() and text.isdigit():
        key = User.id == int(text) if 0 < int(text) < 2**63 else None
    else:
        key = User.email == normalise_email(text) if "@" in text and len(text) <= 254 else None
    user = None if key is None else User.get_or_none(key, User.active == True,  # noqa: E712
                                                     User.organisation == _producing_org(req))
    if user is None:
        raise refused
    return user


def assign(user: User, request_id: int | str, data: Any, *, ip: str = "",
           now: dt.datetime | None = None) -> EvidenceRequest:
    """Give the request to another owner (``{"owner": e-mail or id}``): the client's risk team or the provider's
    admin. Audited (``request.assign``, from and to), the new owner notified once; naming the current owner
    again changes nothing."""
    now = now or utcnow()
    req = scope.request_for(user, request_id, "assign_owner")
    if not isinstance(data, dict) or "owner" not in data:
        raise ValidationError("owner is required (an e-mail address or a user id)", field="owner")
    owner = _new_owner(data["owner"], req)
    if owner.id == req.owner_id:
        return req
    with transaction():
        previous = EvidenceRequest.get_by_id(req.id).owner_id
        EvidenceRequest.update(owner=owner.id, updated_at=now).where(EvidenceRequest.id == req.id).execute()
        emails = dict(User.select(User.id, User.email).where(User.id.in_([previous or 0])).tuples())
        event = audit_log.record("request.assign", actor=user, object_type="request", object_id=req.id,
                                 engagement=req.engagement_id, ip=ip,
                                 details={"from": emails.get(previous), "to": owner.email})
        if owner.id != user.id:
            notifications.notify([owner.id], "request_assigned", "evidence_request", req.id, f"assign-{event.id}",
                                 title=f"You own {req.control.code}: {req.requirement.name}",
                                 body=f"{user.email} made you the owner of this request.",
                                 link=f"/requests/{req.id}", engagement_id=req.engagement_id, now=now)
    req.owner = owner
    return req
