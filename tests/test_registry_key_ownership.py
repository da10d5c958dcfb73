"""Keys belong to organisations: a seal is made only with a key its organisation owns (issue 11).

The attack these tests replay: a seal-admin named the platform's audit-checkpoint key (whose
certificate carries no USCC) and that certificate's organisation name, and got a seal that sealed
documents verifying as reliable; another organisation's key could be named the same way, and the
different answers for unknown and foreign keys let key names be probed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from esign.errors import ErrorCode, EsignError
from fixtures.pki import TestPKI
from keystore.authz import OPERATOR, Principal, Role
from keystore.certcheck import check_seal_certificate
from keystore.db import Database
from keystore.keys import KeyStore
from keystore.registry import SealSpec, appearance_for, register_seal, rotate_seal
from tests.keystore_fixtures import *  # noqa: F403 - the fixtures
from tests.keystore_fixtures import ORG_A, ORG_B, USCC_A, USCC_B

#: the organisation name in the audit-checkpoint certificate (which has no USCC)
AUDIT_ORG = "esign 统一电子印章系统"


def _admin(uscc: str) -> Principal:
    return Principal(name=f"admin-{uscc[-4:]}", uscc=uscc, roles=frozenset({Role.SEAL_ADMIN}))


def _refusal(db: Database, keys: KeyStore, who: Principal, spec: SealSpec) -> EsignError:
    with pytest.raises(EsignError) as info:
        asyncio.run(register_seal(db, keys, who, spec, appearance_for(spec)))
    return info.value


def _answer(error: EsignError, key: str) -> tuple[str, int, str, str]:
    """What a caller sees, with the key name it sent taken out."""
    return (
        error.code.name,
        error.code.http_status,
        error.message_en.replace(key, "…"),
        error.message_zh.replace(key, "…"),
    )


@pytest.fixture
def keys_of_a_and_platform(add_p12_key: Callable[[str], str]) -> None:
    add_p12_key("agency-a-ec")
    add_p12_key("audit")


@pytest.mark.parametrize("uscc", [USCC_A, USCC_B], ids=["agency-a", "agency-b"])
def test_no_seal_admin_can_put_a_seal_on_the_audit_key(
    db: Database, keys: KeyStore, keys_of_a_and_platform: None, uscc: str
) -> None:
    spec = SealSpec("AUDIT-1", "01", AUDIT_ORG, uscc, "audit")
    refused = _refusal(db, keys, _admin(uscc), spec)
    unknown = _refusal(db, keys, _admin(uscc), SealSpec("AUDIT-1", "01", AUDIT_ORG, uscc, "no-such-key"))
    assert _answer(refused, "audit") == _answer(unknown, "no-such-key")
    assert refused.code is ErrorCode.KEY_NOT_FOUND


def test_the_operator_cannot_put_a_seal_on_a_platform_key_either(
    db: Database, keys: KeyStore, keys_of_a_and_platform: None
) -> None:
    refused = _refusal(db, keys, OPERATOR, SealSpec("AUDIT-2", "01", AUDIT_ORG, USCC_A, "audit"))
    assert refused.code is ErrorCode.KEY_NOT_BINDABLE
    assert "平台" in refused.message_zh and "the platform" in refused.message_en


def test_another_organisations_key_answers_like_an_unknown_key(
    db: Database, keys: KeyStore, keys_of_a_and_platform: None
) -> None:
    admin_b = _admin(USCC_B)
    foreign = _refusal(db, keys, admin_b, SealSpec("B-9", "01", ORG_A, USCC_B, "agency-a-ec"))
    unknown = _refusal(db, keys, admin_b, SealSpec("B-9", "01", ORG_A, USCC_B, "agency-a-ex"))
    assert foreign.code is ErrorCode.KEY_NOT_FOUND
    assert _answer(foreign, "agency-a-ec") == _answer(unknown, "agency-a-ex")


def test_a_seal_admin_binds_its_own_organisations_key(
    db: Database, keys: KeyStore, keys_of_a_and_platform: None
) -> None:
    spec = SealSpec("A-OWN", "01", ORG_A, USCC_A, "agency-a-ec")
    seal = asyncio.run(register_seal(db, keys, _admin(USCC_A), spec, appearance_for(spec)))
    assert seal.key_name == "agency-a-ec" and seal.uscc == USCC_A


def test_rotation_by_a_seal_admin_to_a_foreign_key_answers_like_an_unknown_key(
    db: Database, keys: KeyStore, add_p12_key: Callable[[str], str]
) -> None:
    add_p12_key("agency-a-ec")
    add_p12_key("agency-b")
    spec = SealSpec("B-1", "01", ORG_B, USCC_B, "agency-b")
    asyncio.run(register_seal(db, keys, OPERATOR, spec, appearance_for(spec)))
    with pytest.raises(EsignError) as info:
        asyncio.run(rotate_seal(db, keys, _admin(USCC_B), "B-1", "agency-a-ec"))
    assert info.value.code is ErrorCode.KEY_NOT_FOUND


def test_a_certificate_without_a_uscc_never_matches_an_organisation(pki: TestPKI) -> None:
    # the name in the certificate is exactly the one given: still no match, as no code ties them
    with pytest.raises(EsignError) as info:
        check_seal_certificate(
            pki.cert("audit"),
            org_name=AUDIT_ORG,
            uscc=USCC_A,
            valid_from=datetime(2026, 1, 1, tzinfo=UTC),
            valid_to=datetime(2027, 1, 1, tzinfo=UTC),
            now=datetime(2026, 1, 1, tzinfo=UTC),
        )
    assert info.value.code is ErrorCode.SEAL_ORG_MISMATCH
