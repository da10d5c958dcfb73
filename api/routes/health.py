"""Liveness, readiness and metrics: the endpoints a load balancer and Prometheus poll."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from api.deps import Runtime, RuntimeDep
from api.metrics import CONTENT_TYPE_LATEST, batch_exposition, exposition
from api.problems import problems
from esign.errors import ErrorCode, EsignError
from keystore import jobs

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    keystore: str


@router.get("/healthz", summary="The process is alive")
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", summary="The database and the keystore are reachable", responses=problems())
async def readyz(runtime: RuntimeDep) -> Readiness:
    await run_in_threadpool(_check_ready, runtime)
    return Readiness(status="ready", database="ok", keystore="ok")


def _check_ready(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        session.execute(text("SELECT 1"))
    keystore = Path(runtime.settings.keystore_dir)
    if not keystore.is_dir():
        raise EsignError(ErrorCode.KEYSTORE_OFFLINE, detail=f"{keystore} is not a directory")


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics(runtime: RuntimeDep) -> Response:
    try:
        batches = batch_exposition(await run_in_threadpool(jobs.counts, runtime.db))
    except EsignError:  # the database is away: the process's own metrics still answer
        batches = b""
    return Response(exposition() + batches, media_type=CONTENT_TYPE_LATEST)
