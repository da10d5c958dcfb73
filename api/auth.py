"""Bearer API keys → :class:`keystore.authz.Principal`, without scrypt or a database read on every request.

``keystore.clients.authenticate`` checks a key with a deliberately slow hash. The first successful
check of a key is remembered in this process by the key's SHA-256 (never the key itself), together
with the principal and when the client row was last read. For :data:`RECHECK_SECONDS` afterwards
the remembered principal is answered on the event loop (no thread hop, no database round trip —
the verification path stays as short as the work it carries); after that the client row is re-read,
so a revocation or a changed role reaches every worker within that window. The process that revokes
a client forgets it at once (:meth:`Authenticator.forget_client`). The same window is the keystore's
own for remembered seal checks (``keystore.service.RECHECK_SECONDS``).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from esign.errors import ErrorCode, EsignError
from keystore.authz import Principal
from keystore.clients import authenticate, principal_of
from keystore.db import Database
from keystore.models import Client

__all__ = ["RECHECK_SECONDS", "Authenticator"]

_MAX_REMEMBERED = 10_000
_MAX_KEY_CHARS = 256
#: how long a remembered principal is trusted without re-reading its client row
RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class _Known:
    principal: Principal
    checked_at: float


class Authenticator:
    def __init__(
        self,
        db: Database,
        recheck_seconds: float = RECHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.recheck_seconds = recheck_seconds
        self._clock = clock
        self._known: OrderedDict[bytes, _Known] = OrderedDict()
        self._lock = threading.Lock()

    def fresh(self, api_key: str) -> Principal | None:
        """The remembered principal when its client row was read recently; never blocks."""
        with self._lock:
            known = self._known.get(_digest(api_key))
        if known is None or self._clock() - known.checked_at > self.recheck_seconds:
            return None
        return known.principal

    def principal(self, api_key: str) -> Principal:
        """Blocking (database, and scrypt for a key not seen before): call it from a worker thread."""
        if len(api_key) > _MAX_KEY_CHARS:
            raise EsignError(ErrorCode.UNAUTHENTICATED)
        digest = _digest(api_key)
        with self._lock:
            known = self._known.get(digest)
        with self.db.transaction() as session:
            if known is None:
                principal = authenticate(session, api_key)
            else:
                client = session.get(Client, known.principal.client_id)
                if client is None or client.revoked_at is not None:
                    self._forget(digest)
                    raise EsignError(ErrorCode.UNAUTHENTICATED)
                principal = principal_of(client)
        self._remember(digest, principal)
        return principal

    def forget_client(self, client_id: int) -> None:
        """Drop every remembered key of a client (it was just revoked in this process)."""
        with self._lock:
            for digest in [d for d, k in self._known.items() if k.principal.client_id == client_id]:
                del self._known[digest]

    def _remember(self, digest: bytes, principal: Principal) -> None:
        if principal.client_id is None:
            return
        with self._lock:
            self._known[digest] = _Known(principal, self._clock())
            self._known.move_to_end(digest)
            if len(self._known) > _MAX_REMEMBERED:
                self._known.popitem(last=False)

    def _forget(self, digest: bytes) -> None:
        with self._lock:
            self._known.pop(digest, None)


def _digest(api_key: str) -> bytes:
    return hashlib.sha256(api_key.encode("utf-8", "replace")).digest()
