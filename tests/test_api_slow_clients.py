"""Slow clients on the real server: capped per client and in all, cut by the minimum rate, starving nobody.

The attack of issue 11: twenty connections of one API key declare a 1 MB body and send a byte every
3 s. They used to hold every verification place (routes took it before reading the body) for up to
``ESIGN_UPLOAD_TIMEOUT_S``, and every other client got 503. The server here has one verification
place (one worker, no queue), three uploads in progress per client and five in all, and a grace of
2 s after which a body must average 1000 bytes/s.
"""

from __future__ import annotations

import json
import select
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from fixtures.pki import TestPKI
from tests.api_server import Server, read_response, start_server, stop_server
from tests.keystore_fixtures import small_pdf
from tests.sized_documents import sized_pdf

PER_CLIENT, IN_ALL, GRACE_S, MIN_RATE = 3, 5, 2, 1000


@pytest.fixture(scope="module")
def spool_parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("spool")


@pytest.fixture(scope="module")
def slow_server(
    tmp_path_factory: pytest.TempPathFactory, pki: TestPKI, spool_parent: Path
) -> Iterator[Server]:
    server = start_server(
        tmp_path_factory.mktemp("slow-server"),
        pki,
        ESIGN_QUEUE_LIMIT="0",
        ESIGN_UPLOADS_PER_CLIENT=str(PER_CLIENT),
        ESIGN_MAX_UPLOADS=str(IN_ALL),
        ESIGN_UPLOAD_GRACE_S=str(GRACE_S),
        ESIGN_MIN_UPLOAD_RATE=str(MIN_RATE),
        ESIGN_UPLOAD_DIR=str(spool_parent),
        ESIGN_VERIFY_REQUIRES_KEY="false",
    )
    yield server
    stop_server(server)


