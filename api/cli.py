"""The ``esign`` command: a thin front door over the library (every feature is a library call first).

Subcommands live in ``api/commands/<name>.py`` and are imported only when used, so ``esign --help``
stays fast and one broken subcommand cannot take the others down.
"""

from __future__ import annotations

import copy
import importlib
import logging

import click

from api.logging import silence_library_warnings

silence_library_warnings()  # before any subcommand imports pyHanko (``--help`` imports them all)

#: subcommand name → "module:attribute" of its click command
COMMANDS: dict[str, str] = {
    "fixtures": "api.commands.fixtures:fixtures",
    "verify": "api.commands.verify:verify",
    "seal": "api.commands.seal:seal",
    "demo": "api.commands.demo:demo",
    "conformance": "api.commands.conformance:conformance",
    "serve": "api.commands.serve:serve",
    "worker": "api.commands.worker:worker",
    "keystore": "api.commands.keystore:keystore",
    "seals": "api.commands.seals:seals",
    "clients": "api.commands.clients:clients",
    "audit": "api.commands.audit:audit",
    "batches": "api.commands.batches:batches",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="esign")
def main() -> None:
    """esign — unified electronic seals (电子印章) for PDFs and verification of reliable e-signatures."""
    _quiet_library_logs()


class _OneLineFormatter(logging.Formatter):
    """A library's log line without its traceback: outcomes are in the report, not on the terminal."""

    def format(self, record: logging.LogRecord) -> str:
        record = copy.copy(record)
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return super().format(record)


def _quiet_library_logs() -> None:
    """pyHanko logs every path it fails to build, with a traceback; for a verifier that is a verdict,
    reported as a finding, so only the libraries' errors reach stderr, one line each."""
    handler = logging.StreamHandler()
    handler.setFormatter(_OneLineFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    for noisy in ("pyhanko", "pyhanko_certvalidator", "fontTools"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
