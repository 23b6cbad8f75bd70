"""``flask --app app send-mail``: send the mail outbox now (the scheduler pass does it too)."""
from __future__ import annotations

import click

from services.messages import mail

from . import connect


@click.command("send-mail")
def send_mail() -> None:
    """Send every mail due in the outbox through SMTP_URL (without it, mail stays in the outbox and the log)."""
    connect()
    try:
        result = mail.send_pending()  # SMTP_URL from the environment
    except ValueError as exc:  # a malformed SMTP_URL
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"send-mail: {result.describe()}")
