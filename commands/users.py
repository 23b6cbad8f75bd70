"""``flask --app app deactivate-user --email E``: end a user's access at once."""
from __future__ import annotations

import click

from domain.errors import DomainError

from . import connect


@click.command("deactivate-user")
@click.option("--email", required=True)
def deactivate_user(email: str) -> None:
    """Deactivate a user: its sessions end and its API tokens are revoked at once."""
    from services import users
    connect()
    try:
        user = users.deactivate_by_email(email)
    except DomainError as exc:
        click.echo(f"error: {exc.message}", err=True)
        raise SystemExit(1) from None
    click.echo(f"deactivated {user.email}: sessions ended, API tokens revoked")
