"""``esign conformance``: build our conformance pack; run any corpus with a manifest against esign.verify."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import click

from esign.errors import ErrorCode, EsignError


@click.group()
def conformance() -> None:
    """Compare esign's verdicts with a corpus of signed PDFs and their expected outcomes."""


@conformance.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Also write JUnit XML here.")
@click.option(
    "--known-differences",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON list of {file, [sig_index], field, reason}; default: DIRECTORY/known_differences.json.",
)
def run(directory: Path, junit: Path | None, known_differences: Path | None) -> None:
    """Verify every file of DIRECTORY/manifest.json; exit 1 on an unexplained disagreement or false pass."""
    from esign.verify.conformance import run as run_corpus

    try:
        result = run_corpus(directory, known_differences=known_differences)
    except FileNotFoundError as exc:
        _refuse(f"{exc.filename} does not exist", f"{exc.filename} 不存在")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # JSONDecodeError is a ValueError
        _refuse(
            f"{directory}/manifest.json is not a valid manifest: {exc}",
            f"{directory}/manifest.json 不是有效的清单文件",
        )
    for line in result.summary():
        click.echo(line)
    if junit is not None:
        result.write_junit(junit)
    if not result.ok:
        raise SystemExit(1)


def _refuse(detail: str, detail_zh: str) -> NoReturn:
    """A corpus without a readable manifest is a bad argument (exit 2), told in both languages."""
    error = EsignError(ErrorCode.BAD_OPTION, detail=detail, detail_zh=detail_zh)
    click.echo(f"错误 error [{error.code.name}] {error.message_zh} / {error.message_en}", err=True)
    raise SystemExit(2)


@conformance.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def build(directory: Path) -> None:
    """Write the conformance pack (signed PDFs, trust anchor, manifest.json) into DIRECTORY."""
    from fixtures.conformance import build_pack

    manifest = build_pack(directory)
    click.echo(f"wrote {manifest}")
