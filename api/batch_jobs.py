"""Batch sealing jobs and the queues that run them: in this process by default, on Celery with a broker.

One job seals one document (:func:`seal_document`); a job is two ids, the document lives in the
database (``keystore.jobs``), so any worker on any machine can run it and running it twice changes
nothing. Without ``ESIGN_BROKER_URL`` the API process runs the jobs itself on a few threads
(:class:`InProcessQueue`: SQLite, ``./tasks run``, no other service) and resumes unfinished ones
at start; with a broker the API only publishes them (:class:`CeleryQueue`) and ``esign worker``
processes on any machine run them (``api.celery_app``).

A refusal (not a PDF, seal suspended …) is the document's outcome; a 503 refusal (database, TSA,
keystore or broker briefly unavailable) is retried, and recorded as the outcome only once the
retries are spent.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from typing import Protocol

from api.seal_options import parse_apply_options
from api.settings import Settings
from esign.errors import ErrorCode, EsignError
from esign.seal.pades import SealOptions
from esign.sync_bridge import run_sync
from keystore import idempotency, jobs
from keystore.service import SealService

__all__ = [
    "MAX_ATTEMPTS",
    "BatchQueue",
    "InProcessQueue",
    "batch_queue",
    "give_up",
    "is_transient",
    "seal_document",
]

log = logging.getLogger("esign.batch")

#: deliveries of one job before a transient failure becomes its outcome
MAX_ATTEMPTS = 6


class BatchQueue(Protocol):
    def submit(self, batch_id: str, digests: list[str]) -> None:
        """Queue one job per document; raises ``BACKEND_UNAVAILABLE`` when that cannot be done."""

    def close(self) -> None: ...


def is_transient(error: Exception) -> bool:
    """Worth another delivery: a 503 refusal, or anything unexpected (a driver's own error)."""
    return not isinstance(error, EsignError) or error.code.http_status == 503


async def seal_document(service: SealService, batch_id: str, sha256: str) -> str:
    """Bring one document of a batch to ``sealed`` or ``failed``; says which (or that it already was).

    Transient errors propagate, for the queue to deliver the job again.
    """
    job = await asyncio.to_thread(jobs.job, service.db, batch_id, sha256)
    if job is None or job.state != "pending":
        return job.state if job else "gone"
    key = jobs.request_key(batch_id, sha256)
    try:
        who = await asyncio.to_thread(jobs.principal, service.db, job.client)
        options = parse_apply_options(job.options)
        await asyncio.to_thread(_refuse_lost_document, service, who.name, key, job, options)
        result = await service.aapply(
            who, job.seal_code, job.pdf, options, request_id=key, idempotency_key=key
        )
    except EsignError as exc:
        if is_transient(exc):
            raise
        await asyncio.to_thread(jobs.mark_failed, service.db, batch_id, sha256, exc)
        return "failed"
    await asyncio.to_thread(jobs.mark_sealed, service.db, batch_id, sha256, result.audit_seq, result.pdf)
    return "sealed"


def _refuse_lost_document(
    service: SealService, client: str, key: str, job: jobs.Job, options: SealOptions
) -> None:
    """A record whose kept document has expired (``ESIGN_IDEMPOTENCY_TTL_S``) must not be sealed twice."""
    if not jobs.recorded(service.db, key):
        return
    wanted = idempotency.fingerprint(job.seal_code, options, job.pdf)
    with service.db.statements(read_only=True) as connection:
        kept = idempotency.find(connection, client, key, wanted, service.settings.idempotency_ttl_s)
    if kept is None:
        detail = "sealed and recorded, but the kept document expired before the batch finished"
        raise EsignError(ErrorCode.SIGNING_FAILED, detail=detail)


def give_up(service: SealService, batch_id: str, sha256: str, error: Exception) -> None:
    """The retries are spent: the last error becomes the document's outcome."""
    if not isinstance(error, EsignError):
        log.error("batch %s document %s: %s", batch_id, sha256, error, exc_info=error)
        error = EsignError(ErrorCode.SIGNING_FAILED, detail=type(error).__name__)
    jobs.mark_failed(service.db, batch_id, sha256, error)


class InProcessQueue:
    """Jobs on a few daemon threads of this process: the embedded default (no broker, no worker).

    At start it queues every pending document of the database, so a batch interrupted by a stop or
    a kill of the server resumes where it was; several processes doing so on one database seal
    nothing twice (the Idempotency-Key), they only race for the same documents.
    """

    def __init__(self, service: SealService, threads: int, retry_after_s: float = 2.0) -> None:
        self._service = service
        self._retry_after_s = retry_after_s
        self._queue: queue.Queue[tuple[str, str, int] | None] = queue.Queue()
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name=f"esign-batch-{n}", daemon=True) for n in range(threads)
        ]
        for batch_id, sha256 in jobs.pending_jobs(service.db):
            self._queue.put((batch_id, sha256, 1))
        for thread in self._threads:
            thread.start()

    def submit(self, batch_id: str, digests: list[str]) -> None:
        for sha256 in digests:
            self._queue.put((batch_id, sha256, 1))

    def close(self) -> None:
        """Stop after the running jobs; the queued ones stay pending in the database for the next start."""
        self._stopping.set()
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=30)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None and not self._stopping.is_set():
            batch_id, sha256, attempt = item
            try:
                run_sync(seal_document(self._service, batch_id, sha256))
            except Exception as exc:  # a job must never take its thread down
                if attempt >= MAX_ATTEMPTS or not is_transient(exc):
                    give_up(self._service, batch_id, sha256, exc)
                else:
                    time.sleep(self._retry_after_s)
                    self._queue.put((batch_id, sha256, attempt + 1))


def batch_queue(settings: Settings, service: SealService) -> BatchQueue:
    """Celery when ``ESIGN_BROKER_URL`` names a broker, else this process's own threads."""
    if settings.broker_url:
        from api.celery_app import CeleryQueue

        return CeleryQueue(settings.broker_url, settings.broker_queue)
    return InProcessQueue(service, settings.batch_threads)
