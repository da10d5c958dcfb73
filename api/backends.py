"""Check the configured shared services before uvicorn starts, so a bad setting is one clear line.

Inside uvicorn a failing lifespan prints a traceback per worker and the node keeps restarting; the
operator needs the setting's name and what is wrong with it instead. ``esign serve`` and
``esign worker`` call :func:`probe` first: the database driver, the rate-limit store and (when
configured) the batch broker are opened once and closed again.
"""

from __future__ import annotations

from api.ratelimit import rate_limiter
from api.settings import Settings
from keystore.db import Database

__all__ = ["probe"]


def probe(settings: Settings) -> None:
    """Raise the typed error of the first configured backend that cannot be used."""
    Database(settings.database_url).dispose()
    rate_limiter(settings.rate_store, settings.rate_per_minute, settings.rate_burst)
    if settings.broker_url:
        from api.celery_app import CeleryQueue

        CeleryQueue(settings.broker_url, settings.broker_queue).close()
