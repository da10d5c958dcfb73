"""Running ``esign seal``: one file or a folder with a PKCS#12 key, or through a registered seal.

Split from :mod:`api.commands.seal`, which turns the command line into these values: here the
signer and the TSA client are reused for every document, a folder reports a table of what failed,
and every refusal prints its stable code with the Chinese and English message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import click
from pyhanko.sign.signers import Signer

from esign.errors import EsignError
from esign.seal.batch import pending_pairs
from esign.seal.pades import SealOptions

if TYPE_CHECKING:
    from rich.console import Console

    from esign.gm.ses import SESeal
    from esign.seal.batch import BatchItem
    from esign.seal.image import SealImage
    from keystore.service import SealService


@dataclass(frozen=True)
class Run:
    """Everything one invocation seals with; the signer and TSA client are reused for every document."""

    signer: Signer
    options: SealOptions
    image: SealImage | None
    tsa_url: str | None
    tsa_timeout: float
    #: the GB/T 38540 seal an SM2 key seals with (``--esl``, or made by the configured seal maker)
    ses_seal: SESeal | None = None

    def sealer(self, session: aiohttp.ClientSession) -> Callable[[bytes], Awaitable[bytes]]:
        from pyhanko.sign.timestamps import HTTPTimeStamper

        from esign.seal.gm import aseal_with

        timestamper = (
            HTTPTimeStamper(self.tsa_url, timeout=self.tsa_timeout, session=session) if self.tsa_url else None
        )

        async def seal_one(pdf: bytes) -> bytes:
            return await aseal_with(
                pdf,
                self.signer,
                self.options,
                image=self.image,
                timestamper=timestamper,
                ses_seal=self.ses_seal,
            )

        return seal_one


async def seal_file(run: Run, source: Path, target: Path) -> bool:
    """Seal one PDF; the output appears complete or not at all."""
    from esign.seal.batch import write_atomically

    async with aiohttp.ClientSession() as session:
        try:
            write_atomically(target, await run.sealer(session)(source.read_bytes()))
        except EsignError as exc:
            print_error(exc)
            return False
    click.echo(f"已盖章 sealed: {target}")
    return True


async def seal_folder(run: Run, source: Path, target: Path) -> bool:
    """Seal every PDF of a folder with a progress bar; one bad file never stops the rest."""
    from rich.console import Console
    from rich.progress import Progress

    from esign.seal.batch import ItemStatus, aseal_folder, pending_pairs

    if target.exists() and not target.is_dir():
        raise click.UsageError("in batch mode OUTPUT must be a folder")
    total = sum(1 for _ in pending_pairs(source, target))
    console = Console(stderr=True)
    async with aiohttp.ClientSession() as session:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("盖章 sealing", total=total)
            items = await aseal_folder(
                source, target, run.sealer(session), lambda _item: progress.advance(task)
            )
    _summary(console, items)
    return not any(item.status is ItemStatus.FAILED for item in items)


@dataclass(frozen=True)
class Registry:
    """Sealing with a registered seal: the registry decides the key and picture, and audits each document.

    The command line acts as the local operator (whoever can run it can read the database). A folder
    goes through ``keystore.batch.run_batch``, which keeps every sealed file and its audit record
    together across crashes; its batch id comes from the folder and the seal, so a re-run resumes.
    """

    code: str
    database_url: str | None
    options: SealOptions
    tsa_url: str | None
    tsa_timeout: float

    async def run(self, source: Path, target: Path) -> bool:
        import asyncio

        from pyhanko.sign.timestamps import HTTPTimeStamper

        from keystore.db import Database
        from keystore.service import SealService

        async with aiohttp.ClientSession() as session:
            timestamper = (
                HTTPTimeStamper(self.tsa_url, timeout=self.tsa_timeout, session=session)
                if self.tsa_url
                else None
            )
            try:
                db = await asyncio.to_thread(Database.open, self.database_url)
                service = await asyncio.to_thread(SealService.from_env, db, timestamper)
                if source.is_dir():
                    return await self._folder(service, source, target)
                return await self._file(service, source, target)
            except EsignError as exc:
                print_error(exc)
                return False

    async def _file(self, service: SealService, source: Path, target: Path) -> bool:
        from esign.seal.batch import publish, write_durably
        from keystore.authz import OPERATOR

        partial = target.with_name(f".{target.name}.partial")
        result = await service.aapply(
            OPERATOR,
            self.code,
            source.read_bytes(),
            self.options,
            before_record=lambda data: write_durably(partial, data),
        )
        publish(partial, target)
        click.echo(f"已盖章 sealed: {target} (audit record {result.audit_seq})")
        return True

    async def _folder(self, service: SealService, source: Path, target: Path) -> bool:
        import hashlib

        from keystore.authz import OPERATOR
        from keystore.batch import run_batch

        sources = [src for src, _ in pending_pairs(source, target)]
        batch_id = f"{self.code}:{hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:16]}"
        report = await run_batch(service, OPERATOR, self.code, sources, target, batch_id, self.options)
        for name, error in report.failed:
            print_error(error, name)
        click.echo(
            f"已盖章 sealed {report.sealed + report.completed}, 已跳过 skipped {report.already_done}, "
            f"失败 failed {len(report.failed)}"
        )
        return not report.failed


def _summary(console: Console, items: list[BatchItem]) -> None:
    from rich.table import Table

    from esign.seal.batch import ItemStatus

    failed = [item for item in items if item.status is ItemStatus.FAILED]
    if failed:
        table = Table("file", "code", "错误", "error", title="失败的文件 Failed documents")
        for item in failed:
            assert item.error is not None
            table.add_row(
                item.source.name, item.error.code.name, item.error.message_zh, item.error.message_en
            )
        console.print(table)
    counts = Table("sealed 已盖章", "skipped 已跳过", "failed 失败", "seconds 秒")
    counts.add_row(
        *(str(sum(1 for i in items if i.status is s)) for s in ItemStatus),
        f"{sum(i.seconds for i in items):.1f}",
    )
    console.print(counts)


def print_error(exc: EsignError, name: str | None = None) -> None:
    """The refusal's stable code and both messages on stderr, so scripts and people can read it."""
    prefix = f"{name}: " if name else ""
    click.echo(f"{prefix}错误 error [{exc.code.name}] {exc.message_zh} / {exc.message_en}", err=True)
