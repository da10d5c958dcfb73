"""Signed PDFs whose certificates and CMS are built byte by byte, as other signing tools write them.

pyHanko (and ``cryptography``) refuse to produce what these tests need: certificates whose public key
is not strict DER, signature algorithms named by the key's OID, plain ECDSA values, v1 SignedData with
encapsulated content. So certificates are assembled with asn1crypto and signed with ``cryptography``;
the CMS is assembled with asn1crypto over the real ByteRange digest of a pyHanko-prepared signature
field, and written into its /Contents hole.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO

from asn1crypto import algos, cms, keys, x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers

from esign.policy import ValidationPolicy

NOW = datetime.now(UTC).replace(microsecond=0)
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def der(tag: int, content: bytes, *, long_form: bool = False) -> bytes:
    """One TLV; ``long_form`` writes a non-minimal (BER) length, which DER forbids."""
    size = len(content)
    if size < 128 and not long_form:
        return bytes([tag, size]) + content
    octets = size.to_bytes(max(1, (size.bit_length() + 7) // 8), "big")
    if long_form:
        octets = b"\x00" + octets
    return bytes([tag, 0x80 | len(octets)]) + octets + content


def rsa_spki(key: rsa.RSAPublicKey, style: str) -> bytes:
    """An RSA SubjectPublicKeyInfo: ``der``, ``negative`` (modulus without its leading zero, so it reads
    as a negative INTEGER), ``padded`` (a redundant leading zero) or ``ber`` (non-minimal lengths)."""
    modulus = key.public_numbers().n.to_bytes(key.key_size // 8, "big")
    content = {"der": b"\x00" + modulus, "negative": modulus, "padded": b"\x00\x00" + modulus}
    ber = style == "ber"
    body = der(0x02, content.get(style, b"\x00" + modulus), long_form=ber) + der(0x02, b"\x01\x00\x01")
    algorithm = bytes.fromhex("300d06092a864886f70d0101010500")
    return der(0x30, algorithm + der(0x03, b"\x00" + der(0x30, body), long_form=ber), long_form=ber)


def ec_explicit_spki(key: ec.EllipticCurvePublicKey) -> bytes:
    """P-256 with explicit domain parameters and a compressed base point (``cryptography`` refuses it)."""
    p = 2**256 - 2**224 + 2**192 + 2**96 - 1
    generator = ec.derive_private_key(1, ec.SECP256R1()).public_key().public_numbers()
    domain = keys.SpecifiedECDomain(
        {
            "version": "ecdpVer1",
            "field_id": {"field_type": "prime_field", "parameters": p},
            "curve": {
                "a": (p - 3).to_bytes(32, "big"),
                "b": bytes.fromhex("5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b"),
            },
            "base": bytes([2 + generator.y % 2]) + generator.x.to_bytes(32, "big"),
            "order": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
            "cofactor": 1,
        }
    )
    point = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return keys.PublicKeyInfo(
        {"algorithm": {"algorithm": "ec", "parameters": {"specified": domain}}, "public_key": point}
    ).dump()


def spki_of(key: PrivateKey) -> bytes:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(serialization.Encoding.DER, spki)


def _name(common_name: str) -> x509.Name:
    return x509.Name.build(
        {"country_name": "CN", "organization_name": "esign crafted", "common_name": common_name}
    )


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: PrivateKey


def issue(
    subject: str,
    spki: bytes,
    key: PrivateKey,
    issuer: Issued | None = None,
    *,
    serial: int = 0x5EA1,
    ca: bool = False,
) -> Issued:
    """A certificate over exactly ``spki``'s bytes, signed by ``issuer`` (self-signed without one)."""
    signing_key = issuer.key if issuer else key
    extensions = [
        {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": ca}},
        {
            "extn_id": "key_usage",
            "critical": True,
            "extn_value": {"key_cert_sign", "crl_sign"} if ca else {"digital_signature", "non_repudiation"},
        },
    ]
    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial,
            "signature": {"algorithm": "sha256_rsa"},
            "issuer": issuer.cert.subject if issuer else _name(subject),
            "validity": {
                "not_before": x509.Time({"utc_time": NOW - timedelta(days=30)}),
                "not_after": x509.Time({"utc_time": NOW + timedelta(days=365)}),
            },
            "subject": _name(subject),
            "subject_public_key_info": keys.PublicKeyInfo.load(spki),
            "extensions": extensions,
        }
    )
    assert isinstance(signing_key, rsa.RSAPrivateKey), "crafted issuers are RSA"
    value = signing_key.sign(tbs.dump(), padding.PKCS1v15(), hashes.SHA256())
    cert = x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": {"algorithm": "sha256_rsa"}, "signature_value": value}
    )
    return Issued(x509.Certificate.load(cert.dump()), key)


def root_ca() -> Issued:
    key = rsa.generate_private_key(65537, 2048)
    return issue("crafted root", spki_of(key), key, ca=True, serial=1)


def policy_for(root: Issued) -> ValidationPolicy:
    return ValidationPolicy.preset("default", trust_roots=[root.cert])


