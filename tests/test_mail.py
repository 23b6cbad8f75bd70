"""The outbox and its SMTP sender, against a real aiosmtpd server on loopback (tests/fixtures/smtp.py)."""
from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from fixtures.ports import free_port

import models
from domain.errors import ValidationError
from models import OutboxMessage, transaction
from services.messages import mail

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def outbox(clean_db):
    yield
    models.db.connect(reuse_if_open=True)


def queue_many(n: int, prefix: str = "m") -> list[str]:
    keys = [f"{prefix}-{i}" for i in range(n)]
    with transaction():
        for key in keys:
            mail.queue(f"{key}@bank.example", f"Subject {key}", f"Body of {key}", dedupe_key=key)
    return keys


def test_a_mail_is_queued_once_per_dedupe_key(outbox):
    assert mail.queue("a@bank.example", "Due", "text", dedupe_key="request_due:1:7") is True
    assert mail.queue("a@bank.example", "Due again", "other", dedupe_key="request_due:1:7") is False
    rows = list(OutboxMessage.select())
    assert len(rows) == 1 and rows[0].subject == "Due"
    assert rows[0].message_id == mail.message_id_for("request_due:1:7")


def test_a_mail_is_part_of_the_callers_transaction(outbox):
    with pytest.raises(RuntimeError), transaction():
        mail.queue("a@bank.example", "Hello", "text", dedupe_key="rolled-back")
        raise RuntimeError("the change that caused the mail failed")
    assert OutboxMessage.select().count() == 0


@pytest.mark.parametrize("to, subject", [("a@bank.example\r\nBcc: x@evil.example", "s"),
                                         ("a@bank.example", "Hi\nBcc: x@evil.example"), ("", "s")])
def test_header_injection_and_empty_recipients_are_refused(outbox, to, subject):
    with pytest.raises(ValidationError):
        mail.queue(to, subject, "body", dedupe_key="k")
    assert OutboxMessage.select().count() == 0


def test_queued_mail_is_sent_once_with_a_stable_message_id(outbox, smtp_server):
    mail.queue("Reviewer <r@bank.example>", "Evidence due", "Plain text body", dedupe_key="k1",
               html="<p>HTML body</p>")
    mail.queue("p@bpo.example", "Ünïcode subject", "Second body", dedupe_key="k2")
    first = mail.send_pending(smtp_server.url)
    assert (first.sent, first.retried) == (2, 0)
    second = mail.send_pending(smtp_server.url)
    assert second.sent == 0
    received = smtp_server.wait_for(2)
    assert len(received) == 2
    by_id = {str(m["Message-ID"]): m for m in received}
    one = by_id[mail.message_id_for("k1")]
    assert one["To"] == "Reviewer <r@bank.example>" and one["Subject"] == "Evidence due"
    assert one.get_body(("plain",)).get_content().strip() == "Plain text body"
    assert "HTML body" in one.get_body(("html",)).get_content()
    assert by_id[mail.message_id_for("k2")]["Subject"] == "Ünïcode subject"
    assert OutboxMessage.select().where(OutboxMessage.sent_at.is_null()).count() == 0


def test_without_smtp_url_mail_stays_in_the_outbox_and_is_logged_once(outbox, caplog):
    mail.queue("a@bank.example", "Kept", "the body", dedupe_key="kept")
    with caplog.at_level(logging.INFO, logger="attest.mail"):
        assert mail.send_pending("").kept == 1
        assert mail.send_pending("").kept == 1
    logged = [r for r in caplog.records if "Kept" in r.getMessage()]
    assert len(logged) == 1 and "the body" in logged[0].getMessage()
    assert OutboxMessage.get().sent_at is None


def test_an_unreachable_server_is_retried_with_backoff(outbox, smtp_server):
    mail.queue("a@bank.example", "Retry me", "body", dedupe_key="retry")
    result = mail.send_pending(f"smtp://127.0.0.1:{free_port()}")  # nothing listens there
    assert (result.sent, result.retried) == (0, 1)
    row = OutboxMessage.get()
    assert row.attempts == 1 and row.sent_at is None and row.claimed_until is None and row.last_error
    assert row.next_attempt_at > models.utcnow() + dt.timedelta(seconds=30)
    assert mail.send_pending(smtp_server.url).sent == 0  # not before its next attempt is due
    OutboxMessage.update(next_attempt_at=models.utcnow()).execute()
    assert mail.send_pending(smtp_server.url).sent == 1
    assert [m["Subject"] for m in smtp_server.wait_for(1)] == ["Retry me"]


def test_backoff_grows_and_is_capped():
    assert mail.backoff(1) < mail.backoff(2) < mail.backoff(3)
    assert mail.backoff(50) == mail.MAX_BACKOFF


