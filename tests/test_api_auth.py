"""API keys in the service (``api.auth``): remembered without scrypt, re-read within a second."""

from __future__ import annotations

import pytest

from api.auth import RECHECK_SECONDS, Authenticator
from esign.errors import ErrorCode, EsignError
from keystore.authz import OPERATOR, Role
from keystore.clients import create_client, revoke_client
from keystore.db import Database
from tests.keystore_fixtures import *  # noqa: F403 - the fixtures
from tests.keystore_fixtures import ORG_A, USCC_A


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _client(db: Database, name: str) -> str:
    with db.transaction() as session:
        return create_client(
            session, OPERATOR, name=name, org_name=ORG_A, uscc=USCC_A, roles="verifier"
        ).api_key


def _revoke(db: Database, name: str) -> None:
    """As another uvicorn worker (or the CLI) would: straight in the database."""
    with db.transaction() as session:
        revoke_client(session, OPERATOR, name)


def test_checked_key_is_answered_from_memory_until_its_row_is_due_for_a_reread(db: Database) -> None:
    clock = Clock()
    auth = Authenticator(db, clock=clock)
    key = _client(db, "intake")
    assert auth.fresh(key) is None  # never checked: the caller must go to a thread
    assert Role.VERIFIER in auth.principal(key).roles
    assert auth.fresh(key) is not None and auth.fresh(key).name == "intake"
    _revoke(db, "intake")
    clock.now += RECHECK_SECONDS / 2
    assert auth.fresh(key) is not None  # revoked elsewhere: still remembered inside the window
    clock.now += RECHECK_SECONDS
    assert auth.fresh(key) is None  # window over: the row must be read again
    with pytest.raises(EsignError) as refused:
        auth.principal(key)
    assert refused.value.code is ErrorCode.UNAUTHENTICATED


def test_revocation_in_this_process_is_forgotten_at_once(db: Database) -> None:
    auth = Authenticator(db, clock=Clock())
    key = _client(db, "intake")
    principal = auth.principal(key)
    _revoke(db, "intake")
    assert principal.client_id is not None
    auth.forget_client(principal.client_id)
    assert auth.fresh(key) is None
    with pytest.raises(EsignError) as refused:
        auth.principal(key)
    assert refused.value.code is ErrorCode.UNAUTHENTICATED


def test_wrong_and_overlong_keys_are_unauthenticated_and_not_remembered(db: Database) -> None:
    auth = Authenticator(db, clock=Clock())
    real = _client(db, "intake")
    for bad in (real[:-2] + "xx", "esk_" + "a" * 300, "Bearer nonsense"):
        with pytest.raises(EsignError) as refused:
            auth.principal(bad)
        assert refused.value.code is ErrorCode.UNAUTHENTICATED
        assert auth.fresh(bad) is None
