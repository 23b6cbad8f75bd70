"""``flask --app app revoke-token --email E [--name N]``: stop a user's API tokens."""
from __future__ import annotations

import click

from domain.errors import DomainError
from services.people import tokens

from . import connect


@click.command("revoke-token")
@click.option("--email", required=True)
@click.option("--name", default=None, help="only the token of this name (default: every active token)")
def revoke_token(email: str, name: str | None) -> None:
    """Revoke a user's active API tokens (or the one named --name)."""
    connect()
    try:
        count = tokens.revoke_by_email(email, name)
    except DomainError as exc:
        click.echo(f"error: {exc.message}", err=True)
        raise SystemExit(1) from None
    click.echo(f"revoked {count} token(s) of {email.strip().lower()}")
