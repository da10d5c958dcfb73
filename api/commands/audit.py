"""``esign audit``: read, verify and export the tamper-evident audit log."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click

from api.commands.keystore import database_option, reports_errors


@click.group()
def audit() -> None:
    """The hash-chained audit log with signed checkpoints."""


@audit.command("list")
@click.option("--after", default=0, show_default=True, help="Start after this sequence number.")
@click.option("--limit", default=50, show_default=True, help="At most this many records.")
@database_option
@reports_errors
def list_records(after: int, limit: int, database_url: str | None) -> None:
    """Show records: sequence, time, actor, action, seal, request id."""
    from itertools import islice

    from keystore.audit import iter_records
    from keystore.db import Database

    db = Database.open(database_url)
    with db.transaction() as session:
        for r in islice(iter_records(session, after), limit):
            click.echo(f"{r.seq}\t{r.at}\t{r.actor}\t{r.action}\t{r.seal_code or '-'}\t{r.request_id or '-'}")


@audit.command()
@click.option(
    "--audit-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM certificate of the audit key (default: the key named by ESIGN_AUDIT_KEY).",
)
@click.option(
    "--anchor",
    help="The anchor file of the checkpoints (default: ESIGN_AUDIT_ANCHOR, else beside an SQLite "
    "database; 'off' skips the anchor check).",
)
@database_option
@reports_errors
def verify(audit_cert: Path | None, anchor: str | None, database_url: str | None) -> None:
    """Check the whole chain, every checkpoint and the anchor; name the first problem (exit 1 if any)."""
    from keystore.audit import verify_chain
    from keystore.audit_anchor import anchor_for
    from keystore.db import Database
    from keystore.keyring import audit_key, chain_from_pem, key_chain

    db = Database.open(database_url)
    with db.transaction() as session:
        if audit_cert:
            cert = chain_from_pem(audit_cert.read_text("ascii"))[0]
        else:
            entry = audit_key(session)
            cert = key_chain(entry)[0] if entry else None
        result = verify_chain(session, cert, anchor_for(db.url, anchor))
    if result.ok:
        anchored = "no anchor" if result.anchored is None else f"{result.anchored} anchored"
        click.echo(
            f"OK 审计日志完整: {result.records} records, {result.checkpoints} signed checkpoints ({anchored})"
        )
        return
    problem = result.problem
    assert problem is not None
    click.echo(f"FAILED 审计日志被篡改: first bad record {problem.seq} [{problem.kind}] {problem.message}")
    sys.exit(1)


@audit.command()
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File (default: stdout)."
)
@database_option
@reports_errors
def export(output: Path | None, database_url: str | None) -> None:
    """Export every record as JSON lines (with hashes, so the export itself can be re-verified)."""
    from keystore.audit import iter_records, record_as_dict
    from keystore.db import Database

    db = Database.open(database_url)
    stream = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        with db.transaction() as session:
            for record in iter_records(session):
                stream.write(json.dumps(record_as_dict(record), ensure_ascii=False, sort_keys=True) + "\n")
    finally:
        if output:
            stream.close()


@audit.command()
@database_option
@reports_errors
def checkpoint(database_url: str | None) -> None:
    """Sign the current head of the chain with the audit key (ESIGN_AUDIT_KEY) now, and anchor it."""
    from esign.errors import ErrorCode, EsignError
    from keystore.audit import checkpoint as make_checkpoint
    from keystore.db import Database
    from keystore.service import SealService

    service = SealService.from_env(Database.open(database_url))
    if service.checkpoint_signer is None:
        raise EsignError(ErrorCode.BAD_OPTION, detail="set ESIGN_AUDIT_KEY to the name of the audit key")
    made = asyncio.run(make_checkpoint(service.db, service.checkpoint_signer, service.anchor))
    click.echo(
        f"checkpoint at record {made.seq}"
        if made
        else "the head is already checkpointed (or the log is empty)"
    )
