"""What every route needs, as FastAPI dependencies: the process's runtime and the authenticated caller.

The authentication dependencies are plain ``def`` functions on purpose: FastAPI runs them in its
thread pool, so the database round trip and the first scrypt check of a key stay off the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import Authenticator
from api.ratelimit import RateLimiter
from api.settings import Settings
from api.workers import WorkerPool
from esign.errors import ErrorCode, EsignError
from keystore.authz import Principal
from keystore.db import Database
from keystore.keys import KeyStore
from keystore.service import SealService

__all__ = ["Caller", "MaybeCaller", "Runtime", "RuntimeDep"]


@dataclass
class Runtime:
    """One per process, built by the app's lifespan."""

    settings: Settings
    db: Database
    keys: KeyStore
    service: SealService
    verify_pool: WorkerPool
    seal_pool: WorkerPool
    limiter: RateLimiter
    authenticator: Authenticator


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer esk_…`")


def _identify(request: Request, runtime: Runtime, token: str | None) -> Principal | None:
    """Rate-limit, then authenticate; a failed key also spends from the address's bucket (guessing costs)."""
    address = request.client.host if request.client else "unknown"
    if token is None:
        runtime.limiter.take(f"ip:{address}")
        return None
    runtime.limiter.take(f"key:{hash(token)}")
    try:
        principal = runtime.authenticator.principal(token)
    except EsignError:
        runtime.limiter.take(f"ip:{address}")
        raise
    request.state.client_name = principal.name
    return principal


def require_caller(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    principal = _identify(request, runtime, credentials.credentials if credentials else None)
    if principal is None:
        raise EsignError(ErrorCode.API_KEY_MISSING)
    return principal


def optional_caller(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller of an endpoint whose key requirement is configurable (``ESIGN_VERIFY_REQUIRES_KEY``)."""
    principal = _identify(request, runtime, credentials.credentials if credentials else None)
    if principal is None and runtime.settings.verify_requires_key:
        raise EsignError(ErrorCode.API_KEY_MISSING)
    return principal


Caller = Annotated[Principal, Depends(require_caller)]
MaybeCaller = Annotated[Principal | None, Depends(optional_caller)]
