"""``esign keystore``: set up the registry database and the keys seals are made with.

Secrets never travel on the command line (shell history, ``ps``): give the *name* of an
environment variable or a file that holds the passphrase or PIN; the registry stores only that
reference. The helpers at the bottom are shared by ``esign seals``, ``esign clients`` and
``esign audit``.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from esign.errors import ErrorCode, EsignError

F = TypeVar("F", bound=Callable[..., Any])


def database_option(fn: F) -> F:
    return click.option(
        "--database",
        "database_url",
        envvar="ESIGN_DATABASE_URL",
        metavar="URL",
        help="Registry database (default: sqlite:///esign.db; env ESIGN_DATABASE_URL).",
    )(fn)


def reports_errors(fn: F) -> F:
    """Print a refusal as code + 中文 + English and exit 1 (2 for a bad option) — never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except EsignError as exc:
            click.echo(f"错误 error [{exc.code.name}] {exc.message_zh} / {exc.message_en}", err=True)
            sys.exit(2 if exc.code is ErrorCode.BAD_OPTION else 1)

    return wrapper  # type: ignore[return-value]


def secret_ref(env: str | None, file: Path | None, what: str) -> str:
    if bool(env) == bool(file):
        raise click.UsageError(f"give the {what} with exactly one of --{what}-env or --{what}-file")
    return f"env:{env}" if env else f"file:{file.resolve()}"  # type: ignore[union-attr]


def owner_option(fn: F) -> F:
    return click.option(
        "--owner",
        required=True,
        metavar="USCC|platform",
        help="Whose key it is: the organisation's unified social credit code (the certificate must carry "
        "it), or 'platform' for the platform's own keys (audit checkpoints), which never back a seal.",
    )(fn)


@click.group()
def keystore() -> None:
    """Registry database and signing keys (PKCS#12 files, PKCS#11 tokens)."""


@keystore.command()
@database_option
@click.option(
    "--dir", "directory", type=click.Path(file_okay=False, path_type=Path), envvar="ESIGN_KEYSTORE_DIR"
)
@reports_errors
def init(database_url: str | None, directory: Path | None) -> None:
    """Create or upgrade the registry database and the keystore directory."""
    from keystore.db import Database
    from keystore.keyring import keystore_dir

    db = Database.open(database_url)
    store = keystore_dir(str(directory) if directory else None)
    store.mkdir(parents=True, exist_ok=True, mode=0o700)
    click.echo(f"database: {db.url}\nkeystore: {store.resolve()}")


#: the variable ``esign fixtures export`` reads too, so exported test keys import without options
DEFAULT_PASSPHRASE_ENV = "ESIGN_KEY_PASSPHRASE"


@keystore.command("import")
@click.argument("name")
@click.argument("p12", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--passphrase-env",
    metavar="VAR",
    help=f"Environment variable holding the passphrase (default {DEFAULT_PASSPHRASE_ENV}, "
    "as for fixtures export).",
)
@click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path), help="File holding it.")
@click.option(
    "--dir", "directory", type=click.Path(file_okay=False, path_type=Path), envvar="ESIGN_KEYSTORE_DIR"
)
@owner_option
@database_option
@reports_errors
def import_p12(
    name: str,
    p12: Path,
    passphrase_env: str | None,
    passphrase_file: Path | None,
    directory: Path | None,
    owner: str,
    database_url: str | None,
) -> None:
    """Import the encrypted PKCS#12 file P12 as key NAME of OWNER (the file is copied, still encrypted)."""
    from keystore.db import Database
    from keystore.keyring import add_pkcs12_key, keystore_dir

    if passphrase_env is None and passphrase_file is None:
        passphrase_env = DEFAULT_PASSPHRASE_ENV
    ref = secret_ref(passphrase_env, passphrase_file, "passphrase")
    db = Database.open(database_url)
    with db.transaction() as session:
        store = keystore_dir(str(directory) if directory else None)
        entry = add_pkcs12_key(session, "operator", name, p12, ref, store, owner=owner)
    click.echo(f"imported {entry.name} ({entry.owner}): {_subject(entry.cert_chain)}")


@keystore.command("add-pkcs11")
@click.argument("name")
@click.option(
    "--module", default="/usr/lib/softhsm/libsofthsm2.so", show_default=True, help="PKCS#11 module."
)
@click.option("--token", required=True, help="Token label.")
@click.option("--key-label", required=True, help="Label of the private key (and of its certificate).")
@click.option("--pin-env", metavar="VAR", help="Environment variable holding the user PIN.")
@click.option(
    "--pin-file", type=click.Path(dir_okay=False, path_type=Path), help="File holding the user PIN."
)
@click.option(
    "--cert",
    "cert_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM certificate chain (signing certificate first); default: the certificate on the token.",
)
@owner_option
@database_option
@reports_errors
def add_pkcs11(
    name: str,
    module: str,
    token: str,
    key_label: str,
    pin_env: str | None,
    pin_file: Path | None,
    cert_file: Path | None,
    owner: str,
    database_url: str | None,
) -> None:
    """Register the key KEY_LABEL on a PKCS#11 token as key NAME of OWNER (the key never leaves the token)."""
    from keystore.db import Database
    from keystore.keyring import add_pkcs11_key, chain_from_pem
    from keystore.keys import Pkcs11Ref

    ref = Pkcs11Ref(module=module, token=token, key_label=key_label, pin=secret_ref(pin_env, pin_file, "pin"))
    chain = chain_from_pem(cert_file.read_text("ascii")) if cert_file else None
    db = Database.open(database_url)
    with db.transaction() as session:
        entry = add_pkcs11_key(session, "operator", name, ref, chain, owner=owner)
    click.echo(f"registered {entry.name} ({entry.owner}): {_subject(entry.cert_chain)}")


@keystore.command("list")
@database_option
@reports_errors
def list_keys(database_url: str | None) -> None:
    """List the registered keys: name, owner (USCC or platform), where it is, its certificate's subject."""
    from keystore.db import Database
    from keystore.keyring import key_ref, list_keys

    db = Database.open(database_url)
    with db.transaction() as session:
        for entry in list_keys(session):
            click.echo(
                f"{entry.name}\t{entry.owner}\t{key_ref(entry).describe()}\t{_subject(entry.cert_chain)}"
            )


def _subject(chain_pem: str) -> str:
    from keystore.keyring import chain_from_pem

    return chain_from_pem(chain_pem)[0].subject.human_friendly
