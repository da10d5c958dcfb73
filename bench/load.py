"""Bounded load run of the HTTP service on loopback, with realistic document sizes, per size.

    .venv/bin/python bench/load.py --clients 4 --seconds 10 --workers 1 2
    .venv/bin/python bench/load.py --soak 300 --workers 1        # memory over a 5-minute run

Intake systems send documents of every size, so the load phases send a mix (:data:`MIX`): six
60 KB documents, three of 1 MB and one of 10 MB in every ten requests (scanned pages, sealed by the
service first for verification), and report requests, errors (by status), p50/p95/p99 *per size*.
An earlier version sent only one-page documents, and its "0 errors" hid that every verification
above about 215 KB failed.

For each uvicorn worker count: first the HTTP overhead on a one-page document — HTTP
verifications (sent with httpx and with the standard library's ``http.client``) alternating with
in-process ``esign.verify.pipeline`` calls on the same document, so every side sees the same machine load
(on a shared 2-core machine a neighbour's burst would otherwise land on one side only); the
overhead is the ratio of the p50s, and the worker's own time from ``Server-Timing`` splits it.
Then verification of the mix with N clients and sealing of the mix with N clients, and the
resident memory of the whole server process tree before and after. ``--soak T`` instead runs N
clients, half verifying and half sealing the mix, for T seconds and samples the server's memory
every 10 s. The load generator runs on the same machine, so on 2 cores it competes with the
server: the numbers are a floor, not a ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from esign.policy import ValidationPolicy
from esign.verify.pipeline import verify
from fixtures.pki import TestPKI, start_services
from tests.api_server import Server, start_server, stop_server
from tests.keystore_fixtures import small_pdf
from tests.sized_documents import sized_pdf

#: (label, bytes, share of the requests out of 10): mostly forms, some scans, a few large files
MIX = (("60 KB", 60_000, 6), ("1 MB", 1_000_000, 3), ("10 MB", 10_000_000, 1))


@dataclass
class Phase:
    name: str
    clients: int
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    #: HTTP status → count, for the requests that were not 200
    statuses: dict[str, int] = field(default_factory=dict)


def _percentiles(
    name: str, clients: int, latencies: list[float], errors: Counter[int] | int, seconds: float
) -> Phase:
    statuses = errors if isinstance(errors, Counter) else Counter()
    ordered = sorted(latencies) or [0.0]
    cuts = statistics.quantiles(ordered, n=100) if len(ordered) > 1 else ordered * 99
    return Phase(
        name=name,
        clients=clients,
        requests=len(latencies),
        errors=errors if isinstance(errors, int) else errors.total(),
        rps=round(len(latencies) / seconds, 2),
        p50_ms=round(cuts[49] * 1000, 1),
        p95_ms=round(cuts[94] * 1000, 1),
        p99_ms=round(cuts[98] * 1000, 1),
        statuses={str(status): count for status, count in sorted(statuses.items())},
    )


async def _load(
    server: Server, key: str, path: str, documents: dict[str, bytes], clients: int, seconds: float
) -> list[Phase]:
    """N clients sending the :data:`MIX` of ``documents`` for ``seconds``: one phase per size, then all."""
    sequence = [label for label, _size, share in MIX for _ in range(share)]
    latencies: dict[str, list[float]] = {label: [] for label in documents}
    errors: dict[str, Counter[int]] = {label: Counter() for label in documents}
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {server.keys[key]}"}

    async def client(start: int) -> None:
        labels = itertools.islice(itertools.cycle(sequence), start, None)
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=300) as http:
            while time.monotonic() < deadline:
                label = next(labels)
                started = time.perf_counter()
                files = {"file": ("doc.pdf", documents[label], "application/pdf")}
                response = await http.post(path, files=files)
                if response.status_code == 200:
                    latencies[label].append(time.perf_counter() - started)
                else:
                    errors[label][response.status_code] += 1

    started = time.monotonic()
    await asyncio.gather(*(client(index * 3) for index in range(clients)))
    took = time.monotonic() - started
    phases = [
        _percentiles(f"http {path} {label}", clients, latencies[label], errors[label], took)
        for label in documents
    ]
    every = [latency for values in latencies.values() for latency in values]
    total = sum(errors.values(), Counter())
    return [*phases, _percentiles(f"http {path} all sizes", clients, every, total, took)]


def _paired(server: Server, pdf: bytes, pki: TestPKI, seconds: float) -> tuple[list[Phase], float]:
    """HTTP verifications and in-process verifications, alternately: the same machine load on each.

    Two clients send the same multipart request: httpx (what an integrator would use) and the
    standard library's ``http.client`` with the body encoded once (close to the wire: what is left
    is the service's own overhead). Returns the in-process phase, the two HTTP phases and the
    median time the server's worker spent (its ``Server-Timing`` header).
    """
    policy = ValidationPolicy.preset("default", trust_roots=[pki.root])
    verify(pdf, policy)  # imports and caches, like a warmed-up worker
    headers = {"Authorization": f"Bearer {server.keys['demo']}"}
    prepared = httpx.Request(
        "POST",
        f"{server.url}/v1/verify",
        headers=headers,
        files={"file": ("doc.pdf", pdf, "application/pdf")},
    )
    body = prepared.read()
    url = urlsplit(server.url)
    wire = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port)
    local: list[float] = []
    remote: dict[str, list[float]] = {"httpx": [], "http.client": []}
    worker: list[float] = []
    errors = dict.fromkeys(remote, 0)

    def timed(client: str, send: Callable[[], tuple[int, str]]) -> None:
        started = time.perf_counter()
        status, timing = send()
        if status == 200:
            remote[client].append(time.perf_counter() - started)
            worker.append(float(timing.partition("dur=")[2]) / 1000)
        else:
            errors[client] += 1

    def by_httpx() -> tuple[int, str]:
        response = session.post("/v1/verify", files={"file": ("doc.pdf", pdf, "application/pdf")})
        return response.status_code, response.headers.get("server-timing", "")

    def by_http_client() -> tuple[int, str]:
        wire.request("POST", "/v1/verify", body=body, headers=dict(prepared.headers))
        response = wire.getresponse()
        response.read()
        return response.status, response.getheader("server-timing", "")

    with httpx.Client(base_url=server.url, headers=headers, timeout=120) as session:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            timed("httpx", by_httpx)
            timed("http.client", by_http_client)
            started = time.perf_counter()
            verify(pdf, policy)
            local.append(time.perf_counter() - started)
    wire.close()
    phases = [_percentiles("in-process esign.verify.pipeline", 1, local, 0, sum(local))]
    for client, latencies in remote.items():
        phases.append(
            _percentiles(f"http /v1/verify ({client})", 1, latencies, errors[client], sum(latencies))
        )
    return phases, round(statistics.median(worker) * 1000, 1) if worker else 0.0


def _rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))


def _tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants (uvicorn workers, verification workers).

    Children are listed per thread (``task/<tid>/children``): the verification workers are started
    from a helper thread, so the main thread's list alone would miss them.
    """
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            total += _rss_kib(current)
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                pending.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                continue
    return total


