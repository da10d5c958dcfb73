"""The service's log stays one JSON object per line, and names the route of every request."""

from __future__ import annotations

import json
import time
from io import BytesIO

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from fixtures.documents import licence_pdf
from tests.api_server import *  # noqa: F403 - the api_server fixture
from tests.api_server import Server


def _rewrite_first_page(pdf: bytes) -> bytes:
    """An incremental update after the seal that replaces page 1's content: pyHanko's diff analysis
    logs its verdict with a traceback."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    page_ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    page = page_ref.get_object()
    page["/Contents"] = writer.add_object(
        generic.StreamObject(stream_data=b"BT /F1 24 Tf 72 700 Td (forged) Tj ET")
    )
    writer.mark_update(page_ref)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _log_lines(server: Server) -> list[str]:
    return [line for line in server.log().splitlines() if line.strip()]


def test_a_default_seal_is_b_lt_and_a_modified_upload_leaves_one_json_object_per_log_line(
    api_server: Server,
) -> None:
    with api_server.client("a-sealer") as http:
        sealed = http.post(
            "/v1/seals/HZAMR-01/apply",
            files={"file": ("licence.pdf", licence_pdf(), "application/pdf")},
            data={"keyword": "（盖章）"},
        ).content
    with api_server.client("a-verifier") as http:
        as_sealed = http.post("/v1/verify", content=sealed, headers={"Content-Type": "application/pdf"})
        response = http.post(
            "/v1/verify", content=_rewrite_first_page(sealed), headers={"Content-Type": "application/pdf"}
        )
    # no level asked for and the service has a TSA: B-LT, which the verifier does not tell to seal at B-LT
    assert as_sealed.json()["signatures"][0]["format"] == "PAdES-BASELINE-LT"
    assert "REVOCATION_DATA_MISSING" not in as_sealed.json()["signatures"][0]["findings"]
    assert response.json()["indication"] == "TOTAL_FAILED"
    lines = _log_lines(api_server)
    for line in lines:
        assert line.startswith("{"), line  # a traceback line would not parse
        json.loads(line)
    assert not any("Traceback" in line for line in lines)


def test_static_files_are_logged_with_their_route(api_server: Server) -> None:
    with api_server.client() as http:
        assert http.get("/static/app.js").status_code == 200
    deadline = time.monotonic() + 10
    while True:  # the access line is written once the response is sent, so it may trail the answer
        entries = [json.loads(line) for line in _log_lines(api_server)]
        requests = [e for e in entries if e.get("message") == "request" and e.get("method") == "GET"]
        if (
            any(e.get("status") == 200 and e.get("route") != "/healthz" for e in requests)
            or time.monotonic() > deadline
        ):
            break
        time.sleep(0.1)
    routes = [e["route"] for e in requests]
    assert "/static/{path}" in routes and "unmatched" not in routes, routes
