"""``esign seal --seal CODE``: sealing through the registry — key, picture and audit record come from it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from keystore.authz import OPERATOR
from keystore.db import Database
from keystore.models import AuditRecord
from keystore.registry import suspend_seal
from tests.keystore_fixtures import *  # noqa: F403 - the fixtures
from tests.keystore_fixtures import P12_PASSPHRASE, P12_PASSPHRASE_ENV, small_pdf


def esign(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "api", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def registry_env(db_url: str) -> dict[str, str]:
    return {**os.environ, "ESIGN_DATABASE_URL": db_url, P12_PASSPHRASE_ENV: P12_PASSPHRASE}


def applied_records(db: Database) -> list[str]:
    with db.transaction() as session:
        rows = session.execute(select(AuditRecord.seal_code).where(AuditRecord.action == "seal.applied"))
        return list(rows.scalars())


def valid_signatures(path: Path) -> int:
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60).stdout
    return out.count("Signature is Valid.")


def test_one_document_is_sealed_with_the_registered_seal_and_audited(
    db: Database, db_url: str, make_seal, tmp_path: Path
) -> None:
    make_seal("A-1")
    (tmp_path / "in.pdf").write_bytes(small_pdf())
    result = esign(
        registry_env(db_url),
        "seal",
        tmp_path / "in.pdf",
        "-o",
        tmp_path / "out.pdf",
        "--seal",
        "A-1",
        "--page",
        "1",
        "--x",
        "100",
        "--y",
        "100",
    )
    assert result.returncode == 0, result.stderr
    assert "audit record" in result.stdout
    assert valid_signatures(tmp_path / "out.pdf") == 1
    assert applied_records(db) == ["A-1"]
    assert not list(tmp_path.glob(".*.partial"))


def test_folder_through_the_registry_reports_bad_files_and_resumes(
    db: Database, db_url: str, make_seal, tmp_path: Path
) -> None:
    make_seal("A-1")
    source, target = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    for i in range(3):
        (source / f"doc-{i}.pdf").write_bytes(small_pdf(f"doc {i}"))
    (source / "broken.pdf").write_bytes(b"not a pdf")
    env = registry_env(db_url)

    first = esign(env, "seal", source, "-o", target, "--seal", "A-1")
    assert first.returncode == 1
    assert "broken.pdf" in first.stderr and "NOT_A_PDF" in first.stderr
    assert sorted(p.name for p in target.iterdir()) == ["doc-0.pdf", "doc-1.pdf", "doc-2.pdf"]
    second = esign(env, "seal", source, "-o", target, "--seal", "A-1")
    assert "已跳过 skipped 3" in second.stdout
    assert applied_records(db) == ["A-1"] * 3, "a re-run seals nothing twice"


def test_suspended_seal_is_refused_and_nothing_is_written(
    db: Database, db_url: str, make_seal, tmp_path: Path
) -> None:
    make_seal("A-1")
    with db.transaction() as session:
        suspend_seal(session, OPERATOR, "A-1", "investigation")
    (tmp_path / "in.pdf").write_bytes(small_pdf())
    result = esign(
        registry_env(db_url), "seal", tmp_path / "in.pdf", "-o", tmp_path / "out.pdf", "--seal", "A-1"
    )
    assert result.returncode == 1
    assert "SEAL_NOT_ACTIVE" in result.stderr
    assert not (tmp_path / "out.pdf").exists()
    assert applied_records(db) == []


def test_seal_and_p12_together_are_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "in.pdf").write_bytes(small_pdf())
    (tmp_path / "k.p12").write_bytes(b"x")
    result = esign(
        {**os.environ},
        "seal",
        tmp_path / "in.pdf",
        "-o",
        tmp_path / "o.pdf",
        "--seal",
        "A-1",
        "--p12",
        tmp_path / "k.p12",
    )
    assert result.returncode == 2
    assert "--seal brings its own key" in result.stderr
