"""SM2 seals at B-T, B-LT and B-LTA through every door, in both formats (issue 14, long-term validation).

Every door — ``esign seal --p12``, ``esign seal --seal CODE``, ``esign seals batch``, ``POST
/v1/seals/{code}/apply`` — seals with the loopback SM2 TSA; B-LT collects the SM2 CRLs from the
loopback server the certificates name. Each seal is checked by OpenSSL link by link and verified
with only the SM2 root trusted (:mod:`tests.gm_long_term`); every format and level fails once one
signed byte changes (``--p12``; the other doors make the same signatures, checked once at B-LTA).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from api.cli import main
from fixtures.pki import TestPKI
from fixtures.pki_sm2 import SM2TestPKI
from tests.api_server import Server
from tests.gm_long_term import TITLE, assert_level
from tests.gm_openssl import needs_openssl
from tests.keystore_fixtures import *  # noqa: F403 - the fixtures
from tests.keystore_fixtures import small_pdf
from tests.sm2_keys import PASS, PASS_ENV, register_sm2_seal
from tests.sm2_server import serving_sm2_seal

LEVELS = ("B-T", "B-LT", "B-LTA")
pytestmark = needs_openssl


@pytest.fixture(scope="module")
def sm2(pki: TestPKI) -> SM2TestPKI:
    """The SM2 test PKI whose certificates name the running loopback server's CRLs."""
    return pki.sm2


@pytest.fixture
def sm2_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str, sm2: SM2TestPKI) -> Path:
    """The seal maker and registry as an agency configures them, the document and the agency's key."""
    (tmp_path / "maker.p12").write_bytes(sm2.pkcs12("sm2-maker", PASS.encode()))
    (tmp_path / "a.p12").write_bytes(sm2.pkcs12("sm2-agency-a", PASS.encode()))
    (tmp_path / "in.pdf").write_bytes(small_pdf(TITLE.decode()))
    for name, value in {
        PASS_ENV: PASS,
        "ESIGN_SEAL_MAKER_P12": str(tmp_path / "maker.p12"),
        "ESIGN_SEAL_MAKER_PASSPHRASE": f"env:{PASS_ENV}",
        "ESIGN_DATABASE_URL": db_url,
        "ESIGN_KEYSTORE_DIR": str(tmp_path / "keystore.d"),
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def esign(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("sm2_format", ["ses", "cms"])
@pytest.mark.parametrize("level", LEVELS)
def test_cli_p12_key_seals_sm2_at_long_term_levels(
    sm2_env: Path, pki: TestPKI, sm2: SM2TestPKI, level: str, sm2_format: str
) -> None:
    directory = sm2_env
    esign("seal", str(directory / "in.pdf"), "-o", str(directory / "out.pdf"), "--p12",
          str(directory / "a.p12"), "--passphrase-env", PASS_ENV, "--level", level, "--tsa",
          pki.sm2_tsa_url, "--format", sm2_format)  # fmt: skip
    assert_level(directory, (directory / "out.pdf").read_bytes(), sm2, level, sm2_format)


@pytest.mark.parametrize("level", LEVELS)
def test_registered_sm2_seal_at_long_term_levels_through_the_cli_and_a_batch(
    sm2_env: Path, db, keys, monkeypatch: pytest.MonkeyPatch, pki: TestPKI, sm2: SM2TestPKI, level: str
) -> None:  # type: ignore[no-untyped-def]
    directory = sm2_env
    code = register_sm2_seal(db, keys, directory, monkeypatch, pki=sm2)
    stamping = ("--level", level, "--tsa", pki.sm2_tsa_url)
    formats = ("ses", "cms") if level == "B-LTA" else ("ses",)  # --format cms is the same door, once
    for sm2_format in formats:
        out = directory / f"{sm2_format}.pdf"
        esign(
            "seal",
            str(directory / "in.pdf"),
            "-o",
            str(out),
            "--seal",
            code,
            *stamping,
            "--format",
            sm2_format,
        )
        assert_level(directory, out.read_bytes(), sm2, level, sm2_format, tamper=level == "B-LTA")
    (directory / "batch-in").mkdir()
    (directory / "batch-in" / "d.pdf").write_bytes(small_pdf(TITLE.decode()))
    batch = esign("seals", "batch", code, str(directory / "batch-in"), str(directory / "batch-out"),
                  "--batch-id", f"sm2-{level}", *stamping)  # fmt: skip
    assert "done" in batch.output
    assert_level(directory, (directory / "batch-out" / "d.pdf").read_bytes(), sm2, level, "ses", tamper=False)


@pytest.fixture(scope="module")
def sm2_server(
    tmp_path_factory: pytest.TempPathFactory, pki: TestPKI, sm2: SM2TestPKI
) -> Iterator[tuple[Server, str]]:
    """The service with the loopback SM2 TSA as its TSA, an SM2 seal and a client allowed to use it."""
    directory = tmp_path_factory.mktemp("sm2-lt-api")
    with serving_sm2_seal(directory, pki, sm2, "sm2-lt", ESIGN_TSA_URL=pki.sm2_tsa_url) as served:
        yield served


def test_http_apply_seals_sm2_at_long_term_levels(
    sm2_server: tuple[Server, str], tmp_path: Path, sm2: SM2TestPKI
) -> None:
    """Every level in both formats in one test: the server starts once (not once per xdist worker)."""
    server, code = sm2_server
    for level in LEVELS:
        for sm2_format in ("ses", "cms"):
            with server.client("sm2-lt") as http:
                response: httpx.Response = http.post(
                    f"/v1/seals/{code}/apply",
                    files={"file": ("doc.pdf", small_pdf(TITLE.decode()), "application/pdf")},
                    data={"level": level, "sm2_format": sm2_format},
                )
            assert response.status_code == 200, (level, sm2_format, response.text)
            assert_level(tmp_path, response.content, sm2, level, sm2_format, tamper=level == "B-LTA")
