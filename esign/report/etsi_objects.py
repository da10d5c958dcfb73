"""The report's SignatureValidationObjects: every IDREF in the report points at one of these.

pyHanko 0.38's experimental report refers to validation objects it never writes (dangling IDREFs, so
the document fails the schema). Here an object exists before anybody can refer to it: the only way to
obtain a reference is to register the object, and the same certificate used by several signatures is
one object referred to several times.
"""

from __future__ import annotations

from lxml import etree

from esign.report.etsi_syntax import VR, append_sha256, checked_sha256, element

__all__ = ["ValidationObjects"]

_OBJECT_TYPE = "urn:etsi:019102:validationObject:"


class ValidationObjects:
    """Validation objects identified by their SHA-256, registered while the signature reports are built."""

    def __init__(self) -> None:
        #: id → (ETSI object type, hex SHA-256), in order of first reference
        self._objects: dict[str, tuple[str, str]] = {}

    def certificate(self, sha256_hex: str) -> str:
        """The id of the certificate whose DER encoding has this digest."""
        return self._register("cert", "certificate", sha256_hex)

    def document(self, sha256_hex: str) -> str:
        """The id of the submitted PDF file (the signed data the signatures were found in)."""
        return self._register("doc", "signedData", sha256_hex)

    def append_to(self, report: etree._Element) -> None:
        """Write the SignatureValidationObjects list (the schema forbids an empty one)."""
        if not self._objects:
            return
        container = element(report, VR, "SignatureValidationObjects")
        for object_id, (object_type, sha256_hex) in self._objects.items():
            vo = element(container, VR, "ValidationObject", id=object_id)
            element(vo, VR, "ObjectType", _OBJECT_TYPE + object_type)
            append_sha256(element(vo, VR, "ValidationObjectRepresentation"), sha256_hex)

    def _register(self, prefix: str, object_type: str, sha256_hex: str) -> str:
        digest = checked_sha256(sha256_hex, f"the {object_type} digest")
        object_id = f"{prefix}-{digest}"
        self._objects.setdefault(object_id, (object_type, digest))
        return object_id
