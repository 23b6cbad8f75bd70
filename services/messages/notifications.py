"""In-app notifications, each created once per (user, kind, object, occasion), and their e-mail.

``notify(...)`` inserts with the unique key and ignores what exists, so two ticks racing (or a tick
re-run after a crash) never notify twice. E-mail goes through the outbox (``OutboxMessage``, one row
per notification or per daily digest, keyed so it is queued once); the sender delivers it.
Links are paths; e-mail prefixes ``BASE_URL``.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

import peewee as pw

from domain.errors import NotFound, ValidationError
from domain.timeutil import local
from models import (
    Engagement,
    Notification,
    NotificationSetting,
    User,
    transaction,
    utcnow,
)
from models.notifications import DELIVERY_MODES

from . import mail

BATCH = 500


def engagement_users(engagement_ids: Iterable[int], sides: tuple[str, ...] = ("client", "provider"),
                     roles: tuple[str, ...] | None = None) -> dict[int, list[int]]:
    """Active users of each engagement's client and/or provider organisation: engagement id -> user ids."""
    ids = sorted(set(engagement_ids))
    out: dict[int, list[int]] = {i: [] for i in ids}
    if not ids:
        return out
    for column, side in ((Engagement.client, "client"), (Engagement.provider, "provider")):
        if side not in sides:
            continue
        query = (User.select(User.id, Engagement.id.alias("eid"), User.role)
                 .join(Engagement, on=(User.organisation == column))
                 .where(Engagement.id.in_(ids), User.active == True))  # noqa: E712
        for uid, eid, role in query.tuples():
            if roles is None or role in roles:
                out[eid].append(uid)
    return out


def notify(user_ids: Iterable[int], kind: str, object_type: str, object_id: int, occasion: str, *, title: str,
           body: str = "", link: str = "", engagement_id: int | None = None, now: dt.datetime | None = None) -> int:
    """Create the notification for each user unless it exists; returns how many were new."""
    now = now or utcnow()
    rows = [{"user": uid, "kind": kind, "object_type": object_type, "object_id": object_id, "occasion": occasion,
             "engagement": engagement_id, "title": title[:300], "body": body, "link": link[:300], "created_at": now}
            for uid in sorted(set(user_ids))]
    return insert(rows)


def insert(rows: list[dict]) -> int:
    if not rows:  # the usual scheduler pass: no savepoint for nothing
        return 0
    created = 0
    with transaction():
        for i in range(0, len(rows), BATCH):
            created += Notification.insert_many(rows[i:i + BATCH]).on_conflict_ignore().as_rowcount().execute()
    return created


def mode_of(user: User) -> str:
    row = NotificationSetting.get_or_none(NotificationSetting.user == user.id)
    return row.mode if row else "immediate"


def set_mode(user: User, mode: str) -> str:
    if mode not in DELIVERY_MODES:
        raise ValidationError(f"mode must be one of {', '.join(DELIVERY_MODES)}", field="mode")
    with transaction():
        (NotificationSetting.insert(user=user.id, mode=mode)
         .on_conflict(conflict_target=[NotificationSetting.user], update={NotificationSetting.mode: mode}).execute())
    return mode


def for_user(user: User, unread_only: bool = False) -> pw.ModelSelect:
    query = Notification.select().where(Notification.user == user.id)
    if unread_only:
        query = query.where(Notification.read_at.is_null())
    return query.order_by(Notification.created_at.desc(), Notification.id.desc())


def unread_count(user: User) -> int:
    return Notification.select().where(Notification.user == user.id, Notification.read_at.is_null()).count()


def mark_read(user: User, notification_id: int, now: dt.datetime | None = None) -> Notification:
    """Another user's notification is not found (404)."""
    row = (Notification.get_or_none(Notification.id == notification_id, Notification.user == user.id)
           if 0 < notification_id < 2**63 else None)
    if row is None:
        raise NotFound("notification not found")
    if row.read_at is None:
        with transaction():
            Notification.update(read_at=now or utcnow()).where(Notification.id == row.id,
                                                               Notification.read_at.is_null()).execute()
        row = Notification.get_by_id(row.id)
    return row


