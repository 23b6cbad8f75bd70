"""Calendar feeds (SPEC §10): each user may hold one secret ``.ics`` address listing the due dates of what
they may see (``services.scope``, the same functions as their pages): open evidence requests, running clocks'
deadlines, open findings' and governance actions' due dates, and the meetings of the forums whose governance
they see. Written with the ``icalendar`` library (RFC 5545), times in UTC.

The secret is shown once, at creation; only its SHA-256 is kept. Each event's ``UID`` is derived from what
it stands for (``finding-42@attest``, ``clock-7@attest``, ``action-5@attest``, ``meeting-9@attest`` as in the
engagement's meetings calendar; requests are grouped by engagement and due day,
``due-3-2026-12-31@attest``, so a busy reviewer sees "12 due" once), so a calendar that polls the feed updates
an event in place and drops it when it is done. A revoked secret answers 404 like an unknown one, the attempt
recorded in the audit trail; so does the secret of a deactivated user (without a record).

A cancelled meeting stays in the feed as ``STATUS:CANCELLED`` so a subscribed calendar removes it.

Kept cheap for calendars that poll: descriptions are short (a day's first ``SHOWN`` requests, the page the
event links to holds the rest), and :func:`version` names the feed's state by the newest audit event (every
change records one in its own transaction) and the hour (items enter and leave the window, statuses move with
the clock), so an unchanged feed answers 304 after one statement; a client that never sends the ETag back gets
the body this process last built for that address and version (:func:`cached_ics`). Each kind of event
stops at ``LIMIT``; when one does, the feed says so (``X-WR-CALDESC`` and an all-day note event today).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading

import peewee as pw
from icalendar import Calendar, Event

from domain.errors import Conflict, NotFound
from domain.findings import FINAL_STATES
from models import (
    Action,
    AuditEvent,
    CalendarFeed,
    Clock,
    Control,
    Engagement,
    EvidenceRequest,
    EvidenceRequirement,
    Finding,
    Forum,
    Meeting,
    User,
    transaction,
    utcnow,
)
from services import scope
from services.audit import audit_log
from services.messages.mail import link

OPEN_REQUESTS = ("upcoming", "open", "rejected", "overdue", "submitted")
PAST = dt.timedelta(days=60)  # overdue items stay on the calendar this long
FUTURE = dt.timedelta(days=400)
LIMIT = 2000  # per kind of event
SHOWN = 3  # requests named in one day's event (a long DESCRIPTION is costly to fold, and the page lists them)
TOUCH_EVERY = dt.timedelta(minutes=5)  # last_used_at is written at most this often
PRODID = "-//Attest//Compliance calendar//EN"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def feed_url(secret: str) -> str:
    return link(f"/calendar/{secret}.ics")


def list_feeds(user: User):
    return scope.calendar_feeds_for(user).order_by(CalendarFeed.revoked_at.is_null(False),
                                                   CalendarFeed.created_at.desc(), CalendarFeed.id.desc())


def active_feed(user: User) -> CalendarFeed | None:
    return scope.calendar_feeds_for(user).where(CalendarFeed.revoked_at.is_null()).first()


def create(user: User, *, ip: str = "") -> tuple[CalendarFeed, str]:
    """The user's feed and its secret (shown this once); one live feed per user (409 while one is live)."""
    secret = secrets.token_urlsafe(32)
    with transaction():
        if active_feed(user) is not None:
            raise Conflict("you already have a calendar feed; revoke it first to get a new address")
        feed = CalendarFeed.create(user=user.id, secret_hash=_hash(secret), prefix=secret[:8], created_at=utcnow())
        audit_log.record("calendar.create", actor=user, object_type="calendar_feed", object_id=feed.id, ip=ip,
                         details={"email": user.email, "prefix": feed.prefix})
    return feed, secret


