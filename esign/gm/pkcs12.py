"""PKCS#12 files holding an SM2 key, read and written without ``cryptography``'s PKCS#12 code.

``cryptography`` refuses any PKCS#12 whose key is on the SM2 curve (``UnsupportedAlgorithm``), and
``tongsuopy`` has no PKCS#12 support, yet agencies get their SM2 seal keys as PKCS#12 files written by
OpenSSL 3 (``openssl pkcs12 -export -keypbe AES-256-CBC -certpbe AES-256-CBC -macalg sha256``). The
container is plain ASN.1 (RFC 7292), so asn1crypto parses it; the integrity MAC (the PKCS#12 KDF,
RFC 7292 appendix B) and PBES2 (PBKDF2 + AES-CBC, RFC 8018) are computed here with ``cryptography``'s
primitives, and the decrypted PKCS#8 key is handed to Tongsuo. Only what OpenSSL 3 writes by default
or on request is accepted: PBES2 with AES-CBC for both bags and an HMAC-SHA-1/SHA-2 MAC.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from asn1crypto import algos, cms, core, keys, pkcs12, x509
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.hashes import SHA1, SHA256, SHA384, SHA512, HashAlgorithm
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from esign.gm import oids, sm2

__all__ = ["Pkcs12Error", "SM2Pkcs12", "WrongPassphrase", "read", "write"]

_PRFS: dict[str, HashAlgorithm] = {"sha1": SHA1(), "sha256": SHA256(), "sha384": SHA384(), "sha512": SHA512()}
_AES_KEY_BYTES = {"aes128_cbc": 16, "aes192_cbc": 24, "aes256_cbc": 32}
#: what :func:`write` uses: OpenSSL 3's choice for ``-keypbe/-certpbe AES-256-CBC``, more iterations
_WRITE_ITERATIONS = 10_000
#: a seal's PKCS#12 holds a leaf and a short chain; anything larger is not a key file
_MAX_BAGS = 32


class Pkcs12Error(ValueError):
    """Not a PKCS#12 file this module can read (structure or algorithms)."""


class WrongPassphrase(Pkcs12Error):
    """The MAC does not verify: the passphrase is wrong (or the file was altered)."""


@dataclass(frozen=True)
class SM2Pkcs12:
    key: sm2.SM2PrivateKey
    cert: x509.Certificate
    chain: list[x509.Certificate]  #: the other certificates of the file (issuers), in file order


def read(data: bytes, passphrase: bytes | None) -> SM2Pkcs12:
    """The SM2 key, its certificate (the one whose public key matches) and the other certificates."""
    oids.register()
    try:
        pfx = pkcs12.Pfx.load(data)
        auth_safe = pfx["auth_safe"]
        if auth_safe["content_type"].native != "data":
            raise Pkcs12Error("only password-integrity PKCS#12 files are supported")
        content = auth_safe["content"].native
        _check_mac(pfx["mac_data"], content, passphrase or b"")
        bags = [
            bag for info in pkcs12.AuthenticatedSafe.load(content) for bag in _safe_bags(info, passphrase)
        ]
    except (ValueError, TypeError, KeyError) as exc:
        if isinstance(exc, Pkcs12Error):
            raise
        raise Pkcs12Error(f"malformed PKCS#12: {type(exc).__name__}") from None
    return _assemble(bags[:_MAX_BAGS], passphrase)


