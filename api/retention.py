"""Batch retention in the service: finished batches older than ``ESIGN_BATCH_RETENTION_DAYS`` go.

A batch keeps its uploads and its sealed documents in the database (``keystore.jobs``), so a
service that never deletes them grows without bound. Every serving process prunes once at start-up
and then once a day; several processes or nodes doing so on one database remove each batch once
(:func:`keystore.jobs.prune`), and ``esign batches prune`` does the same by hand.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from keystore import jobs
from keystore.db import Database

__all__ = ["DAY_S", "SERVICE_ACTOR", "prune_batches_daily"]

log = logging.getLogger("esign.batch")

DAY_S = 86_400.0
#: the actor of the ``batches.pruned`` audit records the service writes (the CLI writes ``operator``)
SERVICE_ACTOR = "service"


async def prune_batches_daily(db: Database, retention_days: int, every_s: float = DAY_S) -> None:
    """Prune now, then every ``every_s`` seconds, until cancelled; a failed run waits for the next."""
    while True:
        try:
            removed = await asyncio.to_thread(jobs.prune, db, SERVICE_ACTOR, timedelta(days=retention_days))
        except Exception:  # the database briefly away: tomorrow's run removes what today's could not
            log.warning("pruning finished batches failed", exc_info=True)
        else:
            if removed:
                log.info("pruned %d finished batches older than %d days", len(removed), retention_days)
        await asyncio.sleep(every_s)
