"""Key references and the per-process cache that turns them into pyHanko signers.

A key reference is what the registry stores about a key: where it lives and where its secret
can be read — never the secret itself. :class:`KeyStore` opens each referenced key once per
process (parsing a PKCS#12 file or logging in to a token is far slower than a signature) and
hands out the same signer to every thread and event loop afterwards.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from asn1crypto import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key
from pyhanko.sign.signers import Signer

from esign.errors import ErrorCode, EsignError
from esign.gm import sm2
from esign.gm.certs import is_sm2_certificate
from esign.seal.signers import load_pkcs12
from keystore import pkcs11
from keystore.secrets import read_secret, validate_secret_ref

__all__ = [
    "KeyRef",
    "KeyStore",
    "Pkcs11Ref",
    "Pkcs12Ref",
    "key_ref_from_json",
    "key_ref_to_json",
    "signature_valid",
    "signer_matches_certificate",
]

_MAX_PKCS12 = 1 << 20  # a seal's PKCS#12 file is a few KiB


@dataclass(frozen=True)
class Pkcs12Ref:
    """An encrypted PKCS#12 file and the reference of its passphrase (``env:…``/``file:…``)."""

    path: str
    passphrase: str
    kind: str = "pkcs12"

    def __post_init__(self) -> None:
        validate_secret_ref(self.passphrase)

    def describe(self) -> str:
        return f"PKCS#12 {self.path}"


@dataclass(frozen=True)
class Pkcs11Ref:
    """A private key on a PKCS#11 token, found by labels; the certificate is on the token or given."""

    module: str
    token: str
    key_label: str
    pin: str
    kind: str = "pkcs11"

    def __post_init__(self) -> None:
        validate_secret_ref(self.pin)

    def describe(self) -> str:
        return f"PKCS#11 {self.token}/{self.key_label}"


KeyRef = Pkcs12Ref | Pkcs11Ref


def key_ref_to_json(ref: KeyRef) -> str:
    return json.dumps(asdict(ref), sort_keys=True)


def key_ref_from_json(text: str) -> KeyRef:
    data = json.loads(text)
    kind = data.pop("kind")
    return Pkcs12Ref(**data) if kind == "pkcs12" else Pkcs11Ref(**data)


class KeyStore:
    """Opens each key once per process; thread-safe, and usable from any event loop."""

    def __init__(self) -> None:
        self._signers: dict[tuple[KeyRef, bytes], Signer] = {}
        self._lock = threading.Lock()

    def signer(self, ref: KeyRef, chain: list[x509.Certificate]) -> Signer:
        """The signer for ``ref`` whose certificate is ``chain[0]`` (issuers follow).

        The chain comes from the registry: a PKCS#11 key is used with the certificate the registry
        holds for it, and a PKCS#12 file must contain that very certificate.
        """
        cache_key = (ref, chain[0].dump())
        with self._lock:
            signer = self._signers.get(cache_key)
            if signer is None or not _usable(signer):
                signer = _parsed(_open(ref, chain))
                self._signers[cache_key] = signer
            return signer


def _parsed(signer: Signer) -> Signer:
    """Parse the signer's certificates whole, once, before threads share it.

    asn1crypto fills its caches lazily and not atomically: ``Name.native`` publishes an empty dict
    and then fills it, so a second sealing thread reading ``signer.subject_name`` meanwhile got
    ``KeyError: 'organization_name'`` (seen at 500 concurrent seals, issue 16).
    """
    if signer.signing_cert is not None:
        _ = signer.signing_cert.native, signer.subject_name
    for cert in signer.cert_registry:
        _ = cert.native
    return signer


def _usable(signer: Signer) -> bool:
    """A token signer whose session failed must be opened again; software keys never go stale."""
    return not isinstance(signer, pkcs11.SessionSafePKCS11Signer) or signer.token.alive


def _open(ref: KeyRef, chain: list[x509.Certificate]) -> Signer:
    if isinstance(ref, Pkcs12Ref):
        signer = load_pkcs12(read_pkcs12_file(Path(ref.path)), read_secret(ref.passphrase).reveal())
        if signer.signing_cert.dump() != chain[0].dump():
            # a re-issued certificate comes as a new PKCS#12 file, registered as a new key
            raise EsignError(ErrorCode.CERT_KEY_MISMATCH)
        return signer
    token = pkcs11.open_token(ref.module, ref.token, read_secret(ref.pin))
    return pkcs11.signer_for(token, ref.key_label, signing_cert=chain[0], chain=chain[1:])


def read_pkcs12_file(path: Path) -> bytes:
    """The file's bytes; a missing keystore file is "offline" (a mount may be gone), not a crash."""
    try:
        if path.stat().st_size > _MAX_PKCS12:
            raise EsignError(ErrorCode.KEY_FILE_INVALID, detail="file too large for a PKCS#12 key")
        return path.read_bytes()
    except OSError as exc:
        raise EsignError(ErrorCode.KEYSTORE_OFFLINE, detail=f"{path}: {exc.strerror}") from None


async def signer_matches_certificate(signer: Signer, cert: x509.Certificate) -> bool:
    """Prove possession: sign a challenge with the key and check it with the certificate's public key.

    This works the same for a software key and a non-extractable HSM key, and catches a registry
    entry whose certificate belongs to a different key before any document is sealed with it.
    """
    challenge = b"esign key-certificate binding check"
    return signature_valid(cert, challenge, await signer.async_sign_raw(challenge, "sha256"))


def signature_valid(cert: x509.Certificate, message: bytes, signature: bytes) -> bool:
    """A raw SHA-256 RSA (PKCS#1 v1.5) or ECDSA signature over ``message`` by ``cert``'s key, or an
    SM2/SM3 signature for an SM2 certificate (what ``SM2Signer.async_sign_raw`` makes whatever digest
    it is asked for: SM2 hashes with SM3 by definition)."""
    if is_sm2_certificate(cert):
        return sm2.verify(sm2.load_public_key(cert.public_key.dump()), signature, message)
    public = load_der_public_key(cert.public_key.dump())
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except InvalidSignature:
        return False
    return True
