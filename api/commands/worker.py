"""``esign worker``: run batch sealing jobs from the broker (``ESIGN_BROKER_URL``) on this machine.

Start as many as the machines allow; each needs the same ``ESIGN_*`` settings as the API nodes
(database, keystore or HSM, TSA, audit key). Jobs run on threads (``-c``): signing happens in C
and the database round-trips wait, so threads keep the cores busy without a process per job, and a
SIGKILL takes the whole worker — never a half-orphaned child still sealing.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import TYPE_CHECKING, Any

import click

from api.commands.keystore import reports_errors

if TYPE_CHECKING:
    from keystore.db import Database
    from keystore.service import SealService


@click.command()
@click.option(
    "-c", "--concurrency", default=2, show_default=True, type=click.IntRange(1, 64), help="Job threads."
)
@click.option("--loglevel", default="INFO", show_default=True, help="Celery log level.")
@click.option(
    "--requeue-pending",
    is_flag=True,
    help="First queue a job for every document still pending (after the broker lost its queue).",
)
@reports_errors
def worker(concurrency: int, loglevel: str, requeue_pending: bool) -> None:
    """Seal batch documents from the queue (needs ESIGN_BROKER_URL; without one `serve` runs them)."""
    from api.celery_app import TASK, celery_app
    from api.settings import Settings
    from esign.errors import ErrorCode, EsignError
    from keystore.db import Database

    settings = Settings()
    if not settings.broker_url:
        detail = "unset: without a broker `esign serve` runs batch jobs in its own process"
        raise EsignError(ErrorCode.CONFIG_INVALID, setting="ESIGN_BROKER_URL", detail=detail)
    db = Database(settings.database_url)  # a missing driver: one line, before Celery starts
    if requeue_pending:
        _requeue(db, settings.broker_url, settings.broker_queue)
    db.dispose()
    app = celery_app(settings.broker_url, settings.broker_queue)
    app.task(name=TASK, bind=True, max_retries=None)(_seal_task)
    hostname = f"esign-{os.getpid()}@{socket.gethostname()}"
    app.worker_main(
        ["worker", "-P", "threads", "-c", str(concurrency), "-Q", settings.broker_queue, "-n", hostname,
         "-l", loglevel, "--without-gossip", "--without-mingle"]
    )  # fmt: skip


def _requeue(db: Database, broker_url: str, queue: str) -> None:
    """Jobs for every pending document: a document already being sealed elsewhere is not sealed twice."""
    from api.celery_app import CeleryQueue
    from keystore import jobs

    pending: dict[str, list[str]] = {}
    for batch_id, sha256 in jobs.pending_jobs(db):
        pending.setdefault(batch_id, []).append(sha256)
    publisher = CeleryQueue(broker_url, queue)
    for batch_id, digests in pending.items():
        publisher.submit(batch_id, digests)
    publisher.close()
    click.echo(f"esign worker: queued {sum(map(len, pending.values()))} pending documents", err=True)


_service: SealService | None = None
_service_lock = threading.Lock()


def _seal_task(task: Any, batch_id: str, sha256: str) -> str:
    """One document; a transient failure goes back to the broker with a backoff, up to MAX_ATTEMPTS."""
    from api.batch_jobs import MAX_ATTEMPTS, give_up, is_transient, seal_document
    from esign.sync_bridge import run_sync

    service = _worker_service()
    try:
        return run_sync(seal_document(service, batch_id, sha256))
    except Exception as exc:
        if task.request.retries + 1 >= MAX_ATTEMPTS or not is_transient(exc):
            give_up(service, batch_id, sha256, exc)
            return "failed"
        raise task.retry(exc=exc, countdown=min(60, 2**task.request.retries)) from None


def _worker_service() -> SealService:
    """Built once per worker process, on the first job: key cache and audit settings as in a node."""
    global _service
    with _service_lock:
        if _service is None:
            from api.app import seal_service
            from api.settings import Settings

            _service = seal_service(Settings())
        return _service