@dataclass(frozen=True)
class CmsSpec:
    """How the crafted CMS deviates: the signature algorithm as written, the digest algorithm, the
    SignedData version with encapsulated content, a rewrite of the signature value."""

    signature_algorithm: str | None = None
    digest_algorithm: str = "sha256"
    encapsulate: bytes | None = None
    rewrite_value: Callable[[bytes], bytes] | None = None
    plain_ecdsa: bool = False
    signing_hash: type[hashes.HashAlgorithm] = hashes.SHA256
    #: a last rewrite of the finished SignedData (for malformed variants)
    rewrite_signed_data: Callable[[cms.SignedData], None] | None = None


def _raw_signature(key: PrivateKey, data: bytes, spec: CmsSpec) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), spec.signing_hash())
    value = key.sign(data, ec.ECDSA(spec.signing_hash()))
    plain = spec.plain_ecdsa
    if not plain:
        return value
    parsed = algos.DSASignature.load(value)
    size = (key.curve.key_size + 7) // 8
    return parsed["r"].native.to_bytes(size, "big") + parsed["s"].native.to_bytes(size, "big")


def build_cms(digest: bytes, signer: Issued, chain: list[x509.Certificate], spec: CmsSpec) -> bytes:
    signed_attrs = cms.CMSAttributes(
        [
            {"type": "content_type", "values": ["data"]},
            {"type": "message_digest", "values": [digest]},
            {
                "type": "signing_certificate_v2",
                "values": [{"certs": [{"cert_hash": hashlib.sha256(signer.cert.dump()).digest()}]}],
            },
        ]
    )
    value = _raw_signature(signer.key, signed_attrs.dump(), spec)
    if spec.rewrite_value is not None:
        value = spec.rewrite_value(value)
    default_algorithm = "sha256_rsa" if isinstance(signer.key, rsa.RSAPrivateKey) else "sha256_ecdsa"
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": {
                "issuer_and_serial_number": {
                    "issuer": signer.cert.issuer,
                    "serial_number": signer.cert.serial_number,
                }
            },
            "digest_algorithm": {"algorithm": spec.digest_algorithm},
            "signed_attrs": signed_attrs,
            "signature_algorithm": {"algorithm": spec.signature_algorithm or default_algorithm},
            "signature": value,
        }
    )
    encap: dict = {"content_type": "data"}
    if spec.encapsulate is not None:
        encap["content"] = spec.encapsulate
    signed_data = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [{"algorithm": spec.digest_algorithm}],
            "encap_content_info": encap,
            "certificates": [signer.cert, *chain],
            "signer_infos": [signer_info],
        }
    )
    if spec.rewrite_signed_data is not None:
        spec.rewrite_signed_data(signed_data)
    return cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()


def placeholder(pdf: bytes) -> bytes:
    """``pdf`` with a PAdES signature field whose /Contents this module then fills (any key will do)."""
    key = rsa.generate_private_key(65537, 2048)
    stand_in = issue("placeholder", spki_of(key), key)
    signer = signers.SimpleSigner(
        signing_cert=stand_in.cert,
        signing_key=keys.PrivateKeyInfo.load(
            key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        ),
        cert_registry=None,
    )
    out = BytesIO()
    meta = signers.PdfSignatureMetadata(field_name="Crafted")
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    asyncio.run(signers.PdfSigner(meta, signer).async_sign_pdf(writer, output=out, bytes_reserved=16384))
    return out.getvalue()


def with_contents(prepared: bytes, make_cms: Callable[[bytes], bytes], digest_algorithm: str) -> bytes:
    """Replace the (last) signature's /Contents with ``make_cms(digest of its ByteRange)``."""
    match = list(re.finditer(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", prepared))[-1]
    a, b, c, d = (int(x) for x in match.groups())
    digest = hashlib.new(digest_algorithm, prepared[a : a + b] + prepared[c : c + d]).digest()
    blob = make_cms(digest).hex().encode()
    size = c - (a + b) - 2  # the hole is "<" hex ">" from a + b to c
    assert len(blob) <= size, "the crafted CMS does not fit the reserved /Contents"
    return prepared[: a + b + 1] + blob.ljust(size, b"0") + prepared[c - 1 :]


def signed(prepared: bytes, signer: Issued, chain: list[x509.Certificate], spec: CmsSpec) -> bytes:
    """``prepared`` (see :func:`placeholder`) signed by ``signer`` with a CMS crafted per ``spec``."""
    known = spec.digest_algorithm in hashlib.algorithms_available
    return with_contents(
        prepared,
        lambda digest: build_cms(digest, signer, chain, spec),
        spec.digest_algorithm if known else "sha256",
    )


def ec_signer(issuer: Issued, *, spki: Callable[[ec.EllipticCurvePublicKey], bytes] | None = None) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    return issue("crafted ec signer", spki(key.public_key()) if spki else spki_of(key), key, issuer)


def rsa_signer(issuer: Issued, style: str = "der", *, serial: int = 0x5EA1) -> Issued:
    key = rsa.generate_private_key(65537, 2048)
    spki = rsa_spki(key.public_key(), style)
    return issue(f"crafted rsa signer ({style})", spki, key, issuer, serial=serial)
