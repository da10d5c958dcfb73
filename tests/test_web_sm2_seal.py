"""Sealing on the web page (headless Chromium): an SM2 seal offers GB/T 38540 (default) or SM2 PKCS#7,
and the request carries the choice; an RSA seal offers no choice and sends none."""

from __future__ import annotations

from pathlib import Path

import pytest
from asn1crypto import cms

from esign.gm import ses
from tests.api_server import Server
from tests.gm_openssl import contents_der
from tests.keystore_fixtures import small_pdf
from tests.sm2_server import *  # noqa: F403 - the sm2_server fixture
from tests.test_web_page import CHROMIUM, browser  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian package chromium not installed")

SM2_WITH_SM3 = "1.2.156.10197.1.501"
#: records the text fields of every multipart form the page sends (Chromium does not hand Playwright
#: a body holding a file), so the test sees what the request carried, not only what came back
_RECORD_FORMS = """
const send = window.fetch;
window.sentForms = [];
window.fetch = (url, options) => {
  if (options && options.body instanceof FormData) {
    const fields = [...options.body.entries()].filter(([, value]) => typeof value === "string");
    window.sentForms.push(Object.fromEntries(fields));
  }
  return send(url, options);
};
"""


def _open(chromium: object, server: Server, key: str) -> object:
    page = chromium.new_page(viewport={"width": 1000, "height": 1200})  # type: ignore[attr-defined]
    page.add_init_script(_RECORD_FORMS)  # type: ignore[attr-defined]
    page.goto(server.url + "/")
    page.fill("#api-key", server.keys[key])
    page.dispatch_event("#api-key", "change")
    page.wait_for_selector("#seal-form:not([hidden])", timeout=30_000)
    return page


def _seal_on_page(page: object, code: str, document: Path) -> tuple[dict[str, str], bytes]:
    """Seal ``document`` with ``code`` by clicking; returns the form's text fields and the downloaded PDF."""
    page.select_option("#seal-code", code)  # type: ignore[attr-defined]
    page.set_input_files("#seal-file", str(document))  # type: ignore[attr-defined]
    with page.expect_response(f"**/v1/seals/{code}/apply") as answer:  # type: ignore[attr-defined]
        page.click("#seal-go")  # type: ignore[attr-defined]
    response = answer.value
    assert response.status == 200, response.text()
    page.wait_for_selector("#seal-download:not([hidden])")  # type: ignore[attr-defined]
    with page.expect_download() as download:  # type: ignore[attr-defined]
        page.click("#seal-download")  # type: ignore[attr-defined]
    sealed = Path(download.value.path()).read_bytes()  # what the clerk gets: the response, as a file
    assert sealed.startswith(b"%PDF-") and download.value.suggested_filename.endswith("-sealed.pdf")
    return page.evaluate("window.sentForms.at(-1)"), sealed  # type: ignore[attr-defined]


def test_an_sm2_seal_offers_ses_by_default_or_sm2_pkcs7(  # the server first: the browser runs a loop
    sm2_server: tuple[Server, str],
    browser: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    server, code = sm2_server
    (tmp_path / "通知.pdf").write_bytes(small_pdf("esign SM2 web page"))
    page = _open(browser, server, "sm2-sealer")
    assert page.is_visible("#sm2-format-row")  # type: ignore[attr-defined]
    assert page.input_value("#sm2-format") == "ses"  # type: ignore[attr-defined]
    assert "GB/T 38540 电子签章（默认）" in page.inner_text("#sm2-format-row")  # type: ignore[attr-defined]

    body, sealed = _seal_on_page(page, code, tmp_path / "通知.pdf")
    assert body.get("sm2_format") == "ses"
    assert (
        ses.parse_signature(contents_der(sealed))["to_sign"]["eseal"]["e_seal_info"]["es_id"].native == code
    )
    assert "已盖章（审计记录" in page.inner_text("#seal-status")  # type: ignore[attr-defined]

    page.select_option("#sm2-format", "cms")  # type: ignore[attr-defined]
    body, sealed = _seal_on_page(page, code, tmp_path / "通知.pdf")
    assert body.get("sm2_format") == "cms"
    signer_info = cms.ContentInfo.load(contents_der(sealed))["content"]["signer_infos"][0]
    assert signer_info["signature_algorithm"]["algorithm"].dotted == SM2_WITH_SM3
    page.close()  # type: ignore[attr-defined]


def test_an_rsa_seal_offers_no_format_and_sends_none(
    sm2_server: tuple[Server, str],
    browser: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    (tmp_path / "licence.pdf").write_bytes(small_pdf("esign RSA web page"))
    page = _open(browser, sm2_server[0], "a-sealer")  # the same server's demo RSA seal
    page.select_option("#seal-code", "HZAMR-01")  # type: ignore[attr-defined]
    assert not page.is_visible("#sm2-format-row")  # type: ignore[attr-defined]
    body, sealed = _seal_on_page(page, "HZAMR-01", tmp_path / "licence.pdf")
    assert "sm2_format" not in body
    assert cms.ContentInfo.load(contents_der(sealed))["content_type"].native == "signed_data"
    page.close()  # type: ignore[attr-defined]
