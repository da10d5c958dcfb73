"""Batch jobs on Celery: the API nodes publish, ``esign worker`` processes on any machine seal.

Why Celery on RabbitMQ (docs/deployment.md): a job is acknowledged only *after* it ran
(``acks_late``), one at a time per worker thread (prefetch 1); a worker killed with SIGKILL drops
its broker connection and RabbitMQ hands its unacknowledged job to another worker at once — no
visibility timeout to wait out, no stalled-job sweeper to run. A job delivered twice is harmless
(``api.batch_jobs.seal_document``), so at-least-once delivery is all it needs.
"""

from __future__ import annotations

from typing import Any

from esign.errors import ErrorCode, EsignError

__all__ = ["TASK", "CeleryQueue", "celery_app"]

TASK = "esign.batch.seal_document"


def celery_app(broker_url: str, queue: str) -> Any:
    """The Celery application both sides share (its configuration is the delivery guarantee)."""
    try:
        from celery import Celery
    except ImportError:
        raise EsignError(ErrorCode.DRIVER_MISSING, backend="Celery", extra="esign[celery]") from None
    app = Celery("esign", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=queue,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=5,
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=True,
    )
    return app


class CeleryQueue:
    """The API side: one message per document, published in one connection."""

    def __init__(self, broker_url: str, queue: str) -> None:
        self._queue = queue
        self._app = celery_app(broker_url, queue)
        try:
            with self._app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1)
        except Exception as exc:  # kombu raises the transport's own errors
            detail = f"the broker does not answer ({type(exc).__name__})"
            raise EsignError(ErrorCode.CONFIG_INVALID, setting="ESIGN_BROKER_URL", detail=detail) from None

    def submit(self, batch_id: str, digests: list[str]) -> None:
        try:
            with self._app.producer_or_acquire() as producer:
                for sha256 in digests:
                    self._app.send_task(TASK, args=(batch_id, sha256), queue=self._queue, producer=producer)
        except Exception:  # kombu raises the transport's own errors
            raise EsignError(ErrorCode.BACKEND_UNAVAILABLE, backend="broker") from None

    def close(self) -> None:
        self._app.close()
