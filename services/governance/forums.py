"""Forums: each engagement's three tiers (the seed's clause 2) and any its parties add, with members from both
sides, a chair and a cadence. Every write records its audit event in the same transaction."""
from __future__ import annotations

import datetime as dt

import peewee as pw

from domain import governance as rules
from domain.errors import Conflict, ValidationError
from models import Engagement, Forum, ForumMember, Meeting, User, transaction, utcnow
from services import scope
from services.audit import audit_log
from services.text import clean_text

from .inputs import date_field, json_object, people, person

FORUM_FIELDS = ("name", "tier", "cadence", "anchor", "chair", "members")


RESCHEDULED = "The forum's cadence changed: its meetings are scheduled on the new one"

def forums_of(engagement: Engagement) -> pw.ModelSelect:
    tier_order = pw.Case(Forum.tier, [(t, i) for i, t in enumerate(rules.TIERS)], len(rules.TIERS))
    return Forum.select().where(Forum.engagement == engagement.id).order_by(tier_order, Forum.id)


def members_of(forum_ids: list[int]) -> dict[int, list[User]]:
    """Each forum's members, by e-mail, in one query."""
    out: dict[int, list[User]] = {f: [] for f in forum_ids}
    if forum_ids:
        for row in (User.select(User, ForumMember.forum).join(ForumMember, on=(ForumMember.user == User.id))
                    .where(ForumMember.forum.in_(forum_ids)).order_by(User.email)):
            out[row.forummember.forum_id].append(row)
    return out


def default_forum_rows(engagement: Engagement, now: dt.datetime) -> list[dict]:
    return [{"engagement": engagement.id, "name": name, "tier": tier, "cadence": cadence,
             "anchor": engagement.start_date, "next_check_at": now, "created_at": now}
            for name, tier, cadence in rules.DEFAULT_FORUMS]


def ensure_default_forums(engagement: Engagement, now: dt.datetime | None = None) -> int:
    """Give an engagement without any forum the seed's three; returns how many were created."""
    now = now or utcnow()
    with transaction():
        if Forum.select().where(Forum.engagement == engagement.id).exists():
            return 0
        Forum.insert_many(default_forum_rows(engagement, now)).execute()
        audit_log.record("forum.defaults", actor_email="scheduler", object_type="engagement",
                         object_id=engagement.id, engagement=engagement,
                         details={"forums": [name for name, _t, _c in rules.DEFAULT_FORUMS]})
    return len(rules.DEFAULT_FORUMS)


def engagements_without_forums(limit: int) -> list[Engagement]:
    has_forum = Forum.select(Forum.id).where(Forum.engagement == Engagement.id)
    return list(Engagement.select().where(~pw.fn.EXISTS(has_forum)).order_by(Engagement.id).limit(limit))


def _parse(engagement: Engagement, data: dict, *, partial: bool) -> dict:
    fields: dict = {}
    if not partial or "name" in data:
        fields["name"] = clean_text(data, "name", limit=200)
    if not partial or "tier" in data:
        if data.get("tier") not in rules.TIERS:
            raise ValidationError(f"tier must be one of {', '.join(rules.TIERS)}", field="tier")
        fields["tier"] = data["tier"]
    if not partial or "cadence" in data:
        fields["cadence"] = rules.parse_cadence(data.get("cadence")).text
    if "anchor" in data or not partial:
        fields["anchor"] = date_field(data, "anchor", required=False) or engagement.start_date
    if data.get("chair") not in (None, ""):
        fields["chair"] = person(engagement, data["chair"], "chair")
    elif "chair" in data:
        fields["chair"] = None
    if "members" in data:
        fields["members"] = people(engagement, data["members"], "members")
    return fields


def _set_members(forum: Forum, members: list[User], chair: User | None) -> list[str]:
    wanted = {u.id: u for u in members}
    if chair is not None:
        wanted.setdefault(chair.id, chair)
    ForumMember.delete().where(ForumMember.forum == forum.id, ForumMember.user.not_in(list(wanted) or [0])).execute()
    if wanted:
        ForumMember.insert_many([{"forum": forum.id, "user": uid} for uid in wanted]).on_conflict_ignore().execute()
    return sorted(u.email for u in wanted.values())


def create_forum(actor: User, engagement_id: int | str, data: object, *, ip: str = "",
                 now: dt.datetime | None = None) -> Forum:
    engagement = scope.engagement_for(actor, engagement_id, "manage_forum")
    fields = _parse(engagement, json_object(data), partial=False)
    members = fields.pop("members", [])
    now = now or utcnow()
    with transaction():
        if forums_of(engagement).where(pw.fn.LOWER(Forum.name) == fields["name"].lower()).exists():
            raise Conflict(f"this engagement already has a forum named {fields['name']!r}", field="name")
        forum = Forum.create(engagement=engagement.id, next_check_at=now, created_at=now, **fields)
        emails = _set_members(forum, members, fields.get("chair"))
        audit_log.record("forum.create", actor=actor, object_type="forum", object_id=forum.id,
                         engagement=engagement, ip=ip,
                         details={"name": forum.name, "tier": forum.tier, "cadence": forum.cadence,
                                  "members": emails})
    return forum


def update_forum(actor: User, forum_id: int | str, data: object, *, ip: str = "",
                 now: dt.datetime | None = None) -> Forum:
    """Edit a forum. A new cadence or anchor cancels the meetings it had scheduled ahead (none held), and the
    scheduler schedules the next one on the new cadence."""
    forum = scope.forum_for(actor, forum_id)
    engagement = scope.engagement_for(actor, forum.engagement_id, "manage_forum")
    data = json_object(data)
    unknown = sorted(set(data) - set(FORUM_FIELDS))
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}", field=unknown[0])
    fields = _parse(engagement, data, partial=True)
    members = fields.pop("members", None)
    now = now or utcnow()
    with transaction():
        rescheduled = any(k in fields and getattr(forum, k) != fields[k] for k in ("cadence", "anchor"))
        if fields:
            if "name" in fields and forums_of(engagement).where(pw.fn.LOWER(Forum.name) == fields["name"].lower(),
                                                                 Forum.id != forum.id).exists():
                raise Conflict(f"this engagement already has a forum named {fields['name']!r}", field="name")
            Forum.update(**fields).where(Forum.id == forum.id).execute()
        forum = Forum.get_by_id(forum.id)
        if members is not None or "chair" in fields:
            current = members if members is not None else list(members_of([forum.id])[forum.id])
            _set_members(forum, current, forum.chair)
        cancelled = 0
        if rescheduled:
            cancelled = (Meeting.update(status="cancelled", cancelled_at=now, cancel_reason=RESCHEDULED)
                         .where(Meeting.forum == forum.id, Meeting.status == "scheduled",
                                Meeting.scheduled_for > now).execute())
            Forum.update(next_check_at=now).where(Forum.id == forum.id).execute()
        audit_log.record("forum.update", actor=actor, object_type="forum", object_id=forum.id,
                         engagement=engagement, ip=ip,
                         details={**{k: (v.email if isinstance(v, User) else str(v) if v is not None else None)
                                     for k, v in fields.items()},
                                  "members": sorted(u.email for u in members_of([forum.id])[forum.id]),
                                  "cancelled_meetings": cancelled})
    return Forum.get_by_id(forum.id)
