"""The web page shows an organisation's batch progress to its seal-admins and auditors (Chromium)."""

from __future__ import annotations

import shutil

import pytest

from tests.api_server import *  # noqa: F403 - the api_server fixture
from tests.api_server import Server
from tests.keystore_fixtures import small_pdf
from tests.test_api_batches import batch_zip, submit, wait_done
from tests.test_web_page import CHROMIUM, browser  # noqa: F401 - the browser fixture

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="Debian package chromium not installed"
)


def test_an_auditor_sees_the_organisations_batch_progress(browser: object, api_server: Server) -> None:  # noqa: F811
    documents = {f"web-{n}.pdf": small_pdf(f"web batch {n}") for n in range(3)}
    documents["bad.pdf"] = b"no PDF"
    with api_server.client("a-sealer") as http:
        batch_id = submit(http, "HZAMR-01", batch_zip(documents)).json()["id"]
        wait_done(http, batch_id)
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(api_server.url + "/")
    page.fill("#api-key", api_server.keys["a-auditor"])
    page.click("#batches-refresh")
    row = page.wait_for_selector(f'tr[data-batch="{batch_id}"][data-state="done"]', timeout=30_000)
    assert "4 / 4" in row.inner_text() and "已完成" in row.inner_text()
    page.click("#lang-toggle")
    assert "done" in page.inner_text(f'tr[data-batch="{batch_id}"]')
    page.fill("#api-key", api_server.keys["b-sealer"])  # another organisation's client sees none of it
    page.click("#batches-refresh")
    page.wait_for_function(f"!document.querySelector('tr[data-batch=\"{batch_id}\"]')", timeout=30_000)
    page.close()
