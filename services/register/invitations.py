"""Engagement invitations: the provider a client names takes part only once one of its admins accepts.

The client's request never resolves the name it typed: whatever it names (a provider, a client, an audit firm,
nothing yet), the engagement is created the same way, pointing at a placeholder organisation without users,
and the invitation waits for a provider admin whose organisation bears that name. Accepting moves the
engagement to the accepting organisation; declining leaves it with the client, who may invite again by
creating a new engagement. See docs/administration.md.
"""
from __future__ import annotations

import datetime as dt

import peewee as pw

from domain import invitations as rules
from domain.errors import ValidationError
from models import Engagement, EngagementInvitation, Organisation, User, serialise_writers, transaction, utcnow
from services import scope
from services.audit import audit_log
from services.messages import notifications

NOTICE = "engagement_invitation"


def placeholder_provider() -> Organisation:
    """The user-less organisation an invited engagement points at until its provider accepts."""
    org = Organisation.get_or_none(Organisation.name == rules.PLACEHOLDER_NAME)
    return org or Organisation.create(name=rules.PLACEHOLDER_NAME, kind="provider")


def _provider_admins(name: str) -> list[int]:
    """Active admins of the provider organisation named ``name`` (none when it is another kind or unknown)."""
    rows = (User.select(User.id, Organisation.name).join(Organisation)
            .where(pw.fn.LOWER(Organisation.name) == name.lower(), Organisation.kind == "provider",
                   User.role == "provider_admin", User.active == True).tuples())  # noqa: E712
    return [uid for uid, org_name in rows if rules.same_name(name, org_name)]


def invite(actor: User, engagement: Engagement, provider_name: str, *, ip: str = "",
           now: dt.datetime | None = None) -> EngagementInvitation:
    """Record the invitation (inside the caller's transaction) and tell the named provider's admins, if any."""
    now = now or utcnow()
    row = EngagementInvitation.create(engagement=engagement, provider_name=provider_name,
                                      name_key=provider_name.casefold(), invited_by=actor, created_at=now)
    audit_log.record("engagement.invite", actor=actor, object_type="engagement", object_id=engagement.id,
                     engagement=engagement, ip=ip, details={"invitation": row.id, "provider": provider_name})
    client = Organisation.get_by_id(engagement.client_id).name
    notifications.notify(_provider_admins(provider_name), NOTICE, "engagement_invitation", row.id, "invited",
                         title=f"{client} invites you to the engagement “{engagement.name}”",
                         body="Accept it to see its requests and upload evidence, or decline it.",
                         link="/engagement-invitations", now=now)
    return row


def decide(actor: User, invitation_id: int | str, data: object, *, ip: str = "",
           now: dt.datetime | None = None) -> EngagementInvitation:
    """A provider admin accepts or declines an invitation addressed to its organisation."""
    if not isinstance(data, dict):
        raise ValidationError("expected a JSON object")
    reason = data.get("reason")
    reason = "" if reason is None else reason
    if not isinstance(reason, str) or len(reason) > 1000:
        raise ValidationError("reason must be text of at most 1000 characters", field="reason")
    with transaction():
        serialise_writers(f"engagement.invitation:{scope.row_id(invitation_id)}")
        row = scope.invitation_for(actor, invitation_id, "decide")
        row.state = rules.decide(row.state, data.get("decision"))
        row.decided_by, row.decided_at, row.reason = actor, now or utcnow(), reason.strip()
        row.save()
        engagement = row.engagement
        if row.state == "accepted":
            engagement.provider = actor.organisation_id
            engagement.save()
        _record_decision(actor, row, engagement, ip)
    return row


def _record_decision(actor: User, row: EngagementInvitation, engagement: Engagement, ip: str) -> None:
    verb = "accept" if row.state == "accepted" else "decline"
    audit_log.record(f"engagement.invitation.{verb}", actor=actor, object_type="engagement",
                     object_id=engagement.id, engagement=engagement, ip=ip,
                     details={"invitation": row.id, "provider": row.provider_name, "reason": row.reason})
    admins = notifications.engagement_users([engagement.id], ("client",), ("client_admin",))[engagement.id]
    notifications.notify(admins, NOTICE, "engagement_invitation", row.id, row.state,
                         title=f"{row.provider_name} {row.state} the engagement “{engagement.name}”",
                         body=row.reason, link=f"/engagements/{engagement.id}", engagement_id=engagement.id,
                         now=row.decided_at)


def by_engagement(engagement_ids: list[int]) -> dict[int, EngagementInvitation]:
    """The invitation of each engagement that has one (engagements without one have their provider)."""
    if not engagement_ids:
        return {}
    rows = EngagementInvitation.select().where(EngagementInvitation.engagement.in_(engagement_ids))
    return {r.engagement_id: r for r in rows}


def provider_status(row: EngagementInvitation | None) -> str:
    """``accepted`` for an engagement without invitation, else ``invited`` (pending) or the decision."""
    if row is None:
        return "accepted"
    return "invited" if row.state == "pending" else row.state
