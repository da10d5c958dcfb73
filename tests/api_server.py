"""A real uvicorn running the service in a subprocess, for the API, schema and web-page tests.

The server gets its own temporary database and keystore, bootstrapped with the demo seals and a
client per role; it talks to the session's live test PKI services (TSA, OCSP, CRL). Being a
separate process, its memory can be measured from /proc and its log read like an operator would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from api.bootstrap import DEMO_AUDIT_KEY, DEMO_SEALS, bootstrap, write_demo_trust
from api.settings import Settings
from fixtures.pki import TestPKI
from keystore.authz import OPERATOR
from keystore.clients import create_client, grant_seal
from keystore.db import Database
from keystore.registry import find_seal

__all__ = ["api_server"]

ROOT = Path(__file__).resolve().parents[1]
UPLOAD_LIMIT = 2 * 1024 * 1024
#: small, so that a test sealing this many documents in a row crosses a signed audit checkpoint
CHECKPOINT_EVERY = 5

#: client name → (demo seal index for organisation and grant, roles)
CLIENTS = {
    "a-sealer": (0, "sealer"),
    "a-verifier": (0, "verifier"),
    "a-auditor": (0, "auditor"),
    "a-throttled": (0, "verifier"),
    "a-fuzzer": (0, "seal-admin,verifier,auditor"),
    "b-sealer": (1, "sealer"),
    "c-sealer": (2, "sealer"),
    "c-admin": (2, "seal-admin"),
}


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    keystore: Path
    keys: dict[str, str] = field(default_factory=dict)

    def client(self, key: str | None = None, **kw: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[key]}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120, **kw)  # type: ignore[arg-type]

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(
    directory: Path, pki: TestPKI, database_url: str | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """Database (SQLite in ``directory`` unless given), keystore and clients; returns the server
    environment and the API keys by client name."""
    keystore = directory / "keystore.d"
    keystore.mkdir(parents=True)
    trust, audit_cert = write_demo_trust(pki, directory)
    database_url = database_url or f"sqlite:///{directory / 'esign.db'}"
    settings = Settings(database_url=database_url, keystore_dir=str(keystore))
    keys = {"demo": bootstrap(settings, pki, echo=lambda _line: None) or ""}
    db = Database(settings.database_url)
    with db.transaction() as session:
        for name, (index, roles) in CLIENTS.items():
            org = DEMO_SEALS[index]
            made = create_client(
                session, OPERATOR, name=name, org_name=org.org_name, uscc=org.uscc, roles=roles
            )
            keys[name] = made.api_key
        session.flush()
        for name, (index, roles) in CLIENTS.items():
            if roles == "sealer":
                grant_seal(session, OPERATOR, name, find_seal(session, DEMO_SEALS[index].code))
    db.dispose()
    env = {
        "ESIGN_DATABASE_URL": settings.database_url,
        "ESIGN_KEYSTORE_DIR": str(keystore),
        "ESIGN_TRUST_DIR": str(trust),
        "ESIGN_AUDIT_CERT": str(audit_cert),
        "ESIGN_AUDIT_KEY": DEMO_AUDIT_KEY,
        "ESIGN_AUDIT_CHECKPOINT_EVERY": str(CHECKPOINT_EVERY),
        "ESIGN_TSA_URL": pki.tsa_url,
        "ESIGN_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
        "ESIGN_VERIFY_WORKERS": "1",
        "ESIGN_SEAL_WORKERS": "2",
        "ESIGN_QUEUE_LIMIT": "16",
        "ESIGN_RATE_PER_MINUTE": "120",
        "ESIGN_RATE_BURST": "100",
    }
    return env, keys


def start_server(directory: Path, pki: TestPKI, workers: int = 1, **overrides: str) -> Server:
    """Bootstrap ``directory`` and serve it with ``esign serve --no-demo``, the operator's command.

    ``overrides`` are ESIGN_* variables ("" unsets one).
    """
    env, keys = prepare(directory, pki)
    env.update(overrides)
    return start_node(directory, env, keys, workers)


def start_node(directory: Path, env: dict[str, str], keys: dict[str, str], workers: int = 1) -> Server:
    """``esign serve --no-demo`` on a free port with ``env`` (from :func:`prepare`; "" unsets one).

    Several nodes started from one :func:`prepare` share its database and keystore.
    """
    env = {name: value for name, value in env.items() if value != ""}
    port = _free_port()
    log_path = directory / f"server-{port}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "api", "serve", "--no-demo", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=log_path.open("wb"),
    )  # fmt: skip
    server = Server(f"http://127.0.0.1:{port}", process, log_path, Path(env["ESIGN_KEYSTORE_DIR"]), keys)
    return wait_until_healthy(server)


def wait_until_healthy(server: Server, seconds: float = 60) -> Server:
    """``server`` once its ``/healthz`` answers; stopped, and an error with its log, if it never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited: {server.log()[-2000:]}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    stop_server(server)
    raise RuntimeError(f"server did not start within {seconds:g} s: {server.log()[-2000:]}")


def read_response(sock: socket.socket) -> bytes:
    """One raw HTTP response from ``sock``: its head and as much body as its Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < _content_length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _content_length(data: bytes) -> int:
    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def api_server(tmp_path_factory: pytest.TempPathFactory, pki: TestPKI) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("api-server"), pki)
    yield server
    stop_server(server)
