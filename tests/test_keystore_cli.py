"""The ``esign keystore|seals|clients|audit`` commands, end to end on a real database and real keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import update

from api.cli import main
from fixtures.pki import TestPKI
from keystore.db import Database
from keystore.models import AuditRecord
from tests.keystore_fixtures import *  # noqa: F403 - the fixtures
from tests.keystore_fixtures import (
    HSM_LABEL,
    HSM_PIN,
    HSM_PIN_ENV,
    ORG_A,
    P12_PASSPHRASE,
    P12_PASSPHRASE_ENV,
    USCC_A,
    USCC_B,
)

Run = Callable[..., Result]


@pytest.fixture
def esign(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("ESIGN_DATABASE_URL", db_url)
    monkeypatch.setenv("ESIGN_KEYSTORE_DIR", str(tmp_path / "keystore.d"))
    monkeypatch.setenv(P12_PASSPHRASE_ENV, P12_PASSPHRASE)
    monkeypatch.setenv("ESIGN_AUDIT_KEY", "audit")
    runner = CliRunner()

    def run(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert (result.exit_code == 0) is ok, result.output
        assert "Traceback" not in result.output
        return result

    return run


@pytest.fixture
def registered(esign: Run, p12_file, db_url: str) -> Run:  # type: ignore[no-untyped-def]
    """A database with the agency-a-ec key (agency A's) and the audit key (the platform's), and seal A-1."""
    esign("keystore", "init")
    for label, name, owner in (("agency-a-ec", "a-ec", USCC_A), ("audit", "audit", "platform")):
        esign("keystore", "import", name, str(p12_file(label)), "--passphrase-env", P12_PASSPHRASE_ENV,
              "--owner", owner)  # fmt: skip
    esign("seals", "register", "A-1", "--org", ORG_A, "--uscc", USCC_A, "--key", "a-ec", "--type", "04")
    return esign


def test_keys_and_seals_are_listed_and_shown(registered: Run) -> None:
    keys = registered("keystore", "list").output
    assert f"a-ec\t{USCC_A}\tPKCS#12" in keys and ORG_A in keys
    assert "audit\tplatform\tPKCS#12" in keys
    assert "A-1\tactive\t04 合同专用章" in registered("seals", "list").output
    shown = registered("seals", "show", "A-1").output
    assert "status:      active" in shown and "registered" in shown


def test_lifecycle_commands_change_status_and_history(registered: Run) -> None:
    registered("seals", "suspend", "A-1", "--reason", "inspection")
    assert "A-1\tsuspended" in registered("seals", "list").output
    registered("seals", "resume", "A-1")
    registered("seals", "revoke", "A-1", "--reason", "key lost")
    failed = registered("seals", "resume", "A-1", ok=False)
    assert "SEAL_BAD_TRANSITION" in failed.output
    history = registered("seals", "show", "A-1").output
    assert [line.split()[1] for line in history.splitlines() if line.startswith("  ")] == [
        "registered",
        "suspended",
        "resumed",
        "revoked",
    ]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--uscc", "11330100MB1234567X", "--key", "a-ec"], "USCC_INVALID"),
        (["--uscc", "12330100MB2345678W", "--key", "a-ec"], "KEY_NOT_BINDABLE"),  # agency A's key
        (["--uscc", USCC_A, "--key", "nope"], "KEY_NOT_FOUND"),
    ],
)
def test_bad_registration_prints_a_typed_bilingual_error(registered: Run, args: list[str], code: str) -> None:
    result = registered("seals", "register", "A-2", "--org", ORG_A, *args, ok=False)
    assert code in result.output and "错误" in result.output
    assert "A-2" not in registered("seals", "list").output


def test_unknown_seal_is_a_typed_error(registered: Run) -> None:
    assert "SEAL_NOT_FOUND" in registered("seals", "show", "NOPE", ok=False).output


def test_client_key_is_printed_once_and_never_listed(registered: Run) -> None:
    created = registered("clients", "create", "intake", "--org", ORG_A, "--uscc", USCC_A, "--roles", "sealer")
    api_key = created.stdout.strip().splitlines()[-1]
    assert api_key.startswith("esk_")
    registered("seals", "grant", "A-1", "intake")
    listed = registered("clients", "list").output
    assert "intake" in listed and api_key not in listed
    registered("clients", "revoke", "intake")
    assert "revoked" in registered("clients", "list").output


def test_audit_verify_passes_then_names_the_edited_record(registered: Run, db_url: str) -> None:
    registered("audit", "checkpoint")
    assert "OK" in registered("audit", "verify").output
    db = Database(db_url)
    with db.transaction() as session:
        session.execute(update(AuditRecord).where(AuditRecord.seq == 2).values(actor="mallory"))
    db.dispose()
    failed = registered("audit", "verify", ok=False)
    assert "first bad record 2 [edited]" in failed.output


def test_audit_verify_rejects_checkpoint_under_another_certificate(
    registered: Run, pki: TestPKI, tmp_path: Path
) -> None:
    registered("audit", "checkpoint")
    other = tmp_path / "other.pem"
    other.write_bytes(pki.root_pem("agency-a"))
    assert "checkpoint-forged" in registered("audit", "verify", "--audit-cert", str(other), ok=False).output


def test_audit_list_and_export_show_every_record(registered: Run, tmp_path: Path) -> None:
    listed = registered("audit", "list").output.splitlines()
    assert [line.split("\t")[3] for line in listed] == ["key.added", "key.added", "seal.registered"]
    out = tmp_path / "audit.jsonl"
    registered("audit", "export", "-o", str(out))
    records = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[2]["payload"]["seal"] == "A-1" and records[2]["prev_hash"] == records[1]["hash"]


def test_without_a_passphrase_option_import_reads_esign_key_passphrase_like_fixtures_export(
    registered: Run, p12_file, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("ESIGN_KEY_PASSPHRASE", raising=False)
    result = registered("keystore", "import", "x", str(p12_file("agency-b")), "--owner", USCC_B, ok=False)
    assert "ESIGN_KEY_PASSPHRASE" in result.output
    monkeypatch.setenv("ESIGN_KEY_PASSPHRASE", P12_PASSPHRASE)
    assert (
        "imported x"
        in registered("keystore", "import", "x", str(p12_file("agency-b")), "--owner", USCC_B).output
    )


def test_wrong_passphrase_at_import_is_typed_and_not_echoed(
    registered: Run, p12_file, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WRONG_PASS", "hunter2-wrong-passphrase")
    result = registered(
        "keystore", "import", "b", str(p12_file("agency-b")), "--passphrase-env", "WRONG_PASS",
        "--owner", USCC_B, ok=False,
    )  # fmt: skip
    assert "WRONG_PASSPHRASE" in result.output
    assert "hunter2" not in result.output and P12_PASSPHRASE not in result.output
    assert not any(line.startswith("b\t") for line in registered("keystore", "list").output.splitlines())


def _key_names(run: Run) -> list[str]:
    return [line.split("\t")[0] for line in run("keystore", "list").output.splitlines()]


@pytest.mark.parametrize(
    ("label", "owner", "code"),
    [
        ("agency-b", USCC_A, "KEY_OWNER_MISMATCH"),  # agency B's certificate recorded as agency A's key
        ("audit", USCC_A, "KEY_OWNER_MISMATCH"),  # a certificate without a USCC is no agency's key
        ("agency-b", "12330100MB2345678X", "USCC_INVALID"),
    ],
    ids=["other-uscc", "no-uscc-in-certificate", "bad-check-character"],
)
def test_import_checks_the_owner_against_the_certificate(
    registered: Run, p12_file, label: str, owner: str, code: str
) -> None:  # type: ignore[no-untyped-def]
    failed = registered(
        "keystore", "import", "k", str(p12_file(label)), "--passphrase-env", P12_PASSPHRASE_ENV,
        "--owner", owner, ok=False,
    )  # fmt: skip
    assert code in failed.output and "错误" in failed.output
    assert "k" not in _key_names(registered)


def test_import_requires_an_owner(registered: Run, p12_file) -> None:  # type: ignore[no-untyped-def]
    failed = registered(
        "keystore", "import", "b", str(p12_file("agency-b")), "--passphrase-env", P12_PASSPHRASE_ENV, ok=False
    )
    assert "--owner" in failed.output
    registered(
        "keystore", "import", "b", str(p12_file("agency-b")), "--passphrase-env", P12_PASSPHRASE_ENV,
        "--owner", USCC_B,
    )  # fmt: skip
    assert f"b\t{USCC_B}\t" in registered("keystore", "list").output


def test_platform_key_never_backs_a_seal_even_for_the_operator(registered: Run) -> None:
    # the audit certificate names "esign 统一电子印章系统" and carries no USCC
    org = ("--org", "esign 统一电子印章系统", "--uscc", USCC_A)
    failed = registered("seals", "register", "A-2", *org, "--key", "audit", ok=False)
    assert "KEY_NOT_BINDABLE" in failed.output and "平台" in failed.output
    assert "A-2" not in registered("seals", "list").output


def test_add_pkcs11_records_the_owner_checked_against_the_token_certificate(
    registered: Run, softhsm, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(HSM_PIN_ENV, HSM_PIN)
    token = ("--token", HSM_LABEL, "--key-label", "agency-b", "--pin-env", HSM_PIN_ENV)
    failed = registered("keystore", "add-pkcs11", "hsm-b", *token, "--owner", USCC_A, ok=False)
    assert "KEY_OWNER_MISMATCH" in failed.output and "hsm-b" not in _key_names(registered)
    registered("keystore", "add-pkcs11", "hsm-b", *token, "--owner", USCC_B)
    assert f"hsm-b\t{USCC_B}\tPKCS#11" in registered("keystore", "list").output
