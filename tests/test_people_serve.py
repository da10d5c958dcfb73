"""``esign serve`` with its demo defaults: a taken test-PKI port and a restart say what to do."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from api.commands.serve import _start_demo
from api.logging import LIBRARIES
from api.settings import Settings

_DEMO_ENV = ("ESIGN_TRUST_DIR", "ESIGN_AUDIT_CERT", "ESIGN_TSA_URL", "ESIGN_AUDIT_KEY", "ESIGN_DEMO_PKI_PORT")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """``esign serve`` sets ESIGN_* defaults in os.environ and configures the libraries' loggers: both are
    given back afterwards, so that later tests in this process see neither."""
    for name in _DEMO_ENV:
        monkeypatch.setenv(name, "x")
        monkeypatch.delenv(name)
    monkeypatch.setenv("ESIGN_DATABASE_URL", f"sqlite:///{tmp_path / 'esign.db'}")
    monkeypatch.setenv("ESIGN_KEYSTORE_DIR", str(tmp_path / "keystore.d"))
    loggers = [logging.getLogger(name) for name in LIBRARIES]
    saved = [(lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    yield tmp_path
    logging.captureWarnings(False)
    for lg, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        lg.handlers, lg.level, lg.propagate = handlers, level, propagate


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_taken_demo_pki_port_names_the_option_that_moves_it(clean_env: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "--port", str(_free_port()), "--pki-port", str(port)])
    assert result.exit_code == 1, result.output
    assert f"127.0.0.1:{port}" in result.output and "--pki-port" in result.output
    assert "ESIGN_DEMO_PKI_PORT" in result.output and "different port" not in result.output


def test_a_restart_prints_the_tsa_and_how_to_get_a_lost_demo_key(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(demo_pki_port=_free_port())
    _start_demo(settings)
    first = capsys.readouterr().out
    assert "demo API key" in first and f"127.0.0.1:{settings.demo_pki_port}/esign/tsa/tsa" in first
    _start_demo(Settings(demo_pki_port=_free_port()))
    again = capsys.readouterr().out
    assert "demo API key for" not in again
    assert "Lost it?" in again and "esign clients create" in again and "esign seals grant HZAMR-01" in again
