"""The demo's governance: the three forums with members from both sides, their meetings since the engagement
began, at most 18 months back (the weekly review for its last six weeks; one monthly meeting in seven cancelled,
with its reason) held with attendees, minutes (uploaded to the SP-07 review-
minutes request of the month: one upload, not two), decisions and actions (some done, some open, some overdue,
which the demo's scheduler pass escalates); change requests in every state, the implemented significant one
with its change event; exit items current, stale and missing. Created once: nothing when meetings were held."""
from __future__ import annotations

import datetime as dt

from dateutil.relativedelta import relativedelta

from domain.governance_exit import EXIT_CONTROLS
from domain.recurrence import parse_frequency
from domain.timeutil import isoformat_utc, local
from models import Control, Engagement, EvidenceRequest, Forum, Meeting, User, utcnow
from services.evidence import evidence as evidence_service
from services.governance import changes, forums, meetings

from .uploads import PDF, stage

WEEKLY_WEEKS = 6
HISTORY_MONTHS = 18  # the monthly and quarterly forums' meetings go back this far (from the engagement's start)
CANCELLED_EVERY = 7  # every seventh monthly meeting was cancelled, with its reason, instead of held
CANCEL_REASON = "Moved: the provider's site was closed for the state public holiday"
DECISIONS = (("workforce_plan", "Approve the roster for the next period with the agreed shrinkage"),
             ("root_cause", "Root cause of the repeat transfer spike: IVR menu change; provider to revert"),
             ("backlog_priority", "Clear complaints older than 10 days before new email enquiries"))
ACTIONS = ("Re-forecast Monday staffing", "Publish the QA calibration results", "Refresh the hardship call script")


def create_demo_governance(engagement: Engagement, users: dict[str, User]) -> dict[str, int]:
    if Meeting.select().where(Meeting.engagement == engagement.id, Meeting.status == "held").exists():
        return {}
    now = utcnow()
    forums.ensure_default_forums(engagement, now)
    admin, provider = users["client_admin"], users["provider_admin"]
    people = [admin.email, users["risk_reviewer"].email, provider.email, users["provider_contributor"].email]
    today = local(now, engagement.timezone).date()
    held = 0
    for forum in forums.forums_of(engagement):
        changes_to = {"members": people, "chair": admin.email if forum.tier != "operational" else provider.email}
        if forum.tier == "operational":
            changes_to["anchor"] = (today - dt.timedelta(weeks=WEEKLY_WEEKS)).isoformat()
        forums.update_forum(admin, forum.id, changes_to, now=now)
        forum = Forum.get_by_id(forum.id)
        for n, day in enumerate(_history(forum, today)):
            if forum.tier == "performance" and n % CANCELLED_EVERY == CANCELLED_EVERY - 1:
                _cancel(engagement, forum, day, users)
            else:
                held += _hold(engagement, forum, day, n, users)
    counts = {"meetings held": held, "change requests": _demo_changes(engagement, users, now)}
    counts["exit items evidenced"] = _demo_exit(engagement, users, today)
    return counts


def _history(forum: Forum, today: dt.date) -> list[dt.date]:
    """The forum's meeting days before today, at most ``HISTORY_MONTHS`` back."""
    days = parse_frequency(forum.cadence).occurrences(forum.anchor, today - dt.timedelta(days=1))
    since = today - relativedelta(months=HISTORY_MONTHS)
    return [day for day in days if day >= since]


def _cancel(engagement: Engagement, forum: Forum, day: dt.date, users: dict[str, User]) -> None:
    """A meeting cancelled, with its reason, the day before it was to sit."""
    at = meetings.meeting_time(day, engagement.timezone)
    meeting = Meeting.create(forum=forum.id, engagement=engagement.id, scheduled_for=at, created_at=at)
    meetings.cancel_meeting(users["client_admin"], meeting.id, {"reason": CANCEL_REASON},
                            now=at - dt.timedelta(days=1))


