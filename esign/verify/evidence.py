"""Validation material carried by the document, and the certvalidator contexts built from it.

Revocation is judged from what the file itself embeds (DSS, CMS ``adbe-revocationInfoArchival``);
the network is used only when the policy says so, and never for AIA chasing by default. The DSS is
read once per document and shared by all its signatures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms, crl, ocsp, x509
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.general import NonexistentAttributeError, find_unique_cms_attribute
from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import (
    CRLNoMatchesError,
    CRLValidationError,
    CRLValidationIndeterminateError,
    OCSPNoMatchesError,
    OCSPValidationError,
    OCSPValidationIndeterminateError,
)
from pyhanko_certvalidator.fetchers.api import FetcherBackend
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.revinfo.validate_crl import verify_crl
from pyhanko_certvalidator.revinfo.validate_ocsp import verify_ocsp_response
from pyhanko_certvalidator.util import get_declared_revinfo

from esign.policy import ValidationPolicy
from esign.verify.public_keys import lenient_context


@dataclass(frozen=True)
class Evidence:
    certs: tuple[x509.Certificate, ...] = ()
    ocsps: tuple[ocsp.OCSPResponse, ...] = ()
    crls: tuple[crl.CertificateList, ...] = ()

    @property
    def has_revocation_data(self) -> bool:
        return bool(self.ocsps or self.crls)

    def plus(self, other: Evidence) -> Evidence:
        return Evidence(self.certs + other.certs, self.ocsps + other.ocsps, self.crls + other.crls)


def read_dss(reader: PdfFileReader) -> tuple[Evidence, str | None]:
    """The document's DSS, and a problem description when it exists but cannot be read."""
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return Evidence(), None
    except Exception as exc:  # the boundary: a hostile DSS must not take the whole report down
        return Evidence(), f"the DSS dictionary cannot be read: {str(exc)[:200] or 'malformed'}"
    try:
        ocsps = tuple(ocsp.OCSPResponse.load(_stream(ref, DecodePurpose.OCSP_RESPONSE)) for ref in dss.ocsps)
        crls = tuple(crl.CertificateList.load(_stream(ref, DecodePurpose.CRL)) for ref in dss.crls)
        certs = tuple(dss.load_certs())
        for response in ocsps:
            _ = response["response_status"].native  # asn1crypto is lazy; fail here, inside the guard
        return Evidence(certs, ocsps, crls), None
    except Exception as exc:  # same boundary, for the entries
        return Evidence(), f"a DSS entry cannot be read: {str(exc)[:200] or 'malformed'}"


def _stream(ref: object, purpose: DecodePurpose) -> bytes:
    return ref.get_object().read_data(purpose)  # type: ignore[attr-defined]


def cms_revocation_data(signer_info: cms.SignerInfo) -> Evidence:
    """Revocation values the signer archived inside the CMS (Adobe's signed attribute)."""
    try:
        archival = find_unique_cms_attribute(signer_info["signed_attrs"], "adobe_revocation_info_archival")
    except (NonexistentAttributeError, ValueError, KeyError, TypeError):
        return Evidence()
    try:
        crls = tuple(archival["crl"]) if archival["crl"] else ()
        ocsps = tuple(archival["ocsp"]) if archival["ocsp"] else ()
        return Evidence(crls=crls, ocsps=ocsps)
    except (ValueError, KeyError, TypeError):
        return Evidence()


def validation_context(
    policy: ValidationPolicy, evidence: Evidence, moment: datetime, validation_time: datetime
) -> ValidationContext:
    """A context that judges the chain at ``moment`` (the best signature time) with embedded revocation data.

    When ``moment`` lies before the validation time, revocation data issued later still speaks about
    ``moment`` (that is what B-LT embeds), hence ``retroactive_revinfo``.
    """
    point_in_time = moment < validation_time or policy.validation_time is not None
    fetching = policy.allow_fetching and not point_in_time
    backend = _fetcher_backend(policy.fetch_timeout_s) if fetching else None
    return lenient_context(
        trust_roots=list(policy.trust_roots),
        other_certs=[*evidence.certs, *policy.extra_certs],
        crls=list(evidence.crls),
        ocsps=list(evidence.ocsps),
        moment=moment if point_in_time else None,
        best_signature_time=moment,
        allow_fetching=fetching,
        revocation_mode="soft-fail",
        retroactive_revinfo=point_in_time,
        fetcher_backend=backend,
    )


#: the detail of REVOCATION_DATA_MISSING when nothing at all is embedded
NOTHING_EMBEDDED = "the file embeds no CRL or OCSP response"


async def revocation_gap(path: ValidationPath, context: ValidationContext) -> str | None:
    """Why the revocation data of ``context`` does not establish the status of every certificate of
    ``path`` at the context's moment; None when it does (the signature is then long-term, B-LT).

    The verdict's path validation is soft-fail (missing data is the policy's call), so there a CRL
    of another CA, or none, simply does not count. This asks what a hard-fail validation of the same
    path would: every certificate that names revocation sources (CRL distribution points, OCSP in
    its AIA) must be covered by a CRL or OCSP response that verifies, is fresh enough and speaks
    about it. ``context`` is the one the path was validated in — the CRL issuers it found are
    remembered, so no CRL signature is checked twice — and must not fetch (fetched is not embedded).
    """
    manager, moment = context.revinfo_manager, context.moment
    if isinstance(path.leaf, x509.Certificate) and manager.check_asserted_unrevoked(path.leaf, moment):
        return None
    for cert in path.iter_certs(include_root=False):
        has_crl, has_ocsp = get_declared_revinfo(cert)
        if manager.check_asserted_unrevoked(cert, moment) or not (has_crl or has_ocsp):
            continue
        reasons = []
        sources = (
            (has_ocsp, verify_ocsp_response, "no embedded OCSP response is about it"),
            (has_crl, verify_crl, "no embedded CRL comes from its issuer"),
        )
        for declared, check, no_match in sources:
            if not declared:
                continue
            try:
                await check(cert, path, context)
                break  # this certificate's status is established
            except (OCSPValidationError, CRLValidationError) as exc:
                reasons.append(_why_unusable(exc, no_match))
        else:
            name, why = cert.subject.human_friendly[:120], "; ".join(reasons)
            return f"the embedded revocation data does not establish the status of {name}: {why}"
    return None


def _why_unusable(exc: CRLValidationError | OCSPValidationError, no_match: str) -> str:
    """certvalidator's reasons, without its position words (it calls every certificate checked this
    way "the end-entity certificate")."""
    if isinstance(exc, CRLNoMatchesError | OCSPNoMatchesError):
        return no_match
    if isinstance(exc, CRLValidationIndeterminateError | OCSPValidationIndeterminateError) and exc.failures:
        return "; ".join(dict.fromkeys(str(failure[0])[:160] for failure in exc.failures))
    return str(exc.args[0] if exc.args else exc)[:160]


def _fetcher_backend(timeout_s: float) -> FetcherBackend | None:
    """An HTTP backend with the policy's timeout; certvalidator's default when ``requests`` is absent."""
    try:
        from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend
    except ImportError:
        return None
    return RequestsFetcherBackend(per_request_timeout=timeout_s)
