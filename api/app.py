"""The FastAPI application factory: ``uvicorn api.app:create_app --factory``.

Everything stateful (database engine, key cache, worker pools) is built in the lifespan, once per
uvicorn worker process, from :class:`api.settings.Settings` — so N workers are N independent
copies that share only the database and the keystore directory.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pyhanko.sign.timestamps import HTTPTimeStamper

from api.auth import Authenticator
from api.batch_jobs import batch_queue
from api.deps import Runtime
from api.logging import configure_logging
from api.metrics import forget_this_process
from api.middleware import BodyDeadline, RequestEnvelope
from api.problems import install_problem_handlers
from api.ratelimit import rate_limiter
from api.retention import prune_batches_daily
from api.routes import audit, batches, clients, health, seals, verify
from api.settings import Settings
from api.uploads import Intake
from api.workers import process_pool, thread_pool
from keystore.db import Database
from keystore.service import SealService

__all__ = ["create_app", "seal_service"]

WEB = Path(__file__).parent / "web"

DESCRIPTION = """\
Unified electronic seals (电子印章) for PDFs and verification of reliable electronic signatures
(《电子签名法》第十三条, ETSI EN 319 102-1).

Every error is an RFC 9457 `application/problem+json` body with a stable `code`, `title`,
`detail` (English) and `detail_zh` (中文). Authenticate with `Authorization: Bearer <API key>`.
"""


def seal_service(settings: Settings) -> SealService:
    """The sealing service of a node or of an ``esign worker``: one configuration for both."""
    db = Database(settings.database_url)
    timestamper = HTTPTimeStamper(settings.tsa_url) if settings.tsa_url else None
    # audit settings and the checkpoint signer (ESIGN_AUDIT_KEY) exactly as the CLI configures them
    return SealService.from_env(db, timestamper=timestamper)


def build_runtime(settings: Settings) -> Runtime:
    service = seal_service(settings)
    db = service.db
    trust_ders = tuple(cert.dump() for cert in settings.trust_roots)
    extra_ders = tuple(cert.dump() for cert in settings.offered_certs)
    return Runtime(
        settings=settings,
        db=db,
        keys=service.keys,
        service=service,
        verify_pool=process_pool(
            "verify", settings.verify_processes, settings.queue_limit, trust_ders, extra_ders
        ),
        seal_pool=thread_pool("seal", settings.seal_workers, settings.queue_limit),
        limiter=rate_limiter(settings.rate_store, settings.rate_per_minute, settings.rate_burst),
        authenticator=Authenticator(db),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = build_runtime(settings)
        app.state.runtime = runtime
        app.state.intake = Intake.from_settings(settings)
        app.state.batches = batch_queue(settings, runtime.service)
        await runtime.verify_pool.start()
        pruning = asyncio.create_task(prune_batches_daily(runtime.db, settings.batch_retention_days))
        try:
            yield
        finally:
            pruning.cancel()
            app.state.batches.close()
            runtime.verify_pool.shutdown()
            runtime.seal_pool.shutdown()
            app.state.intake.close()  # after the pools: their last jobs may still read a spooled upload
            runtime.db.dispose()
            forget_this_process()

    app = FastAPI(
        title="esign",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # Swagger UI would load from a CDN; the schema is at /openapi.json
        redoc_url=None,
    )
    install_problem_handlers(app)
    app.add_middleware(
        BodyDeadline,
        seconds=settings.upload_timeout_s,
        grace_s=settings.upload_grace_s,
        min_rate=settings.min_upload_rate,
    )
    app.add_middleware(RequestEnvelope)  # added last: the outermost, so it sees every error
    for module in (health, verify, batches, seals, audit, clients):  # batches first: seals has a catch-all
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=WEB), name="static")

    @app.get("/", include_in_schema=False)
    async def web_page() -> FileResponse:
        return FileResponse(WEB / "index.html", media_type="text/html; charset=utf-8")

    return app