def mark_all_read(user: User, now: dt.datetime | None = None) -> int:
    with transaction():
        return (Notification.update(read_at=now or utcnow())
                .where(Notification.user == user.id, Notification.read_at.is_null()).execute())


# ------------------------------------------------------------------------------------------ e-mail

def _queue_mail(dedupe_key: str, to: str, subject: str, body: str, now: dt.datetime) -> None:
    """One outbox row per key (``services.messages.mail``: the sender claims and delivers it once)."""
    mail.queue(to, " ".join(subject.split())[:300], body, dedupe_key=dedupe_key[:200])


def queue_immediate(now: dt.datetime | None = None, limit: int = 2000) -> int:
    """Queue an e-mail for the first ``limit`` notifications not yet e-mailed whose user wants them
    immediately, in one transaction; returns how many (``limit``: call again for the rest)."""
    now = now or utcnow()
    digest_users = NotificationSetting.select(NotificationSetting.user).where(NotificationSetting.mode == "digest")
    rows = list(Notification.select(Notification, User.email).join(User)
                .where(Notification.emailed == False, Notification.kind != "digest",  # noqa: E712
                       Notification.user.not_in(digest_users)).order_by(Notification.id).limit(limit))
    if not rows:
        return 0
    url = mail.base_url()
    with transaction():
        for n in rows:
            link = f"\n\n{url}{n.link}" if n.link else ""
            _queue_mail(f"notification:{n.id}", n.user.email, f"[Attest] {n.title}", f"{n.body}{link}\n", now)
        Notification.update(emailed=True).where(Notification.id.in_([n.id for n in rows])).execute()
    return len(rows)


def queue_digests(now: dt.datetime | None = None, tz: str = "Australia/Sydney") -> int:
    """Once per local day: one digest e-mail per digest user listing what it has not been e-mailed yet."""
    now = now or utcnow()
    day = local(now, tz).date().isoformat()
    users = {u.id: u for u in User.select().join(NotificationSetting, on=(NotificationSetting.user == User.id))
             .where(NotificationSetting.mode == "digest", User.active == True)}  # noqa: E712
    pending: dict[int, list[Notification]] = defaultdict(list)
    if users:  # one query for every digest user, however many
        for n in (Notification.select().where(Notification.user.in_(list(users)), Notification.emailed == False,  # noqa: E712
                                              Notification.kind != "digest").order_by(Notification.id)):
            pending[n.user_id].append(n)
    digested = {u for (u,) in Notification.select(Notification.user).where(
        Notification.user.in_(list(pending)), Notification.kind == "digest", Notification.occasion == day).tuples()} \
        if pending else set()  # already digested today: the rest waits for tomorrow's
    sent = 0
    url = mail.base_url()
    for user_id in sorted(set(pending) - digested):
        user, items = users[user_id], pending[user_id]
        with transaction():
            created = notify([user.id], "digest", "user", user.id, day, title=f"Your Attest digest for {day}",
                             body=f"{len(items)} notification(s)", link="/notifications", now=now)
            if not created:
                continue  # already digested today: the rest waits for tomorrow's
            lines = [f"- {n.title}" + (f"\n  {url}{n.link}" if n.link else "") for n in items]
            _queue_mail(f"digest:{user.id}:{day}", user.email, f"[Attest] Digest for {day}: {len(items)} item(s)",
                        "\n".join(lines) + "\n", now)
            Notification.update(emailed=True).where(Notification.id.in_([n.id for n in items])).execute()
            Notification.update(emailed=True).where(Notification.user == user.id, Notification.kind == "digest",
                                                    Notification.occasion == day).execute()
            sent += 1
    return sent
