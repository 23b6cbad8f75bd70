"""Meetings of the forums: scheduled ahead by the scheduler pass, each with an agenda built from live data
until it is held; holding records attendees and the minutes (an evidence item of the engagement: uploaded to
the review-minutes request of SP-07 it proves that requirement too, one upload, not two); decisions and
actions; an overdue action escalated onto the next agenda of the tier above and notified once.

The scheduler's steps (``schedule_due``, ``escalate_overdue``) run in bounded batches, each its own
transaction, and are idempotent: a meeting is unique per (forum, time), a notification per occasion, and an
action is escalated once (``escalated_at``).
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import peewee as pw

from domain import governance as rules
from domain.errors import Conflict, NotFound, ValidationError
from domain.findings import FINAL_STATES
from domain.timeutil import isoformat_utc, local, to_utc_naive
from models import (
    Action,
    ChangeRequest,
    Clock,
    Control,
    Decision,
    Engagement,
    Evidence,
    EvidenceRequest,
    EvidenceRequirement,
    Finding,
    Forum,
    ForumMember,
    Incident,
    KpiEscalation,
    Meeting,
    Subcontractor,
    User,
    transaction,
    utcnow,
)
from services import scope
from services.audit import audit_log
from services.integrations import webhooks
from services.messages import notifications
from services.performance.scorecard import kpi_misses_since
from services.text import clean_text

from .exit_readiness import exit_items
from .forums import engagements_without_forums, ensure_default_forums
from .inputs import date_field, instant_field, json_object, people, person

BATCH = 100
AGENDA_LINES = 20  # items shown per agenda section; the count is always the whole
MINUTES_CONTROL, MINUTES_REQUIREMENT = "SP-07", "service-review-minutes"
MINUTES_REFUSED = ("withdrawn", "rejected")


# --------------------------------------------------------------------------- scheduling (scheduler steps)

def meeting_time(day: dt.date, tz: str) -> dt.datetime:
    """The meeting's instant (naive UTC): ``rules.MEETING_HOUR`` on ``day`` in the engagement's timezone."""
    return to_utc_naive(dt.datetime.combine(day, dt.time(rules.MEETING_HOUR), tzinfo=ZoneInfo(tz)))


def next_slot(forum: Forum, engagement: Engagement, now: dt.datetime, latest: dt.datetime | None) -> dt.datetime:
    """The first meeting time of the cadence after ``now`` and after the forum's latest meeting."""
    tz = engagement.timezone
    day = local(now, tz).date()
    if latest is not None:
        day = max(day, local(latest, tz).date() + dt.timedelta(days=1))
    while True:
        day = rules.next_meeting_day(forum.cadence, forum.anchor, day)
        at = meeting_time(day, tz)
        if at > now:
            return at
        day += dt.timedelta(days=1)


@dataclass
class ScheduleResult:
    forums_created: int = 0
    meetings_scheduled: int = 0
    actions_escalated: int = 0
    notified: int = 0
    meeting_ids: list[int] = field(default_factory=list)


def schedule_due(now: dt.datetime, result: ScheduleResult | None = None) -> ScheduleResult:
    """The scheduler's governance step: default forums for new engagements, then the next meeting of every
    forum whose upcoming meeting has passed (``Forum.next_check_at``), in batches of ``BATCH``."""
    result = result or ScheduleResult()
    while engagements := engagements_without_forums(BATCH):
        for engagement in engagements:
            result.forums_created += ensure_default_forums(engagement, now)
    while True:
        due = list(Forum.select(Forum, Engagement).join(Engagement)
                   .where(Forum.next_check_at.is_null(False), Forum.next_check_at <= now)
                   .order_by(Forum.next_check_at, Forum.id).limit(BATCH))
        if not due:
            return result
        with transaction():
            for forum in due:
                _schedule_forum(forum, forum.engagement, now, result)


