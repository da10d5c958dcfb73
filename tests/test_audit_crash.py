"""SIGKILL the service under four sealing clients: no recorded seal is lost to its client.

A ``seal.applied`` record commits before the response is sent, so a kill in between leaves a
record whose document never arrived. With an ``Idempotency-Key`` that document is kept in the same
transaction: the client repeats the request after the restart and receives exactly the document
the record describes, never a second one.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from api.bootstrap import DEMO_SEALS
from fixtures.pki import TestPKI
from tests.api_server import ROOT, Server, start_server, stop_server, wait_until_healthy
from tests.keystore_fixtures import small_pdf
from tests.test_audit_service import audit_records, seal

CLIENTS, DOCUMENTS, KILL_AFTER = 4, 8, 6
SEAL = DEMO_SEALS[0].code


def _restart(server: Server, environment: dict[str, str]) -> Server:
    """The same command, environment and port again, as a supervisor would after the kill."""
    log = server.log_path.open("ab")
    process = subprocess.Popen(
        server.process.args, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=log
    )
    return wait_until_healthy(Server(server.url, process, server.log_path, server.keystore, server.keys))


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_a_killed_service_leaves_no_recorded_seal_its_client_cannot_fetch(
    tmp_path: Path, pki: TestPKI
) -> None:
    server = start_server(tmp_path, pki, ESIGN_SEAL_WORKERS="4")
    environment = _environ(server.process.pid)
    documents = {f"crash-{n}-{i}": small_pdf() for n in range(CLIENTS) for i in range(DOCUMENTS)}
    received: dict[str, bytes] = {}
    attempted: list[str] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        for i in range(DOCUMENTS):
            key = f"crash-{number}-{i}"
            with lock:
                attempted.append(key)
            try:
                response = seal(server, "a-sealer", SEAL, documents[key], key)
            except httpx.TransportError:
                return  # the server is gone
            if response.status_code != 200:
                return
            with lock:
                received[key] = response.content
                if len(received) == KILL_AFTER:
                    os.kill(server.process.pid, signal.SIGKILL)

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))
    server.process.wait()
    assert KILL_AFTER <= len(received) < len(attempted)  # the kill cut requests off
    server = _restart(server, environment)
    try:
        committed = {
            r["payload"].get("idempotency_key") for r in audit_records(server, action="seal.applied")
        }
        orphans = sorted(committed - set(received) - {None})
        print(f"records committed before the kill whose response was lost: {orphans}")
        held = dict(received)
        for key in attempted:  # every client repeats what it did not receive (and one it did)
            again = seal(server, "a-sealer", SEAL, documents[key], key)
            assert again.status_code == 200, again.text
            if key in received:
                assert again.content == received[key] and again.headers["idempotent-replayed"] == "true"
            held[key] = again.content
        records = [
            r for r in audit_records(server, action="seal.applied") if "idempotency_key" in r["payload"]
        ]
        by_key = {r["payload"]["idempotency_key"]: r for r in records}
        assert len(by_key) == len(records) == len(attempted)  # one record per request, none twice
        for key, record in by_key.items():
            assert record["payload"]["sha256_after"] == hashlib.sha256(held[key]).hexdigest(), key
        with server.client("a-auditor") as http:
            assert http.get("/v1/audit/verify").json()["ok"] is True
    finally:
        stop_server(server)
