"""SM2 signatures with SM3 (GB/T 32918, GB/T 32905) on Tongsuo, the maintained native SM library.

Keys are loaded and generated through ``tongsuopy``'s public, cryptography-style API. Its ``sign`` and
``verify`` hard-wire the default distinguishing ID, so signing and verifying go through Tongsuo's EVP
calls directly: a second cffi handle on the very same shared object ``tongsuopy`` already loaded, with
the ID set explicitly on every operation (so we never depend on a library default). Nonces come from
Tongsuo's DRBG — never from Python's ``random`` as in pure-Python implementations.

Signatures are DER ``SEQUENCE { r INTEGER, s INTEGER }`` (GM/T 0009), as OpenSSL writes them.
"""

from __future__ import annotations

from typing import Any

import cffi
from cryptography.hazmat.primitives import hashes
from tongsuopy.backends import _tongsuo
from tongsuopy.backends.tongsuo.backend import backend as _tongsuopy_backend
from tongsuopy.crypto import serialization
from tongsuopy.crypto.asymciphers import ec

#: GM/T 0009's default distinguishing ID (user ID) — what every SM2 certificate and seal uses unless agreed.
DEFAULT_ID = b"1234567812345678"

#: GM/T 0009 limits ENTL to 16 bits of *bits*; longer IDs cannot be encoded into Z.
_MAX_ID_LEN = 8191
#: DER of two 256-bit integers with headers never exceeds 72 bytes.
_MAX_SIGNATURE_LEN = 80
#: Tongsuo's EVP_PKEY_CTRL_SET1_ID (EVP_PKEY_ALG_CTRL + 11), as in OpenSSL 1.1.1's sm2 header.
_CTRL_SET1_ID = 0x1000 + 11

SM2PrivateKey = ec.EllipticCurvePrivateKey
SM2PublicKey = ec.EllipticCurvePublicKey

_ffi = cffi.FFI()
_ffi.cdef(
    """
    typedef struct evp_pkey_st EVP_PKEY;
    typedef struct evp_pkey_ctx_st EVP_PKEY_CTX;
    typedef struct evp_md_ctx_st EVP_MD_CTX;
    typedef struct evp_md_st EVP_MD;
    EVP_PKEY_CTX *EVP_PKEY_CTX_new(EVP_PKEY *pkey, void *engine);
    void EVP_PKEY_CTX_free(EVP_PKEY_CTX *ctx);
    int EVP_PKEY_CTX_ctrl(EVP_PKEY_CTX *ctx, int keytype, int optype, int cmd, int p1, void *p2);
    EVP_MD_CTX *EVP_MD_CTX_new(void);
    void EVP_MD_CTX_free(EVP_MD_CTX *ctx);
    void EVP_MD_CTX_set_pkey_ctx(EVP_MD_CTX *ctx, EVP_PKEY_CTX *pctx);
    const EVP_MD *EVP_sm3(void);
    int EVP_DigestSignInit(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const EVP_MD *md, void *engine,
                           EVP_PKEY *pkey);
    int EVP_DigestSign(EVP_MD_CTX *ctx, unsigned char *sig, size_t *siglen,
                       const unsigned char *tbs, size_t tbslen);
    int EVP_DigestVerifyInit(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const EVP_MD *md, void *engine,
                             EVP_PKEY *pkey);
    int EVP_DigestVerify(EVP_MD_CTX *ctx, const unsigned char *sig, size_t siglen,
                         const unsigned char *tbs, size_t tbslen);
    void ERR_clear_error(void);
    """
)
_lib: Any = _ffi.dlopen(_tongsuo.__file__)


class SM2Error(ValueError):
    """A key or parameter that SM2 cannot use (not an invalid signature: :func:`verify` returns False)."""


def generate_private_key() -> SM2PrivateKey:
    return ec.generate_private_key(ec.SM2())


def load_private_key(data: bytes, password: bytes | None = None) -> SM2PrivateKey:
    """PEM or DER (PKCS#8 or SEC1) SM2 private key; ``password`` for an encrypted PKCS#8 key."""
    try:
        if data.lstrip().startswith(b"-----"):
            key = serialization.load_pem_private_key(data, password=password)
        else:
            key = serialization.load_der_private_key(data, password=password)
    except (ValueError, TypeError) as exc:
        raise SM2Error(f"not an SM2 private key: {exc}") from None
    return _require_sm2(key)


def load_public_key(spki_der: bytes) -> SM2PublicKey:
    """A DER SubjectPublicKeyInfo (as in a certificate) holding an SM2 public key."""
    try:
        key = serialization.load_der_public_key(spki_der)
    except (ValueError, TypeError) as exc:
        raise SM2Error(f"not an SM2 public key: {exc}") from None
    return _require_sm2(key)


