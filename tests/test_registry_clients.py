"""API clients, API keys and the authorisation rules (one test per rule, across organisations)."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from api.cli import main
from esign.errors import ErrorCode, EsignError
from esign.seal.pades import SealOptions
from keystore import clients, registry
from keystore.authz import OPERATOR, Principal, require_auditor, require_verifier
from keystore.db import Database
from keystore.keys import KeyStore
from keystore.models import AuditRecord, Client
from keystore.registry import SealSpec, appearance_for, register_seal
from keystore.service import SealService
from tests.keystore_fixtures import *  # noqa: F403 - the fixtures
from tests.keystore_fixtures import ORG_A, ORG_B, USCC_A, USCC_B, small_pdf


def _client(db: Database, name: str, uscc: str, roles: str) -> Principal:
    org = ORG_A if uscc == USCC_A else ORG_B
    with db.transaction() as session:
        key = clients.create_client(
            session, OPERATOR, name=name, org_name=org, uscc=uscc, roles=roles
        ).api_key
    with db.transaction() as session:
        return clients.authenticate(session, key)


def _grant(db: Database, client: str, seal: str) -> None:
    with db.transaction() as session:
        clients.grant_seal(session, OPERATOR, client, registry.find_seal(session, seal))


@pytest.fixture
def two_agencies(db: Database, make_seal) -> None:
    """Seal A-1 of agency A and seal B-1 of agency B."""
    make_seal("A-1")
    make_seal("B-1", label="agency-b", org=ORG_B, uscc=USCC_B)


def test_api_key_is_shown_once_and_stored_only_as_a_slow_hash(db: Database) -> None:
    with db.transaction() as session:
        new = clients.create_client(
            session, OPERATOR, name="intake", org_name=ORG_A, uscc=USCC_A, roles="sealer"
        )
    with db.transaction() as session:
        row = session.execute(select(Client).where(Client.name == "intake")).scalar_one()
        secret = new.api_key.split("_", 2)[2]  # esk_<id>_<random>; the random part may itself hold "_"
        assert new.api_key not in row.key_hash and secret not in row.key_hash
        assert row.key_hash.startswith("scrypt$")
        assert clients.authenticate(session, new.api_key).name == "intake"


@pytest.mark.parametrize(
    "key",
    [
        "",
        "esk_1_wrong",
        "esk_999_x",
        "not-a-key",
        "esk_99999999999999999999999_x",  # an id past SQLite's 64-bit integers
        f"esk_{2**63}_x",
        f"esk_{2**31}_x",  # past PostgreSQL's INTEGER
        "esk_\u00b2_x",  # str.isdigit() says yes, int() says no
        "esk_\u0661_x",  # an Arabic-Indic digit: int() would take it
    ],
)
def test_wrong_api_key_is_unauthenticated(db: Database, key: str) -> None:
    _client(db, "intake", USCC_A, "sealer")
    with pytest.raises(EsignError) as info, db.transaction() as session:
        clients.authenticate(session, key)
    assert info.value.code is ErrorCode.UNAUTHENTICATED and info.value.code.http_status == 401


def test_revoked_client_cannot_authenticate(db: Database) -> None:
    with db.transaction() as session:
        key = clients.create_client(
            session, OPERATOR, name="old", org_name=ORG_A, uscc=USCC_A, roles="sealer"
        ).api_key
        clients.revoke_client(session, OPERATOR, "old")
    with pytest.raises(EsignError) as info, db.transaction() as session:
        clients.authenticate(session, key)
    assert info.value.code is ErrorCode.UNAUTHENTICATED


def test_client_with_bad_uscc_or_unknown_role_is_refused(db: Database) -> None:
    with pytest.raises(EsignError) as info, db.transaction() as session:
        clients.create_client(
            session, OPERATOR, name="x", org_name=ORG_A, uscc="11330100MB1234567X", roles="sealer"
        )
    assert info.value.code is ErrorCode.USCC_INVALID
    with pytest.raises(EsignError) as info, db.transaction() as session:
        clients.create_client(session, OPERATOR, name="x", org_name=ORG_A, uscc=USCC_A, roles="superuser")
    assert info.value.code is ErrorCode.BAD_OPTION


INVISIBLE = [
    "\x00",
    "\x1b",
    "\x85",
    "\u200b",
    "\u200d",
    "\u202e",
    "\u2066",
    "\ufeff",
    "\u2028",
    "\u2029",
    "\ud800",
]


@pytest.mark.parametrize("char", INVISIBLE)
@pytest.mark.parametrize("field", ["name", "org_name"])
def test_names_with_control_format_or_separator_characters_are_refused(
    db: Database, field: str, char: str
) -> None:
    """They would reach the audit log as actors that read like someone else (or like nothing)."""
    fields = {"name": "intake", "org_name": ORG_A, field: f"in{char}take"}
    with pytest.raises(EsignError) as info, db.transaction() as session:
        clients.create_client(session, OPERATOR, uscc=USCC_A, roles="sealer", **fields)
    assert info.value.code is ErrorCode.CLIENT_NAME_INVALID and info.value.code.http_status == 422
    assert f"U+{ord(char):04X}" in str(info.value)
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Client)) == 0
        assert session.scalar(select(func.count()).select_from(AuditRecord)) == 0


def test_names_longer_than_their_columns_are_refused(db: Database) -> None:
    for fields in ({"name": "n" * 129, "org_name": ORG_A}, {"name": "intake", "org_name": "机" * 201}):
        with pytest.raises(EsignError) as info, db.transaction() as session:
            clients.create_client(session, OPERATOR, uscc=USCC_A, roles="sealer", **fields)
        assert info.value.code is ErrorCode.BAD_OPTION


def test_cli_refuses_a_client_name_with_a_bidi_override(db: Database, db_url: str) -> None:
    result = CliRunner().invoke(
        main,
        ["clients", "create", "evil\u202etxt.exe", "--org", ORG_A, "--uscc", USCC_A, "--roles", "sealer"],
        env={"ESIGN_DATABASE_URL": db_url},
    )
    assert result.exit_code != 0 and "CLIENT_NAME_INVALID" in result.output
    assert "Traceback" not in result.output
    with db.transaction() as session:
        assert clients.list_clients(session) == []


def test_sealer_seals_with_its_granted_seal(db: Database, keys: KeyStore, two_agencies: None) -> None:
    sealer = _client(db, "a-sealer", USCC_A, "sealer")
    _grant(db, "a-sealer", "A-1")
    result = SealService(db, keys).apply(sealer, "A-1", small_pdf(), SealOptions())
    assert result.audit_seq > 0


def test_sealer_of_agency_a_cannot_use_agency_b_seal(
    db: Database, keys: KeyStore, two_agencies: None
) -> None:
    sealer = _client(db, "a-sealer", USCC_A, "sealer")
    with pytest.raises(EsignError) as info:
        SealService(db, keys).apply(sealer, "B-1", small_pdf(), SealOptions())
    assert info.value.code is ErrorCode.PERMISSION_DENIED and "another organisation" in str(info.value)


def test_seal_cannot_be_granted_across_organisations(db: Database, two_agencies: None) -> None:
    _client(db, "a-sealer", USCC_A, "sealer")
    with pytest.raises(EsignError) as info:
        _grant(db, "a-sealer", "B-1")
    assert info.value.code is ErrorCode.PERMISSION_DENIED


def test_sealer_without_grant_is_refused(db: Database, keys: KeyStore, two_agencies: None) -> None:
    sealer = _client(db, "a-sealer", USCC_A, "sealer")
    with pytest.raises(EsignError) as info:
        SealService(db, keys).apply(sealer, "A-1", small_pdf(), SealOptions())
    assert info.value.code is ErrorCode.PERMISSION_DENIED and "not granted" in str(info.value)


@pytest.mark.parametrize("roles", ["verifier", "auditor", "seal-admin"])
def test_non_sealer_roles_cannot_seal(db: Database, keys: KeyStore, two_agencies: None, roles: str) -> None:
    who = _client(db, "other", USCC_A, roles)
    with pytest.raises(EsignError) as info:
        SealService(db, keys).apply(who, "A-1", small_pdf(), SealOptions())
    assert info.value.code is ErrorCode.PERMISSION_DENIED


def test_seal_admin_manages_only_its_own_organisation(
    db: Database, keys: KeyStore, two_agencies: None, add_p12_key
) -> None:
    admin = _client(db, "a-admin", USCC_A, "seal-admin")
    with db.transaction() as session:
        registry.suspend_seal(session, admin, "A-1")
    with pytest.raises(EsignError) as info, db.transaction() as session:
        registry.suspend_seal(session, admin, "B-1")
    assert info.value.code is ErrorCode.PERMISSION_DENIED
    spec = SealSpec("B-2", "02", ORG_B, USCC_B, "agency-b")
    with pytest.raises(EsignError) as info:
        asyncio.run(register_seal(db, keys, admin, spec, appearance_for(spec)))
    assert info.value.code is ErrorCode.PERMISSION_DENIED
    with db.transaction() as session:
        assert registry.find_seal(session, "B-1").status == "active"


def test_sealer_cannot_manage_seals(db: Database, two_agencies: None) -> None:
    sealer = _client(db, "a-sealer", USCC_A, "sealer")
    with pytest.raises(EsignError) as info, db.transaction() as session:
        registry.revoke_seal(session, sealer, "A-1")
    assert info.value.code is ErrorCode.PERMISSION_DENIED


def test_only_auditors_read_the_audit_log_and_only_verifiers_verify(db: Database) -> None:
    auditor = _client(db, "auditor", USCC_A, "auditor")
    verifier = _client(db, "verifier", USCC_A, "verifier")
    require_auditor(auditor)
    require_verifier(verifier)
    with pytest.raises(EsignError):
        require_auditor(verifier)
    with pytest.raises(EsignError):
        require_verifier(auditor)


def test_api_clients_cannot_create_clients(db: Database) -> None:
    admin = _client(db, "a-admin", USCC_A, "seal-admin")
    with pytest.raises(EsignError) as info, db.transaction() as session:
        clients.create_client(session, admin, name="sneaky", org_name=ORG_A, uscc=USCC_A, roles="sealer")
    assert info.value.code is ErrorCode.PERMISSION_DENIED


def test_sealing_right_after_suspend_and_resume_is_not_refused(
    db: Database, keys: KeyStore, make_seal
) -> None:
    """The remembered pre-signing check is of an older seal version: the service decides afresh."""
    make_seal("A-1")
    service = SealService(db, keys)
    first = service.apply(OPERATOR, "A-1", small_pdf("one"), SealOptions())
    with db.transaction() as session:
        registry.suspend_seal(session, OPERATOR, "A-1", "check")
    with db.transaction() as session:
        registry.resume_seal(session, OPERATOR, "A-1", "checked")
    second = service.apply(OPERATOR, "A-1", small_pdf("two"), SealOptions())
    assert second.audit_seq > first.audit_seq


def test_seal_suspended_within_the_remembered_window_is_refused_without_a_record(
    db: Database, keys: KeyStore, make_seal
) -> None:
    make_seal("A-1")
    service = SealService(db, keys)
    first = service.apply(OPERATOR, "A-1", small_pdf("one"), SealOptions())
    with db.transaction() as session:
        registry.suspend_seal(session, OPERATOR, "A-1", "incident")
    with pytest.raises(EsignError) as refused:
        service.apply(OPERATOR, "A-1", small_pdf("two"), SealOptions())
    assert refused.value.code is ErrorCode.SEAL_NOT_ACTIVE
    with db.transaction() as session:
        assert [r.seq for r in session.query(AuditRecord).filter_by(action="seal.applied")] == [
            first.audit_seq
        ]
