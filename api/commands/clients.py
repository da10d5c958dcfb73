"""``esign clients``: API clients, their roles and API keys (shown once at creation)."""

from __future__ import annotations

import click

from api.commands.keystore import database_option, reports_errors
from keystore.authz import OPERATOR


@click.group()
def clients() -> None:
    """API clients: name, organisation, roles (seal-admin, sealer, verifier, auditor)."""


@clients.command()
@click.argument("name")
@click.option("--org", "org_name", required=True, help="Organisation name.")
@click.option("--uscc", required=True, help="The organisation's unified social credit code.")
@click.option("--roles", required=True, help="Comma-separated: seal-admin, sealer, verifier, auditor.")
@database_option
@reports_errors
def create(name: str, org_name: str, uscc: str, roles: str, database_url: str | None) -> None:
    """Create API client NAME and print its API key — the only time it is shown."""
    from keystore.clients import create_client
    from keystore.db import Database

    db = Database.open(database_url)
    with db.transaction() as session:
        new = create_client(session, OPERATOR, name=name, org_name=org_name, uscc=uscc, roles=roles)
    click.echo(f"created {name} ({new.client.roles})", err=True)
    click.echo("API key (shown once, store it now) 请立即保存，此密钥仅显示一次:", err=True)
    click.echo(new.api_key)


@clients.command("list")
@database_option
@reports_errors
def list_clients(database_url: str | None) -> None:
    """List API clients (never their keys)."""
    from keystore.clients import list_clients
    from keystore.db import Database

    db = Database.open(database_url)
    with db.transaction() as session:
        for client in list_clients(session):
            state = f"revoked {client.revoked_at:%Y-%m-%d}" if client.revoked_at else "active"
            click.echo(f"{client.name}\t{client.org_name}\t{client.uscc}\t{client.roles}\t{state}")


@clients.command()
@click.argument("name")
@database_option
@reports_errors
def revoke(name: str, database_url: str | None) -> None:
    """Revoke API client NAME: its key stops working at once."""
    from keystore.clients import revoke_client
    from keystore.db import Database

    db = Database.open(database_url)
    with db.transaction() as session:
        revoke_client(session, OPERATOR, name)
    click.echo(f"revoked {name}")
