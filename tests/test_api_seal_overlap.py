"""The seal-over-annotation rule through ``POST /v1/seals/{code}/apply`` on the real server."""

from __future__ import annotations

import pytest

from api.bootstrap import DEMO_SEALS
from fixtures.documents import licence_pdf
from tests.api_server import *  # noqa: F403 - the api_server fixture
from tests.api_server import Server
from tests.test_seal_overlap import LINK, _with_links


@pytest.fixture(scope="module")
def linked() -> bytes:
    return _with_links(licence_pdf(), LINK)


def test_http_apply_refuses_or_moves_a_seal_over_a_link(api_server: Server, linked: bytes) -> None:
    """409 naming a free spot, or with ``avoid_annotations=move`` a sealed document that verifies
    without an overlap doubt."""
    spot = {"page": "1", "x_mm": "150", "y_mm": "235"}
    with api_server.client("a-sealer") as http:
        files = {"file": ("licence.pdf", linked, "application/pdf")}
        refused = http.post(f"/v1/seals/{DEMO_SEALS[0].code}/apply", files=files, data=spot)
        moved = http.post(
            f"/v1/seals/{DEMO_SEALS[0].code}/apply", files=files, data={**spot, "avoid_annotations": "move"}
        )
    assert refused.status_code == 409 and refused.json()["code"] == "SEAL_OVERLAPS_ANNOTATION"
    assert "mm" in refused.json()["detail"] and refused.json()["detail_zh"]
    assert moved.status_code == 200, moved.text
    with api_server.client("a-verifier") as http:
        report = http.post("/v1/verify", files={"file": ("sealed.pdf", moved.content, "application/pdf")})
    assert report.json()["indication"] == "TOTAL_PASSED", report.json()["findings"]
    assert all(f["code"] != "ANNOTATIONS_OVERLAP" for f in report.json()["findings"])
