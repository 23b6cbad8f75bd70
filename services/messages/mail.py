"""Outbound e-mail: an outbox table written inside the caller's transaction, and a sender that claims rows.

``queue(...)`` inserts one ``OutboxMessage`` per ``dedupe_key`` (a second call with the same key is a
no-op), in the caller's transaction: a mail exists if and only if the change that caused it committed.

``send_pending(...)`` (run by the scheduler pass and by ``flask --app app send-mail``) works in batches:

1. **claim** a batch in its own committed transaction: a fresh ``claim_token`` and ``claimed_until``
   (a lease) on rows nobody holds, with a conditional UPDATE that re-checks the row is still free, so two
   senders racing never both hold (and send) the same row;
2. **send** each claimed row over one SMTP connection;
3. **mark** it sent (``sent_at``) in a transaction right after the server's ``250``.

A sender killed between 1 and 3 leaves its rows claimed until the lease runs out; the next sender then
takes them again, so nothing is lost. Exactly once is as far as SMTP allows it: if the process dies
after the server answered ``250`` for a message but before step 3 committed, that message goes out a
second time after the lease. That window (one message per dead sender) cannot be closed from this side;
it is made harmless instead: every message carries a ``Message-ID`` derived from its ``dedupe_key``, so
the resend is the *same* message (mail clients and most servers collapse duplicates by Message-ID).

SMTP errors are retried with exponential backoff (``next_attempt_at``) up to ``MAX_ATTEMPTS``, then the row
is marked ``failed_at`` and logged. With no ``SMTP_URL`` mail stays in the outbox and is written to the log
once (``logged_at``).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import unquote, urlparse

from domain.errors import ValidationError
from models import OutboxMessage, transaction, utcnow

log = logging.getLogger("attest.mail")

BATCH = 10
SMTP_TIMEOUT = 30  # seconds per SMTP operation
# A claim must outlive the slowest batch (every message timing out), or a live sender's rows would be re-sent.
LEASE = dt.timedelta(seconds=BATCH * SMTP_TIMEOUT * 2 + 60)
MAX_ATTEMPTS = 10
FIRST_BACKOFF = dt.timedelta(minutes=1)
MAX_BACKOFF = dt.timedelta(hours=2)
DEFAULT_BASE_URL = "http://127.0.0.1:5000"
SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


def base_url() -> str:
    """The address e-mailed links point at (``BASE_URL``), without a trailing slash."""
    return (os.environ.get("BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def link(path: str, base: str | None = None) -> str:
    """An absolute link for an e-mail: ``BASE_URL`` (or ``base``) + ``path``."""
    return (base or base_url()).rstrip("/") + "/" + path.lstrip("/")


def message_id_for(dedupe_key: str) -> str:
    """A stable Message-ID: the same mail sent twice (after a crash) is recognisably the same message."""
    return f"<{hashlib.sha256(dedupe_key.encode()).hexdigest()[:40]}@attest.mail>"


def _header_text(value: str, field: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"mail {field} is required", field=field)
    if any(ch in value for ch in "\r\n\x00") or len(value) > limit:  # header injection, or too long
        raise ValidationError(f"mail {field} must be one line of at most {limit} characters", field=field)
    return value.strip()


def queue(to: str, subject: str, body: str, *, dedupe_key: str, html: str | None = None) -> bool:
    """Put a mail in the outbox, inside the caller's transaction; True if queued, False if a mail with this
    ``dedupe_key`` already exists (then nothing changes: each mail is created once)."""
    key = _header_text(dedupe_key, "dedupe_key", 200)
    row = {"dedupe_key": key, "message_id": message_id_for(key), "to": _header_text(to, "to", 254),
           "subject": _header_text(subject, "subject", 300), "body": body or "", "html": html,
           "created_at": utcnow(), "next_attempt_at": utcnow()}
    with transaction():
        inserted = OutboxMessage.insert(row).on_conflict_ignore().as_rowcount().execute()
    return bool(inserted)


# ------------------------------------------------------------------------------------------ SMTP target

@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    mode: str  # smtp | smtp+starttls | smtps
    username: str = ""
    password: str = ""


def parse_smtp_url(url: str) -> SmtpTarget:
    """``smtp://host:port``, ``smtp+starttls://user:pass@host:port`` or ``smtps://…``; ValueError otherwise."""
    parsed = urlparse(url.strip())
    if parsed.scheme not in SCHEMES or not parsed.hostname:
        raise ValueError(f"SMTP_URL {url!r}: expected smtp://host:port, smtp+starttls://user:pass@host:port "
                         "or smtps://user:pass@host:port")
    try:
        port = parsed.port or SCHEMES[parsed.scheme]
    except ValueError:
        raise ValueError(f"SMTP_URL {url!r}: the port is not a number") from None
    return SmtpTarget(parsed.hostname, port, parsed.scheme, unquote(parsed.username or ""),
                      unquote(parsed.password or ""))


