"""API clients: who they are, their roles and seal grants, and their API keys (stored as scrypt hashes).

An API key is ``esk_<client id>_<random>``: the id finds the one row to check, so authentication
costs one slow hash, not one per client. The key is returned once, at creation; the database holds
only ``scrypt(key, salt)``, so a stolen database does not let anyone seal.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from esign.errors import ErrorCode, EsignError
from esign.uscc import is_valid_uscc
from keystore import audit
from keystore.authz import Principal, Role, parse_roles, require_seal_admin
from keystore.models import Client, Grant, Seal, utcnow

__all__ = [
    "NewClient",
    "authenticate",
    "create_client",
    "find_client",
    "grant_seal",
    "list_clients",
    "principal_of",
    "revoke_client",
]

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_KEY_PREFIX = "esk_"
#: the id column is an INTEGER (32 bits on PostgreSQL): a larger number is no id, and looking it up
#: would overflow in the driver (an error, not "unknown key")
_CLIENT_ID = re.compile(r"[0-9]{1,10}")
_MAX_CLIENT_ID = 2**31 - 1
#: the column sizes (PostgreSQL enforces them; the CLI has no request model in front)
_MAX_NAME, _MAX_ORG_NAME = 128, 200
#: control (NUL, ESC…), format (zero-width, bidirectional overrides), line/paragraph separators, surrogates:
#: invisible or layout-changing in a name that is shown to people as an audit actor
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


@dataclass(frozen=True)
class NewClient:
    client: Client
    api_key: str  #: shown to the operator once; not recoverable afterwards


def _hash_key(api_key: str, salt: bytes, n: int = _SCRYPT_N, r: int = _SCRYPT_R, p: int = _SCRYPT_P) -> str:
    digest = hashlib.scrypt(api_key.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${n}${r}${p}${b64(salt).decode()}${b64(digest).decode()}"


def _key_matches(api_key: str, stored: str) -> bool:
    _, n, r, p, salt, _digest = stored.split("$")
    expected = _hash_key(api_key, base64.b64decode(salt), int(n), int(r), int(p))
    return hmac.compare_digest(expected, stored)


def principal_of(client: Client) -> Principal:
    return Principal(name=client.name, uscc=client.uscc, roles=parse_roles(client.roles), client_id=client.id)


def create_client(
    session: Session, actor: Principal, *, name: str, org_name: str, uscc: str, roles: str
) -> NewClient:
    """Register a client and return its API key (the only time it is visible)."""
    if not actor.is_operator:
        raise EsignError(ErrorCode.PERMISSION_DENIED, detail="only the operator creates API clients")
    if not is_valid_uscc(uscc):
        raise EsignError(ErrorCode.USCC_INVALID, uscc=uscc)
    for text in (name, org_name):
        _refuse_invisible(text)
    role_set = parse_roles(roles)
    if not role_set or not name.strip() or not org_name.strip():
        raise EsignError(
            ErrorCode.BAD_OPTION, detail="a client needs a name, an organisation and at least one role"
        )
    if len(name.strip()) > _MAX_NAME or len(org_name.strip()) > _MAX_ORG_NAME:
        raise EsignError(
            ErrorCode.BAD_OPTION,
            detail=f"a client name has at most {_MAX_NAME} characters, an organisation {_MAX_ORG_NAME}",
        )
    client = Client(
        name=name.strip(),
        org_name=org_name.strip(),
        uscc=uscc,
        roles=",".join(sorted(role_set)),
        key_hash="",
    )
    if session.execute(select(Client.id).where(Client.name == client.name)).first() is not None:
        raise EsignError(ErrorCode.BAD_OPTION, detail=f"a client named {name!r} already exists")
    session.add(client)
    session.flush()  # assigns the id that the API key embeds
    api_key = f"{_KEY_PREFIX}{client.id}_{secrets.token_urlsafe(32)}"
    client.key_hash = _hash_key(api_key, secrets.token_bytes(16))
    audit.append(
        session,
        actor=actor.name,
        action="client.created",
        payload={"client": client.name, "uscc": uscc, "roles": client.roles},
    )
    return NewClient(client=client, api_key=api_key)


def _refuse_invisible(text: str) -> None:
    """A name is shown as an audit actor and in listings: what a reader cannot see must not be in it."""
    for char in text:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise EsignError(ErrorCode.CLIENT_NAME_INVALID, codepoint=f"{ord(char):04X}")


def authenticate(session: Session, api_key: str) -> Principal:
    """The principal for ``api_key``; any mismatch is the same UNAUTHENTICATED (no oracle)."""
    body = api_key.removeprefix(_KEY_PREFIX) if api_key.startswith(_KEY_PREFIX) else ""
    client_id, _, _ = body.partition("_")
    known_shape = _CLIENT_ID.fullmatch(client_id) and int(client_id) <= _MAX_CLIENT_ID
    client = session.get(Client, int(client_id)) if known_shape else None
    if client is None or client.revoked_at is not None or not _key_matches(api_key, client.key_hash):
        raise EsignError(ErrorCode.UNAUTHENTICATED)
    return principal_of(client)


def find_client(session: Session, name: str) -> Client:
    client = session.execute(select(Client).where(Client.name == name)).scalar_one_or_none()
    if client is None:
        raise EsignError(ErrorCode.CLIENT_NOT_FOUND, client=name)
    return client


def list_clients(session: Session) -> list[Client]:
    return list(session.execute(select(Client).order_by(Client.name)).scalars())


def revoke_client(session: Session, actor: Principal, name: str) -> Client:
    if not actor.is_operator:
        raise EsignError(ErrorCode.PERMISSION_DENIED, detail="only the operator revokes API clients")
    client = find_client(session, name)
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        audit.append(session, actor=actor.name, action="client.revoked", payload={"client": name})
    return client


def grant_seal(session: Session, actor: Principal, client_name: str, seal: Seal) -> None:
    """Let a sealer of the seal's organisation use it; granting across organisations is refused."""
    require_seal_admin(actor, seal.uscc)
    client = find_client(session, client_name)
    if client.uscc != seal.uscc:
        raise EsignError(
            ErrorCode.PERMISSION_DENIED, detail="a seal can only be granted within its organisation"
        )
    if Role.SEALER not in parse_roles(client.roles):
        raise EsignError(ErrorCode.BAD_OPTION, detail=f"{client_name} does not have the sealer role")
    if session.get(Grant, (client.id, seal.id)) is None:
        session.add(Grant(client_id=client.id, seal_id=seal.id))
        audit.append(
            session,
            actor=actor.name,
            action="client.granted",
            seal_code=seal.code,
            payload={"client": client_name, "seal": seal.code},
        )
