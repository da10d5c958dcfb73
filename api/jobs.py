"""The work done inside the pools (``api.workers``): plain functions of picklable values.

Verification jobs cross a process boundary, so they return an :class:`Outcome` rather than raise:
an :class:`~esign.errors.EsignError` does not survive pickling (its constructor takes the code, the
pickle only keeps the message), and the front door must still answer with the typed problem. The
job names the upload by the path of its spooled file (``api.spool``), and the
outcome carries the response body already rendered, plus the one field the front door reads (the
indication): the report is serialised once, in the worker, and the event loop only sends bytes.
It also carries the document's SHA-256 for the access log: the report has it (the verifier hashes
the document anyway), so the front door spools the upload without hashing it a second time.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asn1crypto import x509

from esign.errors import ErrorCode, EsignError

__all__ = ["Outcome", "init_verifier", "verify_document"]

_trust_roots: tuple[x509.Certificate, ...] = ()
#: ``ESIGN_EXTRA_CERTS``: untrusted intermediates offered to every verification of this worker
_extra_certs: tuple[x509.Certificate, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """A verification result (the overall indication and the rendered body) or the refusal's code."""

    indication: str = ""
    body: bytes = b""
    #: time spent in the worker, for the ``Server-Timing`` header (the rest of a request's time is overhead)
    worker_ms: float = 0.0
    error: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    #: hex SHA-256 of the document (the report's, or hashed here when the document was refused)
    sha256: str = ""

    def raise_error(self) -> None:
        if self.error is not None:
            raise EsignError(ErrorCode[self.error], **self.params)


def init_verifier(trust_ders: tuple[bytes, ...], extra_ders: tuple[bytes, ...] = ()) -> None:
    """Process initialiser: parse the trust anchors and offered intermediates once per worker."""
    global _trust_roots, _extra_certs
    from api.logging import configure_library_logging

    configure_library_logging()
    _trust_roots = tuple(x509.Certificate.load(der) for der in trust_ders)
    _extra_certs = tuple(x509.Certificate.load(der) for der in extra_ders)
    # the heavy modules (pyHanko, certvalidator, the report renderers), ahead of the first job
    import esign.report.etsi
    import esign.report.text
    import esign.verify.pipeline  # noqa: F401


def verify_document(
    path: str, policy_name: str, name: str, fmt: str, lang: str, offered: tuple[bytes, ...] = ()
) -> Outcome:
    """Verify the spooled upload at ``path``: the document is read here, it never crosses the pipe.

    ``offered``: DER intermediates sent with this request, beside the worker's ``ESIGN_EXTRA_CERTS``.
    """
    from esign.policy import ValidationPolicy
    from esign.verify.pipeline import verify

    started = time.perf_counter()
    pdf = b""
    try:
        pdf = Path(path).read_bytes()
        extra = (*_extra_certs, *(x509.Certificate.load(der) for der in offered))
        policy = ValidationPolicy.preset(policy_name, trust_roots=_trust_roots, extra_certs=extra)
        report = verify(pdf, policy, name=name).to_dict()
        body = render(report, fmt, lang)
        elapsed = (time.perf_counter() - started) * 1000
        digest = report["document"]["sha256"]
        return Outcome(indication=report["indication"], body=body, worker_ms=elapsed, sha256=digest)
    except EsignError as exc:
        params = {k: str(v) for k, v in exc.params.items()}
        if exc.detail_zh:  # a keyword of EsignError, so raise_error passes it back as it came
            params["detail_zh"] = exc.detail_zh
        return Outcome(error=exc.code.name, params=params, sha256=hashlib.sha256(pdf).hexdigest())


def render(report: dict[str, Any], fmt: str, lang: str) -> bytes:
    if fmt == "xml":
        from esign.report.etsi import render_xml

        return render_xml(report)
    if fmt == "text":
        from esign.report.text import render_text

        return render_text(report, lang).encode("utf-8")
    return json.dumps(report, ensure_ascii=False).encode("utf-8")
