"""PKCS#11 tokens (HSMs, smart cards, SoftHSM2): one logged-in session per token per process.

A PKCS#11 application may log in to a token only once (a second ``C_Login`` fails with
USER_ALREADY_LOGGED_IN), and one session must not run two signing operations at the same time
(``C_SignInit``/``C_Sign`` pairs would interleave). So sessions live in a process-wide cache and
every signature on a session holds that session's lock; threads and event loops share it safely.
A forked child must not reuse its parent's sessions: run workers as separate processes (spawn).

Besides opening keys for signing, this module can generate a key pair on a token and import an
existing private key and certificate — what ``esign keystore`` and the tests need to set up a token.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pkcs11
from asn1crypto import keys, x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.util.ec import decode_ec_private_key, encode_ec_public_key, encode_named_curve_parameters
from pkcs11.util.rsa import decode_rsa_private_key, encode_rsa_public_key
from pkcs11.util.x509 import decode_x509_certificate
from pyhanko.sign.pkcs11 import PKCS11Signer

from esign.errors import ErrorCode, EsignError
from esign.gm import oids, sm2
from esign.gm.certs import is_sm2_certificate
from keystore.secrets import Secret

__all__ = [
    "SessionSafePKCS11Signer",
    "TokenSession",
    "forget_token",
    "generate_keypair",
    "import_certificate",
    "import_private_key",
    "open_token",
    "signer_for",
]


@dataclass
class TokenSession:
    """A logged-in session and the lock that serialises operations on it."""

    module: str
    label: str
    session: Any  # pkcs11.Session
    lock: threading.Lock

    @property
    def alive(self) -> bool:
        """False once an operation failed and the session was dropped from the cache."""
        return _sessions.get((self.module, self.label)) is self


_sessions: dict[tuple[str, str], TokenSession] = {}
_sessions_lock = threading.Lock()


def open_token(module: str, token_label: str, pin: Secret) -> TokenSession:
    """The cached session for ``token_label``, logging in on first use.

    Any failure to reach the module or token is "keystore offline": the PIN is never part of the
    message, and the underlying exception is not chained so it cannot carry the PIN either.
    """
    key = (module, token_label)
    with _sessions_lock:
        cached = _sessions.get(key)
        if cached is not None:
            return cached
        try:
            # read-write: the same session also imports and generates keys (``esign keystore``)
            token = pkcs11.lib(module).get_token(token_label=token_label)
            session = token.open(user_pin=pin.reveal_str(), rw=True)
        except pkcs11.PinIncorrect:
            raise EsignError(ErrorCode.WRONG_PASSPHRASE) from None
        except Exception as exc:  # the module raises assorted types for "no library", "no token", …
            raise EsignError(
                ErrorCode.KEYSTORE_OFFLINE, detail=f"PKCS#11 token {token_label!r}: {type(exc).__name__}"
            ) from None
        opened = TokenSession(module=module, label=token_label, session=session, lock=threading.Lock())
        _sessions[key] = opened
        return opened


def forget_token(token: TokenSession) -> None:
    """Drop a session that stopped working, so that the next use logs in afresh."""
    with _sessions_lock:
        if _sessions.get((token.module, token.label)) is token:
            del _sessions[(token.module, token.label)]


class _SerializedKey:
    """A private-key handle whose ``sign`` holds the session lock (the only operation pyHanko calls).

    A token that fails mid-operation (HSM restarted, card pulled, session closed) becomes
    ``KEYSTORE_OFFLINE`` and its session is dropped; the key store then opens the key again.
    """

    def __init__(self, handle: Any, token: TokenSession) -> None:
        self._handle = handle
        self._token = token

    def sign(self, data: bytes, **kwargs: Any) -> bytes:
        with self._token.lock:
            try:
                return self._handle.sign(data, **kwargs)
            except pkcs11.PKCS11Error as exc:
                forget_token(self._token)
                raise EsignError(
                    ErrorCode.KEYSTORE_OFFLINE,
                    detail=f"PKCS#11 token {self._token.label!r}: {type(exc).__name__}",
                ) from None


class SessionSafePKCS11Signer(PKCS11Signer):
    """``PKCS11Signer`` whose signatures are serialised per token session."""

    def __init__(self, token: TokenSession, **kwargs: Any) -> None:
        super().__init__(token.session, **kwargs)
        self.token = token

    def _pull_signing_key_handle(self) -> Any:
        with self.token.lock:
            return _SerializedKey(super()._pull_signing_key_handle(), self.token)


def signer_for(
    token: TokenSession,
    key_label: str,
    *,
    signing_cert: x509.Certificate | None = None,
    chain: list[x509.Certificate] | None = None,
    cert_label: str | None = None,
) -> SessionSafePKCS11Signer:
    """A ready signer for ``key_label``; objects are loaded now so later async use never blocks.

    ECDSA keys use the raw mechanism (hash in software, ``CKM_ECDSA`` on the token) because
    SoftHSM 2.6 and many HSMs do not offer the combined ``CKM_ECDSA_SHA256``.
    """
    with token.lock:
        found = list(
            token.session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: key_label})
        )
        on_sm2 = len(found) == 1 and found[0].key_type == KeyType.EC and _on_sm2_curve(found[0])
    if len(found) != 1:
        raise EsignError(
            ErrorCode.KEYSTORE_OFFLINE,
            detail=f"{len(found)} private keys labelled {key_label!r} on the token",
        )
    key_is_ec = found[0].key_type == KeyType.EC
    if on_sm2 or (signing_cert is not None and is_sm2_certificate(signing_cert)):
        # CKM_ECDSA on the SM2 curve would make an ECDSA signature, not SM2: refuse rather than mis-sign
        raise EsignError(ErrorCode.TOKEN_WITHOUT_SM2, token=token.label)
    if signing_cert is not None and (signing_cert.public_key.algorithm == "ec") != key_is_ec:
        raise EsignError(ErrorCode.CERT_KEY_MISMATCH)
    signer = SessionSafePKCS11Signer(
        token,
        key_label=key_label,
        cert_label=cert_label if signing_cert is None else None,
        signing_cert=signing_cert,
        ca_chain=chain or [],
        use_raw_mechanism=key_is_ec,
    )
    try:
        signer._load_objects()
    except Exception as exc:
        raise EsignError(
            ErrorCode.KEYSTORE_OFFLINE, detail=f"loading {key_label!r}: {type(exc).__name__}"
        ) from None
    return signer


def _on_sm2_curve(key: Any) -> bool:
    """Is an EC key object on the SM2 curve (CKA_EC_PARAMS = the curve's OID)?"""
    try:
        params = keys.ECDomainParameters.load(key[Attribute.EC_PARAMS])
    except (pkcs11.PKCS11Error, ValueError, TypeError):
        return False
    return params.name == "named" and params.chosen.dotted == oids.SM2_CURVE


def generate_keypair(token: TokenSession, label: str, algorithm: str) -> PublicKeyTypes:
    """Generate ``rsa2048``/``rsa3072``/``ec-p256``/``ec-p384`` on the token and return its public key.

    The private key is created sensitive and non-extractable: it never leaves the token. The caller
    gets a certificate issued for the public key and imports it with :func:`import_certificate`.
    """
    private = {Attribute.EXTRACTABLE: False, Attribute.SENSITIVE: True}
    with token.lock:
        if algorithm in ("rsa2048", "rsa3072"):
            public, _ = token.session.generate_keypair(
                KeyType.RSA,
                int(algorithm[3:]),
                store=True,
                label=label,
                id=label.encode(),
                private_template=private,
            )
            return serialization.load_der_public_key(_rsa_spki(encode_rsa_public_key(public)))
        if algorithm in ("ec-p256", "ec-p384"):
            curve = {"ec-p256": "secp256r1", "ec-p384": "secp384r1"}[algorithm]
            params = token.session.create_domain_parameters(
                KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(curve)}, local=True
            )
            public, _ = params.generate_keypair(
                store=True, label=label, id=label.encode(), private_template=private
            )
            return serialization.load_der_public_key(encode_ec_public_key(public))
    raise EsignError(ErrorCode.BAD_OPTION, detail=f"unknown key algorithm {algorithm!r}")