def revoke(user: User, feed_id: int | str, *, ip: str = "") -> CalendarFeed:
    """Revoke the user's own feed (anyone else's is NotFound); twice changes nothing."""
    with transaction():
        feed = scope.calendar_feed_for(user, feed_id)
        if feed.revoked_at is None:
            CalendarFeed.update(revoked_at=utcnow()).where(CalendarFeed.id == feed.id).execute()
            audit_log.record("calendar.revoke", actor=user, object_type="calendar_feed", object_id=feed.id, ip=ip,
                             details={"email": user.email, "prefix": feed.prefix})
    return CalendarFeed.get_by_id(feed.id)


def user_for_secret(secret: str, *, ip: str = "") -> User:
    """The owner of a live feed; NotFound for an unknown, revoked or deactivated one (a revoked one is
    recorded)."""
    feed = CalendarFeed.get_or_none(CalendarFeed.secret_hash == _hash(secret or ""))
    if feed is None:
        raise NotFound("calendar feed not found")
    user = User.get_by_id(feed.user_id)
    if feed.revoked_at is not None:
        with transaction():
            audit_log.record("calendar.refused", actor_email=user.email, object_type="calendar_feed",
                             object_id=feed.id, ip=ip, details={"why": "revoked", "prefix": feed.prefix})
        raise NotFound("calendar feed not found")
    if not user.is_active:
        raise NotFound("calendar feed not found")
    now = utcnow()
    if feed.last_used_at is None or feed.last_used_at < now - TOUCH_EVERY:
        with transaction():
            CalendarFeed.update(last_used_at=now).where(CalendarFeed.id == feed.id).execute()
    return user


# ------------------------------------------------------------------------------------------ the feed

def _event(uid: str, summary: str, start: dt.datetime | dt.date, url: str, now: dt.datetime,
           description: str = "", length: dt.timedelta | None = None) -> Event:
    """One event: all-day for a date; at an instant (naive UTC) for a datetime, lasting ``length`` if given.

    Only the properties a calendar shows (each costs the library's line folding): an all-day event has no
    DTEND (one day, RFC 5545 §3.6.1), a meeting no TRANSP (OPAQUE is the default, §3.8.2.7)."""
    event = Event()
    event.add("uid", f"{uid}@attest")
    event.add("dtstamp", now.replace(tzinfo=dt.UTC))
    if isinstance(start, dt.datetime):
        event.add("dtstart", start.replace(tzinfo=dt.UTC))
        if length:
            event.add("dtend", start.replace(tzinfo=dt.UTC) + length)
    else:
        event.add("dtstart", start)
    event.add("summary", summary)
    event.add("url", url)
    if description:
        event.add("description", description)
    if not length:
        event.add("transp", "TRANSPARENT")  # a meeting takes the time; a due date does not
    return event


def _requests(user: User, now: dt.datetime) -> tuple[list[Event], bool]:
    """One event per engagement and due day (a busy reviewer's calendar shows "12 due" once, not 12 entries),
    at that day's first deadline, naming the first requests; its UID is the engagement and the day. Also
    whether the cap was reached (``LIMIT * 5`` requests read, or more than ``LIMIT`` days)."""
    rows = (scope.requests_across(user)
            .select(EvidenceRequest.id, EvidenceRequest.due_at, EvidenceRequest.status, Control.code,
                    EvidenceRequirement.name, Engagement.id, Engagement.name)
            .join(Control, on=(EvidenceRequest.control == Control.id))
            .switch(EvidenceRequest)
            .join(EvidenceRequirement, on=(EvidenceRequest.requirement == EvidenceRequirement.id))
            .switch(EvidenceRequest).join(Engagement, on=(EvidenceRequest.engagement == Engagement.id))
            .where(EvidenceRequest.status.in_(OPEN_REQUESTS), EvidenceRequest.due_at.between(now - PAST, now + FUTURE))
            .order_by(EvidenceRequest.due_at, EvidenceRequest.id).limit(LIMIT * 5).tuples())
    days: dict[tuple[int, dt.date], list[tuple]] = {}
    for row in rows:
        days.setdefault((row[5], row[1].date()), []).append(row)
    events = []
    capped = len(rows) >= LIMIT * 5 or len(days) > LIMIT
    for (engagement_id, day), items in list(days.items())[:LIMIT]:
        lines = [f"{code} {name} (request #{rid}, {status})" for rid, _due, status, code, name, _e, _n in items]
        shown = "\n".join(lines[:SHOWN]) + (f"\n… and {len(lines) - SHOWN} more" if len(lines) > SHOWN else "")
        summary = (f"Evidence due: {items[0][3]} {items[0][4]}" if len(items) == 1
                   else f"Evidence due: {len(items)} requests")
        events.append(_event(f"due-{engagement_id}-{day.isoformat()}", f"{summary} — {items[0][6]}", items[0][1],
                             link(f"/engagements/{engagement_id}/requests"), now, shown))
    return events, capped


