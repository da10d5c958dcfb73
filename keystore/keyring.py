"""The keys the system may seal with: PKCS#12 files in the keystore directory and keys on PKCS#11 tokens.

Adding a key opens it once — a wrong passphrase, an unreachable token or a missing certificate is
found now, not at the first sealing request — and records its reference and certificate chain.
PKCS#12 files are copied into the keystore directory unchanged: they stay encrypted at rest, and
their passphrase stays wherever its reference points (environment or a protected file).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from asn1crypto import pem, x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from esign.errors import ErrorCode, EsignError
from esign.seal.signers import load_pkcs12
from keystore import audit, pkcs11
from keystore.keys import KeyRef, Pkcs11Ref, Pkcs12Ref, key_ref_from_json, key_ref_to_json, read_pkcs12_file
from keystore.models import KeyEntry
from keystore.ownership import check_owner
from keystore.secrets import read_secret

__all__ = [
    "add_pkcs11_key",
    "add_pkcs12_key",
    "audit_key",
    "chain_from_pem",
    "chain_to_pem",
    "find_key",
    "key_chain",
    "key_ref",
    "keystore_dir",
    "list_keys",
]


def keystore_dir(directory: str | None = None) -> Path:
    """Where imported PKCS#12 files live: the argument, else ``ESIGN_KEYSTORE_DIR``, else ``./keystore.d``."""
    return Path(directory or os.environ.get("ESIGN_KEYSTORE_DIR") or "keystore.d")


def chain_to_pem(chain: list[x509.Certificate]) -> str:
    return "".join(pem.armor("CERTIFICATE", cert.dump()).decode("ascii") for cert in chain)


def chain_from_pem(text: str) -> list[x509.Certificate]:
    return [x509.Certificate.load(der) for _, _, der in pem.unarmor(text.encode("ascii"), multiple=True)]


def key_chain(entry: KeyEntry) -> list[x509.Certificate]:
    return chain_from_pem(entry.cert_chain)


def key_ref(entry: KeyEntry) -> KeyRef:
    return key_ref_from_json(entry.reference)


def find_key(session: Session, name: str) -> KeyEntry:
    entry = session.execute(select(KeyEntry).where(KeyEntry.name == name)).scalar_one_or_none()
    if entry is None:
        raise EsignError(ErrorCode.KEY_NOT_FOUND, key=name)
    return entry


def audit_key(session: Session) -> KeyEntry | None:
    """The key named by ``ESIGN_AUDIT_KEY`` that signs audit checkpoints, if one is configured."""
    name = os.environ.get("ESIGN_AUDIT_KEY")
    return find_key(session, name) if name else None


def list_keys(session: Session) -> list[KeyEntry]:
    return list(session.execute(select(KeyEntry).order_by(KeyEntry.name)).scalars())


def add_pkcs12_key(
    session: Session, actor: str, name: str, source: Path, passphrase_ref: str, store: Path, *, owner: str
) -> KeyEntry:
    """Check that ``source`` opens with the passphrase, copy it to ``store`` and register it as ``name``.

    ``owner`` is the USCC of the organisation the key belongs to, or ``platform``; it is checked
    against the certificate (``keystore.ownership.check_owner``) before anything is copied.
    """
    _refuse_taken(session, name)
    signer = load_pkcs12(read_pkcs12_file(source), read_secret(passphrase_ref).reveal())
    chain = [
        signer.signing_cert,
        *(c for c in signer.cert_registry if c.dump() != signer.signing_cert.dump()),
    ]
    owner = check_owner(chain[0], owner)
    store.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = store / f"{name}.p12"
    shutil.copyfile(source, target)
    target.chmod(0o600)
    ref = Pkcs12Ref(path=str(target.resolve()), passphrase=passphrase_ref)
    return _add(session, actor, name, ref, chain, owner)


def add_pkcs11_key(
    session: Session,
    actor: str,
    name: str,
    ref: Pkcs11Ref,
    chain: list[x509.Certificate] | None = None,
    *,
    owner: str,
) -> KeyEntry:
    """Register a token key; without ``chain``, the certificate labelled like the key is read from it.

    ``owner`` as for :func:`add_pkcs12_key`.
    """
    _refuse_taken(session, name)
    token = pkcs11.open_token(ref.module, ref.token, read_secret(ref.pin))
    signer = pkcs11.signer_for(
        token,
        ref.key_label,
        signing_cert=chain[0] if chain else None,
        chain=chain[1:] if chain else None,
        cert_label=ref.key_label,
    )
    chain = chain or [signer.signing_cert]
    return _add(session, actor, name, ref, chain, check_owner(chain[0], owner))


def _refuse_taken(session: Session, name: str) -> None:
    if not name or len(name) > 128:
        raise EsignError(ErrorCode.BAD_OPTION, detail="a key name is 1–128 characters")
    if session.execute(select(KeyEntry.id).where(KeyEntry.name == name)).first() is not None:
        raise EsignError(ErrorCode.KEY_NAME_TAKEN, key=name)


def _add(
    session: Session, actor: str, name: str, ref: KeyRef, chain: list[x509.Certificate], owner: str
) -> KeyEntry:
    entry = KeyEntry(
        name=name, kind=ref.kind, reference=key_ref_to_json(ref), cert_chain=chain_to_pem(chain), owner=owner
    )
    session.add(entry)
    audit.append(
        session,
        actor=actor,
        action="key.added",
        payload={
            "key": name,
            "owner": owner,
            "where": ref.describe(),
            "subject": chain[0].subject.human_friendly,
        },
    )
    return entry