def run(clients: int, seconds: float, worker_counts: list[int], soak: float | None) -> dict:
    services = start_services(0)
    pki = services.pki
    results: dict = {"clients": clients, "seconds": seconds, "runs": []}
    try:
        with tempfile.TemporaryDirectory(prefix="esign-bench-") as tmp:
            for workers in worker_counts:
                server = start_server(
                    Path(tmp, f"w{workers}"),
                    pki,
                    workers=workers,
                    ESIGN_VERIFY_WORKERS="",  # unset: the service shares the cores among its workers
                    ESIGN_QUEUE_LIMIT="64",
                    ESIGN_RATE_PER_MINUTE="100000000",
                    ESIGN_RATE_BURST="1000000",
                    ESIGN_MAX_UPLOAD_BYTES="",  # the default 50 MiB: the mix has 10 MB documents
                    ESIGN_UPLOADS_PER_CLIENT=str(max(8, clients)),  # the clients share one key
                )
                try:
                    measure = (
                        _soak(server, clients, soak)
                        if soak
                        else _one_config(server, pki, workers, clients, seconds)
                    )
                    results["runs"].append(asyncio.run(measure))
                finally:
                    stop_server(server)
    finally:
        services.stop()
    return results


async def _seal(http: httpx.AsyncClient, document: bytes) -> bytes:
    """``document`` sealed (PAdES B-B) by the demo seal, through the service."""
    response = await http.post(
        "/v1/seals/HZAMR-01/apply", files={"file": ("doc.pdf", document, "application/pdf")}
    )
    response.raise_for_status()
    return response.content


