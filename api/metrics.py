"""Prometheus metrics: request rate and latency per route and status, verdicts, seals, queue depth.

Routes are labelled by their template (``/v1/seals/{code}/apply``), never by the raw path, so a
client cannot blow up the label space with made-up URLs. With several uvicorn workers each process
counts its own requests; scrape them through ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's
multiprocess mode) or run one worker per container.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

__all__ = [
    "CONTENT_TYPE_LATEST",
    "QUEUE_DEPTH",
    "REQUESTS",
    "REQUEST_SECONDS",
    "SEALS_APPLIED",
    "VERIFICATIONS",
    "exposition",
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
QUEUE_DEPTH = Gauge("esign_worker_queue_depth", "Jobs running or waiting in a worker pool", ["pool"])


def exposition() -> bytes:
    return generate_latest()