def _schedule_forum(forum: Forum, engagement: Engagement, now: dt.datetime, result: ScheduleResult) -> None:
    upcoming = (Meeting.select(pw.fn.MIN(Meeting.scheduled_for))
                .where(Meeting.forum == forum.id, Meeting.status == "scheduled", Meeting.scheduled_for > now)
                .scalar())
    if upcoming is None:
        latest = Meeting.select(pw.fn.MAX(Meeting.scheduled_for)).where(Meeting.forum == forum.id).scalar()
        at = next_slot(forum, engagement, now, latest)
        if engagement.end_date is not None and local(at, engagement.timezone).date() > engagement.end_date:
            Forum.update(next_check_at=None).where(Forum.id == forum.id).execute()
            return
        Meeting.insert(forum=forum.id, engagement=engagement.id, scheduled_for=at, status="scheduled",
                       created_at=now).on_conflict_ignore().execute()
        meeting = Meeting.get(Meeting.forum == forum.id, Meeting.scheduled_for == at)
        audit_log.record("meeting.scheduled", actor_email="scheduler", object_type="meeting", object_id=meeting.id,
                         engagement=engagement,
                         details={"forum": forum.name, "scheduled_for": isoformat_utc(at)})
        result.meetings_scheduled += 1
        result.meeting_ids.append(meeting.id)
        _announce(meeting, forum, engagement, now)
        when = local(at, engagement.timezone).strftime("%d %b %Y %H:%M")
        result.notified += notifications.notify(
            _forum_people(forum), "meeting_scheduled", "meeting", meeting.id, "scheduled",
            title=f"{forum.name} scheduled for {when} ({engagement.name})",
            body="The agenda is built from live data until the meeting is held.",
            link=f"/meetings/{meeting.id}", engagement_id=engagement.id, now=now)
        upcoming = at
    Forum.update(next_check_at=upcoming).where(Forum.id == forum.id).execute()


def _announce(meeting: Meeting, forum: Forum, engagement: Engagement, now: dt.datetime) -> None:
    """The ``meeting.scheduled`` webhook, in the scheduling transaction: both parties sit on the forums."""
    when = local(meeting.scheduled_for, engagement.timezone).strftime("%d %b %Y %H:%M")
    webhooks.emit("meeting.scheduled", engagement, object_type="meeting", object_id=meeting.id,
                  title=f"{forum.name} scheduled for {when}", path=f"/meetings/{meeting.id}",
                  extra={"forum": {"id": forum.id, "name": forum.name, "tier": forum.tier},
                         "scheduled_for": isoformat_utc(meeting.scheduled_for)}, now=now)


FALLBACK_ROLES = ("client_admin", "provider_admin")  # told of a forum that has no members yet


def _forum_people(forum: Forum) -> list[int]:
    ids = [u for (u,) in ForumMember.select(ForumMember.user).where(ForumMember.forum == forum.id).tuples()]
    ids += [forum.chair_id] if forum.chair_id else []
    if not ids:
        ids = notifications.engagement_users([forum.engagement_id], roles=FALLBACK_ROLES)[forum.engagement_id]
    return ids


def escalate_overdue(now: dt.datetime, result: ScheduleResult | None = None) -> ScheduleResult:
    """Open actions past their due date (the engagement's local today), not yet escalated: each goes onto the
    next agenda of the tier above (the agenda reads ``escalated_at``) and its owner and the upper forum's
    people are notified, once. In batches of ``BATCH``, each its own transaction."""
    result = result or ScheduleResult()
    horizon = now.date() + dt.timedelta(days=1)  # no local today is later than UTC's tomorrow
    last_id = 0
    while True:
        rows = list(Action.select(Action, Engagement).join(Engagement)
                    .where(Action.status == "open", Action.escalated_at.is_null(), Action.due_date < horizon,
                           Action.id > last_id)
                    .order_by(Action.id).limit(BATCH))
        if not rows:
            return result
        last_id = rows[-1].id
        overdue = [a for a in rows if rules.is_overdue(a.status, a.due_date, local(now, a.engagement.timezone).date())]
        if overdue:
            with transaction():
                for action in overdue:
                    _escalate(action, now, result)


def _escalate(action: Action, now: dt.datetime, result: ScheduleResult) -> None:
    if not Action.update(escalated_at=now).where(Action.id == action.id, Action.escalated_at.is_null(),
                                                  Action.status == "open").execute():
        return
    engagement = action.engagement
    upper = rules.escalation_tier(action.tier)
    people_ids = [action.owner_id]
    if upper:
        for forum in Forum.select().where(Forum.engagement == engagement.id, Forum.tier == upper):
            people_ids += _forum_people(forum)
    audit_log.record("action.escalated", actor_email="scheduler", object_type="action", object_id=action.id,
                     engagement=engagement, details={"to_tier": upper, "due_date": action.due_date.isoformat()})
    result.actions_escalated += 1
    where = f"the {upper} forum's next agenda" if upper else "the executive forum (no tier above)"
    result.notified += notifications.notify(
        people_ids, "action_overdue", "action", action.id, "overdue",
        title=f"Overdue action: {action.title} ({engagement.name})",
        body=f"Due {action.due_date.isoformat()}; escalated onto {where}.", link=f"/meetings/{action.meeting_id}",
        engagement_id=engagement.id, now=now)


