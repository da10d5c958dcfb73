"""A real server with a seal maker configured and a registered SM2 seal, for the HTTP and web tests."""

from __future__ import annotations

from collections.abc import Iterator

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

__all__ = ["sm2_server"]


@pytest.fixture(scope="module")
def sm2_server(tmp_path_factory: pytest.TempPathFactory, pki: TestPKI) -> Iterator[tuple[Server, str]]:
    """The server with a seal maker configured, an SM2 seal SM2-A and a client allowed to use it."""
    directory = tmp_path_factory.mktemp("sm2-api")
    sm2 = pki_sm2.load()
    (directory / "maker.p12").write_bytes(sm2.pkcs12("sm2-maker", PASS.encode()))
    server = start_server(
        directory,
        pki,
        ESIGN_SEAL_MAKER_P12=str(directory / "maker.p12"),
        ESIGN_SEAL_MAKER_PASSPHRASE=f"env:{PASS_ENV}",
        **{PASS_ENV: PASS},
    )
    try:
        db = Database(f"sqlite:///{directory / 'esign.db'}")
        with pytest.MonkeyPatch.context() as monkeypatch:
            code = register_sm2_seal(db, KeyStore(), directory, monkeypatch)
        with db.transaction() as session:
            made = create_client(
                session, OPERATOR, name="sm2-sealer", org_name=SM2_ORG, uscc=pki_sm2.USCC_A, roles="sealer"
            )
            session.flush()
            grant_seal(session, OPERATOR, "sm2-sealer", find_seal(session, code))
        db.dispose()
        server.keys["sm2-sealer"] = made.api_key
        yield server, code
    finally:
        stop_server(server)