def _clocks(user: User, now: dt.datetime) -> list[Event]:
    rows = (scope.clocks_across(user)
            .select(Clock.id, Clock.rule_id, Clock.deadline_at, Clock.basis, Clock.incident, Engagement.name)
            .join(Engagement, on=(Clock.engagement == Engagement.id))
            .where(Clock.state == "running", Clock.deadline_at.is_null(False),
                   Clock.deadline_at.between(now - PAST, now + FUTURE))
            .order_by(Clock.deadline_at, Clock.id).limit(LIMIT).tuples())
    return [_event(f"clock-{cid}", f"Deadline: {rule}", deadline,
                   link(f"/incidents/{incident}" if incident else "/incidents"), now, f"{engagement} — {basis}")
            for cid, rule, deadline, basis, incident, engagement in rows]


def _findings(user: User, now: dt.datetime) -> list[Event]:
    today = now.date()
    rows = (scope.findings_across(user)
            .select(Finding.id, Finding.title, Finding.due_date, Finding.severity, Engagement.name)
            .join(Engagement, on=(Finding.engagement == Engagement.id))
            .where(Finding.status.not_in(FINAL_STATES), Finding.due_date.is_null(False),
                   Finding.due_date.between(today - PAST, today + FUTURE))
            .order_by(Finding.due_date, Finding.id).limit(LIMIT).tuples())
    return [_event(f"finding-{fid}", f"Finding due: {title}", due, link(f"/findings/{fid}"), now,
                   f"{engagement} — {severity} finding #{fid}")
            for fid, title, due, severity, engagement in rows]


def _actions(user: User, now: dt.datetime) -> list[Event]:
    """Open governance actions of the engagements whose governance the user sees (never an auditor's)."""
    today = now.date()
    rows = (Action.select(Action.id, Action.title, Action.due_date, Action.tier, Action.meeting, Engagement.name)
            .join(Engagement, on=(Action.engagement == Engagement.id))
            .where(Action.engagement.in_(scope.governed_engagements(user)), Action.status == "open",
                   Action.due_date.between(today - PAST, today + FUTURE))
            .order_by(Action.due_date, Action.id).limit(LIMIT).tuples())
    return [_event(f"action-{aid}", f"Action due: {title}", due, link(f"/meetings/{meeting}"), now,
                   f"{engagement} — {tier} forum action #{aid}")
            for aid, title, due, tier, meeting, engagement in rows]


MEETING_LENGTH = dt.timedelta(hours=1)


