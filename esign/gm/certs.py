"""SM2 certificate chains validated by pyhanko-certvalidator, with SM2 plugged into its signature check.

certvalidator does the whole RFC 5280 path validation (names, validity, basic constraints, key usage,
revocation via CRL/OCSP) and delegates only the maths of each signature to
``ValidationContext.sig_validator``. :class:`SM2SignatureValidator` answers for SM2-with-SM3 and hands
every other algorithm to certvalidator's default, so SM2 and RSA/ECDSA chains share one code path and
no chain check is ever skipped. Certificates (and CRLs) are signed with the default distinguishing ID
(GM/T 0015 §7.1).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from asn1crypto import algos, crl, keys, ocsp, x509
from cryptography.exceptions import InvalidSignature
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import AlgorithmNotSupported, InvalidCertificateError
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.sig_validate import (
    DEFAULT_VALIDATION_CONTEXT,
    DefaultSignatureValidator,
    SignatureValidationContext,
)

from esign.gm import oids, sm2


class SM2SignatureValidator(DefaultSignatureValidator):
    """certvalidator's signature check, extended with SM2 (either SM2 signature OID)."""

    def validate_signature(
        self,
        signature: bytes,
        signed_data: bytes,
        public_key_info: keys.PublicKeyInfo,
        signature_algorithm: algos.SignedDigestAlgorithm,
        context: SignatureValidationContext = DEFAULT_VALIDATION_CONTEXT,
    ) -> None:
        if signature_algorithm["algorithm"].dotted not in oids.SM2_SIGNATURE_OIDS:
            super().validate_signature(signature, signed_data, public_key_info, signature_algorithm, context)
            return
        if context.prehashed:
            # SM2 hashes Z_A (from the public key) before the message: a bare digest cannot be checked.
            raise AlgorithmNotSupported("SM2 signatures cannot be verified over a pre-computed digest")
        try:
            public_key = sm2.load_public_key(public_key_info.dump())
        except sm2.SM2Error as exc:
            raise InvalidSignature(f"SM2 signature with a non-SM2 key: {exc}") from None
        if not sm2.verify(public_key, signature, signed_data):
            raise InvalidSignature("SM2 signature does not verify")


def validation_context(
    trust_roots: Iterable[x509.Certificate],
    *,
    other_certs: Iterable[x509.Certificate] = (),
    crls: Iterable[crl.CertificateList] = (),
    ocsps: Iterable[ocsp.OCSPResponse] = (),
    moment: datetime | None = None,
    allow_fetching: bool = False,
    revocation_mode: str | None = None,
    retroactive_revinfo: bool = False,
) -> ValidationContext:
    """A context whose revocation checks are hard when CRLs are given, soft otherwise (offline by default);
    ``revocation_mode`` overrides that rule (certvalidator's names: soft-fail, hard-fail, require).
    ``retroactive_revinfo`` lets revocation data issued after ``moment`` speak about it (judging at a
    proven time in the past with data embedded later: what B-LT is for).
    """
    crl_list = list(crls)
    return ValidationContext(
        trust_roots=list(trust_roots),
        other_certs=list(other_certs),
        crls=crl_list,
        ocsps=list(ocsps),
        moment=moment,
        allow_fetching=allow_fetching,
        revocation_mode=revocation_mode or ("hard-fail" if crl_list or allow_fetching else "soft-fail"),
        retroactive_revinfo=retroactive_revinfo,
        signature_validator=SM2SignatureValidator(),
    )


def is_sm2_certificate(cert: x509.Certificate) -> bool:
    """Is the certificate's key on the SM2 curve (which ``cryptography`` cannot load)?"""
    public = cert.public_key
    if public.algorithm != "ec":
        return False
    curve = public["algorithm"]["parameters"]
    # explicit domain parameters (a SpecifiedECDomain) are never the named SM2 curve
    return curve.name == "named" and curve.chosen.dotted == oids.SM2_CURVE


async def validate_signer_chain(cert: x509.Certificate, context: ValidationContext) -> ValidationPath:
    """Path validation of a signing certificate; raises certvalidator's ``PathBuildingError``/
    ``PathValidationError`` (or subclasses such as ``RevokedError``) when the chain is not good.

    A seal certificate must allow signing: digitalSignature or nonRepudiation (either suffices).
    """
    validator = CertificateValidator(cert, validation_context=context)
    path = await validator.async_validate_path()
    usage = set(cert.key_usage_value.native) if cert.key_usage_value is not None else None
    if usage is not None and not usage & {"digital_signature", "non_repudiation"}:
        raise InvalidCertificateError("the key usage of the signing certificate does not allow signing")
    return path
