"""The verification page shows a hostile file name escaped: no bidi reordering, no line of its own."""

from __future__ import annotations

from tests.api_server import *  # noqa: F403 - the api_server fixture
from tests.api_server import Server
from tests.keystore_fixtures import small_pdf
from tests.test_web_page import browser, pytestmark  # noqa: F401 - the Chromium fixture and its skip


def test_a_bidi_override_and_a_newline_in_the_file_name_are_shown_escaped(
    browser: object,  # noqa: F811 - the fixture
    api_server: Server,
) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(api_server.url + "/")
    page.fill("#api-key", api_server.keys["a-verifier"])
    name = "invoice\u202efdp.exe\nTOTAL_PASSED.pdf"
    page.set_input_files("#file", {"name": name, "mimeType": "application/pdf", "buffer": small_pdf()})
    page.wait_for_selector("#verdict[data-indication]", state="visible", timeout=60_000)
    shown = page.text_content("#document")
    assert "invoice\\u202efdp.exe\\u000aTOTAL_PASSED.pdf" in shown, shown
    assert "\u202e" not in shown and "\n" not in shown
    page.close()
