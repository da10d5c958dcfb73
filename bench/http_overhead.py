"""HTTP overhead of ``POST /v1/verify`` against in-process verification, per document size, same run.

    .venv/bin/python bench/http_overhead.py [--seconds 10] [--json out.json]

Issue 17 asks for the p50 of ``POST /v1/verify`` to be within 10 % of in-process verification on
documents of 60 KB, 1 MB and 10 MB. The server is the real ``esign serve`` (``tests.api_server``:
the operator's command, uvloop + httptools, its own database and keystore, the test PKI's trust
root, default limits and default verification pool); the documents are scanned pages
(``tests.sized_documents``) sealed by the service itself (``bench/load.py``).

Both sides do the same work. In process: ``ValidationPolicy.preset`` with the server's trust
anchors (read from the same trust directory), ``esign.verify.pipeline.verify`` on the document's
bytes, the report as a dict and rendered to the JSON body — what the server's worker does
(``api.jobs.verify_document``). Over HTTP, added to that: the multipart upload (parsed, spooled
to a 0600 file), authentication, rate limiting (its limits raised so that the run is not
throttled), admission to the pool, the job over the pipe, the worker reading the spooled file, the
response. One client, one keep-alive connection, sequential requests, sent with the standard
library's ``http.client`` with the multipart body encoded once (what a client library adds on top
is the client's business, not the service's). HTTP and in-process calls alternate, so both sides
see the same load on the shared machine. The ``Server-Timing`` header (the worker's own time)
splits the HTTP time into "in the worker" and "the rest" (front door and transport).

What differs: the in-process side verifies the same bytes object every time, already in memory;
the worker gets a fresh buffer per request. So a third column verifies the document read from a
file on every call (what ``esign verify FILE`` does); the overhead is given against both, the
first one being the issue's definition.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import operator
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import write_json  # noqa: E402 - after the path set-up
from load import sealed_documents  # noqa: E402

from api.jobs import render  # noqa: E402
from esign.policy import ValidationPolicy, load_trust_anchors  # noqa: E402
from esign.verify.pipeline import verify  # noqa: E402
from fixtures.pki import running_services  # noqa: E402
from tests.api_server import Server, start_server, stop_server  # noqa: E402

#: the name the document is sent under (the report carries it, on both sides)
NAME = "doc.pdf"
#: at least this many timed pairs per size, however long they take
MIN_PAIRS = 15


def in_process(trust_dir: Path) -> Callable[[bytes], bytes]:
    """What the server's worker does with a spooled upload, minus reading the file: the JSON body."""
    anchors = tuple(load_trust_anchors([str(trust_dir)]))

    def run(pdf: bytes) -> bytes:
        policy = ValidationPolicy.preset("default", trust_roots=anchors)
        return render(verify(pdf, policy, name=NAME).to_dict(), "json", "zh")

    return run


class WireClient:
    """One keep-alive connection sending the same ``POST /v1/verify`` multipart body, encoded once."""

    def __init__(self, server: Server, pdf: bytes) -> None:
        prepared = httpx.Request(
            "POST",
            f"{server.url}/v1/verify",
            headers={"Authorization": f"Bearer {server.keys['demo']}"},
            files={"file": (NAME, pdf, "application/pdf")},
        )
        self.body = prepared.read()
        self.headers = dict(prepared.headers)
        url = urlsplit(server.url)
        self.connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port)

    def post(self) -> tuple[bytes, float]:
        """The response body and the worker's own time (``Server-Timing``), in seconds."""
        self.connection.request("POST", "/v1/verify", body=self.body, headers=self.headers)
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"POST /v1/verify answered {response.status}: {body[:300]!r}")
        worker_ms = response.getheader("server-timing", "").partition("dur=")[2]
        return body, float(worker_ms) / 1000

    def close(self) -> None:
        self.connection.close()


def _cut(values: list[float], percent: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1] * 1000