def test_smtp_urls():
    assert mail.parse_smtp_url("smtp://127.0.0.1:2525") == mail.SmtpTarget("127.0.0.1", 2525, "smtp")
    target = mail.parse_smtp_url("smtp+starttls://me%40bank:p%3Ass@mail.example:587")
    assert (target.mode, target.username, target.password, target.port) == ("smtp+starttls", "me@bank", "p:ss", 587)
    for bad in ("http://mail.example", "smtp://", "smtp://host:port"):
        with pytest.raises(ValueError):
            mail.parse_smtp_url(bad)


def test_two_racing_senders_send_each_message_once(outbox, smtp_server):
    keys = queue_many(16)
    smtp_server.delay = 0.05
    start = threading.Barrier(2)
    results = []

    def sender():
        models.db.connect(reuse_if_open=True)
        try:
            start.wait()
            results.append(mail.send_pending(smtp_server.url, batch=2))
        finally:
            models.db.close()

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r.sent for r in results) == 16
    ids = smtp_server.message_ids()
    assert sorted(ids) == sorted(mail.message_id_for(k) for k in keys)  # each exactly once
    assert OutboxMessage.select().where(OutboxMessage.sent_at.is_null()).count() == 0


SENDER = """
import datetime as dt, sys
import models
from services.messages import mail
models.bind_database(sys.argv[1])
models.db.connect()
mail.send_pending(sys.argv[2], batch=3, lease=dt.timedelta(seconds=float(sys.argv[3])))
"""


def test_a_sender_killed_mid_batch_loses_nothing(outbox, smtp_server, database_url):
    """SIGKILL a real sender process while it is sending; after its lease runs out, another sender sends the
    rest. At most the one message in flight at the kill can arrive twice, with the same Message-ID."""
    keys = queue_many(10)
    smtp_server.delay = 0.3
    lease = 3.0
    process = subprocess.Popen([sys.executable, "-c", SENDER, database_url, smtp_server.url, str(lease)],
                               cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    try:
        smtp_server.wait_for(4, timeout=60)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    killed_at = time.monotonic()
    assert process.returncode == -signal.SIGKILL
    unsent = OutboxMessage.select().where(OutboxMessage.sent_at.is_null()).count()
    assert unsent > 0, "the sender was killed before its batch finished"
    smtp_server.delay = 0
    mail.send_pending(smtp_server.url)  # sends what nobody holds; the dead sender's claims wait for their lease
    time.sleep(max(0.0, lease + 0.5 - (time.monotonic() - killed_at)))
    mail.send_pending(smtp_server.url)
    assert OutboxMessage.select().where(OutboxMessage.sent_at.is_null()).count() == 0
    ids = smtp_server.message_ids()
    expected = {mail.message_id_for(k) for k in keys}
    assert set(ids) == expected, "every message arrived"
    duplicates = len(ids) - len(set(ids))
    assert duplicates <= 1, f"only the message in flight at the kill may arrive twice, got {duplicates} extra"


def test_the_send_mail_command_sends_the_outbox(outbox, app, smtp_server, monkeypatch):
    mail.queue("a@bank.example", "By command", "body", dedupe_key="cmd")
    monkeypatch.setenv("SMTP_URL", smtp_server.url)
    result = app.test_cli_runner().invoke(args=["send-mail"])
    assert result.exit_code == 0, result.output
    assert "sent=1" in result.output
    assert [m["Subject"] for m in smtp_server.wait_for(1)] == ["By command"]


def test_a_scheduler_pass_sends_the_outbox(outbox, smtp_server, monkeypatch):
    from services.alerts.scheduler import tick
    monkeypatch.setenv("SMTP_URL", smtp_server.url)
    mail.queue("a@bank.example", "By tick", "body", dedupe_key="tick")
    tick()
    assert [m["Subject"] for m in smtp_server.wait_for(1)] == ["By tick"]
    assert OutboxMessage.get().sent_at is not None


def test_the_development_server_prints_each_new_mail_with_its_link_once(app, library, caplog):
    import logging

    from services.messages import mail as mail_service
    from web.mail_console import print_new_mail
    with app.test_request_context("/"):
        mail_service.queue("new@example.com", "Your Attest account", "Set your password: http://x/invitations/abc\n",
                           dedupe_key="console-test")
        with caplog.at_level(logging.INFO, logger="attest.mail"):
            print_new_mail(app.response_class("ok"))
            print_new_mail(app.response_class("ok"))
    printed = [r.getMessage() for r in caplog.records if "new@example.com" in r.getMessage()]
    assert len(printed) == 1 and "http://x/invitations/abc" in printed[0]