def _trickle(server: Server, key: str | None, length: int = 1_000_000) -> socket.socket:
    """A verification that declares ``length`` bytes and sends the first one only."""
    parts = urlsplit(server.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    auth = f"Authorization: Bearer {server.keys[key]}\r\n" if key else ""
    head = f"POST /v1/verify HTTP/1.1\r\nHost: test\r\n{auth}Content-Type: application/pdf\r\n"
    sock.sendall(f"{head}Content-Length: {length}\r\n\r\n%".encode())
    return sock


def _answer(sock: socket.socket, within: float) -> tuple[int, dict[str, str], dict] | None:
    """The response on ``sock`` if one arrives within ``within`` seconds (status, headers, problem)."""
    if not select.select([sock], [], [], within)[0]:
        return None
    data = read_response(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, json.loads(body)


def _answers(sockets: list[socket.socket], within: float) -> list[tuple[int, dict[str, str], dict] | None]:
    """What each socket got in the next ``within`` seconds, all waited for together."""
    deadline = time.monotonic() + within
    return [_answer(sock, within=max(0.0, deadline - time.monotonic())) for sock in sockets]


def _unanswered(sockets: list[socket.socket], answers: list[object]) -> list[socket.socket]:
    return [sock for sock, answer in zip(sockets, answers, strict=True) if answer is None]


def _verify(server: Server, key: str) -> httpx.Response:
    with server.client(key) as http:
        return http.post("/v1/verify", files={"file": ("doc.pdf", small_pdf(), "application/pdf")})


def _spooled(spool_parent: Path) -> list[Path]:
    (directory,) = spool_parent.iterdir()
    return list(directory.iterdir())


def _cut_by_the_minimum_rate(sockets: list[socket.socket], started: float) -> None:
    """Each still-open trickle is answered 408 soon after the grace period (the total timeout is 300 s)."""
    for sock in sockets:
        answer = _answer(sock, within=15)
        assert answer is not None, "a trickling upload was not cut"
        status, _, problem = answer
        assert (status, problem["code"]) == (408, "UPLOAD_TIMEOUT"), problem
        assert str(MIN_RATE) in problem["detail"] and problem["detail_zh"]
    assert time.monotonic() - started < GRACE_S + 6


def test_trickling_uploads_of_one_key_are_capped_and_cut_while_another_client_is_served(
    slow_server: Server, spool_parent: Path
) -> None:
    assert _verify(slow_server, "a-verifier").status_code == 200  # the key is known: no scrypt below
    started = time.monotonic()
    sockets = [_trickle(slow_server, "a-verifier") for _ in range(20)]
    try:
        answers = _answers(sockets, within=1.0)
        refused = [answer for answer in answers if answer is not None]
        assert len(refused) == 20 - PER_CLIENT
        for status, headers, problem in refused:
            assert (status, problem["code"]) == (429, "TOO_MANY_UPLOADS"), problem
            assert int(headers["retry-after"]) > 0 and str(PER_CLIENT) in problem["detail"]
        in_progress = _spooled(spool_parent)
        assert len(in_progress) == PER_CLIENT
        assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in in_progress)
        # the one verification place is free: another client's document is verified, not refused 503
        other = _verify(slow_server, "demo")
        assert other.status_code == 200, other.text
        _cut_by_the_minimum_rate(_unanswered(sockets, answers), started)
    finally:
        for sock in sockets:
            sock.close()
    assert _spooled(spool_parent) == []


def test_uploads_in_progress_are_capped_in_all(slow_server: Server) -> None:
    for key in ("a-verifier", "a-fuzzer"):  # known keys: no scrypt check delays the uploads below
        _verify(slow_server, key)
    started = time.monotonic()
    sockets = [_trickle(slow_server, "a-verifier") for _ in range(PER_CLIENT)]
    sockets += [_trickle(slow_server, "a-fuzzer") for _ in range(IN_ALL - PER_CLIENT)]
    try:
        time.sleep(0.5)
        full = _verify(slow_server, "demo")
        assert full.status_code == 503 and full.json()["code"] == "OVERLOADED", full.text
        _cut_by_the_minimum_rate(sockets, started)
    finally:
        for sock in sockets:
            sock.close()
    assert _verify(slow_server, "demo").status_code == 200


def test_anonymous_uploads_are_capped_per_address(slow_server: Server) -> None:
    started = time.monotonic()
    sockets = [_trickle(slow_server, None) for _ in range(PER_CLIENT + 1)]
    try:
        answers = _answers(sockets, within=1.0)
        refused = [answer for answer in answers if answer is not None]
        assert [(status, problem["code"]) for status, _, problem in refused] == [(429, "TOO_MANY_UPLOADS")]
        _cut_by_the_minimum_rate(_unanswered(sockets, answers), started)
    finally:
        for sock in sockets:
            sock.close()


def test_a_body_that_keeps_the_minimum_rate_may_take_longer_than_the_grace_period(
    slow_server: Server,
) -> None:
    """3000 bytes/s for about 4 s (twice the grace): accepted; the rule is a rate, not a short timeout."""
    pdf = sized_pdf(12_000)
    sock = _trickle(slow_server, "a-verifier", len(pdf))
    started = time.monotonic()
    with sock:
        for offset in range(1, len(pdf), 1500):
            sock.sendall(pdf[offset : offset + 1500])
            time.sleep(0.5)
        answer = _answer(sock, within=30)
    assert answer is not None and answer[0] == 200, answer
    assert time.monotonic() - started > GRACE_S + 1


def test_a_client_that_hangs_up_mid_upload_leaves_no_file_and_no_error(
    slow_server: Server, spool_parent: Path
) -> None:
    with _trickle(slow_server, "a-verifier"):
        time.sleep(0.3)
        assert len(_spooled(spool_parent)) == 1
    deadline = time.monotonic() + 5
    while _spooled(spool_parent) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _spooled(spool_parent) == []
    assert "unexpected" not in slow_server.log() and "Traceback" not in slow_server.log()