def _connect(target: SmtpTarget) -> smtplib.SMTP:
    if target.mode == "smtps":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(target.host, target.port, timeout=SMTP_TIMEOUT,
                                              context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(target.host, target.port, timeout=SMTP_TIMEOUT)
        if target.mode == "smtp+starttls":
            smtp.starttls(context=ssl.create_default_context())
    if target.username:
        smtp.login(target.username, target.password)
    return smtp


def sender_address() -> str:
    return os.environ.get("MAIL_FROM") or f"Attest <no-reply@{urlparse(base_url()).hostname or 'localhost'}>"


def build_message(row: OutboxMessage) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender_address()
    message["To"] = row.to
    message["Subject"] = row.subject
    message["Message-ID"] = row.message_id
    message["Date"] = format_datetime(row.created_at.replace(tzinfo=dt.UTC))
    message.set_content(row.body)
    if row.html:
        message.add_alternative(row.html, subtype="html")
    return message


# ------------------------------------------------------------------------------------------ sending

@dataclass
class SendResult:
    sent: int = 0
    retried: int = 0  # an SMTP error: tried again later
    failed: int = 0  # given up
    kept: int = 0  # no SMTP_URL: left in the outbox (and logged)

    def describe(self) -> str:
        return f"sent={self.sent} retried={self.retried} failed={self.failed} kept={self.kept}"


def _claimable(now: dt.datetime):
    return (OutboxMessage.sent_at.is_null() & OutboxMessage.failed_at.is_null()
            & (OutboxMessage.next_attempt_at <= now)
            & (OutboxMessage.claimed_until.is_null() | (OutboxMessage.claimed_until < now)))


def claim(limit: int = BATCH, lease: dt.timedelta = LEASE) -> list[OutboxMessage]:
    """Take up to ``limit`` unsent rows for ``lease``, committed before anything is sent."""
    now, token = utcnow(), uuid.uuid4().hex
    with transaction():
        ids = [i for (i,) in OutboxMessage.select(OutboxMessage.id).where(_claimable(now))
               .order_by(OutboxMessage.id).limit(limit).tuples()]
        if not ids:
            return []
        # The WHERE is checked again row by row: a sender that claimed meanwhile keeps its rows.
        (OutboxMessage.update(claim_token=token, claimed_until=now + lease, attempts=OutboxMessage.attempts + 1)
         .where(OutboxMessage.id.in_(ids), _claimable(now)).execute())
    return list(OutboxMessage.select().where(OutboxMessage.claim_token == token).order_by(OutboxMessage.id))


def _mark_sent(row: OutboxMessage) -> None:
    with transaction():
        (OutboxMessage.update(sent_at=utcnow(), claimed_until=None, last_error="")
         .where(OutboxMessage.id == row.id, OutboxMessage.sent_at.is_null()).execute())


def backoff(attempts: int) -> dt.timedelta:
    return min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** min(max(0, attempts - 1), 20))


def _retry_later(row: OutboxMessage, error: str, result: SendResult, *, tried: bool = True) -> None:
    """Release the claim; after an attempt, wait (backoff) or give up after MAX_ATTEMPTS."""
    now = utcnow()
    attempts = row.attempts if tried else row.attempts - 1
    changes = {"claimed_until": None, "claim_token": None, "attempts": attempts}
    if tried:
        changes.update(last_error=error[:2000], next_attempt_at=now + backoff(attempts))
        if attempts >= MAX_ATTEMPTS:
            changes["failed_at"] = now
            log.error("mail %s to %s: giving up after %s attempts: %s", row.message_id, row.to, attempts, error)
            result.failed += 1
        else:
            log.warning("mail %s to %s: attempt %s failed (%s); next try in %s", row.message_id, row.to,
                        attempts, error, backoff(attempts))
            result.retried += 1
    with transaction():
        OutboxMessage.update(changes).where(OutboxMessage.id == row.id, OutboxMessage.claim_token == row.claim_token,
                                            OutboxMessage.sent_at.is_null()).execute()


MESSAGE_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError,
                  smtplib.SMTPNotSupportedError)


def _send_batch(target: SmtpTarget, rows: list[OutboxMessage], result: SendResult) -> None:
    try:
        smtp = _connect(target)
    except (OSError, smtplib.SMTPException) as exc:
        for row in rows:
            _retry_later(row, f"cannot connect to {target.host}:{target.port}: {exc}", result)
        return
    try:
        for index, row in enumerate(rows):
            try:
                smtp.send_message(build_message(row))
            except MESSAGE_ERRORS as exc:  # this message is refused; the connection is still good
                _retry_later(row, str(exc), result)
                continue
            except (OSError, smtplib.SMTPException) as exc:  # the connection broke: the rest wait too
                _retry_later(row, str(exc), result)
                for untried in rows[index + 1:]:
                    _retry_later(untried, "", result, tried=False)
                return
            _mark_sent(row)
            result.sent += 1
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def _log_pending(result: SendResult) -> SendResult:
    """No SMTP_URL: mail stays in the outbox; each message is written to the log once."""
    pending = OutboxMessage.select().where(OutboxMessage.sent_at.is_null(), OutboxMessage.failed_at.is_null())
    result.kept = pending.count()
    for row in pending.where(OutboxMessage.logged_at.is_null()).order_by(OutboxMessage.id):
        log.info("mail kept in the outbox (no SMTP_URL) %s to %s: %s\n%s", row.message_id, row.to, row.subject,
                 row.body)
        with transaction():
            OutboxMessage.update(logged_at=utcnow()).where(OutboxMessage.id == row.id).execute()
    return result


def send_pending(smtp_url: str | None = None, *, batch: int = BATCH, lease: dt.timedelta = LEASE,
                 max_batches: int | None = None) -> SendResult:
    """Send what is due in the outbox through ``smtp_url`` (default: the ``SMTP_URL`` environment variable).

    Safe to run in several processes at once (see the module docstring). Returns the counts.
    """
    url = os.environ.get("SMTP_URL", "") if smtp_url is None else smtp_url
    result = SendResult()
    if not url.strip():
        return _log_pending(result)
    target = parse_smtp_url(url)
    batches = 0
    while max_batches is None or batches < max_batches:
        rows = claim(batch, lease)
        if not rows:
            break
        _send_batch(target, rows, result)
        batches += 1
    return result
