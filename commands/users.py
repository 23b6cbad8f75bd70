"""``flask --app app deactivate-user --email E``: end a user's access at once; ``reactivate-user --email E``:
let it in again."""
from __future__ import annotations

from collections.abc import Callable

import click
from flask import current_app
from flask.cli import with_appcontext

from domain.errors import DomainError
from models import User
from services.people import users

from . import connect


def _run(action: Callable[[], User]) -> User:
    """The user ``action`` changed, or exit 1 with its DomainError's message."""
    connect()
    try:
        return action()
    except DomainError as exc:
        click.echo(f"error: {exc.message}", err=True)
        raise SystemExit(1) from None


@click.command("deactivate-user")
@click.option("--email", required=True)
def deactivate_user(email: str) -> None:
    """Deactivate a user: its sessions end and its API tokens are revoked at once."""
    user = _run(lambda: users.deactivate_by_email(email))
    click.echo(f"deactivated {user.email}: sessions ended, API tokens revoked")


@click.command("reactivate-user")
@click.option("--email", required=True)
@with_appcontext  # BASE_URL, for the link a user without a password is e-mailed
def reactivate_user(email: str) -> None:
    """Reactivate a deactivated user: it signs in with its password again (its old sessions and API tokens
    stay ended); one that never set a password is e-mailed a new one-time link."""
    user = _run(lambda: users.reactivate_by_email(email, base_url=current_app.config.get("BASE_URL")))
    then = ("a new link to set its password is e-mailed" if users.status_of(user) == "invited"
            else "it signs in with its password")
    click.echo(f"reactivated {user.email}: {then}; earlier sessions and API tokens stay ended")