def measure(
    label: str, pdf: bytes, spooled: Path, server: Server, local: Callable[[bytes], bytes], seconds: float
) -> dict:
    """Alternate HTTP and in-process verifications of ``pdf`` for ``seconds`` (at least MIN_PAIRS each).

    In process twice: on the same bytes object every time (the definition), and on the document
    read from ``spooled`` every time (as ``esign verify FILE`` does, and as the server's worker
    reads its spooled upload: a fresh buffer per document).
    """
    client = WireClient(server, pdf)
    try:
        http_body, _ = client.post()  # warm-up: connection, both verification workers, caches
        client.post()
        _same_verdict(label, http_body, local(pdf))
        times: dict[str, list[float]] = {"http": [], "worker": [], "local": [], "file": []}
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline or len(times["http"]) < MIN_PAIRS:
            started = time.perf_counter()
            _body, worker_s = client.post()
            times["http"].append(time.perf_counter() - started)
            times["worker"].append(worker_s)
            started = time.perf_counter()
            local(pdf)
            times["local"].append(time.perf_counter() - started)
            started = time.perf_counter()
            local(spooled.read_bytes())
            times["file"].append(time.perf_counter() - started)
    finally:
        client.close()
    p50 = {side: _cut(values, 50) for side, values in times.items()}
    row = {
        "case": label,
        "bytes": len(pdf),
        "pairs": len(times["http"]),
        "http_p50_ms": round(p50["http"], 2),
        "http_p90_ms": round(_cut(times["http"], 90), 2),
        "in_process_p50_ms": round(p50["local"], 2),
        "in_process_p90_ms": round(_cut(times["local"], 90), 2),
        "in_process_from_file_p50_ms": round(p50["file"], 2),
        "worker_p50_ms": round(p50["worker"], 2),
        #: per request, HTTP time minus the worker's own: what the front door and the transport add
        "transfer_p50_ms": round(_cut(list(map(operator.sub, times["http"], times["worker"])), 50), 2),
        "overhead": round(p50["http"] / p50["local"] - 1, 4),
        "overhead_vs_from_file": round(p50["http"] / p50["file"] - 1, 4),
    }
    print(
        f"{label:6} {len(pdf) / 1e6:6.2f} MB  n={row['pairs']:3}  "
        f"HTTP p50 {row['http_p50_ms']:7.1f} ms (p90 {row['http_p90_ms']:7.1f})  "
        f"in-process p50 {row['in_process_p50_ms']:7.1f} ms (p90 {row['in_process_p90_ms']:7.1f}), "
        f"from a file {row['in_process_from_file_p50_ms']:7.1f}  "
        f"worker p50 {row['worker_p50_ms']:7.1f} ms (rest {row['transfer_p50_ms']:5.1f})  "
        f"overhead {row['overhead']:+6.1%} (vs from a file {row['overhead_vs_from_file']:+6.1%})",
        flush=True,
    )
    return row


def _same_verdict(label: str, http_body: bytes, local_body: bytes) -> None:
    """Both sides must reach the same verdict, or the comparison measures different work."""
    remote, here = json.loads(http_body), json.loads(local_body)
    for key in ("indication", "document"):
        if remote[key] != here[key]:
            raise RuntimeError(f"{label}: {key} differs: HTTP {remote[key]!r}, in-process {here[key]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per size")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    results = []
    with running_services() as services, tempfile.TemporaryDirectory(prefix="esign-bench-") as tmp:
        server = start_server(
            Path(tmp),
            services.pki,
            ESIGN_VERIFY_WORKERS="",  # unset: the default pool (the cores shared among uvicorn workers)
            ESIGN_MAX_UPLOAD_BYTES="",  # the default 50 MiB
            ESIGN_RATE_PER_MINUTE="100000000",
            ESIGN_RATE_BURST="1000000",
        )
        try:
            _one_page, _plain, sealed = asyncio.run(sealed_documents(server))
            local = in_process(Path(tmp) / "demo-trust")
            for label, pdf in sealed.items():
                spooled = Path(tmp) / "document.pdf"
                spooled.write_bytes(pdf)
                results.append(measure(label, pdf, spooled, server, local, args.seconds))
        finally:
            stop_server(server)
    write_json(args.json, results)


if __name__ == "__main__":
    main()
