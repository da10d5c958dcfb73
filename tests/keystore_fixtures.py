"""Fixtures for the keystore, registry and audit tests (imported by their test modules).

Every database test runs on SQLite, and also on PostgreSQL when ``ESIGN_TEST_POSTGRES_URL`` is
set; each PostgreSQL test gets a schema of its own, dropped afterwards, so parallel runs and
earlier runs never collide.
"""

from __future__ import annotations

import asyncio
import io
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pikepdf
import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from sqlalchemy import create_engine, text

from fixtures.pki import TestPKI
from keystore import keyring, pkcs11
from keystore.authz import OPERATOR
from keystore.db import Database, normalise_url
from keystore.keys import KeyStore, Pkcs11Ref
from keystore.ownership import owner_from_certificate
from keystore.registry import SealSpec, appearance_for, register_seal
from keystore.secrets import Secret
from keystore.softhsm import MODULE, SoftHSMToken, create_token

HSM_LABEL = "esign-test"
HSM_PIN = "4711-test-pin"
HSM_PIN_ENV = "ESIGN_TEST_HSM_PIN"
P12_PASSPHRASE = "p12-test-passphrase-6f2d"
P12_PASSPHRASE_ENV = "ESIGN_TEST_P12_PASSPHRASE"

USCC_A = "11330100MB1234567E"
USCC_B = "12330100MB2345678W"
ORG_A = "杭州市市场监督管理局"
ORG_B = "杭州市人力资源和社会保障局"

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("ESIGN_TEST_POSTGRES_URL") else [])


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'esign.db'}"
        return
    base = normalise_url(os.environ["ESIGN_TEST_POSTGRES_URL"])
    schema = f"esign_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(P12_PASSPHRASE_ENV, P12_PASSPHRASE)
    monkeypatch.setenv(HSM_PIN_ENV, HSM_PIN)


_token: list[SoftHSMToken] = []  # one token per process: SoftHSM reads its configuration only once


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory, pki: TestPKI) -> SoftHSMToken:
    """One SoftHSM2 token per test process, holding the agency-a (RSA, ECDSA) and agency-b keys (imported).

    Test modules import this fixture, so pytest sees one definition per module; the token is made
    once all the same.
    """
    if _token:
        return _token[0]
    token_info = create_token(tmp_path_factory.mktemp("softhsm"), HSM_LABEL, HSM_PIN, "so-pin-0000")
    token = pkcs11.open_token(MODULE, HSM_LABEL, Secret(HSM_PIN.encode()))
    for label in ("agency-a", "agency-a-ec", "agency-b"):
        key = serialization.load_der_private_key(pki.key(label).dump(), None)
        pkcs11.import_private_key(token, label, key)
        pkcs11.import_certificate(token, label, pki.cert(label))
    _token.append(token_info)
    return token_info


def hsm_ref(key_label: str) -> Pkcs11Ref:
    return Pkcs11Ref(module=MODULE, token=HSM_LABEL, key_label=key_label, pin=f"env:{HSM_PIN_ENV}")


def issue_certificate(pki: TestPKI, subject_label: str, public_key: object) -> asn1_x509.Certificate:
    """A certificate from the test intermediate for a key generated elsewhere (e.g. on the token)."""
    template = x509.load_der_x509_certificate(pki.cert(subject_label).dump())
    issuer = x509.load_der_x509_certificate(pki.cert("interm").dump())
    ca_key = serialization.load_der_private_key(pki.key("interm").dump(), None)
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(template.subject)
        .issuer_name(issuer.subject)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


@pytest.fixture
def p12_file(tmp_path: Path, pki: TestPKI) -> Callable[[str], Path]:
    """Write ``label``'s key and chain as an encrypted PKCS#12 file; returns its path."""

    def write(label: str) -> Path:
        path = tmp_path / f"{label}.p12"
        path.write_bytes(pki.pkcs12(label, P12_PASSPHRASE.encode()))
        return path

    return write


@pytest.fixture
def add_p12_key(
    db: Database, p12_file: Callable[[str], Path], tmp_path: Path, secrets_env: None, pki: TestPKI
) -> Callable[[str], str]:
    """Import ``label``'s PKCS#12 into the keystore under the name ``label``.

    Its owner is the one the certificate names: the agency's USCC, or the platform for the audit key.
    """

    added: set[str] = set()

    def add(label: str) -> str:
        if label in added:
            return label
        added.add(label)
        with db.transaction() as session:
            keyring.add_pkcs12_key(
                session,
                "operator",
                label,
                p12_file(label),
                f"env:{P12_PASSPHRASE_ENV}",
                tmp_path / "keystore.d",
                owner=owner_from_certificate(pki.cert(label)),
            )
        return label

    return add


@pytest.fixture
def keys() -> KeyStore:
    return KeyStore()


@pytest.fixture
def make_seal(db: Database, keys: KeyStore, add_p12_key: Callable[[str], str]) -> Callable[..., str]:
    """Register a seal backed by ``label``'s PKCS#12 key; returns the seal code."""

    def make(
        code: str, label: str = "agency-a-ec", org: str = ORG_A, uscc: str = USCC_A, **kw: object
    ) -> str:
        add_p12_key(label)
        spec = SealSpec(code=code, seal_type="01", org_name=org, uscc=uscc, key_name=label, **kw)  # type: ignore[arg-type]
        asyncio.run(register_seal(db, keys, OPERATOR, spec, appearance_for(spec)))
        return code

    return make


def small_pdf(text_line: str = "esign test") -> bytes:
    """A one-page PDF of a few hundred bytes: sealing cost is then the signature, not the document."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    pdf.docinfo["/Title"] = text_line
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()
