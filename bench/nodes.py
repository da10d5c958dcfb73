"""Sealing throughput of 1 vs 2 API nodes on one PostgreSQL, and the ceiling of the audit chain's lock.

    PYTHONPATH=. .venv/bin/python bench/nodes.py --seconds 10 --clients 8
    ESIGN_BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test (the default)

Three measurements in one run, so they see the same machine:

1. seals per second through one node (``esign serve --no-demo``, rate limits shared in Redis when
   ``ESIGN_BENCH_REDIS_URL`` is set), N clients sealing one-page documents;
2. the same N clients spread over two nodes on the same database: the ratio 2 nodes ÷ 1 node;
3. audit appends per second alone — N threads, each appending ``seal.applied`` records in its own
   transaction under the chain's global advisory lock, nothing else — the most any number of nodes
   could seal while every seal takes that lock.

If (3) is far above (1) and (2), the lock does not cap throughput: signing does (CPU), and more
nodes on more machines add seals per second until (3) is reached. The load generator runs on the
same machine as the nodes, so on a small machine these numbers are a floor.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixtures.pki import start_services
from keystore import audit
from keystore.db import Database, normalise_url
from tests.api_server import Server, prepare, start_node, stop_server
from tests.keystore_fixtures import small_pdf

POSTGRES = os.environ.get("ESIGN_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def schema() -> Iterator[str]:
    """A fresh schema of the benchmark database, dropped afterwards."""
    base = normalise_url(POSTGRES)
    name = f"esign_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


def seal_rate(nodes: list[Server], clients: int, seconds: float) -> float:
    """Seals per second of ``clients`` threads, each client's requests going round the nodes."""
    pdf = small_pdf("bench: sealing through the nodes")
    https = [node.client("a-sealer") for node in nodes]
    stop = time.monotonic() + seconds
    done = itertools.count()

    def client(n: int) -> None:
        for request in itertools.count(n):
            if time.monotonic() >= stop:
                return
            files = {"file": ("doc.pdf", pdf, "application/pdf")}
            response = https[request % len(https)].post("/v1/seals/HZAMR-01/apply", files=files)
            response.raise_for_status()
            next(done)

    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    elapsed = time.monotonic() - started
    for http in https:
        http.close()
    return (next(done)) / elapsed


def append_rate(db_url: str, threads: int, seconds: float) -> float:
    """Audit appends per second under the chain lock, ``threads`` at a time, nothing else done."""
    db = Database(db_url)
    stop = time.monotonic() + seconds
    counted = itertools.count()
    payload = {"sha256_before": "0" * 64, "sha256_after": "1" * 64, "level": "B-B", "certification": "none"}

    def appender() -> None:
        while time.monotonic() < stop:
            with db.statements() as connection:
                audit.append(connection, actor="bench", action="seal.applied", seal_code="HZAMR-01",
                             request_id=uuid.uuid4().hex, payload=payload)  # fmt: skip
            next(counted)

    started = time.monotonic()
    workers = [threading.Thread(target=appender) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    db.dispose()
    return next(counted) / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per phase")
    parser.add_argument("--clients", type=int, default=8, help="concurrent sealing clients")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    services = start_services(0)
    try:
        with tempfile.TemporaryDirectory(prefix="esign-bench-nodes-") as tmp, schema() as db_url:
            env, keys = prepare(Path(tmp), services.pki, database_url=db_url)
            env.update(
                ESIGN_RATE_PER_MINUTE="6000000",
                ESIGN_RATE_BURST="100000",
                ESIGN_SEAL_WORKERS="4",
                ESIGN_QUEUE_LIMIT="256",
                ESIGN_RATE_STORE=os.environ.get("ESIGN_BENCH_REDIS_URL", ""),
            )
            nodes = [start_node(Path(tmp), env, keys)]
            try:
                seal_rate(nodes, 2, 1.0)  # warm-up: key cache, pools, connections
                one = seal_rate(nodes, args.clients, args.seconds)
                nodes.append(start_node(Path(tmp), env, keys))
                seal_rate(nodes[1:], 2, 1.0)
                two = seal_rate(nodes, args.clients, args.seconds)
            finally:
                for node in nodes:
                    stop_server(node)
            lock = append_rate(db_url, args.clients, args.seconds)
            single = append_rate(db_url, 1, args.seconds)
    finally:
        services.stop()
    results = {
        "cpus": os.cpu_count(),
        "clients": args.clients,
        "seals_per_s_1_node": round(one, 2),
        "seals_per_s_2_nodes": round(two, 2),
        "ratio_2_to_1": round(two / one, 2),
        "audit_appends_per_s_alone": round(lock, 1),
        "audit_appends_per_s_one_thread": round(single, 1),
        "lock_headroom": round(lock / max(one, two), 1),
        "load_average_1min": os.getloadavg()[0],
    }
    print(f"1 node   {one:8.2f} seals/s   ({args.clients} clients, {os.cpu_count()} cores)")
    print(f"2 nodes  {two:8.2f} seals/s   ratio {two / one:.2f}")
    print(f"audit chain alone {lock:8.1f} appends/s under the global lock ({single:.1f}/s from one thread): "
          f"{lock / max(one, two):.1f}× the sealing rate; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
