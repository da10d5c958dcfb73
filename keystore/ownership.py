"""Who owns a keystore key, and who may put a seal on it.

One platform serves many organisations from one keystore, so a key name alone proves nothing: a
certificate without a unified social credit code (the platform's audit-checkpoint key, for one)
would otherwise back a seal of whichever organisation a caller named. Every key is therefore owned
by exactly one organisation (its USCC) or by the platform, recorded when the operator adds the key
and checked against the certificate then:

- an organisation's key needs a certificate carrying that very USCC;
- a platform key (audit checkpoints, service keys) can never back a seal;
- a seal of organisation X can only be made with a key owned by X, and only by X's seal-admin or
  the local operator.

To an API client another organisation's key is indistinguishable from an unknown one (the same
``KEY_NOT_FOUND``), so key names cannot be probed across organisations. The operator, who can list
every key anyway, gets the precise reason.
"""

from __future__ import annotations

from asn1crypto import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from esign.errors import ErrorCode, EsignError
from esign.uscc import is_valid_uscc
from keystore.authz import Principal
from keystore.certcheck import certificate_organisation, describe_organisation
from keystore.models import PLATFORM_OWNER, KeyEntry

__all__ = ["PLATFORM_OWNER", "bindable_key", "check_owner", "owner_from_certificate", "require_key_backs"]


def owner_from_certificate(cert: x509.Certificate) -> str:
    """The owner a certificate implies: its USCC, else the platform (what the migration assigns)."""
    return certificate_organisation(cert).uscc or PLATFORM_OWNER


def check_owner(cert: x509.Certificate, owner: str) -> str:
    """``owner`` (a USCC or ``platform``) if ``cert`` may be recorded under it; refuse otherwise.

    Any certificate may be a platform key (it can never back a seal, so nothing is claimed). An
    organisation's key must carry the organisation's USCC in its certificate: the certificate is
    what a verifier sees, and the registry must not promise more than it says.
    """
    owner = owner.strip()
    if owner == PLATFORM_OWNER:
        return owner
    if not is_valid_uscc(owner):
        raise EsignError(ErrorCode.USCC_INVALID, uscc=owner)
    org = certificate_organisation(cert)
    if org.uscc != owner:
        raise EsignError(ErrorCode.KEY_OWNER_MISMATCH, owner=owner, cert_org=describe_organisation(org))
    return owner


def require_key_backs(entry: KeyEntry, seal_uscc: str) -> None:
    """Refuse a key that is not ``seal_uscc``'s own: a platform key or another organisation's."""
    if entry.owner != PLATFORM_OWNER and entry.owner == seal_uscc:
        return
    if entry.owner == PLATFORM_OWNER:
        words = {"owner_zh": "平台", "owner_en": "the platform"}
    else:
        words = {
            "owner_zh": f"统一社会信用代码为“{entry.owner}”的单位",
            "owner_en": f"the organisation {entry.owner}",
        }
    raise EsignError(ErrorCode.KEY_NOT_BINDABLE, key=entry.name, uscc=seal_uscc, **words)


def bindable_key(session: Session, name: str, who: Principal, seal_uscc: str) -> KeyEntry:
    """Key ``name``, if ``who`` may put a seal of organisation ``seal_uscc`` on it.

    An API client asking for a key that is not its organisation's gets exactly the answer of an
    unknown key; the operator learns whose key it is.
    """
    entry = session.execute(select(KeyEntry).where(KeyEntry.name == name)).scalar_one_or_none()
    if entry is None or not (who.is_operator or who.uscc == entry.owner == seal_uscc):
        raise EsignError(ErrorCode.KEY_NOT_FOUND, key=name)
    require_key_backs(entry, seal_uscc)
    return entry
