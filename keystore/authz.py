"""Who may do what: the four roles and the organisation rule, in one place.

- a **sealer** seals only with seals of its own organisation that it was granted;
- a **seal-admin** manages (registers, suspends, rotates, grants) only its own organisation's seals;
- an **auditor** reads its own organisation's audit records; a **verifier** only verifies;
- only the platform administrator (the operator) creates auditors: the audit log watches the
  seal-admins, so a seal-admin must not be able to appoint its own auditor.

The local operator (the person at the ``esign`` command line, with access to the database and key
files anyway) holds every power; API clients never do.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from esign.errors import ErrorCode, EsignError

__all__ = [
    "OPERATOR",
    "Principal",
    "Role",
    "parse_roles",
    "require_auditor",
    "require_may_appoint",
    "require_seal_admin",
    "require_sealer",
    "require_verifier",
]


class Role(StrEnum):
    SEAL_ADMIN = "seal-admin"
    SEALER = "sealer"
    VERIFIER = "verifier"
    AUDITOR = "auditor"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: an API client or the local operator."""

    name: str
    uscc: str | None
    roles: frozenset[Role]
    client_id: int | None = None
    is_operator: bool = False


OPERATOR = Principal(name="operator", uscc=None, roles=frozenset(Role), is_operator=True)


def parse_roles(text: str) -> frozenset[Role]:
    """``"sealer,auditor"`` → roles; an unknown role name is refused rather than ignored."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    try:
        return frozenset(Role(name) for name in names)
    except ValueError:
        known = ", ".join(role.value for role in Role)
        raise EsignError(ErrorCode.BAD_OPTION, detail=f"roles are {known}") from None


def require_sealer(who: Principal, seal_uscc: str, granted: bool) -> None:
    if who.is_operator:
        return
    if Role.SEALER not in who.roles:
        raise EsignError(ErrorCode.PERMISSION_DENIED, detail=f"{who.name} does not have the sealer role")
    if who.uscc != seal_uscc:
        raise EsignError(ErrorCode.PERMISSION_DENIED, detail="the seal belongs to another organisation")
    if not granted:
        raise EsignError(ErrorCode.PERMISSION_DENIED, detail=f"{who.name} was not granted this seal")


def require_seal_admin(who: Principal, seal_uscc: str) -> None:
    if who.is_operator:
        return
    if Role.SEAL_ADMIN not in who.roles:
        raise EsignError(ErrorCode.PERMISSION_DENIED, detail=f"{who.name} does not have the seal-admin role")
    if who.uscc != seal_uscc:
        raise EsignError(ErrorCode.PERMISSION_DENIED, detail="the seal belongs to another organisation")


def require_may_appoint(who: Principal, roles: frozenset[Role]) -> None:
    """May ``who`` create a client with ``roles``? An auditor only by the platform administrator."""
    if Role.AUDITOR in roles and not who.is_operator:
        raise EsignError(
            ErrorCode.PERMISSION_DENIED, detail="only the platform administrator creates auditor clients"
        )


def require_auditor(who: Principal) -> None:
    if not who.is_operator and Role.AUDITOR not in who.roles:
        raise EsignError(ErrorCode.PERMISSION_DENIED, detail=f"{who.name} does not have the auditor role")


def require_verifier(who: Principal) -> None:
    if not who.is_operator and Role.VERIFIER not in who.roles:
        raise EsignError(ErrorCode.PERMISSION_DENIED, detail=f"{who.name} does not have the verifier role")