def _rsa_spki(pkcs1: bytes) -> bytes:
    """python-pkcs11 encodes RSA public keys as bare PKCS#1; cryptography wants SubjectPublicKeyInfo."""
    return keys.PublicKeyInfo(
        {"algorithm": {"algorithm": "rsa"}, "public_key": keys.RSAPublicKey.load(pkcs1)}
    ).dump()


def import_private_key(token: TokenSession, label: str, key: PrivateKeyTypes | sm2.SM2PrivateKey) -> None:
    """Store an existing software key on the token (as a non-extractable, sensitive object).

    An SM2 key can be stored (a token is a safe place for it) but not used: see :func:`signer_for`.
    """
    if isinstance(key, sm2.SM2PrivateKey):
        attrs = decode_ec_private_key(sm2.private_key_sec1_der(key))
    elif isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        attrs = (decode_rsa_private_key if isinstance(key, rsa.RSAPrivateKey) else decode_ec_private_key)(der)
    else:
        raise EsignError(ErrorCode.KEY_FILE_INVALID, detail="only RSA, ECDSA and SM2 keys can be imported")
    attrs.update(
        {
            Attribute.TOKEN: True,
            Attribute.LABEL: label,
            Attribute.ID: label.encode(),
            Attribute.SIGN: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
        }
    )
    with token.lock:
        token.session.create_object(attrs)


def import_certificate(token: TokenSession, label: str, cert: x509.Certificate) -> None:
    """Store the seal certificate next to its key so the token is self-describing."""
    attrs = decode_x509_certificate(cert.dump())
    attrs.update({Attribute.TOKEN: True, Attribute.LABEL: label, Attribute.ID: label.encode()})
    with token.lock:
        token.session.create_object(attrs)
