"""``esign seals``: the seal registry — register, inspect, suspend/resume/revoke, rotate, grant, batch."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from api.commands.keystore import database_option, reports_errors
from keystore.authz import OPERATOR

if TYPE_CHECKING:
    from keystore.esl import SealMaker


def _when(value: datetime | None) -> datetime | None:
    """Command-line dates without a zone are UTC."""
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value


@click.group()
def seals() -> None:
    """Seals: which exist, what backs them, their lifecycle."""


@seals.command()
@click.argument("code")
@click.option(
    "--type",
    "seal_type",
    default="01",
    show_default=True,
    help="01 单位专用章 02 财务 03 发票 04 合同 05 法人 99 其他",
)
@click.option("--org", "org_name", required=True, help="Organisation name, as in the certificate.")
@click.option("--uscc", required=True, help="Unified social credit code (18 characters).")
@click.option(
    "--key", "key_name", required=True, help="A key owned by this organisation's USCC (esign keystore list)."
)
@click.option("--valid-from", type=click.DateTime(), help="Default: now or the certificate's start (UTC).")
@click.option("--valid-to", type=click.DateTime(), help="Default: the certificate's end (UTC).")
@click.option(
    "--image", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Seal picture (PNG)."
)
@database_option
@reports_errors
def register(
    code: str,
    seal_type: str,
    org_name: str,
    uscc: str,
    key_name: str,
    valid_from: datetime | None,
    valid_to: datetime | None,
    image: Path | None,
    database_url: str | None,
) -> None:
    """Register seal CODE backed by key KEY (checks organisation, key usage, validity, key possession).

    An SM2 seal gets its GB/T 38540 seal (SESeal) from the configured seal maker (ESIGN_SEAL_MAKER_P12).
    """
    from keystore.db import Database
    from keystore.esl import SealMaker
    from keystore.keys import KeyStore
    from keystore.registry import SealSpec, appearance_for, register_seal

    spec = SealSpec(code, seal_type, org_name, uscc, key_name, _when(valid_from), _when(valid_to))
    appearance = appearance_for(spec, image.read_bytes() if image else None)
    db = Database.open(database_url)
    maker = SealMaker.from_env()
    seal = asyncio.run(register_seal(db, KeyStore(), OPERATOR, spec, appearance, seal_maker=maker))
    click.echo(
        f"registered {seal.code}: {seal.org_name} valid {seal.valid_from:%Y-%m-%d} … {seal.valid_to:%Y-%m-%d}"
    )


@seals.command("list")
@click.option("--uscc", help="Only this organisation's seals.")
@database_option
@reports_errors
def list_seals(uscc: str | None, database_url: str | None) -> None:
    """List seals with their effective status (active, suspended, revoked, expired, pending)."""
    from keystore.db import Database
    from keystore.registry import SEAL_TYPES, effective_status, list_seals

    db = Database.open(database_url)
    with db.transaction() as session:
        for seal in list_seals(session, uscc):
            click.echo(
                f"{seal.code}\t{effective_status(seal)}\t{seal.seal_type} {SEAL_TYPES[seal.seal_type]}\t"
                f"{seal.org_name}\t{seal.uscc}\t{seal.valid_to:%Y-%m-%d}"
            )


@seals.command()
@click.argument("code")
@database_option
@reports_errors
def show(code: str, database_url: str | None) -> None:
    """Show one seal: organisation, certificate, key, validity, status and history."""
    from keystore.db import Database
    from keystore.registry import SEAL_TYPES, effective_status, find_seal, seal_chain

    db = Database.open(database_url)
    with db.transaction() as session:
        seal = find_seal(session, code)
        cert = seal_chain(seal)[0]
        click.echo(f"seal:        {seal.code} ({seal.seal_type} {SEAL_TYPES[seal.seal_type]})")
        click.echo(f"organisation: {seal.org_name} / {seal.uscc}")
        click.echo(f"status:      {effective_status(seal)}")
        click.echo(f"valid:       {seal.valid_from.isoformat()} … {seal.valid_to.isoformat()}")
        click.echo(f"key:         {seal.key_name}")
        click.echo(f"certificate: {cert.subject.human_friendly} (serial {cert.serial_number:x})")
        click.echo("history:")
        for event in seal.events:
            click.echo(f"  {event.at.isoformat()}  {event.action:<10} {event.actor}  {event.detail}")


def _lifecycle(action: str) -> click.Command:
    @click.argument("code")
    @click.option("--reason", default="", help="Recorded in the history and the audit log.")
    @database_option
    @reports_errors
    def command(code: str, reason: str, database_url: str | None) -> None:
        from keystore import registry
        from keystore.db import Database

        change = {
            "suspend": registry.suspend_seal,
            "resume": registry.resume_seal,
            "revoke": registry.revoke_seal,
        }
        db = Database.open(database_url)
        with db.transaction() as session:
            seal = change[action](session, OPERATOR, code, reason)
        click.echo(f"{seal.code}: {seal.status}")

    command.__doc__ = {
        "suspend": "Suspend seal CODE (it can be resumed).",
        "resume": "Resume a suspended seal CODE.",
        "revoke": "Revoke seal CODE for good.",
    }[action]
    return seals.command(action)(command)


for _action in ("suspend", "resume", "revoke"):
    _lifecycle(_action)


@seals.command()
@click.argument("code")
@click.option(
    "--key",
    "key_name",
    required=True,
    help="The new key, owned by the seal's organisation (esign keystore import/add-pkcs11 --owner first).",
)
@click.option("--valid-to", type=click.DateTime(), help="Default: the new certificate's end (UTC).")
@database_option
@reports_errors
def rotate(code: str, key_name: str, valid_to: datetime | None, database_url: str | None) -> None:
    """Put a new key and certificate behind seal CODE; the code and the history stay (an SM2 seal's
    SESeal is made anew by the configured seal maker)."""
    from keystore.db import Database
    from keystore.esl import SealMaker
    from keystore.keys import KeyStore
    from keystore.registry import rotate_seal

    db = Database.open(database_url)
    maker = SealMaker.from_env()
    seal = asyncio.run(
        rotate_seal(db, KeyStore(), OPERATOR, code, key_name, _when(valid_to), seal_maker=maker)
    )
    click.echo(f"rotated {seal.code} to key {seal.key_name}, valid to {seal.valid_to:%Y-%m-%d}")


@seals.command()
@click.argument("code")
@click.argument("client")
@database_option
@reports_errors
def grant(code: str, client: str, database_url: str | None) -> None:
    """Allow API client CLIENT (a sealer of the same organisation) to seal with CODE."""
    from keystore.clients import grant_seal
    from keystore.db import Database
    from keystore.registry import find_seal

    db = Database.open(database_url)
    with db.transaction() as session:
        grant_seal(session, OPERATOR, client, find_seal(session, code))
    click.echo(f"granted {code} to {client}")


@seals.command()
@click.argument("code")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
@click.option("--batch-id", required=True, help="Names the batch in the audit log; re-run with the same id.")
@click.option(
    "--level",
    type=click.Choice(["B-B", "B-T", "B-LT", "B-LTA"]),
    default="B-B",
    show_default=True,
    help="Baseline level; B-T and above need --tsa.",
)
@click.option("--tsa", "tsa_url", metavar="URL", help="RFC 3161 time-stamping service URL.")
@click.option("--tsa-timeout", default=10.0, show_default=True, help="Seconds to wait for the TSA.")
@database_option
@reports_errors
def batch(
    code: str,
    source: Path,
    target: Path,
    batch_id: str,
    level: str,
    tsa_url: str | None,
    tsa_timeout: float,
    database_url: str | None,
) -> None:
    """Seal every PDF in SOURCE into TARGET with seal CODE; each document gets its audit record.

    Crash-safe: after a kill, re-running the same command completes the batch; no sealed file
    ever lacks its audit record. Prints "done" when every document is sealed and recorded.
    """
    from esign.seal.pades import Level, SealOptions
    from keystore.batch import BatchReport, run_batch
    from keystore.db import Database
    from keystore.service import SealService

    options = SealOptions(level=Level(level))
    if options.level.needs_tsa and not tsa_url:
        raise click.UsageError(f"--level {level} needs --tsa URL (a time-stamping service)")
    sources = sorted(path for path in source.iterdir() if path.suffix.lower() == ".pdf")

    async def run() -> BatchReport:
        import aiohttp
        from pyhanko.sign.timestamps import HTTPTimeStamper

        async with aiohttp.ClientSession() as session:
            stamper = HTTPTimeStamper(tsa_url, timeout=tsa_timeout, session=session) if tsa_url else None
            service = await asyncio.to_thread(SealService.from_env, Database.open(database_url), stamper)
            return await run_batch(service, OPERATOR, code, sources, target, batch_id, options)

    report = asyncio.run(run())
    for name, error in report.failed:
        click.echo(
            f"{name}: 错误 error [{error.code.name}] {error.message_zh} / {error.message_en}", err=True
        )
    click.echo(
        f"sealed {report.sealed}, completed {report.completed}, already done {report.already_done}, "
        f"failed {len(report.failed)}"
    )
    if report.failed:
        sys.exit(1)
    click.echo("done")


@seals.command("export-esl")
@click.argument("code")
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="File to write."
)
@click.option(
    "--maker-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="For a seal registered without a seal maker: the maker's SM2 private key (PEM or DER PKCS#8, "
    "encrypted or not); default: the configured ESIGN_SEAL_MAKER_P12.",
)
@click.option(
    "--maker-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The seal maker's SM2 certificate (PEM or DER), with --maker-key.",
)
@click.option("--maker-passphrase-env", metavar="VAR", help="Environment variable with the key's passphrase.")
@click.option(
    "--maker-passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File with the key's passphrase.",
)
@database_option
@reports_errors
def export_esl(
    code: str,
    output: Path,
    maker_key: Path | None,
    maker_cert: Path | None,
    maker_passphrase_env: str | None,
    maker_passphrase_file: Path | None,
    database_url: str | None,
) -> None:
    """Write seal CODE's GB/T 38540 version-4 electronic seal (.esl): the one stored at registration.

    A seal registered before a seal maker was configured gets one now, made by the maker and stored,
    so every later export (and every document sealed with it) carries the same seal.
    """
    from esign.seal.batch import write_atomically
    from keystore.db import Database
    from keystore.esl import SealMaker
    from keystore.esl import export_esl as export
    from keystore.registry import find_seal

    maker = _given_maker(maker_key, maker_cert, maker_passphrase_env, maker_passphrase_file)
    with Database.open(database_url).transaction() as session:
        seal = find_seal(session, code)
        stored = seal.ses_seal is not None
        esl = export(seal, None if stored else maker or SealMaker.from_env())
        if not stored:
            seal.ses_seal = esl
    write_atomically(output, esl)
    click.echo(f"wrote {output} ({len(esl)} bytes, GB/T 38540 v4)")


def _given_maker(
    key_path: Path | None, cert_path: Path | None, passphrase_env: str | None, passphrase_file: Path | None
) -> SealMaker | None:
    """The seal maker named by ``--maker-key`` and ``--maker-cert`` (both or neither)."""
    from asn1crypto import pem, x509

    from esign.errors import ErrorCode, EsignError
    from esign.gm import sm2
    from keystore.esl import SealMaker
    from keystore.secrets import read_secret

    if (key_path is None) != (cert_path is None):
        raise click.UsageError("--maker-key and --maker-cert go together")
    if key_path is None or cert_path is None:
        return None
    passphrase = None
    if passphrase_env or passphrase_file:
        ref = f"env:{passphrase_env}" if passphrase_env else f"file:{passphrase_file}"
        passphrase = read_secret(ref).reveal()
    try:
        key = sm2.load_private_key(key_path.read_bytes(), passphrase)
    except sm2.SM2Error as exc:
        raise EsignError(ErrorCode.KEY_FILE_INVALID, detail="not a readable SM2 private key") from exc
    cert_bytes = cert_path.read_bytes()
    cert = x509.Certificate.load(pem.unarmor(cert_bytes)[2] if pem.detect(cert_bytes) else cert_bytes)
    return SealMaker(key, cert)