def private_key_der(key: SM2PrivateKey) -> bytes:
    """PKCS#8 DER, the form asn1crypto and the PKCS#12 writer accept."""
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def private_key_sec1_der(key: SM2PrivateKey) -> bytes:
    """SEC1 ``ECPrivateKey`` DER (with the curve OID), the form PKCS#11 key templates are built from."""
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def public_key_der(key: SM2PublicKey) -> bytes:
    """DER SubjectPublicKeyInfo (id-ecPublicKey + the SM2 curve OID), as certificates carry it."""
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def sm3(data: bytes) -> bytes:
    """SM3 digest (32 bytes)."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def sign(key: SM2PrivateKey, data: bytes, distinguishing_id: bytes = DEFAULT_ID) -> bytes:
    """SM2 signature over ``SM3(Z_A || data)``; DER-encoded (r, s)."""
    _check_id(distinguishing_id)
    with _digest_context(key, distinguishing_id, _lib.EVP_DigestSignInit) as mctx:
        siglen = _ffi.new("size_t *", _MAX_SIGNATURE_LEN)
        out = _ffi.new("unsigned char[]", _MAX_SIGNATURE_LEN)
        if _lib.EVP_DigestSign(mctx, out, siglen, data, len(data)) != 1:
            _lib.ERR_clear_error()
            raise SM2Error("Tongsuo refused to sign")
        return bytes(_ffi.buffer(out, siglen[0]))


def verify(key: SM2PublicKey, signature: bytes, data: bytes, distinguishing_id: bytes = DEFAULT_ID) -> bool:
    """True only for a valid signature; malformed signature bytes are simply invalid."""
    _check_id(distinguishing_id)
    if not signature or len(signature) > _MAX_SIGNATURE_LEN:
        return False
    with _digest_context(key, distinguishing_id, _lib.EVP_DigestVerifyInit) as mctx:
        ok = _lib.EVP_DigestVerify(mctx, signature, len(signature), data, len(data)) == 1
        if not ok:
            _lib.ERR_clear_error()
        return ok


class _digest_context:
    """An EVP_MD_CTX primed for SM3 with the distinguishing ID set before init (Z is computed at init)."""

    def __init__(self, key: SM2PrivateKey | SM2PublicKey, distinguishing_id: bytes, init: Any) -> None:
        self._key = key  # keeps the EVP_PKEY alive while the raw pointer is in use
        self._id = _ffi.from_buffer(distinguishing_id)
        self._id_len = len(distinguishing_id)
        self._init = init
        self._pctx: Any = _ffi.NULL
        self._mctx: Any = _ffi.NULL

    def __enter__(self) -> Any:
        pkey = _ffi.cast("EVP_PKEY *", int(_tongsuopy_backend._ffi.cast("uintptr_t", self._key._evp_pkey)))
        self._pctx = _lib.EVP_PKEY_CTX_new(pkey, _ffi.NULL)
        self._mctx = _lib.EVP_MD_CTX_new()
        if self._pctx == _ffi.NULL or self._mctx == _ffi.NULL:
            self.__exit__()
            raise MemoryError("Tongsuo could not allocate a digest context")
        if _lib.EVP_PKEY_CTX_ctrl(self._pctx, -1, -1, _CTRL_SET1_ID, self._id_len, self._id) <= 0:
            self.__exit__()
            raise SM2Error("the key is not an SM2 key (distinguishing ID refused)")
        _lib.EVP_MD_CTX_set_pkey_ctx(self._mctx, self._pctx)
        if self._init(self._mctx, _ffi.NULL, _lib.EVP_sm3(), _ffi.NULL, pkey) != 1:
            self.__exit__()
            raise SM2Error("Tongsuo could not start an SM2/SM3 operation with this key")
        return self._mctx

    def __exit__(self, *exc: object) -> None:
        _lib.ERR_clear_error()
        if self._mctx != _ffi.NULL:
            _lib.EVP_MD_CTX_free(self._mctx)  # does not free a pkey ctx set with EVP_MD_CTX_set_pkey_ctx
            self._mctx = _ffi.NULL
        if self._pctx != _ffi.NULL:
            _lib.EVP_PKEY_CTX_free(self._pctx)
            self._pctx = _ffi.NULL


def _require_sm2(key: object) -> Any:
    if not isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) or not isinstance(
        key.curve, ec.SM2
    ):
        raise SM2Error("the key is not on the SM2 curve")
    return key


def _check_id(distinguishing_id: bytes) -> None:
    if not distinguishing_id or len(distinguishing_id) > _MAX_ID_LEN:
        raise SM2Error("the SM2 distinguishing ID must be 1 to 8191 bytes")
