"""Prometheus metrics: request rate and latency per route and status, verdicts, seals, queue depth.

Routes are labelled by their template (``/v1/seals/{code}/apply``), never by the raw path, so a
client cannot blow up the label space with made-up URLs.

With several uvicorn workers a scrape lands on one of them, which alone would show a fraction of
the traffic; so ``esign serve --workers N`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory
before the workers start, every worker writes its samples there (prometheus-client's multiprocess
mode, chosen by that variable when prometheus_client is imported) and a scrape sums all of them.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

__all__ = [
    "CONTENT_TYPE_LATEST",
    "QUEUE_DEPTH",
    "REQUESTS",
    "REQUEST_SECONDS",
    "SEALS_APPLIED",
    "VERIFICATIONS",
    "batch_exposition",
    "exposition",
    "forget_this_process",
]

REQUESTS = Counter("esign_http_requests_total", "HTTP requests", ["method", "route", "status"])
REQUEST_SECONDS = Histogram(
    "esign_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
VERIFICATIONS = Counter(
    "esign_verifications_total", "Documents verified, by overall indication", ["indication"]
)
SEALS_APPLIED = Counter("esign_seals_applied_total", "Seals applied, by seal code", ["seal"])
# across processes the depth that matters is the total of the live workers' queues
QUEUE_DEPTH = Gauge(
    "esign_worker_queue_depth",
    "Jobs running or waiting in a worker pool",
    ["pool"],
    multiprocess_mode="livesum",
)

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


def exposition() -> bytes:
    if not os.environ.get(MULTIPROC_DIR):
        return generate_latest()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def batch_exposition(counts: dict[str, int]) -> bytes:
    """Batch documents by state, read from the database at scrape time.

    Workers on other machines seal them, so no process's own counter could show the progress;
    the database holds it for every node alike.
    """
    from prometheus_client.core import GaugeMetricFamily

    family = GaugeMetricFamily("esign_batch_documents", "Batch documents, by state", labels=["state"])
    for state, count in counts.items():
        family.add_metric([state], count)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot([family]))
    return generate_latest(registry)


class _Snapshot:
    def __init__(self, families: list[object]) -> None:
        self._families = families

    def collect(self) -> list[object]:
        return self._families


def forget_this_process() -> None:
    """Drop this worker's live gauges, so a stopped worker's queue no longer counts in the sum."""
    if os.environ.get(MULTIPROC_DIR):
        multiprocess.mark_process_dead(os.getpid())