def _meetings(user: User, now: dt.datetime) -> list[Event]:
    """The meetings of the forums whose governance the user sees, an hour each; a cancelled one says so."""
    rows = (Meeting.select(Meeting.id, Meeting.scheduled_for, Meeting.status, Forum.name, Forum.tier,
                           Engagement.name)
            .join(Forum, on=(Meeting.forum == Forum.id))
            .switch(Meeting).join(Engagement, on=(Meeting.engagement == Engagement.id))
            .where(Meeting.engagement.in_(scope.governed_engagements(user)),
                   Meeting.scheduled_for.between(now - PAST, now + FUTURE))
            .order_by(Meeting.scheduled_for, Meeting.id).limit(LIMIT).tuples())
    events = []
    for mid, at, status, forum, tier, engagement in rows:
        event = _event(f"meeting-{mid}", f"{forum} ({engagement})", at, link(f"/meetings/{mid}"), now,
                       f"{engagement} — {tier} forum meeting, {status}", MEETING_LENGTH)
        event.add("status", "CANCELLED" if status == "cancelled" else "CONFIRMED")
        events.append(event)
    return events


FORMAT = "2"  # changes what version() names when the feed's layout changes


def version(user: User, now: dt.datetime | None = None) -> str:
    """A name for the state of the user's feed (an ETag), in one statement: the newest audit event (every
    change records one in its transaction; a grant's or another tenant's change only costs one rebuild),
    the user and their role, and the hour, since items enter and leave the window and statuses move with
    time. A calendar polling an unchanged feed is answered 304 without building it."""
    newest = AuditEvent.select(pw.fn.MAX(AuditEvent.id)).scalar() or 0
    key = f"{FORMAT}:{user.id}:{user.role}:{user.is_active}:{newest}:{(now or utcnow()):%Y-%m-%dT%H}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _capped_note(kinds: list[str], now: dt.datetime) -> Event:
    """An all-day event today saying the feed stopped short, and where the rest is."""
    what = ", ".join(kinds)
    return _event(f"capped-{now.date().isoformat()}", f"Attest calendar: only the first {LIMIT} of {what} shown",
                  now.date(), link("/"), now, f"The feed lists at most {LIMIT} events of each kind (and "
                  f"{LIMIT * 5} evidence requests); Attest's pages list the rest.")


KEEP_BUILT = 32  # feeds' bodies kept per process (the most recent ones; a large feed is about 1 MB)
_built: dict[str, tuple[str, bytes]] = {}  # secret's hash -> (version, body)
_built_lock = threading.Lock()


def cached_ics(secret: str, user: User, feed_version: str) -> bytes:
    """The feed at ``feed_version`` for the live address ``secret`` of ``user``: the body this process built
    for that address and version if it still holds it, else a fresh one (then kept). Keyed by the address, so
    one user's body is never another's; the version changes with every recorded change, the user's role and
    the hour, so a kept body is never older than what :func:`version` names."""
    key = _hash(secret)
    with _built_lock:
        kept = _built.get(key)
    if kept is not None and kept[0] == feed_version:
        return kept[1]
    body = ics(user)
    with _built_lock:
        _built.pop(key, None)
        _built[key] = (feed_version, body)
        while len(_built) > KEEP_BUILT:
            del _built[next(iter(_built))]
    return body


def ics(user: User, now: dt.datetime | None = None) -> bytes:
    """The user's calendar: a fixed number of queries whatever it holds; when a kind of event reaches its cap,
    the calendar's description and a note event today say so."""
    now = (now or utcnow()).replace(microsecond=0)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"Attest — {user.email}")
    calendar.add("refresh-interval", dt.timedelta(hours=1), parameters={"VALUE": "DURATION"})
    requests, requests_capped = _requests(user, now)
    kinds = {"evidence requests": requests, "regulatory clocks": _clocks(user, now),
             "findings": _findings(user, now), "actions": _actions(user, now), "meetings": _meetings(user, now)}
    capped = [kind for kind, events in kinds.items()
              if len(events) >= LIMIT or (kind == "evidence requests" and requests_capped)]
    if capped:
        calendar.add("x-wr-caldesc", f"Capped: at most {LIMIT} events of each kind; more {', '.join(capped)} "
                                     "are in Attest.")
        calendar.add_component(_capped_note(capped, now))
    for events in kinds.values():
        for event in events:
            calendar.add_component(event)
    return calendar.to_ical()

