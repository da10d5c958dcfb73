"""XML syntax shared by the ETSI TS 119 102-2 renderer: namespaces, element factory, safe values.

Everything written into the report comes from PDFs uploaded by strangers (field names, certificate
subjects). XML 1.0 forbids most control characters and lone surrogates, and lxml refuses them with a
ValueError, so every string passes through :func:`xml_text` first: a hostile field name must cost one
replacement character, never the whole report.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from esign.errors import ErrorCode, EsignError

__all__ = [
    "ES",
    "NSMAP",
    "TSL",
    "VR",
    "XML_LANG",
    "append_sha256",
    "checked_sha256",
    "element",
    "xml_text",
    "xs_datetime",
]

#: ETSI TS 119 102-2 v1.2.1, the namespace of the schema the report is validated against.
VR = "http://uri.etsi.org/19102/v1.2.1#"
DS = "http://www.w3.org/2000/09/xmldsig#"
#: ETSI TS 119 612 (trusted lists): SignatureValidator/DigitalId borrows its DigitalIdentityType.
TSL = "http://uri.etsi.org/02231/v2#"
#: esign's own extension vocabulary (findings, checks, art. 13 verdict) in the schema's open slots.
ES = "urn:esign:validation-report:1"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
NSMAP = {"vr": VR, "ds": DS, "tsl": TSL, "es": ES}

SHA256_URI = "http://www.w3.org/2001/04/xmlenc#sha256"

_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SHA256_HEX = re.compile("[0-9a-fA-F]{64}")


def xml_text(value: Any) -> str:
    """``value`` as a string XML 1.0 can carry (forbidden characters become U+FFFD)."""
    return _NOT_XML_CHAR.sub("\ufffd", str(value))


def element(
    parent: etree._Element | None,
    namespace: str,
    name: str,
    text: Any = None,
    /,
    **attributes: Any,
) -> etree._Element:
    """A child of ``parent`` (the root when None) with safe text and attributes; None values are left out."""
    tag = f"{{{namespace}}}{name}"
    attrs = {key: xml_text(value) for key, value in attributes.items() if value is not None}
    node = etree.Element(tag, attrs, nsmap=NSMAP) if parent is None else etree.SubElement(parent, tag, attrs)
    if text is not None:
        node.text = xml_text(text)
    return node


def xs_datetime(value: str, what: str) -> str:
    """An ISO 8601 time from the report dict as a UTC xs:dateTime (naive times are taken as UTC)."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise EsignError(ErrorCode.XML_REPORT_UNAVAILABLE, detail=f"{what} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def checked_sha256(value: Any, what: str) -> str:
    """A hex SHA-256 from the report dict, lower-cased; anything else is refused before it is referred to."""
    if not isinstance(value, str) or not _SHA256_HEX.fullmatch(value):
        raise EsignError(ErrorCode.XML_REPORT_UNAVAILABLE, detail=f"{what} is not a hex SHA-256 digest")
    return value.lower()


def append_sha256(parent: etree._Element, hex_digest: str) -> None:
    """A ``DigestAlgAndValue`` (XAdES type, xmldsig children) for a :func:`checked_sha256` digest."""
    digest = element(parent, VR, "DigestAlgAndValue")
    element(digest, DS, "DigestMethod", Algorithm=SHA256_URI)
    element(digest, DS, "DigestValue", base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii"))