AGENDA_NOTICE = dt.timedelta(days=1)  # the agenda is sent a day before the meeting


def remind(now: dt.datetime, result: ScheduleResult | None = None) -> ScheduleResult:
    """Once each: an action's owner is told the day before it falls due (or on the day), and a meeting's people
    that its agenda is ready a day before it. Bounded batches, each its own transaction; a marker column per
    row (``due_notified_at``, ``agenda_sent_at``) keeps a pass with nothing due to two indexed reads."""
    result = result or ScheduleResult()
    horizon = now.date() + dt.timedelta(days=2)  # no engagement's local tomorrow is later
    last_id = 0
    while rows := list(Action.select(Action, Engagement).join(Engagement)
                       .where(Action.status == "open", Action.due_notified_at.is_null(), Action.due_date <= horizon,
                              Action.id > last_id).order_by(Action.id).limit(BATCH)):
        last_id = rows[-1].id
        with transaction():
            for action in rows:
                _remind_action(action, now, result)
    while meetings := list(Meeting.select(Meeting, Forum, Engagement).join(Forum).switch(Meeting).join(Engagement)
                           .where(Meeting.status == "scheduled", Meeting.agenda_sent_at.is_null(),
                                  Meeting.scheduled_for <= now + AGENDA_NOTICE)
                           .order_by(Meeting.id).limit(BATCH)):
        with transaction():
            for meeting in meetings:
                _send_agenda(meeting, now, result)
    return result


def _remind_action(action: Action, now: dt.datetime, result: ScheduleResult) -> None:
    today = local(now, action.engagement.timezone).date()
    if action.due_date > today + dt.timedelta(days=1):
        return  # not due tomorrow yet where the engagement is
    Action.update(due_notified_at=now).where(Action.id == action.id).execute()
    if action.due_date < today:
        return  # already overdue when raised: its escalation tells the owner
    result.notified += notifications.notify(
        [action.owner_id], "action_due", "action", action.id, "due",
        title=f"Action due {action.due_date.isoformat()}: {action.title} ({action.engagement.name})",
        link=f"/meetings/{action.meeting_id}", engagement_id=action.engagement_id, now=now)


def _send_agenda(meeting: Meeting, now: dt.datetime, result: ScheduleResult) -> None:
    Meeting.update(agenda_sent_at=now).where(Meeting.id == meeting.id).execute()
    if meeting.scheduled_for <= now:
        return  # its time has passed: no notice after the fact
    agenda = live_agenda(meeting, meeting.forum, meeting.engagement)
    lines = [f"{name.replace('_', ' ')}: {section['count']}" for name, section in agenda.items()
             if isinstance(section, dict) and section.get("count")]
    when = local(meeting.scheduled_for, meeting.engagement.timezone).strftime("%d %b %Y %H:%M")
    result.notified += notifications.notify(
        _forum_people(meeting.forum), "agenda_ready", "meeting", meeting.id, "agenda",
        title=f"Agenda ready: {meeting.forum.name} on {when} ({meeting.engagement.name})",
        body="\n".join(lines) or "Nothing overdue or pending.", link=f"/meetings/{meeting.id}",
        engagement_id=meeting.engagement_id, now=now)


# --------------------------------------------------------------------------- reading

def meetings_of(forum: Forum) -> pw.ModelSelect:
    return Meeting.select().where(Meeting.forum == forum.id).order_by(Meeting.scheduled_for.desc())


def upcoming_meetings(engagement: Engagement, limit: int = 10) -> list[Meeting]:
    return list(Meeting.select(Meeting, Forum).join(Forum)
                .where(Meeting.engagement == engagement.id, Meeting.status == "scheduled")
                .order_by(Meeting.scheduled_for).limit(limit))


def recent_meetings(engagement: Engagement, limit: int = 10) -> list[Meeting]:
    return list(Meeting.select(Meeting, Forum).join(Forum)
                .where(Meeting.engagement == engagement.id, Meeting.status != "scheduled")
                .order_by(Meeting.scheduled_for.desc()).limit(limit))


