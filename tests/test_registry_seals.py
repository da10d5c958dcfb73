"""Seal registry: registration checks, lifecycle, rotation, and refusal to seal with an unusable seal."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import func, select

from esign.errors import ErrorCode, EsignError
from esign.seal.pades import SealOptions
from fixtures.pki import TestPKI
from keystore import keyring, registry
from keystore.authz import OPERATOR
from keystore.db import Database
from keystore.keys import KeyStore
from keystore.models import AuditRecord, Seal
from keystore.registry import SealSpec, appearance_for, register_seal, rotate_seal
from keystore.service import SealService
from tests.keystore_fixtures import *  # noqa: F403 - the fixtures
from tests.keystore_fixtures import ORG_A, ORG_B, USCC_A, USCC_B, hsm_ref, small_pdf


def _counts(db: Database) -> tuple[int, int]:
    with db.transaction() as session:
        seals = session.execute(select(func.count()).select_from(Seal)).scalar_one()
        records = session.execute(select(func.count()).select_from(AuditRecord)).scalar_one()
    return seals, records


def _register(db: Database, keys: KeyStore, spec: SealSpec, upload: bytes | None = None) -> Seal:
    return asyncio.run(register_seal(db, keys, OPERATOR, spec, appearance_for(spec, upload)))


def test_registered_seal_is_active_with_certificate_window_and_history(
    db: Database, make_seal, pki: TestPKI
) -> None:
    make_seal("HZ-SCJG-01")
    with db.transaction() as session:
        seal = registry.find_seal(session, "HZ-SCJG-01")
        assert registry.effective_status(seal) == "active"
        assert seal.valid_to == pki.cert("agency-a-ec")["tbs_certificate"]["validity"]["not_after"].native
        assert registry.seal_chain(seal)[0].dump() == pki.cert("agency-a-ec").dump()
        assert seal.appearance.startswith(b"%PDF") and seal.appearance_width_mm == pytest.approx(42)
        assert [event.action for event in seal.events] == ["registered"]


@pytest.mark.parametrize(
    ("label", "changes", "code"),
    [
        ("agency-a-ec", {"uscc": "11330100MB1234567X"}, ErrorCode.USCC_INVALID),
        ("agency-b", {}, ErrorCode.KEY_NOT_BINDABLE),  # agency B's key for agency A's seal
        (
            "agency-expired",
            {"org_name": "测试无效证书单位", "uscc": "91330100MA2ABCDE1R"},
            ErrorCode.CERT_EXPIRED,
        ),
        (
            "agency-wrong-ku",
            {"org_name": "测试无效证书单位", "uscc": "91330100MA2ABCDE1R"},
            ErrorCode.CERT_KEY_USAGE,
        ),
        (
            "agency-weak",
            {"org_name": "测试无效证书单位", "uscc": "91330100MA2ABCDE1R"},
            ErrorCode.CERT_WEAK_KEY,
        ),
        ("agency-a-ec", {"valid_to": datetime(2040, 1, 1, tzinfo=UTC)}, ErrorCode.SEAL_VALIDITY_OUTSIDE_CERT),
        ("agency-a-ec", {"seal_type": "07"}, ErrorCode.BAD_OPTION),
        ("agency-a-ec", {"code": "has space"}, ErrorCode.BAD_OPTION),
    ],
    ids=[
        "bad-uscc",
        "wrong-org",
        "expired-cert",
        "no-signing-key-usage",
        "rsa-1024",
        "window-outside-cert",
        "type",
        "code",
    ],
)
def test_bad_registration_is_refused_and_changes_nothing(
    db: Database, keys: KeyStore, add_p12_key, label: str, changes: dict, code: ErrorCode
) -> None:
    add_p12_key(label)
    before = _counts(db)
    fields = {
        "code": "S-1",
        "seal_type": "01",
        "org_name": ORG_A,
        "uscc": USCC_A,
        "key_name": label,
        **changes,
    }
    with pytest.raises(EsignError) as info:
        _register(db, keys, SealSpec(**fields))
    assert info.value.code is code
    assert info.value.message_zh and info.value.message_en
    assert _counts(db) == before


def test_certificate_not_matching_the_key_is_refused(
    db: Database, keys: KeyStore, softhsm, pki: TestPKI, secrets_env: None
) -> None:
    # the token's agency-a RSA key presented with another RSA certificate naming the same organisation
    with db.transaction() as session:
        keyring.add_pkcs11_key(
            session, "operator", "mixed", hsm_ref("agency-a"), pki.chain("rogue-signer"), owner=USCC_A
        )
    before = _counts(db)
    with pytest.raises(EsignError) as info:
        _register(db, keys, SealSpec("S-2", "01", ORG_A, USCC_A, "mixed"))
    assert info.value.code is ErrorCode.CERT_KEY_MISMATCH
    assert _counts(db) == before


def test_token_key_with_a_certificate_of_another_key_type_is_refused_at_import(
    db: Database, softhsm, pki: TestPKI, secrets_env: None
) -> None:
    with pytest.raises(EsignError) as info, db.transaction() as session:
        keyring.add_pkcs11_key(
            session, "operator", "mixed", hsm_ref("agency-a"), pki.chain("agency-a-ec"), owner=USCC_A
        )
    assert info.value.code is ErrorCode.CERT_KEY_MISMATCH


def test_seal_code_is_unique(db: Database, keys: KeyStore, make_seal) -> None:
    make_seal("DUP")
    with pytest.raises(EsignError) as info:
        _register(db, keys, SealSpec("DUP", "02", ORG_A, USCC_A, "agency-a-ec"))
    assert info.value.code is ErrorCode.SEAL_CODE_TAKEN


def test_hsm_backed_seal_seals_a_document(db: Database, keys: KeyStore, softhsm, secrets_env: None) -> None:
    with db.transaction() as session:
        keyring.add_pkcs11_key(session, "operator", "hsm-b", hsm_ref("agency-b"), owner=USCC_B)
    _register(db, keys, SealSpec("HZ-RS-01", "04", ORG_B, USCC_B, "hsm-b"))
    result = SealService(db, keys).apply(OPERATOR, "HZ-RS-01", small_pdf(), SealOptions())
    assert result.pdf.count(b"/ByteRange") == 1 and result.sha256_after != result.sha256_before


def _png(size: int, opaque: bool = False) -> bytes:
    image = Image.new("RGBA", (size, size), (200, 0, 0, 255 if opaque else 0))
    image.putpixel((size // 2, size // 2), (200, 0, 0, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_uploaded_png_becomes_the_appearance(db: Database, keys: KeyStore, add_p12_key) -> None:
    add_p12_key("agency-a-ec")
    seal = _register(db, keys, SealSpec("PNG-1", "01", ORG_A, USCC_A, "agency-a-ec"), upload=_png(64))
    assert seal.appearance.startswith(b"%PDF")


@pytest.mark.parametrize(
    "upload",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="10"/></svg>',
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        _png(5000),
    ],
    ids=["svg", "truncated-png", "oversized-png"],
)
def test_malformed_or_unsupported_image_is_refused_and_changes_nothing(
    db: Database, keys: KeyStore, add_p12_key, upload: bytes
) -> None:
    add_p12_key("agency-a-ec")
    before = _counts(db)
    with pytest.raises(EsignError) as info:
        _register(db, keys, SealSpec("IMG-1", "01", ORG_A, USCC_A, "agency-a-ec"), upload=upload)
    assert info.value.code is ErrorCode.BAD_IMAGE
    assert _counts(db) == before


def test_lifecycle_suspend_resume_revoke_and_sealing_refusals(
    db: Database, keys: KeyStore, make_seal
) -> None:
    make_seal("LC-1")
    service = SealService(db, keys)
    with db.transaction() as session:
        registry.suspend_seal(session, OPERATOR, "LC-1", "audit in progress")
    with pytest.raises(EsignError) as info:
        service.apply(OPERATOR, "LC-1", small_pdf(), SealOptions())
    assert info.value.code is ErrorCode.SEAL_NOT_ACTIVE and "suspended" in str(info.value)
    with db.transaction() as session:
        registry.resume_seal(session, OPERATOR, "LC-1")
    assert service.apply(OPERATOR, "LC-1", small_pdf(), SealOptions()).audit_seq > 0
    with db.transaction() as session:
        registry.revoke_seal(session, OPERATOR, "LC-1", "key lost")
    for transition in (registry.resume_seal, registry.suspend_seal, registry.revoke_seal):
        with pytest.raises(EsignError) as info, db.transaction() as session:
            transition(session, OPERATOR, "LC-1")
        assert info.value.code is ErrorCode.SEAL_BAD_TRANSITION
    with pytest.raises(EsignError) as info:
        service.apply(OPERATOR, "LC-1", small_pdf(), SealOptions())
    assert info.value.code is ErrorCode.SEAL_NOT_ACTIVE
    with db.transaction() as session:
        actions = [event.action for event in registry.find_seal(session, "LC-1").events]
    assert actions == ["registered", "suspended", "resumed", "revoked"]


def test_seal_outside_its_window_is_refused_as_expired(db: Database, keys: KeyStore, make_seal) -> None:
    start = datetime.now(UTC) - timedelta(days=30)
    make_seal("WIN-1", valid_from=start, valid_to=start + timedelta(days=1))
    with pytest.raises(EsignError) as info:
        SealService(db, keys).apply(OPERATOR, "WIN-1", small_pdf(), SealOptions())
    assert info.value.code is ErrorCode.SEAL_NOT_ACTIVE and "expired" in str(info.value)
    with db.transaction() as session:
        assert registry.effective_status(registry.find_seal(session, "WIN-1")) == "expired"


def test_unknown_seal_is_not_found(db: Database, keys: KeyStore) -> None:
    with pytest.raises(EsignError) as info:
        SealService(db, keys).apply(OPERATOR, "NOPE", small_pdf(), SealOptions())
    assert info.value.code is ErrorCode.SEAL_NOT_FOUND and info.value.code.http_status == 404


def test_rotation_keeps_code_and_history_and_seals_with_the_new_certificate(
    db: Database, keys: KeyStore, make_seal, add_p12_key, pki: TestPKI
) -> None:
    make_seal("ROT-1", label="agency-a-ec")
    add_p12_key("agency-a")
    asyncio.run(rotate_seal(db, keys, OPERATOR, "ROT-1", "agency-a"))
    with db.transaction() as session:
        seal = registry.find_seal(session, "ROT-1")
        assert seal.key_name == "agency-a"
        assert registry.seal_chain(seal)[0].dump() == pki.cert("agency-a").dump()
        assert [event.action for event in seal.events] == ["registered", "rotated"]
    sealed = SealService(db, keys).apply(OPERATOR, "ROT-1", small_pdf(), SealOptions()).pdf
    [signature] = PdfFileReader(io.BytesIO(sealed)).embedded_signatures
    assert signature.signer_cert.dump() == pki.cert("agency-a").dump()


def test_rotation_to_another_organisations_certificate_is_refused(
    db: Database, keys: KeyStore, make_seal, add_p12_key
) -> None:
    make_seal("ROT-2")
    add_p12_key("agency-b")
    with pytest.raises(EsignError) as info:
        asyncio.run(rotate_seal(db, keys, OPERATOR, "ROT-2", "agency-b"))
    assert info.value.code is ErrorCode.KEY_NOT_BINDABLE
    with db.transaction() as session:
        assert registry.find_seal(session, "ROT-2").key_name == "agency-a-ec"


def test_seal_suspended_while_signing_gets_no_audit_record(db: Database, keys: KeyStore, make_seal) -> None:
    make_seal("RACE-1")
    service = SealService(db, keys)
    service.apply(OPERATOR, "RACE-1", small_pdf(), SealOptions())  # the pre-signing check is now remembered
    before = _counts(db)

    def suspend_meanwhile(_sealed: bytes) -> None:
        with db.transaction() as session:
            registry.suspend_seal(session, OPERATOR, "RACE-1")

    with pytest.raises(EsignError) as info:
        service.apply(OPERATOR, "RACE-1", small_pdf(), SealOptions(), before_record=suspend_meanwhile)
    assert info.value.code is ErrorCode.SEAL_NOT_ACTIVE
    assert _counts(db) == (before[0], before[1] + 1)  # only the suspension was recorded
