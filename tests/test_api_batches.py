"""Batch sealing over HTTP on the embedded default: SQLite and the in-process job runner, no broker.

The multi-node run (PostgreSQL, Redis, RabbitMQ, ``esign worker`` killed mid-batch) is
tests/test_province_scale.py.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import sqlite3
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from fixtures.pki import TestPKI
from tests.api_server import *  # noqa: F403 - the api_server fixture
from tests.api_server import Server, prepare, start_node, stop_server
from tests.keystore_fixtures import small_pdf


def batch_zip(documents: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in documents.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def submit(http: httpx.Client, code: str, archive: bytes, **fields: str) -> httpx.Response:
    files = {"file": ("batch.zip", archive, "application/zip")}
    return http.post(f"/v1/seals/{code}/batches", files=files, data=fields)


def wait_done(http: httpx.Client, batch_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = http.get(f"/v1/batches/{batch_id}").json()
        if status["state"] == "done":
            return status
        time.sleep(0.5)
    raise AssertionError(f"batch {batch_id} not done: {status}")


def outcomes(results: bytes) -> tuple[list[dict[str, str]], zipfile.ZipFile]:
    archive = zipfile.ZipFile(io.BytesIO(results))
    return list(csv.DictReader(io.StringIO(archive.read("outcomes.csv").decode()))), archive


@pytest.fixture(scope="module")
def finished(api_server: Server) -> dict:
    documents = {f"doc-{n}.pdf": small_pdf(f"batch document {n}") for n in range(4)}
    documents["again.pdf"] = documents["doc-0.pdf"]  # the same bytes: one document, sealed once
    documents["broken.pdf"] = b"this is no PDF"
    documents["notes.txt"] = b"not a .pdf: not a document of the batch"
    with api_server.client("a-sealer") as http:
        response = submit(http, "HZAMR-01", batch_zip(documents), level="B-T")
        assert response.status_code == 202, response.text
        assert response.headers["location"] == f"/v1/batches/{response.json()['id']}"
        return wait_done(http, response.json()["id"])


def test_a_zip_batch_is_sealed_once_per_document_with_failures_named(finished: dict) -> None:
    assert finished["total"] == 5 and finished["done"] == 4 and finished["failed"] == 1
    [failure] = finished["failures"]
    assert failure["name"] == "broken.pdf" and failure["code"] == "NOT_A_PDF"


def test_results_are_the_sealed_documents_and_a_csv(api_server: Server, finished: dict) -> None:
    with api_server.client("a-sealer") as http:
        response = http.get(f"/v1/batches/{finished['id']}/results")
        assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
        rows, archive = outcomes(response.content)
        assert [row["state"] for row in rows] == ["sealed"] * 4 + ["failed"]
        sealed = archive.read(rows[0]["file"])
    with api_server.client("a-verifier") as http:
        files = {"file": ("sealed.pdf", sealed, "application/pdf")}
        assert http.post("/v1/verify", files=files).json()["indication"] == "TOTAL_PASSED"
    with api_server.client("a-auditor") as http:
        records = http.get("/v1/audit", params={"action": "seal.applied", "limit": 1000}).json()["records"]
        mine = [r for r in records if (r.get("request_id") or "").startswith(f"batch:{finished['id']}:")]
        assert sorted(r["seq"] for r in mine) == sorted(
            int(row["audit_seq"]) for row in rows if row["state"] == "sealed"
        )
        assert http.get("/v1/audit/verify").json()["ok"] is True


def test_batches_are_private_to_their_organisation(api_server: Server, finished: dict) -> None:
    with api_server.client("b-sealer") as http:
        response = http.get(f"/v1/batches/{finished['id']}")
        assert response.status_code == 404 and response.json()["code"] == "BATCH_NOT_FOUND"
    with api_server.client("a-auditor") as http:  # the organisation's auditor watches its batches
        assert http.get(f"/v1/batches/{finished['id']}").json()["state"] == "done"


def test_progress_is_in_metrics(api_server: Server, finished: dict) -> None:
    metrics = httpx.get(f"{api_server.url}/metrics").text
    gauge = 'esign_batch_documents{state="sealed"}'
    sealed = [line for line in metrics.splitlines() if line.startswith(gauge)]
    assert sealed and float(sealed[0].split()[-1]) >= 4


def test_an_unusable_upload_or_seal_is_refused_before_any_job(api_server: Server) -> None:
    with api_server.client("a-sealer") as http:
        response = submit(http, "HZAMR-01", b"PK\x03\x04 not really a zip")
        assert response.status_code == 422 and response.json()["code"] == "BATCH_INVALID"
        response = submit(http, "HZAMR-01", batch_zip({"readme.txt": b"no documents"}))
        assert response.status_code == 422 and response.json()["code"] == "BATCH_INVALID"
        response = submit(http, "HZHRSS-01", batch_zip({"a.pdf": small_pdf("other agency")}))
        assert response.status_code == 403 and response.json()["code"] == "PERMISSION_DENIED"
        response = submit(http, "HZAMR-01", batch_zip({"a.pdf": small_pdf("x")}), level="nonsense")
        assert response.status_code == 422


def test_a_server_killed_mid_batch_resumes_it_and_seals_nothing_twice(tmp_path: Path, pki: TestPKI) -> None:
    """The embedded runner: SIGKILL the only process in the middle of a batch, start it again."""
    env, keys = prepare(tmp_path, pki)
    env["ESIGN_BATCH_THREADS"] = "1"
    server = start_node(tmp_path, env, keys)
    documents = {f"doc-{n}.pdf": small_pdf(f"resumed document {n}") for n in range(12)}
    try:
        with server.client("a-sealer") as http:
            batch_id = submit(http, "HZAMR-01", batch_zip(documents)).json()["id"]
            while http.get(f"/v1/batches/{batch_id}").json()["done"] < 2:
                time.sleep(0.1)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
        server = start_node(tmp_path, env, keys)
        with server.client("a-sealer") as http:
            status = wait_done(http, batch_id)
    finally:
        stop_server(server)
    assert status["done"] == 12 and status["failed"] == 0
    with sqlite3.connect(tmp_path / "esign.db") as db:
        counts = db.execute(
            "SELECT request_id, COUNT(*) FROM audit_records WHERE action = 'seal.applied' GROUP BY request_id"
        ).fetchall()
    assert len(counts) == 12 and all(count == 1 for _, count in counts)


def submit_parts(http: httpx.Client, code: str, documents: dict[str, bytes]) -> httpx.Response:
    """Many documents as repeated multipart parts ``file``, one PDF each."""
    files = [("file", (name, data, "application/pdf")) for name, data in documents.items()]
    return http.post(f"/v1/seals/{code}/batches", files=files)


def test_many_pdf_parts_in_one_request_are_one_batch(api_server: Server) -> None:
    documents = {f"part-{n}.pdf": small_pdf(f"multipart document {n}") for n in range(3)}
    with api_server.client("a-sealer") as http:
        response = submit_parts(http, "HZAMR-01", documents)
        assert response.status_code == 202, response.text
        status = wait_done(http, response.json()["id"])
        assert status["total"] == 3 and status["done"] == 3 and status["failed"] == 0
        rows, archive = outcomes(http.get(f"/v1/batches/{status['id']}/results").content)
    assert sorted(row["name"] for row in rows) == sorted(documents)
    sealed = [name for name in archive.namelist() if name.startswith("sealed/")]
    assert len(sealed) == 3 and all(archive.read(name).startswith(b"%PDF-") for name in sealed)
    assert sorted(archive.namelist()) == sorted([*sealed, "outcomes.csv"])


def test_a_part_that_is_no_pdf_fails_alone(api_server: Server) -> None:
    documents = {"good.pdf": small_pdf("beside a bad part"), "bad.pdf": b"this is no PDF"}
    with api_server.client("a-sealer") as http:
        response = submit_parts(http, "HZAMR-01", documents)
        assert response.status_code == 202, response.text
        status = wait_done(http, response.json()["id"])
    assert status["done"] == 1 and status["failed"] == 1
    assert [(f["name"], f["code"]) for f in status["failures"]] == [("bad.pdf", "NOT_A_PDF")]


def test_more_parts_than_a_batch_holds_are_refused(api_server: Server) -> None:
    documents = {f"{n}.pdf": b"%PDF-" for n in range(1001)}  # ESIGN_BATCH_MAX_DOCUMENTS = 1000
    with api_server.client("a-sealer") as http:
        response = submit_parts(http, "HZAMR-01", documents)
    assert response.status_code == 413 and response.json()["code"] == "TOO_MANY_DOCUMENTS"


def test_outcomes_csv_names_cannot_be_formulas(api_server: Server) -> None:
    names = ["=HYPERLINK(1).pdf", "+1.pdf", "-1.pdf", "@SUM.pdf", "\ttab.pdf", "\rcr.pdf", "plain.pdf"]
    documents = {name: small_pdf(f"formula {n}") for n, name in enumerate(names)}
    with api_server.client("a-sealer") as http:
        batch_id = submit(http, "HZAMR-01", batch_zip(documents)).json()["id"]
        wait_done(http, batch_id)
        rows, _ = outcomes(http.get(f"/v1/batches/{batch_id}/results").content)
    shown = {row["name"] for row in rows}
    assert shown == {f"'{name}" for name in names[:-1]} | {"plain.pdf"}


def test_parts_are_held_to_the_document_and_batch_size_limits(tmp_path: Path, pki: TestPKI) -> None:
    env, keys = prepare(tmp_path, pki)
    env |= {"ESIGN_MAX_UPLOAD_BYTES": "50000", "ESIGN_BATCH_MAX_BYTES": "100000"}
    server = start_node(tmp_path, env, keys)
    try:
        with server.client("a-sealer") as http:
            one_too_big = submit_parts(http, "HZAMR-01", {"big.pdf": b"%PDF-" + b"x" * 50_000})
            too_much = submit_parts(
                http, "HZAMR-01", {f"{n}.pdf": b"%PDF-" + b"x" * 45_000 for n in range(4)}
            )
    finally:
        stop_server(server)
    for response, limit in ((one_too_big, "50000"), (too_much, "100000")):
        assert response.status_code == 413 and response.json()["code"] == "PDF_TOO_LARGE"
        assert limit in response.json()["detail"]
