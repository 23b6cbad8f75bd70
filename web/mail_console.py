"""Mail on the development server's console: under ``make run`` (``MAIL_CONSOLE=1`` and no ``SMTP_URL``) every
message a request queued is written to the console as soon as the request is done, with its links (an
invitation's one-time link to set a password), so a newcomer can follow a mail without an SMTP server. The
outbox keeps the messages as always; elsewhere they are logged by the scheduler's pass."""
from __future__ import annotations

from flask import Flask, Response

from services.messages import mail


def print_new_mail(response: Response) -> Response:
    """After a request: write each message not written yet (``mail.send_pending`` without SMTP logs them)."""
    mail.send_pending("")
    return response


def init_app(app: Flask) -> None:
    if app.config.get("MAIL_CONSOLE") and not app.config.get("SMTP_URL"):
        app.after_request(print_new_mail)
