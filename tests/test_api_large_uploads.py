"""Real-sized documents through the real server (uvloop): 300 KB, 8 MB sealed, 50 MB — 200, never 503.

Under uvloop every verification above about 215 KB used to answer 503 and kill a worker: the job
carried the whole document through a pipe the loop had left non-blocking. Now the upload is
spooled to a private file whose path is the job, and the file is gone once the request is done —
also when the worker died.
"""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.pki import TestPKI
from tests.api_server import Server, start_server, stop_server
from tests.sized_documents import sized_pdf

MB = 1000 * 1000


@pytest.fixture(scope="module")
def spool_parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("spool")


@pytest.fixture(scope="module")
def large_server(
    tmp_path_factory: pytest.TempPathFactory, pki: TestPKI, spool_parent: Path
) -> Iterator[Server]:
    """The default upload limit (50 MiB) and uploads spooled under ``spool_parent``."""
    server = start_server(
        tmp_path_factory.mktemp("large-server"),
        pki,
        ESIGN_MAX_UPLOAD_BYTES="",
        ESIGN_UPLOAD_DIR=str(spool_parent),
    )
    yield server
    stop_server(server)


def spooled_files(spool_parent: Path) -> list[Path]:
    """The server's private spool directory (exactly one, mode 0700) and the uploads in it."""
    (directory,) = spool_parent.iterdir()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    return list(directory.iterdir())


def _verify(server: Server, pdf: bytes, **kw: object) -> httpx.Response:
    with server.client("a-verifier") as http:
        return http.post("/v1/verify", files={"file": ("scan.pdf", pdf, "application/pdf")}, **kw)  # type: ignore[arg-type]


def test_300_kb_document_verifies(large_server: Server, spool_parent: Path) -> None:
    pdf = sized_pdf(300 * 1000)
    with large_server.client("a-verifier") as http:
        response = http.post("/v1/verify", content=pdf, headers={"Content-Type": "application/pdf"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["document"]["size"] == len(pdf)
    assert report["indication"] == response.headers["x-esign-indication"]
    assert spooled_files(spool_parent) == []


def test_8_mb_document_is_sealed_and_the_sealed_copy_verifies_in_every_format(
    large_server: Server, spool_parent: Path
) -> None:
    document = sized_pdf(8 * MB)
    with large_server.client("a-sealer") as http:
        sealed = http.post(
            "/v1/seals/HZAMR-01/apply", files={"file": ("scan.pdf", document, "application/pdf")}
        )
    assert sealed.status_code == 200, sealed.text
    assert sealed.headers["content-type"] == "application/pdf" and len(sealed.content) > len(document)
    report = _verify(large_server, sealed.content)
    assert report.status_code == 200, report.text
    assert report.json()["indication"] == "TOTAL_PASSED"
    assert report.json()["document"]["pages"] == 13
    for fmt, media in (("xml", "application/xml"), ("text", "text/plain")):
        rendered = _verify(large_server, sealed.content, params={"format": fmt, "lang": "en"})
        assert rendered.status_code == 200 and rendered.headers["x-esign-indication"] == "TOTAL_PASSED"
        assert rendered.headers["content-type"].startswith(media) and rendered.text
    assert spooled_files(spool_parent) == []


def test_50_mb_document_verifies(large_server: Server, spool_parent: Path) -> None:
    pdf = sized_pdf(50 * MB)
    response = _verify(large_server, pdf)
    assert response.status_code == 200, response.text
    assert response.json()["document"]["size"] == len(pdf)
    # received chunk by chunk and spooled without a digest: the worker's hash proves every byte arrived
    assert response.json()["document"]["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert spooled_files(spool_parent) == []


def _verification_workers(server: Server) -> list[int]:
    """The server's spawned worker processes (not multiprocessing's resource tracker)."""
    found = []
    for task in Path(f"/proc/{server.process.pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            command = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"multiprocessing" in command and b"resource_tracker" not in command:
                found.append(int(child))
    return found


def test_the_spooled_upload_is_deleted_when_the_worker_died(large_server: Server, spool_parent: Path) -> None:
    """A killed worker: its job is 503 OVERLOADED, the upload's file is gone, a new worker serves the next."""
    pdf = sized_pdf(1 * MB)
    (worker,) = _verification_workers(large_server)
    os.kill(worker, signal.SIGKILL)
    time.sleep(0.2)
    failed = _verify(large_server, pdf)
    assert failed.status_code == 503 and failed.json()["code"] == "OVERLOADED", failed.text
    assert spooled_files(spool_parent) == []
    assert _verify(large_server, pdf).status_code == 200
    assert _verification_workers(large_server) not in ([], [worker])
