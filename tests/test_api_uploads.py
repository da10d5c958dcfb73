"""Upload limits and back-pressure on the live server: refused early, memory flat, 503 when full."""

from __future__ import annotations

import io
import json
import select
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from fixtures.pki import TestPKI
from tests.api_server import *  # noqa: F403 - the api_server fixture
from tests.api_server import UPLOAD_LIMIT, Server, start_server, stop_server
from tests.keystore_fixtures import small_pdf

MIB = 1024 * 1024


def _connect(server: Server) -> socket.socket:
    parts = urlsplit(server.url)
    return socket.create_connection((parts.hostname, parts.port), timeout=30)


def _head(server: Server, extra: str) -> bytes:
    auth = f"Authorization: Bearer {server.keys['a-verifier']}\r\n"
    return f"POST /v1/verify HTTP/1.1\r\nHost: test\r\n{auth}{extra}\r\n".encode()


def _read_response(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _content_length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _content_length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def test_declared_oversize_is_413_before_the_body_is_sent(api_server: Server) -> None:
    with _connect(api_server) as sock:
        sock.sendall(_head(api_server, f"Content-Type: application/pdf\r\nContent-Length: {100 * MIB}\r\n"))
        status, problem = _read_response(sock)  # no body byte was sent, yet the answer comes
    assert status == 413
    assert problem["code"] == "PDF_TOO_LARGE" and str(UPLOAD_LIMIT) in problem["detail"]


def test_streamed_oversize_is_cut_off_early_and_memory_stays_flat(api_server: Server) -> None:
    """64 MiB sent chunked against a 2 MiB limit: the server answers 413 after about the limit."""
    total, chunk = 64 * MIB, b"%PDF-1.7\n" + b"\0" * (256 * 1024 - 9)
    rss_before = api_server.rss_kib()
    sent, status, problem = 0, None, None
    with _connect(api_server) as sock:
        sock.sendall(_head(api_server, "Content-Type: application/pdf\r\nTransfer-Encoding: chunked\r\n"))
        try:
            while sent < total:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                if select.select([sock], [], [], 0.01)[0]:
                    status, problem = _read_response(sock)
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed the connection on us: cut off, which is the point
    rss_after = api_server.rss_kib()
    assert sent < 24 * MIB, f"server kept reading: {sent} bytes accepted"
    if status is not None:
        assert status == 413 and problem is not None and problem["code"] == "PDF_TOO_LARGE"
    assert rss_after - rss_before < 16 * 1024, f"RSS grew {rss_after - rss_before} KiB"


def test_multipart_over_the_limit_is_413(api_server: Server) -> None:
    big = b"%PDF-1.7\n" + b"0" * (UPLOAD_LIMIT + 1)
    with api_server.client("a-verifier") as http:
        response = http.post("/v1/verify", files={"file": ("big.pdf", big, "application/pdf")})
    assert response.status_code == 413
    assert response.json()["code"] == "PDF_TOO_LARGE"


@pytest.fixture(scope="module")
def tight_server(tmp_path_factory: pytest.TempPathFactory, pki: TestPKI) -> Iterator[Server]:
    """One verification worker and no queue; anonymous verification allowed; 3 s for headers and body."""
    directory: Path = tmp_path_factory.mktemp("tight-server")
    server = start_server(
        directory,
        pki,
        ESIGN_QUEUE_LIMIT="0",
        ESIGN_VERIFY_REQUIRES_KEY="false",
        ESIGN_UPLOAD_TIMEOUT_S="3",
        ESIGN_HEADER_TIMEOUT_S="3",
    )
    yield server
    stop_server(server)


def test_full_worker_pool_answers_503_instead_of_queueing(tight_server: Server, api_server: Server) -> None:
    with api_server.client("a-sealer") as http:
        sealed = http.post(
            "/v1/seals/HZAMR-01/apply", files={"file": ("d.pdf", small_pdf(), "application/pdf")}
        )
    statuses: list[int] = []
    codes: list[str] = []
    start = threading.Barrier(8)

    def one() -> None:
        start.wait()
        response = httpx.post(
            f"{tight_server.url}/v1/verify",
            content=sealed.content,
            headers={"Content-Type": "application/pdf"},
            timeout=120,
        )
        statuses.append(response.status_code)
        if response.status_code != 200:
            codes.append(response.json()["code"])

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 200 in statuses  # anonymous verification works when ESIGN_VERIFY_REQUIRES_KEY=false
    assert 503 in statuses
    assert set(codes) == {"OVERLOADED"}


def test_an_upload_still_arriving_holds_no_worker(tight_server: Server) -> None:
    """Capacity 1: while one body is half sent, a complete request is verified; the pool is entered after."""
    head = "POST /v1/verify HTTP/1.1\r\nHost: test\r\nContent-Type: application/pdf\r\n"
    with _connect(tight_server) as first:
        first.sendall(f"{head}Content-Length: 20\r\n\r\n%PDF-1.7\n".encode())  # 9 of 20 bytes
        time.sleep(0.5)
        other = httpx.post(
            f"{tight_server.url}/v1/verify",
            content=small_pdf(),
            headers={"Content-Type": "application/pdf"},
            timeout=60,
        )
        first.sendall(b"x" * 11)  # the first upload completes and is answered as usual
        first_status, _ = _read_response(first)
    assert other.status_code == 200, other.text
    assert other.json()["indication"]
    assert first_status not in (503, 408)


def test_trickled_headers_are_cut_off_at_the_deadline(tight_server: Server) -> None:
    """Slowloris: a header byte a second keeps the connection busy, never complete; the server hangs up."""
    with _connect(tight_server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
        started, closed = time.monotonic(), False
        try:
            while time.monotonic() - started < 30 and not closed:
                sock.sendall(b"X")
                if select.select([sock], [], [], 1.0)[0]:
                    closed = sock.recv(1024) == b""
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        waited = time.monotonic() - started
    assert closed and 2.5 < waited < 15, waited
    with _connect(tight_server) as sock:  # a normal request on a new connection is answered as usual
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 200")


def test_trickled_upload_is_408_at_the_deadline(tight_server: Server) -> None:
    """A body sent a few bytes at a time (slowloris) is cut off at ESIGN_UPLOAD_TIMEOUT_S, not waited for."""
    with _connect(tight_server) as sock:
        head = "POST /v1/verify HTTP/1.1\r\nHost: test\r\nContent-Type: application/pdf\r\n"
        sock.sendall(f"{head}Content-Length: 100000\r\n\r\n%PDF-1.7\n".encode())
        started = time.monotonic()
        answered = False
        while time.monotonic() - started < 30 and not answered:
            sock.sendall(b"0")  # one byte a second: the connection is never idle
            answered = bool(select.select([sock], [], [], 1.0)[0])
        waited = time.monotonic() - started
        status, problem = _read_response(sock)
    assert status == 408 and problem["code"] == "UPLOAD_TIMEOUT", problem
    assert 2.5 < waited < 15, waited
    assert problem["detail_zh"] and "3" in problem["detail"]
    assert httpx.get(f"{tight_server.url}/healthz", timeout=10).status_code == 200


_AGENCY_C = {
    "seal_type": "05",
    "org_name": "杭州市公安局",
    "uscc": "11330100MB3456789H",
    "key_name": "agency-c",
}


def _blue_seal_png(size: int = 128) -> bytes:
    """A transparent picture with a blue disc: blue is a colour no drawn (red) seal contains."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    for x in range(size):
        for y in range(size):
            if (x - size / 2) ** 2 + (y - size / 2) ** 2 < (size / 3) ** 2:
                image.putpixel((x, y), (0, 40, 220, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _png_bomb_header(side: int = 100_000) -> bytes:
    """A few bytes claiming side×side RGBA pixels (40 GB decoded): the header alone must be refused."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def _register(server: Server, code: str, image: bytes) -> httpx.Response:
    with server.client("c-admin") as http:
        return http.post("/v1/seals", data={"code": code, **_AGENCY_C}, files={"image": ("seal.png", image)})


def test_seal_registered_with_an_uploaded_png_shows_that_picture(api_server: Server) -> None:
    response = _register(api_server, "HZPSB-PNG", _blue_seal_png())
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "active" and response.json()["seal_type_name"] == "法人章"
    with api_server.client("c-admin") as http:
        shown = http.get("/v1/seals/HZPSB-PNG/image.png")
    assert shown.status_code == 200
    picture = Image.open(io.BytesIO(shown.content)).convert("RGBA")
    colours = picture.getcolors(maxcolors=1 << 20) or []
    assert any(b > 150 and r < 80 and a > 200 for _count, (r, _g, b, a) in colours)  # the uploaded blue disc


def test_png_bomb_header_is_refused_as_bad_image(api_server: Server) -> None:
    response = _register(api_server, "HZPSB-BOMB", _png_bomb_header())
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "BAD_IMAGE"


def test_oversized_seal_picture_is_413_and_json_registration_needs_a_known_content_type(
    api_server: Server,
) -> None:
    too_big = _register(api_server, "HZPSB-BIG", b"\x89PNG\r\n\x1a\n" + b"\0" * (6 * MIB))
    assert too_big.status_code == 413 and too_big.json()["code"] == "PDF_TOO_LARGE"
    with api_server.client("c-admin") as http:
        as_text = http.post("/v1/seals", content=b"code=X", headers={"Content-Type": "text/plain"})
    assert as_text.status_code == 415 and as_text.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
