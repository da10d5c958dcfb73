"""``esign batches``: the sealing batches of ``POST /v1/seals/{code}/batches`` kept in the database."""

from __future__ import annotations

import click

from api.commands.keystore import database_option, reports_errors
from keystore.authz import OPERATOR


@click.group()
def batches() -> None:
    """Sealing batches: their uploads and sealed documents are kept until pruned."""


@batches.command()
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(0, 36_500),
    default=None,
    metavar="DAYS",
    help="Age in days (default: ESIGN_BATCH_RETENTION_DAYS, 30).",
)
@database_option
@reports_errors
def prune(days: int | None, database_url: str | None) -> None:
    """Delete finished batches uploaded more than DAYS days ago (rows, uploads, sealed documents).

    A batch with documents still pending is kept. The deletion is one ``batches.pruned`` audit record.
    """
    from datetime import timedelta

    from api.settings import Settings
    from keystore import jobs
    from keystore.db import Database

    days = Settings().batch_retention_days if days is None else days
    removed = jobs.prune(Database.open(database_url), OPERATOR.name, timedelta(days=days))
    click.echo(f"pruned {len(removed)} finished batches older than {days} days")