CALENDAR_DAYS_BACK = 366


def calendar_meetings(engagement: Engagement) -> list[Meeting]:
    """The engagement's meetings from a year back on, for its calendar, with their forums."""
    since = utcnow() - dt.timedelta(days=CALENDAR_DAYS_BACK)
    return list(Meeting.select(Meeting, Forum).join(Forum)
                .where(Meeting.engagement == engagement.id, Meeting.scheduled_for >= since)
                .order_by(Meeting.scheduled_for))


def decisions_of(meeting: Meeting) -> list[Decision]:
    return list(Decision.select().where(Decision.meeting == meeting.id).order_by(Decision.id))


def actions_of(meeting: Meeting) -> list[Action]:
    return list(Action.select(Action, User).join(User, on=(Action.owner == User.id))
                .where(Action.meeting == meeting.id).order_by(Action.id))


def minutes_request(meeting: Meeting, engagement: Engagement) -> EvidenceRequest | None:
    """The SP-07 review-minutes request whose period holds the meeting's local date: upload the minutes there
    and they prove that requirement too."""
    day = local(meeting.scheduled_for, engagement.timezone).date()
    return (EvidenceRequest.select().join(Control, on=(EvidenceRequest.control == Control.id))
            .switch(EvidenceRequest)
            .join(EvidenceRequirement, on=(EvidenceRequest.requirement == EvidenceRequirement.id))
            .where(EvidenceRequest.engagement == engagement.id, Control.code == MINUTES_CONTROL,
                   EvidenceRequirement.key == MINUTES_REQUIREMENT, EvidenceRequest.period_start <= day,
                   EvidenceRequest.period_end >= day)
            .order_by(EvidenceRequest.period_start.desc()).first())


# --------------------------------------------------------------------------- the agenda

Line = Callable[[pw.Model, str], dict]


def _section(query: pw.ModelSelect, line: Line, tz: str) -> dict:
    return {"count": query.count(), "items": [line(row, tz) for row in query.limit(AGENDA_LINES)]}


