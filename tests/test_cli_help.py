"""Every ``esign`` subcommand loads and documents itself (the CLI imports them lazily)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from api.cli import COMMANDS, main


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
    import subprocess
    import sys

    files = sorted(str(p) for p in (shared_dir / "corpus" / "external" / "pyhanko").glob("*.pdf"))
    result = subprocess.run(
        [sys.executable, "-m", "api", "verify", *files], capture_output=True, text=True, timeout=600
    )
    assert len(result.stdout.splitlines()) == len(files)
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