def write(
    key: sm2.SM2PrivateKey, cert: x509.Certificate, chain: list[x509.Certificate], passphrase: bytes
) -> bytes:
    """A PKCS#12 as ``openssl pkcs12 -export -keypbe AES-256-CBC -certpbe AES-256-CBC -macalg sha256``
    writes it."""
    local_id = [{"type": "local_key_id", "values": [hashlib.sha1(cert.dump()).digest()]}]
    cert_bags = pkcs12.SafeContents(
        [
            {
                "bag_id": "cert_bag",
                "bag_value": {"cert_id": "x509", "cert_value": core.ParsableOctetString(c.dump())},
                "bag_attributes": local_id if i == 0 else [],
            }
            for i, c in enumerate([cert, *chain])
        ]
    )
    algorithm, encrypted = _pbes2_encrypt(cert_bags.dump(), passphrase)
    encrypted_data = cms.EncryptedData(
        {
            "version": "v0",
            "encrypted_content_info": {
                "content_type": "data",
                "content_encryption_algorithm": algorithm,
                "encrypted_content": encrypted,
            },
        }
    )
    key_algorithm, key_encrypted = _pbes2_encrypt(sm2.private_key_der(key), passphrase)
    shrouded = keys.EncryptedPrivateKeyInfo(
        {"encryption_algorithm": key_algorithm, "encrypted_data": key_encrypted}
    )
    key_bags = pkcs12.SafeContents(
        [{"bag_id": "pkcs8_shrouded_key_bag", "bag_value": shrouded, "bag_attributes": local_id}]
    )
    safe = pkcs12.AuthenticatedSafe(
        [
            {"content_type": "encrypted_data", "content": encrypted_data},
            {"content_type": "data", "content": key_bags.dump()},
        ]
    ).dump()
    salt = os.urandom(8)
    mac = _mac("sha256", passphrase, salt, _WRITE_ITERATIONS, safe)
    return pkcs12.Pfx(
        {
            "version": "v3",
            "auth_safe": {"content_type": "data", "content": safe},
            "mac_data": {
                "mac": {"digest_algorithm": {"algorithm": "sha256"}, "digest": mac},
                "mac_salt": salt,
                "iterations": _WRITE_ITERATIONS,
            },
        }
    ).dump()


def _check_mac(mac_data: pkcs12.MacData, content: bytes, passphrase: bytes) -> None:
    if not mac_data:
        raise Pkcs12Error("a PKCS#12 key file without integrity MAC is not accepted")
    name = mac_data["mac"]["digest_algorithm"]["algorithm"].native
    if name not in _PRFS:
        raise Pkcs12Error(f"unsupported PKCS#12 MAC digest {name}")
    expected = _mac(name, passphrase, mac_data["mac_salt"].native, mac_data["iterations"].native, content)
    if not hmac.compare_digest(expected, mac_data["mac"]["digest"].native):
        raise WrongPassphrase("PKCS#12 MAC does not verify")


def _mac(name: str, passphrase: bytes, salt: bytes, iterations: int, content: bytes) -> bytes:
    key = _pkcs12_kdf(name, passphrase, salt, iterations, _PRFS[name].digest_size)
    return hmac.new(key, content, name).digest()


