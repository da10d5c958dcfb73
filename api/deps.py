"""What every route needs, as FastAPI dependencies: the process's runtime and the authenticated caller.

A recently checked key is answered on the event loop from the authenticator's memory; only a new
key (scrypt) or a due re-read of the client row goes to the thread pool, so neither blocks the loop
and the common request pays no thread hop.

FastAPI reads and parses a request body before it runs any dependency, so ``api.guard`` calls the
same caller dependencies first, before one byte of the body is read; the caller is identified (and
its rate-limit bucket charged) once per request, and the route's own dependency gets that answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.auth import Authenticator
from api.ratelimit import Limiter, key_bucket
from api.settings import Settings
from api.workers import WorkerPool
from esign.errors import ErrorCode, EsignError
from keystore.authz import Principal
from keystore.db import Database
from keystore.keys import KeyStore
from keystore.service import SealService

__all__ = [
    "Caller",
    "MaybeCaller",
    "Runtime",
    "RuntimeDep",
    "bearer",
    "get_runtime",
    "optional_caller",
    "require_caller",
]


@dataclass
class Runtime:
    """One per process, built by the app's lifespan."""

    settings: Settings
    db: Database
    keys: KeyStore
    service: SealService
    verify_pool: WorkerPool
    seal_pool: WorkerPool
    limiter: Limiter
    authenticator: Authenticator


async def get_runtime(request: Request) -> Runtime:
    """``async`` only so that FastAPI calls it on the loop: a plain ``def`` would cost a thread hop."""
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer esk_…`")
#: the scope key holding the identified caller (a Principal, or None for a request without a key)
_IDENTIFIED = "esign.caller"


async def _identify(request: Request, runtime: Runtime, token: str | None) -> Principal | None:
    """Rate-limit, then authenticate, once per request; a failed key also spends from the address's
    bucket (guessing costs)."""
    if _IDENTIFIED in request.scope:
        return request.scope[_IDENTIFIED]
    principal = await _authenticate(request, runtime, token)
    request.scope[_IDENTIFIED] = principal
    return principal


async def _authenticate(request: Request, runtime: Runtime, token: str | None) -> Principal | None:
    address = request.client.host if request.client else "unknown"
    if token is None:
        runtime.limiter.take(f"ip:{address}")
        return None
    runtime.limiter.take(key_bucket(token))
    try:
        principal = runtime.authenticator.fresh(token) or await run_in_threadpool(
            runtime.authenticator.principal, token
        )
    except EsignError:
        runtime.limiter.take(f"ip:{address}")
        raise
    request.state.client_name = principal.name
    return principal


async def require_caller(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    principal = await _identify(request, runtime, credentials.credentials if credentials else None)
    if principal is None:
        raise EsignError(ErrorCode.API_KEY_MISSING)
    return principal


async def optional_caller(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal | None:
    """The caller of an endpoint whose key requirement is configurable (``ESIGN_VERIFY_REQUIRES_KEY``)."""
    principal = await _identify(request, runtime, credentials.credentials if credentials else None)
    if principal is None and runtime.settings.verify_requires_key:
        raise EsignError(ErrorCode.API_KEY_MISSING)
    return principal


Caller = Annotated[Principal, Depends(require_caller)]
MaybeCaller = Annotated[Principal | None, Depends(optional_caller)]
