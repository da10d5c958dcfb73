"""Intermediates over HTTP: ``cert`` parts on ``POST /v1/verify`` and ``ESIGN_EXTRA_CERTS`` in the workers.

A GB/T 38540 seal signature carries only end-entity certificates, so with only the SM2 root trusted
its chain cannot be built until the intermediate is offered — through the real server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.formdata import MAX_SIDE_BYTES, MAX_SIDE_FILES
from esign.seal.gm import seal_ses
from fixtures import pki_sm2
from fixtures.pki import TestPKI
from tests.api_server import Server, start_server, stop_server
from tests.keystore_fixtures import small_pdf

TITLE = "esign SM2 intermediates over HTTP"


@pytest.fixture(scope="module")
def sealed() -> bytes:
    sm2 = pki_sm2.load()
    return seal_ses(small_pdf(TITLE), sm2.seal(), sm2.key("sm2-agency-a"), sm2.cert("sm2-agency-a"))


def _sm2_server(directory: Path, pki: TestPKI, **env: str) -> Server:
    sm2 = pki_sm2.load()
    (directory / "sm2-root.pem").write_bytes(sm2.pem("sm2-root"))
    (directory / "sm2-interm.pem").write_bytes(sm2.pem("sm2-interm"))
    return start_server(directory, pki, ESIGN_TRUST_DIR=str(directory / "sm2-root.pem"), **env)


@pytest.fixture(scope="module")
def root_only(tmp_path_factory: pytest.TempPathFactory, pki: TestPKI) -> Iterator[Server]:
    server = _sm2_server(tmp_path_factory.mktemp("sm2-root-only"), pki)
    yield server
    stop_server(server)


def _verify(server: Server, pdf: bytes, certs: list[bytes]) -> httpx.Response:
    files = [("file", ("sealed.pdf", pdf, "application/pdf"))]
    files += [("cert", (f"ca{n}.pem", der, "application/x-pem-file")) for n, der in enumerate(certs)]
    with server.client("a-verifier") as http:
        return http.post("/v1/verify", files=files)


def test_without_the_intermediate_the_chain_is_not_found(root_only: Server, sealed: bytes) -> None:
    response = _verify(root_only, sealed, [])
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["indication"] == "INDETERMINATE"
    assert report["signatures"][0]["subindication"] == "NO_CERTIFICATE_CHAIN_FOUND"


def test_cert_parts_offer_the_intermediate_as_pem_or_der(root_only: Server, sealed: bytes) -> None:
    sm2 = pki_sm2.load()
    for offered in (sm2.pem("sm2-interm"), sm2.cert("sm2-interm").dump()):
        response = _verify(root_only, sealed, [sm2.pem("sm2-rogue-root"), offered])
        assert response.status_code == 200, response.text
        assert response.json()["indication"] == "TOTAL_PASSED"
        assert response.headers["X-Esign-Indication"] == "TOTAL_PASSED"
    # one signed byte changed fails, intermediates or not
    forged = sealed.replace(TITLE.encode(), TITLE.upper().encode(), 1)
    assert _verify(root_only, forged, [sm2.pem("sm2-interm")]).json()["indication"] == "TOTAL_FAILED"


@pytest.mark.parametrize(
    ("parts", "status", "code"),
    [
        (
            [b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"],
            400,
            "CERTIFICATE_UNREADABLE",
        ),
        ([b"\x30\x03\x02\x01\x01"], 400, "CERTIFICATE_UNREADABLE"),
        ([b""], 400, "CERTIFICATE_UNREADABLE"),
        ([b"x"] * (MAX_SIDE_FILES + 1), 400, "MALFORMED_REQUEST"),
        ([b"A" * (MAX_SIDE_BYTES + 1)], 413, "REQUEST_TOO_LARGE"),
    ],
    ids=["bad-pem", "not-a-certificate", "empty", "too-many", "too-large"],
)
def test_unreadable_or_excessive_cert_parts_are_typed_refusals(
    root_only: Server, sealed: bytes, parts: list[bytes], status: int, code: str
) -> None:
    response = _verify(root_only, sealed, parts)
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["code"] == code
    if code == "CERTIFICATE_UNREADABLE":
        assert "cert #1" in problem["detail"] and "cert #1" in problem["detail_zh"]


def test_the_workers_honour_esign_extra_certs(
    tmp_path_factory: pytest.TempPathFactory, pki: TestPKI, sealed: bytes
) -> None:
    directory = tmp_path_factory.mktemp("sm2-extra-certs")
    server = _sm2_server(directory, pki, ESIGN_EXTRA_CERTS=str(directory / "sm2-interm.pem"))
    try:
        assert _verify(server, sealed, []).json()["indication"] == "TOTAL_PASSED"
    finally:
        stop_server(server)
