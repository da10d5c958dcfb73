"""The ``esign`` command: a thin front door over the library (every feature is a library call first).

Subcommands live in ``api/commands/<name>.py`` and are imported only when used, so ``esign --help``
stays fast and one broken subcommand cannot take the others down.
"""

from __future__ import annotations

import importlib

import click

#: subcommand name → "module:attribute" of its click command
COMMANDS: dict[str, str] = {
    "fixtures": "api.commands.fixtures:fixtures",
    "verify": "api.commands.verify:verify",
    "seal": "api.commands.seal:seal",
    "demo": "api.commands.demo:demo",
    "conformance": "api.commands.conformance:conformance",
    "serve": "api.commands.serve:serve",
    "keystore": "api.commands.keystore:keystore",
    "seals": "api.commands.seals:seals",
    "clients": "api.commands.clients:clients",
    "audit": "api.commands.audit:audit",
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
