"""A real server with a seal maker configured and a registered SM2 seal, for the HTTP and web tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from fixtures import pki_sm2
from fixtures.pki import TestPKI
from keystore.authz import OPERATOR
from keystore.clients import create_client, grant_seal
from keystore.db import Database
from keystore.keys import KeyStore
from keystore.registry import find_seal
from tests.api_server import Server, start_server, stop_server
from tests.sm2_keys import PASS, PASS_ENV, SM2_ORG, register_sm2_seal

__all__ = ["serving_sm2_seal", "sm2_server"]


@contextmanager
def serving_sm2_seal(
    directory: Path, pki: TestPKI, sm2: pki_sm2.SM2TestPKI, client: str, **env: str
) -> Iterator[tuple[Server, str]]:
    """A started service with ``sm2``'s seal maker, its SM2 seal, and ``client`` allowed to seal with it."""
    (directory / "maker.p12").write_bytes(sm2.pkcs12("sm2-maker", PASS.encode()))
    server = start_server(
        directory,
        pki,
        ESIGN_SEAL_MAKER_P12=str(directory / "maker.p12"),
        ESIGN_SEAL_MAKER_PASSPHRASE=f"env:{PASS_ENV}",
        **{PASS_ENV: PASS},
        **env,
    )
    try:
        db = Database(f"sqlite:///{directory / 'esign.db'}")
        with pytest.MonkeyPatch.context() as monkeypatch:
            code = register_sm2_seal(db, KeyStore(), directory, monkeypatch, pki=sm2)
        with db.transaction() as session:
            made = create_client(
                session, OPERATOR, name=client, org_name=SM2_ORG, uscc=pki_sm2.USCC_A, roles="sealer"
            )
            session.flush()
            grant_seal(session, OPERATOR, client, find_seal(session, code))
        db.dispose()
        server.keys[client] = made.api_key
        yield server, code
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def sm2_server(tmp_path_factory: pytest.TempPathFactory, pki: TestPKI) -> Iterator[tuple[Server, str]]:
    """The server with a seal maker configured, an SM2 seal SM2-A and a client allowed to use it."""
    with serving_sm2_seal(tmp_path_factory.mktemp("sm2-api"), pki, pki_sm2.load(), "sm2-sealer") as served:
        yield served
