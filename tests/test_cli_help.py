"""Every ``esign`` subcommand loads and documents itself (the CLI imports them lazily)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import COMMANDS, main
from tests.verify_signing import blank_pdf, sign


def test_top_level_help_lists_every_subcommand() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    for name in COMMANDS:
        assert f"  {name} " in result.output


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_subcommand_help_works(name: str) -> None:
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_verifying_third_party_files_prints_no_traceback(shared_dir) -> None:
    """pyHanko logs each chain it cannot build with a traceback; the CLI must show verdicts, not those."""
    files = sorted(str(p) for p in (shared_dir / "corpus" / "external" / "pyhanko").glob("*.pdf"))
    result = subprocess.run(
        [sys.executable, "-m", "api", "verify", *files], capture_output=True, text=True, timeout=600
    )
    assert len(result.stdout.splitlines()) == len(files)
    assert "Traceback" not in result.stderr, result.stderr[-2000:]


def _esign(*args: str, via: str = "script") -> subprocess.CompletedProcess[str]:
    """The real front door in a fresh interpreter: the installed console script or ``python -m api``."""
    script = Path(sys.executable).with_name("esign")
    command = [str(script)] if via == "script" else [sys.executable, "-m", "api"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("via", ["script", "module"])
def test_help_writes_nothing_to_stderr(via: str) -> None:
    """Importing pyHanko makes cryptography warn that DSA is deprecated; a user must not see that."""
    result = _esign("--help", via=via)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
    assert result.stderr == ""


def test_verifying_a_sealed_pdf_writes_nothing_to_stderr(pki, tmp_path: Path) -> None:
    sealed = tmp_path / "sealed.pdf"
    sealed.write_bytes(sign(blank_pdf(), pki))
    for via in ("script", "module"):
        result = _esign("verify", str(sealed), via=via)
        assert "sealed.pdf" in result.stdout, result.stdout
        assert result.stderr == "", result.stderr