async def sealed_documents(server: Server) -> tuple[bytes, dict[str, bytes], dict[str, bytes]]:
    """A sealed one-page document (for the overhead phase), and the :data:`MIX` sizes plain and sealed."""
    plain = {label: sized_pdf(size) for label, size, _share in MIX}
    headers = {"Authorization": f"Bearer {server.keys['demo']}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=300) as http:
        one_page = await _seal(http, small_pdf("esign bench one-page document"))
        sealed = {label: await _seal(http, document) for label, document in plain.items()}
    return one_page, plain, sealed


async def _one_config(server: Server, pki: TestPKI, workers: int, clients: int, seconds: float) -> dict:
    one_page, plain, sealed = await sealed_documents(server)
    await _load(server, "demo", "/v1/verify", sealed, clients, 2)  # warm every worker
    rss_before = _tree_rss_kib(server.process.pid)
    paired, worker_ms = await asyncio.to_thread(_paired, server, one_page, pki, seconds)
    verifies = await _load(server, "demo", "/v1/verify", sealed, clients, seconds)
    seals = await _load(server, "a-sealer", "/v1/seals/HZAMR-01/apply", plain, clients, seconds)
    rss_after = _tree_rss_kib(server.process.pid)
    return {
        "uvicorn_workers": workers,
        "phases": [asdict(p) for p in (*paired, *verifies, *seals)],
        "http_overhead_p50": {p.name: round(p.p50_ms / paired[0].p50_ms - 1, 3) for p in paired[1:]},
        "worker_p50_ms": worker_ms,
        "rss_kib_before": rss_before,
        "rss_kib_after": rss_after,
    }


async def _soak(server: Server, clients: int, seconds: float, every: float = 10.0) -> dict:
    """Half the clients verifying, half sealing the mix, for ``seconds``; RSS every ``every`` s."""
    _one_page, plain, sealed = await sealed_documents(server)
    samples: list[tuple[float, int, int]] = []  # (seconds since start, main process KiB, process tree KiB)
    started = time.monotonic()
    sealers = max(1, clients - clients // 2)
    load = asyncio.gather(
        _load(server, "demo", "/v1/verify", sealed, max(1, clients // 2), seconds),
        _load(server, "a-sealer", "/v1/seals/HZAMR-01/apply", plain, sealers, seconds),
    )
    while not load.done():
        samples.append(_rss_sample(server, started))
        await asyncio.wait([load], timeout=every)
    verifies, seals = await load
    samples.append(_rss_sample(server, started))
    return {
        "uvicorn_workers": "soak",
        "phases": [asdict(p) for p in (*verifies, *seals)],
        "rss_samples": samples,
    }


def _rss_sample(server: Server, started: float) -> tuple[float, int, int]:
    pid = server.process.pid
    return round(time.monotonic() - started), _rss_kib(pid), _tree_rss_kib(pid)


def _print(results: dict) -> None:
    print(f"clients={results['clients']} seconds={results['seconds']}")
    for config in results["runs"]:
        print(f"\nuvicorn workers: {config['uvicorn_workers']}")
        print(f"{'phase':44} {'c':>3} {'req':>6} {'err':>4} {'rps':>8} {'p50':>8} {'p95':>8} {'p99':>8}")
        for p in config["phases"]:
            statuses = " ".join(f"{status}×{count}" for status, count in p["statuses"].items())
            print(
                f"{p['name']:44} {p['clients']:>3} {p['requests']:>6} {p['errors']:>4} {p['rps']:>8} "
                f"{p['p50_ms']:>8} {p['p95_ms']:>8} {p['p99_ms']:>8} {statuses}"
            )
        if "rss_samples" in config:
            _print_soak(config["rss_samples"])
            continue
        for name, overhead in config["http_overhead_p50"].items():
            print(f"HTTP overhead at p50, {name} vs in-process: {overhead:+.1%}")
        print(f"(the server's verification worker alone: p50 {config['worker_p50_ms']} ms)")
        print(f"server RSS: {config['rss_kib_before'] // 1024} MiB → {config['rss_kib_after'] // 1024} MiB")


def _print_soak(samples: list[tuple[float, int, int]]) -> None:
    print("RSS over the run (s: uvicorn process MiB / whole tree MiB):")
    print("  " + "  ".join(f"{t}s: {main // 1024}/{tree // 1024}" for t, main, tree in samples))
    for label, column in (("uvicorn process", 1), ("process tree", 2)):
        values = [sample[column] // 1024 for sample in samples]
        print(f"{label}: start {values[0]} MiB, end {values[-1]} MiB, max {max(values)} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (N)")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each phase (T)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="uvicorn worker counts")
    parser.add_argument(
        "--soak", type=float, metavar="T", help="memory run: mixed load for T seconds instead"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = run(args.clients, args.seconds, args.workers, args.soak)
    _print(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
