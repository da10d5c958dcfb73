"""``POST /v1/seals/{code}/apply`` with a registered SM2 seal, through the real server."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from asn1crypto import cms
from click.testing import CliRunner

from api.cli import main
from fixtures import pki_sm2
from tests.api_server import Server
from tests.gm_openssl import assert_ses_pdf_checks_out, contents_der, needs_openssl, signed_bytes, sm3
from tests.keystore_fixtures import small_pdf
from tests.sm2_server import *  # noqa: F403 - the sm2_server fixture

TITLE = "esign SM2 over HTTP"


def _apply(server: Server, code: str, **fields: str) -> httpx.Response:
    with server.client("sm2-sealer") as http:
        return http.post(
            f"/v1/seals/{code}/apply",
            files={"file": ("doc.pdf", small_pdf(TITLE), "application/pdf")},
            data=fields,
        )


def _verdict(directory: Path, sealed: bytes) -> str:
    sm2 = pki_sm2.load()
    (directory / "trust").mkdir(exist_ok=True)
    (directory / "trust" / "root.pem").write_bytes(sm2.pem("sm2-root"))
    (directory / "interm.pem").write_bytes(sm2.pem("sm2-interm"))
    (directory / "check.pdf").write_bytes(sealed)
    result = CliRunner().invoke(
        main,
        ["verify", str(directory / "check.pdf"), "--trust", str(directory / "trust"),
         "--cert", str(directory / "interm.pem")],
    )  # fmt: skip
    return json.loads(result.output)["indication"]


@needs_openssl
def test_http_apply_with_an_sm2_seal_makes_a_gbt38540_seal_signature(
    sm2_server: tuple[Server, str], tmp_path: Path
) -> None:
    server, code = sm2_server
    response = _apply(server, code)
    assert response.status_code == 200, response.text
    sealed = response.content
    sm2 = pki_sm2.load()
    signature = assert_ses_pdf_checks_out(tmp_path, sealed, sm2.cert("sm2-agency-a"), sm2.cert("sm2-maker"))
    assert signature["to_sign"]["eseal"]["e_seal_info"]["es_id"].native == code
    assert _verdict(tmp_path, sealed) == "TOTAL_PASSED"
    assert _verdict(tmp_path, sealed.replace(TITLE.encode(), TITLE.upper().encode(), 1)) == "TOTAL_FAILED"


@needs_openssl
def test_http_apply_with_an_sm2_seal_makes_sm2_cms_on_request(
    sm2_server: tuple[Server, str], tmp_path: Path
) -> None:
    server, code = sm2_server
    response = _apply(server, code, sm2_format="cms")
    assert response.status_code == 200, response.text
    sealed = response.content
    signer_info = cms.ContentInfo.load(contents_der(sealed))["content"]["signer_infos"][0]
    digest = next(a for a in signer_info["signed_attrs"] if a["type"].native == "message_digest")
    assert digest["values"][0].native == sm3(tmp_path, signed_bytes(sealed))
    assert _verdict(tmp_path, sealed) == "TOTAL_PASSED"


def test_http_apply_refuses_an_unknown_sm2_format(sm2_server: tuple[Server, str]) -> None:
    server, code = sm2_server
    response = _apply(server, code, sm2_format="ofd")
    assert response.status_code == 422
    assert response.json()["code"] == "REQUEST_INVALID"