def _hold(engagement: Engagement, forum: Forum, day: dt.date, n: int, users: dict[str, User]) -> int:
    at = meetings.meeting_time(day, engagement.timezone)
    meeting = Meeting.create(forum=forum.id, engagement=engagement.id, scheduled_for=at, created_at=at)
    after = at + dt.timedelta(hours=2)
    request = meetings.minutes_request(meeting, engagement)
    if request is None:
        return 0
    minutes = evidence_service.upload(users["provider_admin"], engagement.id, request_id=request.id,
                                      effective_date=local(after, engagement.timezone).date().isoformat(),
                                      note=f"Minutes: {forum.name}", now=after,
                                      files=[stage(PDF, f"{forum.name} minutes {day.isoformat()}")])
    meetings.hold_meeting(users["client_admin"], meeting.id, {
        "held_at": isoformat_utc(after), "minutes_evidence_id": minutes.id,
        "attendees": [users["client_admin"].email, users["provider_admin"].email]}, now=after)
    kind, text = DECISIONS[n % len(DECISIONS)]
    meetings.add_decision(users["client_admin"], meeting.id, {"kind": kind, "text": text}, now=after)
    due = day + relativedelta(weeks=2)
    action = meetings.add_action(users["client_admin"], meeting.id, {
        "title": ACTIONS[n % len(ACTIONS)], "owner": users["provider_admin"].email, "due_date": due.isoformat()},
        now=after)
    if n % 3 != 2:  # every third action is left open: the older ones are overdue and escalate at the next pass
        meetings.update_action(users["provider_admin"], action.id, {"status": "done"}, now=after)
    return 1


def _demo_changes(engagement: Engagement, users: dict[str, User], now: dt.datetime) -> int:
    admin, provider = users["client_admin"], users["provider_admin"]
    plan = (("New call reason: financial hardship", "new_call_reason", "implemented-significant"),
            ("Vietnamese language line", "new_language", "implemented"),
            ("Web chat channel at weekends", "new_channel", "approved"),
            ("After-call survey task", "new_after_call_task", "rejected"),
            ("Christmas volume uplift", "volume_change", "priced"),
            ("Call recording analytics", "technology_change", "proposed"))
    for n, (title, kind, end) in enumerate(plan):
        row = changes.propose(provider if n % 2 else admin, engagement.id, {"title": title, "kind": kind,
                                                                             "description": f"Demo: {title}."})
        if end == "proposed":
            continue
        changes.price(provider, row.id, {"one_off_price": f"{(n + 1) * 4250}.00",
                                         "monthly_price": f"{(n + 1) * 615}.50", "fte_impact": "1.5",
                                         "kpi_impact": "AHT +5 s while agents learn it"})
        if end == "priced":
            continue
        decision = "reject" if end == "rejected" else "approve"
        changes.decide(admin, row.id, {"decision": decision, "reason": "Demo: decided at the monthly review"})
        if end.startswith("implemented"):
            changes.implemented(provider, row.id, {"significant": end.endswith("significant")})
    return len(plan)


def _demo_exit(engagement: Engagement, users: dict[str, User], today: dt.date) -> int:
    """EX-02 current (accepted a month ago), EX-01 stale (runbooks accepted eight months ago and not kept
    current), the rest missing."""
    done = 0
    for code, months_ago in (("EX-02", 1), ("EX-01", 8)):
        request = (EvidenceRequest.select().join(Control)
                   .where(EvidenceRequest.engagement == engagement.id, Control.code == code,
                          Control.code.in_(EXIT_CONTROLS))
                   .order_by(EvidenceRequest.period_start).first())
        if request is None:
            continue
        effective = max(today - relativedelta(months=months_ago), engagement.start_date)
        item = evidence_service.upload(users["provider_admin"], engagement.id, request_id=request.id,
                                       effective_date=effective.isoformat(), note="Demo exit evidence",
                                       files=[stage(PDF, f"{code} exit evidence")])
        evidence_service.review(users["risk_reviewer"], item.id, "accept", "Current and complete.")
        done += 1
    return done
