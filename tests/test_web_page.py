"""The verification page in Debian's headless Chromium, driven by Playwright: a valid and a tampered file."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.documents import licence_pdf
from tests.api_server import *  # noqa: F403 - the api_server fixture
from tests.api_server import Server

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


@pytest.fixture(scope="module")
def documents(api_server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    with api_server.client("a-sealer") as http:
        response = http.post(
            "/v1/seals/HZAMR-01/apply",
            files={"file": ("licence.pdf", licence_pdf(), "application/pdf")},
            data={"keyword": "（盖章）", "level": "B-T"},
        )
    assert response.status_code == 200, response.text
    sealed = response.content
    at = sealed.index(b"\n%") + 2  # the binary comment under the header: parses the same, but is signed
    tampered = sealed[:at] + bytes([sealed[at] ^ 0x01]) + sealed[at + 1 :]
    folder = tmp_path_factory.mktemp("web-docs")
    paths = {"sealed": folder / "营业执照-已盖章.pdf", "tampered": folder / "营业执照-被篡改.pdf"}
    paths["sealed"].write_bytes(sealed)
    paths["tampered"].write_bytes(tampered)
    return paths


def _check(browser: object, server: Server, document: Path, screenshot: Path) -> object:
    page = browser.new_page(viewport={"width": 1000, "height": 1100})  # type: ignore[attr-defined]
    page.goto(server.url + "/")
    page.fill("#api-key", server.keys["a-verifier"])
    page.set_input_files("#file", str(document))
    page.wait_for_selector("#verdict[data-indication]", state="visible", timeout=60_000)
    page.screenshot(path=str(screenshot), full_page=True)
    return page


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