def _day(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _request_line(r: EvidenceRequest, tz: str) -> dict:
    return {"id": r.id, "title": f"{r.control.code} {r.control.title}", "due": _day(local(r.due_at, tz).date()),
            "state": r.status, "link": f"/requests/{r.id}"}


def _finding_line(f: Finding, tz: str) -> dict:
    ladder = getattr(f, "ladder", None)
    return {"id": f.id, "title": f.title, "due": _day(f.due_date), "state": f.status, "severity": f.severity,
            "tier": rules.finding_tier(f.severity, ladder.tier if ladder and ladder.id else None),
            "link": f"/findings/{f.id}"}


def _tier_findings(engagement_id: int, tier: str, day: dt.date) -> pw.ModelSelect:
    """Open findings for a forum of ``tier``: those due by the meeting's date at this tier (a KPI finding by its
    ladder tier, any other by its severity: ``rules.finding_tier``), and KPI findings escalated up the ladder to
    this tier whatever their date."""
    due = Finding.due_date.is_null(False) & (Finding.due_date <= day)
    off_ladder = KpiEscalation.id.is_null() & Finding.severity.in_(rules.severities_for(tier)) & due
    escalated = KpiEscalation.tier != rules.TIERS[0]
    on_ladder = KpiEscalation.tier.in_(rules.ladder_tiers_for(tier)) & (due | escalated)
    return (Finding.select(Finding, KpiEscalation)
            .join(KpiEscalation, pw.JOIN.LEFT_OUTER, on=(KpiEscalation.finding == Finding.id), attr="ladder")
            .where(Finding.engagement == engagement_id, Finding.status.not_in(FINAL_STATES),
                   off_ladder | on_ladder)
            .order_by(Finding.due_date, Finding.id))


def _action_line(a: Action, tz: str) -> dict:
    return {"id": a.id, "title": a.title, "due": _day(a.due_date), "state": a.status, "owner": a.owner.email,
            "tier": a.tier, "link": f"/meetings/{a.meeting_id}"}


def _clock_line(c: Clock, tz: str) -> dict:
    due = local(c.deadline_at, tz)
    return {"id": c.id, "title": f"{c.rule_id} ({c.subject_type} {c.subject_id})",
            "due": due.strftime("%Y-%m-%d %H:%M") if due else None, "state": c.state,
            "link": f"/incidents/{c.incident_id}" if c.incident_id else ""}


def _change_line(c: ChangeRequest, tz: str) -> dict:
    return {"id": c.id, "title": c.title, "due": None, "state": c.status, "kind": c.kind,
            "link": f"/change-requests/{c.id}"}


def _subcontractor_line(s: Subcontractor, tz: str) -> dict:
    return {"id": s.id, "title": s.name, "due": None, "state": s.status, "link": f"/subcontractors/{s.id}"}


def kpi_since(meeting: Meeting, engagement: Engagement) -> dt.date:
    """Where the agenda's KPI lines start: the local date of the forum's last meeting held before this one (a
    period still running then was not yet discussed), else the engagement's start."""
    last = (Meeting.select(pw.fn.MAX(Meeting.scheduled_for))
            .where(Meeting.forum == meeting.forum_id, Meeting.status == "held",
                   Meeting.scheduled_for < meeting.scheduled_for).scalar())
    return local(last, engagement.timezone).date() if last else engagement.start_date


def _kpi_results(meeting: Meeting, engagement: Engagement) -> dict:
    misses = kpi_misses_since(engagement, kpi_since(meeting, engagement))
    return {"count": len(misses), "items": [
        {"id": m["result_id"], "title": f"{m['kpi']} {m['name']}: {m['value']} in {m['period']}", "due": None,
         "state": m["outcome"], "kpi": m["kpi"], "period": m["period"], "value": m["value"],
         "link": f"/kpis/{m['kpi_id']}"} for m in misses[:AGENDA_LINES]]}


def live_agenda(meeting: Meeting, forum: Forum, engagement: Engagement) -> dict:
    """The agenda from live data, in a fixed number of queries whatever the rows: KPI results missed or below
    expected since the forum's last meeting, overdue requests, this tier's findings
    (``_tier_findings``) and actions due by the meeting's date, actions escalated from the tier below, running and
    breached clocks, change requests and sub-contractor proposals awaiting a decision, exit items gone stale."""
    tz, eid = engagement.timezone, engagement.id
    day = local(meeting.scheduled_for, tz).date()
    actions = Action.select(Action, User).join(User, on=(Action.owner == User.id)).where(
        Action.engagement == eid, Action.status == "open")
    below = rules.TIER_BELOW.get(forum.tier)
    return {
        "built_at": isoformat_utc(utcnow()),
        "kpi_results": _kpi_results(meeting, engagement),
        "overdue_requests": _section(
            EvidenceRequest.select(EvidenceRequest, Control).join(Control)
            .where(EvidenceRequest.engagement == eid, EvidenceRequest.status == "overdue")
            .order_by(EvidenceRequest.due_at, EvidenceRequest.id), _request_line, tz),
        "findings": _section(_tier_findings(eid, forum.tier, day), _finding_line, tz),
        "actions": _section(actions.where(Action.tier == forum.tier, Action.due_date <= day)
                            .order_by(Action.due_date, Action.id), _action_line, tz),
        "escalated_actions": _section(
            actions.where(Action.tier == below, Action.escalated_at.is_null(False)) if below
            else actions.where(pw.SQL("1 = 0")), _action_line, tz),
        "clocks": _section(Clock.select().where(Clock.engagement == eid, Clock.state.in_(("running", "breached")),
                                                Clock.incident.is_null() | Clock.incident.not_in(
                                                    Incident.select(Incident.id).where(
                                                        Incident.voided_at.is_null(False))))
                           .order_by(Clock.deadline_at, Clock.id), _clock_line, tz),
        "change_requests": _section(
            ChangeRequest.select().where(ChangeRequest.engagement == eid,
                                         ChangeRequest.status.in_(rules.PENDING_CHANGE_STATES))
            .order_by(ChangeRequest.proposed_at, ChangeRequest.id), _change_line, tz),
        "subcontractor_proposals": _section(
            Subcontractor.select().where(Subcontractor.engagement == eid, Subcontractor.status == "proposed")
            .order_by(Subcontractor.proposed_at, Subcontractor.id), _subcontractor_line, tz),
        "stale_exit_items": _stale_exit_items(engagement, day),
    }


def _stale_exit_items(engagement: Engagement, day: dt.date) -> dict:
    stale = [i for i in exit_items(engagement, day) if i.state == "stale"]
    return {"count": len(stale), "items": [
        {"id": i.request_id or 0, "title": f"{i.control} {i.title}", "due": _day(i.valid_until), "state": i.state,
         "link": f"/requests/{i.request_id}" if i.request_id else ""} for i in stale]}


def agenda_of(meeting: Meeting, forum: Forum, engagement: Engagement) -> dict:
    """Live until held; the agenda it was held on afterwards."""
    if meeting.status != "scheduled" and meeting.agenda:
        return json.loads(meeting.agenda)
    return live_agenda(meeting, forum, engagement)


# --------------------------------------------------------------------------- holding, decisions, actions

def _meeting_for_write(actor: User, meeting_id: int | str) -> tuple[Meeting, Forum, Engagement]:
    meeting = scope.meeting_for(actor, meeting_id)
    engagement = scope.engagement_for(actor, meeting.engagement_id, "governance")
    return meeting, Forum.get_by_id(meeting.forum_id), engagement


def _minutes(actor: User, engagement: Engagement, value: object) -> Evidence:
    """An evidence item of this engagement the actor may see; the same error for a missing one, another
    engagement's and another tenant's."""
    refused = ValidationError("minutes_evidence_id must be an evidence item of this engagement",
                              field="minutes_evidence_id")
    if value in (None, "") or isinstance(value, bool):
        raise ValidationError("minutes_evidence_id is required: upload the minutes first",
                              field="minutes_evidence_id")
    try:
        evidence = scope.evidence_for(actor, value)
    except NotFound:
        raise refused from None
    if evidence.engagement_id != engagement.id:
        raise refused
    if evidence.status in MINUTES_REFUSED:
        raise ValidationError(f"that evidence item was {evidence.status}: choose the minutes as kept",
                              field="minutes_evidence_id")
    return evidence


def hold_meeting(actor: User, meeting_id: int | str, data: object, *, ip: str = "",
                 now: dt.datetime | None = None) -> Meeting:
    """Record a meeting as held (once, in the past) with its attendees and minutes; its agenda is kept as it
    stood."""
    meeting, forum, engagement = _meeting_for_write(actor, meeting_id)
    data = json_object(data)
    now = now or utcnow()
    if meeting.status != "scheduled":
        raise Conflict(f"this meeting is already {meeting.status}", field="status")
    held_at = instant_field(data, "held_at", now)
    rules.check_held_at(held_at, now, meeting.scheduled_for)
    attendees = people(engagement, data.get("attendees"), "attendees", required=True)
    minutes = _minutes(actor, engagement, data.get("minutes_evidence_id"))
    agenda = live_agenda(meeting, forum, engagement)
    emails = sorted(u.email for u in attendees)
    with transaction():
        if not (Meeting.update(status="held", held_at=held_at, attendees=json.dumps(emails), minutes=minutes.id,
                               agenda=json.dumps(agenda), held_by=actor.id)
                .where(Meeting.id == meeting.id, Meeting.status == "scheduled").execute()):
            raise Conflict("this meeting was recorded meanwhile", field="status")
        Forum.update(next_check_at=now).where(Forum.id == forum.id, Forum.next_check_at.is_null(False),
                                              Forum.next_check_at > now).execute()
        audit_log.record("meeting.held", actor=actor, object_type="meeting", object_id=meeting.id,
                         engagement=engagement, ip=ip,
                         details={"held_at": isoformat_utc(held_at), "attendees": emails,
                                  "minutes_evidence_id": minutes.id, "minutes_sha256": minutes.sha256})
    return Meeting.get_by_id(meeting.id)


def schedule_extra(actor: User, forum_id: int | str, data: object, *, ip: str = "",
                   now: dt.datetime | None = None) -> Meeting:
    """An extra meeting of a forum (beyond its cadence), in the future."""
    forum = scope.forum_for(actor, forum_id)
    engagement = scope.engagement_for(actor, forum.engagement_id, "governance")
    data = json_object(data)
    now = now or utcnow()
    if data.get("scheduled_for") in (None, ""):
        raise ValidationError("scheduled_for is required (ISO 8601 with its offset)", field="scheduled_for")
    at = instant_field(data, "scheduled_for", now)
    if at <= now:
        raise ValidationError("scheduled_for must be in the future", field="scheduled_for")
    with transaction():
        if Meeting.select().where(Meeting.forum == forum.id, Meeting.scheduled_for == at).exists():
            raise Conflict("this forum already meets at that time", field="scheduled_for")
        meeting = Meeting.create(forum=forum.id, engagement=engagement.id, scheduled_for=at, created_at=now)
        audit_log.record("meeting.scheduled", actor=actor, object_type="meeting", object_id=meeting.id,
                         engagement=engagement, ip=ip,
                         details={"forum": forum.name, "scheduled_for": isoformat_utc(at)})
        _announce(meeting, forum, engagement, now)
    return meeting


def cancel_meeting(actor: User, meeting_id: int | str, data: object, *, ip: str = "",
                   now: dt.datetime | None = None) -> Meeting:
    """Cancel a scheduled meeting with a reason: its agenda is kept as it stood, its forum's next meeting is still
    scheduled on the cadence (at the scheduler's next pass), and a subscribed calendar shows it cancelled."""
    meeting, forum, engagement = _meeting_for_write(actor, meeting_id)
    data = json_object(data)
    now = now or utcnow()
    rules.check_move(rules.MEETING_TRANSITIONS, "meeting", meeting.status, "cancelled")
    reason = clean_text(data, "reason", limit=2000, multiline=True)
    agenda = live_agenda(meeting, forum, engagement)
    with transaction():
        if not Meeting.update(status="cancelled", cancelled_at=now, cancel_reason=reason,
                              agenda=json.dumps(agenda)).where(Meeting.id == meeting.id,
                                                               Meeting.status == "scheduled").execute():
            raise Conflict("this meeting was recorded meanwhile", field="status")
        Forum.update(next_check_at=now).where(Forum.id == forum.id, Forum.next_check_at.is_null(False)).execute()
        audit_log.record("meeting.cancelled", actor=actor, object_type="meeting", object_id=meeting.id,
                         engagement=engagement, ip=ip,
                         details={"reason": reason, "scheduled_for": isoformat_utc(meeting.scheduled_for)})
    return Meeting.get_by_id(meeting.id)


def _open_for_minutes(meeting: Meeting) -> None:
    if meeting.status == "cancelled":
        raise Conflict("this meeting was cancelled: nothing is decided at it", field="status")


def add_decision(actor: User, meeting_id: int | str, data: object, *, ip: str = "",
                 now: dt.datetime | None = None) -> Decision:
    meeting, _forum, engagement = _meeting_for_write(actor, meeting_id)
    data = json_object(data)
    _open_for_minutes(meeting)
    if data.get("kind") not in rules.DECISION_KINDS:
        raise ValidationError(f"kind must be one of {', '.join(rules.DECISION_KINDS)}", field="kind")
    text = clean_text(data, "text", limit=5000, multiline=True)
    with transaction():
        if Decision.select().where(Decision.meeting == meeting.id, Decision.kind == data["kind"],
                                   Decision.text == text).exists():
            raise Conflict("this decision is already recorded at this meeting", field="text")
        decision = Decision.create(meeting=meeting.id, engagement=engagement.id, kind=data["kind"], text=text,
                                   created_by=actor.id, created_at=now or utcnow())
        audit_log.record("decision.create", actor=actor, object_type="decision", object_id=decision.id,
                         engagement=engagement, ip=ip, details={"meeting": meeting.id, "kind": decision.kind})
    return decision


def _finding(engagement: Engagement, value: object) -> int | None:
    if value in (None, ""):
        return None
    key = scope.row_id(value) if not isinstance(value, bool) else None
    found = key and Finding.select(Finding.id).where(Finding.id == key, Finding.engagement == engagement.id).first()
    if not found:
        raise ValidationError("finding_id must be a finding of this engagement", field="finding_id")
    return found.id


def add_action(actor: User, meeting_id: int | str, data: object, *, ip: str = "",
               now: dt.datetime | None = None) -> Action:
    meeting, forum, engagement = _meeting_for_write(actor, meeting_id)
    data = json_object(data)
    _open_for_minutes(meeting)
    title = clean_text(data, "title", limit=200)
    owner = person(engagement, data.get("owner"), "owner")
    due = date_field(data, "due_date")
    finding = _finding(engagement, data.get("finding_id"))
    kpi = clean_text(data, "kpi", required=False, limit=40)
    with transaction():
        if Action.select().where(Action.meeting == meeting.id, Action.title == title,
                                 Action.status == "open").exists():
            raise Conflict("this action is already open at this meeting", field="title")
        action = Action.create(meeting=meeting.id, engagement=engagement.id, tier=forum.tier, title=title,
                               owner=owner.id, due_date=due, finding=finding, kpi=kpi, created_by=actor.id,
                               created_at=now or utcnow())
        audit_log.record("action.create", actor=actor, object_type="action", object_id=action.id,
                         engagement=engagement, ip=ip,
                         details={"meeting": meeting.id, "owner": owner.email, "due_date": due.isoformat(),
                                  "finding": finding, "kpi": kpi})
    return action


ACTION_FIELDS = ("status", "title", "owner", "due_date")


def update_action(actor: User, action_id: int | str, data: object, *, ip: str = "",
                  now: dt.datetime | None = None) -> Action:
    """Close an action (``done`` / ``cancelled``), or change its title, owner or due date while open; a new due
    date re-arms its escalation."""
    action = scope.action_for(actor, action_id)
    engagement = scope.engagement_for(actor, action.engagement_id, "governance")
    data = json_object(data)
    unknown = sorted(set(data) - set(ACTION_FIELDS))
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}", field=unknown[0])
    if not data:
        raise ValidationError("nothing to change: give status, title, owner or due_date")
    now = now or utcnow()
    fields: dict = {}
    if "status" in data:
        if not isinstance(data["status"], str) or data["status"] not in rules.ACTION_TRANSITIONS:
            raise ValidationError("status must be open, done or cancelled", field="status")
        rules.check_move(rules.ACTION_TRANSITIONS, "action", action.status, data["status"])
        fields.update(status=data["status"], closed_at=now)
    elif action.status != "open":
        raise Conflict(f"this action is {action.status}", field="status")
    if "title" in data:
        fields["title"] = clean_text(data, "title", limit=200)
    if "owner" in data:
        fields["owner"] = person(engagement, data["owner"], "owner").id
    if "due_date" in data:
        fields["due_date"] = date_field(data, "due_date")
        fields["escalated_at"] = None
    with transaction():
        if not Action.update(**fields).where(Action.id == action.id, Action.status == action.status).execute():
            raise Conflict("this action changed meanwhile", field="status")
        audit_log.record("action.update", actor=actor, object_type="action", object_id=action.id,
                         engagement=engagement, ip=ip,
                         details={k: (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v)
                                  for k, v in fields.items()})
    return Action.get_by_id(action.id)


