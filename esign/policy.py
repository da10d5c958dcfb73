"""Validation policy: one frozen value decides trust, network use, time, algorithms and resource limits.

Policies are data, built once and passed in (the trust anchors are parsed once per policy, not per
document). The presets are named so that a report can say which rules judged it:

- ``default``: trust anchors given by the caller; revocation only from data embedded in the file
  (DSS/VRI, CMS revocation attributes); never touches the network.
- ``online``: like default, but may fetch OCSP/CRL over HTTP with a timeout.
- ``strict``: like default, and a signature is "reliable" only with a trusted timestamp (B-T or better)
  and revocation data for its certificate.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from asn1crypto import pem, x509

from esign.errors import ErrorCode, EsignError

PRESETS = ("default", "online", "strict")


@dataclass(frozen=True)
class Limits:
    """Resource limits per document, so hostile input costs bounded memory and time."""

    max_file_size: int = 200 * 1024 * 1024
    #: largest decoded size of any one stream (decompression-bomb guard; pyHanko also bounds ratios)
    max_decoded_stream: int = 256 * 1024 * 1024
    #: longest run of object syntax outside stream data (one dictionary, string, name or array):
    #: pyHanko keeps a Python object per character or element, about 80 bytes and 5 µs each
    max_object_syntax: int = 1024 * 1024
    max_signatures: int = 500
    time_budget_s: float = 120.0
    #: address space of one PDFium rendering process, in MiB (the change analysis; 0 = no limit): PDFium
    #: decodes each image whole, so a small file can ask it for gigabytes
    render_memory_mb: int = 1024


@dataclass(frozen=True)
class ValidationPolicy:
    name: str = "default"
    trust_roots: tuple[x509.Certificate, ...] = ()
    #: untrusted certificates offered for path building (intermediates a GB/T 38540 seal omits)
    extra_certs: tuple[x509.Certificate, ...] = ()
    validation_time: datetime | None = None
    allow_fetching: bool = False
    fetch_timeout_s: float = 10.0
    require_timestamp: bool = False
    require_revocation_data: bool = False
    min_rsa_bits: int = 2048
    min_ec_bits: int = 256
    weak_digests: frozenset[str] = frozenset({"md2", "md5", "sha1"})
    limits: Limits = field(default_factory=Limits)

    @classmethod
    def preset(
        cls,
        name: str = "default",
        *,
        trust_roots: Iterable[x509.Certificate] = (),
        validation_time: datetime | None = None,
        limits: Limits | None = None,
        extra_certs: Iterable[x509.Certificate] = (),
    ) -> ValidationPolicy:
        if name not in PRESETS:
            raise EsignError(
                ErrorCode.BAD_OPTION, detail=f"unknown policy {name!r} (known: {', '.join(PRESETS)})"
            )
        if validation_time is not None and validation_time.utcoffset() is None:
            raise EsignError(ErrorCode.BAD_OPTION, detail="the validation time needs a time zone")
        base = cls(
            name=name,
            trust_roots=tuple(trust_roots),
            extra_certs=tuple(extra_certs),
            validation_time=validation_time,
        )
        if limits is not None:
            base = replace(base, limits=limits)
        if name == "online":
            return replace(base, allow_fetching=True)
        if name == "strict":
            return replace(base, require_timestamp=True, require_revocation_data=True)
        return base


def load_trust_anchors(paths: Iterable[str | os.PathLike[str]]) -> tuple[x509.Certificate, ...]:
    """Certificates from PEM/DER files, and from directories of ``*.pem``/``*.crt``/``*.cer``/``*.der``."""
    certs: list[x509.Certificate] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in {".pem", ".crt", ".cer", ".der"})
        elif path.is_file():
            files = [path]
        else:
            raise EsignError(ErrorCode.BAD_OPTION, detail=f"trust anchor path not found: {path}")
        for file in files:
            certs.extend(_read_certificates(file))
    return tuple(certs)


def _read_certificates(file: Path) -> list[x509.Certificate]:
    return parse_certificates(file.read_bytes(), str(file))


def parse_certificates(data: bytes, name: str) -> list[x509.Certificate]:
    """The certificates of one PEM (one or more blocks) or DER blob, parsed in full now.

    asn1crypto parses lazily; a broken certificate must be refused here (``CERTIFICATE_UNREADABLE``,
    naming ``name``), not fail in the middle of a validation.
    """
    try:
        ders = [der for _, _, der in pem.unarmor(data, multiple=True)] if pem.detect(data) else [data]
        certs = [x509.Certificate.load(der, strict=True) for der in ders]
        for cert in certs:
            _ = cert.native
    except (ValueError, TypeError, KeyError) as exc:
        raise EsignError(ErrorCode.CERTIFICATE_UNREADABLE, name=name, detail=str(exc)[:200]) from None
    if not certs:
        raise EsignError(ErrorCode.CERTIFICATE_UNREADABLE, name=name, detail="no certificate in it")
    return certs
