"""Embedded defaults: a working service from an empty directory, for the demo and for tests.

On first start the SQLite database is created, the test PKI's agency keys and its audit key are
imported into the keystore (as PKCS#12 files whose passphrase lives in a 0600 file beside them;
each agency's key owned by its USCC, the audit key by the platform, so it backs no seal),
one seal per agency is registered, and a demo API client is created whose key is printed once.
The audit key (:data:`DEMO_AUDIT_KEY`, named by ``ESIGN_AUDIT_KEY``) signs the audit checkpoints.
Later starts find the seals and change nothing. Production deployments skip all this
(``esign serve --no-demo``) and register real keys and seals with the keystore commands.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from api.settings import Settings
from fixtures.pki import TestPKI
from keystore import keyring
from keystore.authz import OPERATOR
from keystore.clients import create_client, grant_seal
from keystore.db import Database
from keystore.keys import KeyStore
from keystore.ownership import PLATFORM_OWNER
from keystore.registry import SealSpec, appearance_for, find_seal, list_seals, register_seal

__all__ = ["DEMO_AUDIT_KEY", "DEMO_CLIENT", "DEMO_SEALS", "DemoSeal", "bootstrap", "write_demo_trust"]


@dataclass(frozen=True)
class DemoSeal:
    code: str
    label: str  #: certificate label in the test PKI
    org_name: str
    uscc: str


DEMO_SEALS = (
    DemoSeal("HZAMR-01", "agency-a", "杭州市市场监督管理局", "11330100MB1234567E"),
    DemoSeal("HZHRSS-01", "agency-b", "杭州市人力资源和社会保障局", "12330100MB2345678W"),
    DemoSeal("HZPSB-01", "agency-c", "杭州市公安局", "11330100MB3456789H"),
)
DEMO_CLIENT = "demo"
#: keystore name of the audit checkpoint key (the test PKI's ``audit`` certificate)
DEMO_AUDIT_KEY = "audit"
_PASSPHRASE_FILE = "demo-passphrase"


def bootstrap(settings: Settings, pki: TestPKI, echo: Callable[[str], None] = print) -> str | None:
    """Create the database and the demo seals if absent; returns the new demo API key (else None)."""
    db = Database(settings.database_url)
    try:
        db.upgrade()
        store = Path(settings.keystore_dir)
        passphrase_ref = _passphrase(store)
        with tempfile.TemporaryDirectory(prefix="esign-bootstrap-") as tmp:
            exported = _Exporter(pki, (store / _PASSPHRASE_FILE).read_bytes(), Path(tmp))
            _ensure_audit_key(db, exported, passphrase_ref, store)  # also for databases made before it
            with db.transaction() as session:
                if list_seals(session):
                    return None
            asyncio.run(_register(db, exported, passphrase_ref, store))
        with db.transaction() as session:
            first = DEMO_SEALS[0]
            made = create_client(
                session,
                OPERATOR,
                name=DEMO_CLIENT,
                org_name=first.org_name,
                uscc=first.uscc,
                roles="seal-admin,sealer,verifier,auditor",
            )
            grant_seal(session, OPERATOR, DEMO_CLIENT, find_seal(session, first.code))
        echo(f"demo API key for {first.org_name} (shown once / 仅显示一次): {made.api_key}")
        return made.api_key
    finally:
        db.dispose()


def _passphrase(store: Path) -> str:
    store.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = store / _PASSPHRASE_FILE
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(24))
    return f"file:{path.resolve()}"


@dataclass(frozen=True)
class _Exporter:
    """Writes the test PKI's keys as PKCS#12 files under the bootstrap passphrase, for import."""

    pki: TestPKI
    passphrase: bytes
    directory: Path

    def pkcs12(self, label: str) -> Path:
        source = self.directory / f"{label}.p12"
        source.write_bytes(self.pki.pkcs12(label, self.passphrase))
        return source


def _ensure_audit_key(db: Database, exported: _Exporter, passphrase_ref: str, store: Path) -> None:
    with db.transaction() as session:
        if DEMO_AUDIT_KEY not in {entry.name for entry in keyring.list_keys(session)}:
            source = exported.pkcs12("audit")
            keyring.add_pkcs12_key(
                session, OPERATOR.name, DEMO_AUDIT_KEY, source, passphrase_ref, store, owner=PLATFORM_OWNER
            )


async def _register(db: Database, exported: _Exporter, passphrase_ref: str, store: Path) -> None:
    keys = KeyStore()
    for seal in DEMO_SEALS:
        source = exported.pkcs12(seal.label)
        with db.transaction() as session:
            keyring.add_pkcs12_key(
                session, OPERATOR.name, seal.label, source, passphrase_ref, store, owner=seal.uscc
            )
        spec = SealSpec(
            code=seal.code, seal_type="01", org_name=seal.org_name, uscc=seal.uscc, key_name=seal.label
        )
        await register_seal(db, keys, OPERATOR, spec, appearance_for(spec))


def write_demo_trust(pki: TestPKI, directory: Path) -> tuple[Path, Path]:
    """The test root as the only trust anchor, and the audit checkpoint certificate beside it."""
    trust = pki.write_trust_dir(directory / "demo-trust")
    audit = directory / "demo-audit.pem"
    audit.write_bytes(pki.root_pem("audit"))
    return trust, audit