# --------------------------------------------------------------------------- the action log

ACTION_FILTERS = ("engagement", "status", "tier", "owner", "overdue")


def action_log(user: User, args: dict) -> pw.ModelSelect:
    """Actions of every engagement whose governance the user sees, filtered by engagement, status, tier, owner
    (e-mail) and ``overdue=1``, soonest due first."""
    query = (Action.select(Action, User, Engagement).join(User, on=(Action.owner == User.id))
             .switch(Action).join(Engagement, on=(Action.engagement == Engagement.id))
             .where(Action.engagement.in_(scope.governed_engagements(user))))
    if args.get("engagement"):
        engagement = scope.row_id(args["engagement"])
        if engagement is None:
            raise ValidationError("engagement must be an engagement's id", field="engagement")
        query = query.where(Action.engagement == engagement)
    filters = (("status", Action.status, tuple(rules.ACTION_TRANSITIONS)), ("tier", Action.tier, rules.TIERS))
    for name, column, allowed in filters:
        if args.get(name):
            if args[name] not in allowed:
                raise ValidationError(f"{name} must be one of {', '.join(allowed)}", field=name)
            query = query.where(column == args[name])
    if args.get("owner"):
        query = query.where(pw.fn.LOWER(User.email) == str(args["owner"]).strip().lower())
    if args.get("overdue") in ("1", "true", "on"):
        query = query.where(Action.status == "open", _past_local_today(user))
    return query.order_by(Action.due_date, Action.id)


def _past_local_today(user: User) -> pw.Expression:
    """Due before the local today of the action's engagement: one condition per timezone in the user's scope."""
    now = utcnow()
    zones = [tz for (tz,) in scope.engagements_for(user).select(Engagement.timezone).distinct().tuples()]
    condition = pw.SQL("1 = 0")
    for tz in zones:
        condition = condition | ((Engagement.timezone == tz) & (Action.due_date < local(now, tz).date()))
    return condition


def is_overdue(action: Action, engagement: Engagement, now: dt.datetime | None = None) -> bool:
    return rules.is_overdue(action.status, action.due_date, local(now or utcnow(), engagement.timezone).date())
