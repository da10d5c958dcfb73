"""The ``esign seal`` command, run as a real process: single files, batches, resuming, refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.documents import licence_pdf
from fixtures.pki import TestPKI

PASSPHRASE = "correct horse 电池"


def esign(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "api", *map(str, args)]
    full_env = {**os.environ, "ESIGN_TEST_PASS": PASSPHRASE, **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=full_env)


@pytest.fixture(scope="module")
def p12(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "agency-a.p12"
    path.write_bytes(pki.pkcs12("agency-a", PASSPHRASE.encode()))
    return path


def valid_signatures(path: Path) -> int:
    return subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60).stdout.count(
        "Signature is Valid."
    )


def test_single_document_is_sealed_at_a_keyword_with_a_timestamp_and_no_session_left_open(
    pki: TestPKI, p12: Path, tmp_path: Path
) -> None:
    source = tmp_path / "licence.pdf"
    source.write_bytes(licence_pdf())
    result = esign(
        "seal",
        source,
        "-o",
        tmp_path / "sealed.pdf",
        "--p12",
        p12,
        "--passphrase-env",
        "ESIGN_TEST_PASS",
        "--level",
        "B-LT",
        "--tsa",
        pki.tsa_url,
        "--keyword",
        "（盖章）",
        "--seal-name",
        "杭州市市场监督管理局",
    )
    assert result.returncode == 0, result.stderr
    assert valid_signatures(tmp_path / "sealed.pdf") == 1
    assert "Unclosed client session" not in result.stderr  # pyHanko's fetching session is closed


def test_passphrase_from_a_file_works_and_never_appears_in_output(p12: Path, tmp_path: Path) -> None:
    source = tmp_path / "licence.pdf"
    source.write_bytes(licence_pdf())
    (tmp_path / "pass.txt").write_text(PASSPHRASE + "\n", encoding="utf-8")
    good = esign(
        "seal", source, "-o", tmp_path / "ok.pdf", "--p12", p12, "--passphrase-file", tmp_path / "pass.txt"
    )
    assert good.returncode == 0, good.stderr
    (tmp_path / "wrong.txt").write_text("not-the-passphrase\n", encoding="utf-8")
    bad = esign(
        "seal", source, "-o", tmp_path / "no.pdf", "--p12", p12, "--passphrase-file", tmp_path / "wrong.txt"
    )
    assert bad.returncode == 1
    assert "WRONG_PASSPHRASE" in bad.stderr and "口令" in bad.stderr
    assert "not-the-passphrase" not in bad.stdout + bad.stderr
    assert not (tmp_path / "no.pdf").exists()


def test_batch_seals_the_good_files_reports_the_bad_and_resumes(p12: Path, tmp_path: Path) -> None:
    source, target = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    for i in range(4):
        (source / f"licence-{i}.pdf").write_bytes(licence_pdf(holder=f"示例企业{i}有限公司"))
    (source / "broken.pdf").write_bytes(b"%PDF-1.7\nthis file was cut off")
    (source / "notes.txt").write_text("ignored: not a PDF name")
    args = (
        "seal",
        source,
        "-o",
        target,
        "--p12",
        p12,
        "--passphrase-env",
        "ESIGN_TEST_PASS",
        "--page",
        "1",
        "--x",
        "150",
        "--y",
        "235",
        "--seal-name",
        "杭州市市场监督管理局",
    )

    first = esign(*args)
    assert first.returncode == 1, "one failed document makes the batch fail"
    assert "broken.pdf" in first.stderr and "PDF_TRUNCATED" in first.stderr
    sealed = sorted(p.name for p in target.iterdir())
    assert sealed == [f"licence-{i}.pdf" for i in range(4)], "no output for the bad file, no temp files left"
    assert all(valid_signatures(target / name) == 1 for name in sealed)

    (target / "licence-3.pdf").unlink()  # as if the first run had been killed before this one
    before = {name: (target / name).stat().st_mtime_ns for name in sealed[:3]}
    second = esign(*args)
    assert second.returncode == 1
    assert {name: (target / name).stat().st_mtime_ns for name in sealed[:3]} == before, (
        "done files are skipped"
    )
    assert valid_signatures(target / "licence-3.pdf") == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--page", "1"), "--x and --y"),
        (("--keyword", "盖章", "--page", "1", "--x", "1", "--y", "1"), "choose one placement"),
        (("--keyword", "盖章"), "--image or --seal-name"),
        (("--level", "B-T"), "needs --tsa"),  # README: a usage error exits 2
    ],
)
def test_inconsistent_options_are_usage_errors(
    extra: tuple[str, ...], message: str, p12: Path, tmp_path
) -> None:
    source = tmp_path / "licence.pdf"
    source.write_bytes(licence_pdf())
    result = esign(
        "seal", source, "-o", tmp_path / "x.pdf", "--p12", p12, "--passphrase-env", "ESIGN_TEST_PASS", *extra
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_help_documents_every_option() -> None:
    result = esign("seal", "--help")
    for option in (
        "--p12",
        "--passphrase-env",
        "--passphrase-file",
        "--level",
        "--tsa",
        "--certify",
        "--page",
        "--keyword",
        "--cross-page",
        "--image",
        "--seal-name",
    ):
        assert option in result.stdout