def _pkcs12_kdf(name: str, passphrase: bytes, salt: bytes, iterations: int, size: int) -> bytes:
    """RFC 7292 B.2 with ID 3 (MAC key); the password is a NUL-terminated BMPString, as OpenSSL forms it."""
    if iterations < 1 or iterations > 10_000_000:
        raise Pkcs12Error("implausible PKCS#12 iteration count")
    u, v = _PRFS[name].digest_size, hashlib.new(name).block_size
    password = (passphrase.decode("utf-8").encode("utf-16-be") + b"\0\0") if passphrase else b""
    diversifier = bytes([3]) * v

    def stretch(value: bytes) -> bytes:  # repeated to the next multiple of v bytes
        return (value * (v // max(len(value), 1) + 1) * 2)[: v * -(-len(value) // v)] if value else b""

    block = stretch(salt) + stretch(password)
    out = b""
    while len(out) < size:
        a = diversifier + block
        for _ in range(iterations):
            a = hashlib.new(name, a).digest()
        out += a
        b = int.from_bytes((a * (v // u + 1))[:v], "big")
        block = b"".join(
            ((int.from_bytes(block[i : i + v], "big") + b + 1) % (1 << (8 * v))).to_bytes(v, "big")
            for i in range(0, len(block), v)
        )
    return out[:size]


def _safe_bags(info: cms.ContentInfo, passphrase: bytes | None) -> list[pkcs12.SafeBag]:
    kind = info["content_type"].native
    if kind == "data":
        return list(pkcs12.SafeContents.load(info["content"].native))
    if kind == "encrypted_data":
        enc = info["content"]["encrypted_content_info"]
        plain = _pbes2_decrypt(
            enc["content_encryption_algorithm"], enc["encrypted_content"].native, passphrase
        )
        return list(pkcs12.SafeContents.load(plain))
    raise Pkcs12Error(f"unsupported PKCS#12 safe {kind}")


def _assemble(bags: list[pkcs12.SafeBag], passphrase: bytes | None) -> SM2Pkcs12:
    key = None
    certs: list[x509.Certificate] = []
    for bag in bags:
        kind = bag["bag_id"].native
        if kind == "pkcs8_shrouded_key_bag" and key is None:
            shrouded = bag["bag_value"]
            der = _pbes2_decrypt(
                shrouded["encryption_algorithm"], shrouded["encrypted_data"].native, passphrase
            )
            key = _load_key(der)
        elif kind == "key_bag" and key is None:
            key = _load_key(bag["bag_value"].dump())
        elif kind == "cert_bag" and bag["bag_value"]["cert_id"].native == "x509":
            certs.append(x509.Certificate.load(bag["bag_value"]["cert_value"].parsed.dump()))
    if key is None or not certs:
        raise Pkcs12Error("no private key or no certificate in the file")
    public = sm2.public_key_der(key.public_key())
    leaf = next((c for c in certs if c.public_key.dump() == public), None)
    if leaf is None:
        raise Pkcs12Error("no certificate in the file belongs to its private key")
    return SM2Pkcs12(key=key, cert=leaf, chain=[c for c in certs if c is not leaf])


def _load_key(der: bytes) -> sm2.SM2PrivateKey:
    try:
        return sm2.load_private_key(der)
    except sm2.SM2Error as exc:
        raise Pkcs12Error(str(exc)) from None


def _pbes2_params(algorithm: algos.EncryptionAlgorithm) -> tuple[HashAlgorithm, bytes, int, str, bytes]:
    if algorithm["algorithm"].native != "pbes2":
        raise Pkcs12Error(f"unsupported PKCS#12 encryption {algorithm['algorithm'].native} (PBES2 expected)")
    params = algorithm["parameters"]
    kdf, scheme = params["key_derivation_func"], params["encryption_scheme"]
    if kdf["algorithm"].native != "pbkdf2" or scheme["algorithm"].native not in _AES_KEY_BYTES:
        raise Pkcs12Error("unsupported PBES2 parameters (PBKDF2 with AES-CBC expected)")
    prf = kdf["parameters"]["prf"]["algorithm"].native
    if prf not in _PRFS:
        raise Pkcs12Error(f"unsupported PBKDF2 PRF {prf}")
    iterations = kdf["parameters"]["iteration_count"].native
    if iterations < 1 or iterations > 10_000_000:
        raise Pkcs12Error("implausible PBKDF2 iteration count")
    salt = kdf["parameters"]["salt"].native
    return _PRFS[prf], salt, iterations, scheme["algorithm"].native, scheme["parameters"].native


def _pbes2_decrypt(algorithm: algos.EncryptionAlgorithm, data: bytes, passphrase: bytes | None) -> bytes:
    prf, salt, iterations, cipher, iv = _pbes2_params(algorithm)
    key = PBKDF2HMAC(prf, _AES_KEY_BYTES[cipher], salt, iterations).derive(passphrase or b"")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(decryptor.update(data) + decryptor.finalize()) + unpadder.finalize()
    except ValueError:
        raise WrongPassphrase("PBES2 decryption failed") from None


def _pbes2_encrypt(data: bytes, passphrase: bytes) -> tuple[algos.EncryptionAlgorithm, bytes]:
    salt, iv = os.urandom(16), os.urandom(16)
    key = PBKDF2HMAC(SHA256(), 32, salt, _WRITE_ITERATIONS).derive(passphrase)
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    encrypted = encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize()
    algorithm = algos.EncryptionAlgorithm(
        {
            "algorithm": "pbes2",
            "parameters": {
                "key_derivation_func": {
                    "algorithm": "pbkdf2",
                    "parameters": {
                        "salt": algos.Pbkdf2Salt(name="specified", value=salt),
                        "iteration_count": _WRITE_ITERATIONS,
                        "prf": {"algorithm": "sha256"},
                    },
                },
                "encryption_scheme": {"algorithm": "aes256_cbc", "parameters": iv},
            },
        }
    )
    return algorithm, encrypted
