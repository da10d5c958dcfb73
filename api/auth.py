"""Bearer API keys → :class:`keystore.authz.Principal`, without paying scrypt on every request.

``keystore.clients.authenticate`` checks a key with a deliberately slow hash. The first successful
check of a key is remembered in this process by the key's SHA-256 (never the key itself); later
requests re-read the client row, so a revoked client or a changed role takes effect on the next
request in every worker, not when a cache expires.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from esign.errors import ErrorCode, EsignError
from keystore.authz import Principal
from keystore.clients import authenticate, principal_of
from keystore.db import Database
from keystore.models import Client

__all__ = ["Authenticator", "bearer_token"]

_MAX_REMEMBERED = 10_000


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None when absent or another scheme."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class Authenticator:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._known: OrderedDict[bytes, int] = OrderedDict()
        self._lock = threading.Lock()

    def principal(self, api_key: str) -> Principal:
        """Blocking (database, scrypt): call it from a worker thread."""
        if len(api_key) > 256:
            raise EsignError(ErrorCode.UNAUTHENTICATED)
        digest = hashlib.sha256(api_key.encode("utf-8", "replace")).digest()
        with self._lock:
            client_id = self._known.get(digest)
        with self.db.transaction() as session:
            if client_id is not None:
                client = session.get(Client, client_id)
                if client is not None and client.revoked_at is None:
                    return principal_of(client)
                self._forget(digest)
                raise EsignError(ErrorCode.UNAUTHENTICATED)
            principal = authenticate(session, api_key)
        self._remember(digest, principal.client_id)
        return principal

    def _remember(self, digest: bytes, client_id: int | None) -> None:
        if client_id is None:
            return
        with self._lock:
            self._known[digest] = client_id
            if len(self._known) > _MAX_REMEMBERED:
                self._known.popitem(last=False)

    def _forget(self, digest: bytes) -> None:
        with self._lock:
            self._known.pop(digest, None)
