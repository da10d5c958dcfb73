"""The verification page in Debian's headless Chromium, driven by Playwright.

Valid B-B and B-LTA seals, a tampered and an unsigned file, an overlap doubt, a wrong API key and an
oversize upload: each shows the right headline and signing time, and the Chinese view no code.
"""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pikepdf
import pytest

from fixtures.documents import licence_pdf
from tests.api_server import *  # noqa: F403 - the api_server fixture
from tests.api_server import UPLOAD_LIMIT, Server
from tests.sized_documents import sized_pdf

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="Debian package chromium not installed"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def _seal(server: Server, pdf: bytes, level: str) -> bytes:
    with server.client("a-sealer") as http:
        response = http.post(
            "/v1/seals/HZAMR-01/apply",
            files={"file": ("licence.pdf", pdf, "application/pdf")},
            data={"keyword": "（盖章）", "level": level},
        )
    assert response.status_code == 200, response.text
    return response.content


def _with_overlapping_squares(pdf: bytes) -> bytes:
    """Two annotations drawn over each other: what one hides under the other cannot be judged."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        squares = [
            doc.make_indirect(
                pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Square, Rect=r)
            )
            for r in ([100, 100, 200, 150], [150, 120, 250, 170])
        ]
        doc.pages[0].obj.Annots = pikepdf.Array(squares)
        out = io.BytesIO()
        doc.save(out)
        return out.getvalue()


@pytest.fixture(scope="module")
def documents(api_server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    sealed = _seal(api_server, licence_pdf(), "B-T")
    at = sealed.index(b"\n%") + 2  # the binary comment under the header: parses the same, but is signed
    contents = {
        "sealed": sealed,
        "tampered": sealed[:at] + bytes([sealed[at] ^ 0x01]) + sealed[at + 1 :],
        "b-b": _seal(api_server, licence_pdf(), "B-B"),
        "b-lta": _seal(api_server, licence_pdf(), "B-LTA"),
        "unsigned": licence_pdf(),
        "overlap": _seal(api_server, _with_overlapping_squares(licence_pdf()), "B-LT"),
        "oversize": sized_pdf(UPLOAD_LIMIT + 100_000),
    }
    folder = tmp_path_factory.mktemp("web-docs")
    paths = {}
    for name, data in contents.items():
        paths[name] = folder / f"营业执照-{name}.pdf"
        paths[name].write_bytes(data)
    return paths


def _check(
    browser: object, server: Server, document: Path, screenshot: Path, key: str | None = None
) -> object:
    page = browser.new_page(viewport={"width": 1000, "height": 1100})  # type: ignore[attr-defined]
    page.goto(server.url + "/")
    page.fill("#api-key", key or server.keys["a-verifier"])
    page.set_input_files("#file", str(document))
    if key is None:
        page.wait_for_selector("#verdict[data-indication]", state="visible", timeout=60_000)
    else:
        page.wait_for_selector("#status.error", timeout=60_000)
    page.screenshot(path=str(screenshot), full_page=True)
    return page


#: a code of the report (TOTAL_PASSED, FORMAT_FAILURE, not_reliable, entire_file …) or an English sentence
_RAW = re.compile(r"\b[A-Z]{2,}_[A-Z_]+\b|\b[a-z]+_[a-z_]+\b|\b(?:ok|reliable|trusted|unknown)\b")
_ENGLISH = re.compile(r"[A-Za-z]+(?:[ ,]+[A-Za-z]+){2,}")


def _assert_chinese_only(page: object) -> None:
    shown = page.inner_text("main")  # type: ignore[attr-defined]
    for name in page.locator(".signature dd:first-of-type").all_inner_texts():  # type: ignore[attr-defined]
        shown = shown.replace(name, "")  # certificate names are data, in whatever language the CA chose
    assert not _RAW.search(shown), _RAW.search(shown)
    assert not _ENGLISH.search(shown), _ENGLISH.search(shown)


_BEIJING = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d 北京时间 \(UTC\+8\)")


@pytest.mark.parametrize(
    ("name", "indication", "headline", "time_label"),
    [
        ("b-b", "TOTAL_PASSED", "验证通过", "签署时间"),
        ("b-lta", "TOTAL_PASSED", "验证通过", "可信时间戳时间"),
        ("tampered", "TOTAL_FAILED", "验证失败：签名后文件内容被改动", "可信时间戳时间"),
        ("overlap", "INDETERMINATE", "无法确定：页面上的注释", "可信时间戳时间"),
        ("unsigned", "NO_SIGNATURE_FOUND", "文件中没有电子签名", None),
    ],
)
def test_each_kind_of_document_shows_its_headline_time_and_no_code_in_chinese(
    browser: object,
    api_server: Server,
    documents: dict[str, Path],
    tmp_path: Path,
    name: str,
    indication: str,
    headline: str,
    time_label: str | None,
) -> None:
    page = _check(browser, api_server, documents[name], tmp_path / f"{name}-zh.png")
    assert page.get_attribute("#verdict", "data-indication") == indication
    assert page.inner_text("#verdict").startswith(headline), page.inner_text("#verdict")
    if time_label is not None:
        card = page.inner_text(".signature")
        assert time_label in card and _BEIJING.search(card), card
        assert ("签署人自述时间，无可信时间戳" in card) == (time_label == "签署时间")
        assert not re.search(r"\d\d:\d\d:\d\d\.\d", card)  # no microseconds
    _assert_chinese_only(page)
    page.close()


def test_overlap_doubt_is_not_shown_as_missing_information(
    browser: object, api_server: Server, documents: dict[str, Path], tmp_path: Path
) -> None:
    page = _check(browser, api_server, documents["overlap"], tmp_path / "overlap-en.png")
    page.click("#lang-toggle")
    assert "information needed for validation is missing" not in page.inner_text("#verdict")
    assert "Annotations" in page.inner_text("#verdict")
    page.close()


@pytest.mark.parametrize(
    ("name", "key", "message"), [("b-b", "esk_wrong", "API 密钥无效"), ("oversize", None, "文件过大")]
)
def test_refusals_are_shown_in_chinese_without_codes(
    browser: object,
    api_server: Server,
    documents: dict[str, Path],
    tmp_path: Path,
    name: str,
    key: str | None,
    message: str,
) -> None:
    page = _check(
        browser,
        api_server,
        documents[name],
        tmp_path / f"{name}-refused.png",
        key or api_server.keys["a-verifier"],
    )
    assert message in page.inner_text("#status")
    _assert_chinese_only(page)
    page.close()


def test_sealed_licence_shows_passed_in_chinese_with_signer_and_conditions(
    browser: object, api_server: Server, documents: dict[str, Path], tmp_path: Path
) -> None:
    page = _check(browser, api_server, documents["sealed"], tmp_path / "sealed-zh.png")
    assert page.get_attribute("#verdict", "data-indication") == "TOTAL_PASSED"
    assert "验证通过" in page.inner_text("#verdict")
    card = page.inner_text(".signature")
    assert "杭州市市场监督管理局" in card
    assert "PAdES-BASELINE-T" in card
    assert card.count("满足") >= 4  # the four art. 13 conditions
    assert page.locator(".finding").count() >= 1  # e.g. no revocation data embedded, with its remedy
    assert "建议" in page.inner_text("#findings")
    assert (tmp_path / "sealed-zh.png").stat().st_size > 10_000
    page.close()


def test_tampered_licence_shows_failed_and_the_english_toggle_works(
    browser: object, api_server: Server, documents: dict[str, Path], tmp_path: Path
) -> None:
    page = _check(browser, api_server, documents["tampered"], tmp_path / "tampered-zh.png")
    assert page.get_attribute("#verdict", "data-indication") == "TOTAL_FAILED"
    assert "验证失败" in page.inner_text("#verdict")
    page.click("#lang-toggle")
    assert "Failed" in page.inner_text("#verdict")
    assert "Signer organisation" in page.inner_text(".signature")
    page.screenshot(path=str(tmp_path / "tampered-en.png"), full_page=True)
    page.close()


def test_page_loads_nothing_from_other_origins(browser: object, api_server: Server) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    origins: set[str] = set()
    page.on("request", lambda request: origins.add(request.url.split("/")[2]))
    page.goto(api_server.url + "/")
    page.wait_for_load_state("networkidle")
    assert origins == {api_server.url.split("/")[2]}
    page.close()
