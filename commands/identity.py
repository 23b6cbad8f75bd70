"""Identity commands: ``create-scim-token --org O`` (SPEC §10)."""
from __future__ import annotations

import click

from commands import connect
from domain.errors import DomainError
from services.identity import scim


@click.command("create-scim-token")
@click.option("--org", "organisation", required=True, help="the organisation's name")
@click.option("--name", default="cli", help="a name to recognise the token by")
def create_scim_token(organisation: str, name: str) -> None:
    """Print a new SCIM token of the organisation once (only its hash is stored); the token is the last line."""
    connect()
    try:
        secret = scim.create_token_for(organisation, name)
    except DomainError as exc:
        click.echo(f"error: {exc.message}", err=True)
        raise SystemExit(1) from None
    click.echo(f"SCIM token for {organisation.strip()} (shown once; send it as Authorization: Bearer):")
    click.echo(secret)
