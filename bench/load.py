"""Bounded load run of the HTTP service on loopback, against the in-process verifier in the same run.

    .venv/bin/python bench/load.py --clients 4 --seconds 10 --workers 1 2

For each uvicorn worker count: verification with one client (latency, to compare with the
in-process ``esign.verify`` on the same document — the HTTP overhead ratio at p50), verification
with N clients and sealing with N clients (requests/second, p50/p95/p99, errors), and the resident
memory of the whole server process tree before and after. The load generator runs on the same
machine, so on 2 cores it competes with the server: the numbers are a floor, not a ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from esign.policy import ValidationPolicy
from esign.verify import verify
from fixtures.pki import TestPKI, start_services
from tests.api_server import Server, start_server, stop_server
from tests.keystore_fixtures import small_pdf


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


def _percentiles(name: str, clients: int, latencies: list[float], errors: int, seconds: float) -> Phase:
    ordered = sorted(latencies) or [0.0]
    cuts = statistics.quantiles(ordered, n=100) if len(ordered) > 1 else ordered * 99
    return Phase(
        name=name,
        clients=clients,
        requests=len(latencies),
        errors=errors,
        rps=round(len(latencies) / seconds, 2),
        p50_ms=round(cuts[49] * 1000, 1),
        p95_ms=round(cuts[94] * 1000, 1),
        p99_ms=round(cuts[98] * 1000, 1),
    )


async def _load(server: Server, key: str, path: str, pdf: bytes, clients: int, seconds: float) -> Phase:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {server.keys[key]}"}

    async def client() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=120) as http:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                response = await http.post(path, files={"file": ("doc.pdf", pdf, "application/pdf")})
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    return _percentiles(f"http {path}", clients, latencies, errors, time.monotonic() - started)


def _in_process(pdf: bytes, pki: TestPKI, seconds: float) -> Phase:
    policy = ValidationPolicy.preset("default", trust_roots=[pki.root])
    verify(pdf, policy)  # imports and caches, like a warmed-up worker
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        verify(pdf, policy)
        latencies.append(time.perf_counter() - started)
    return _percentiles("in-process esign.verify", 1, latencies, 0, seconds)


def _tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants (uvicorn workers, verification workers)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        pending.extend(int(child) for child in children)
    return total


def run(clients: int, seconds: float, worker_counts: list[int]) -> dict:
    services = start_services(0)
    pki = services.pki
    results: dict = {"clients": clients, "seconds": seconds, "runs": []}
    try:
        with tempfile.TemporaryDirectory(prefix="esign-bench-") as tmp:
            for workers in worker_counts:
                server = start_server(
                    Path(tmp, f"w{workers}"),
                    pki,
                    uvicorn_workers=workers,
                    ESIGN_VERIFY_WORKERS=str(max(1, 2 // workers)),
                    ESIGN_QUEUE_LIMIT="64",
                    ESIGN_RATE_PER_MINUTE="100000000",
                    ESIGN_RATE_BURST="1000000",
                )
                try:
                    results["runs"].append(asyncio.run(_one_config(server, pki, workers, clients, seconds)))
                finally:
                    stop_server(server)
    finally:
        services.stop()
    return results


async def _one_config(server: Server, pki: TestPKI, workers: int, clients: int, seconds: float) -> dict:
    document = small_pdf("esign bench one-page document")
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as http:
        sealed = (
            await http.post(
                "/v1/seals/HZAMR-01/apply",
                headers={"Authorization": f"Bearer {server.keys['demo']}"},
                files={"file": ("doc.pdf", document, "application/pdf")},
            )
        ).content
    await _load(server, "demo", "/v1/verify", sealed, clients, 2)  # warm every worker
    rss_before = _tree_rss_kib(server.process.pid)
    single = await _load(server, "demo", "/v1/verify", sealed, 1, seconds)
    local = await asyncio.to_thread(_in_process, sealed, pki, seconds)
    many = await _load(server, "demo", "/v1/verify", sealed, clients, seconds)
    seals = await _load(server, "a-sealer", "/v1/seals/HZAMR-01/apply", document, clients, seconds)
    rss_after = _tree_rss_kib(server.process.pid)
    return {
        "uvicorn_workers": workers,
        "phases": [asdict(p) for p in (local, single, many, seals)],
        "http_overhead_p50": round(single.p50_ms / local.p50_ms - 1, 3) if local.p50_ms else None,
        "rss_kib_before": rss_before,
        "rss_kib_after": rss_after,
    }


def _print(results: dict) -> None:
    print(f"clients={results['clients']} seconds={results['seconds']}")
    for config in results["runs"]:
        print(f"\nuvicorn workers: {config['uvicorn_workers']}")
        print(f"{'phase':34} {'c':>3} {'req':>6} {'err':>4} {'rps':>8} {'p50':>8} {'p95':>8} {'p99':>8}")
        for p in config["phases"]:
            print(
                f"{p['name']:34} {p['clients']:>3} {p['requests']:>6} {p['errors']:>4} {p['rps']:>8} "
                f"{p['p50_ms']:>8} {p['p95_ms']:>8} {p['p99_ms']:>8}"
            )
        print(f"HTTP overhead at p50 (1 client vs in-process): {config['http_overhead_p50']:+.1%}")
        print(f"server RSS: {config['rss_kib_before'] // 1024} MiB → {config['rss_kib_after'] // 1024} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (N)")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each phase (T)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="uvicorn worker counts")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = run(args.clients, args.seconds, args.workers)
    _print(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
