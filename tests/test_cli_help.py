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
