"""Changes after signing that alter what viewers show or do without touching any page's content.

The page comparison only sees pages; these entries live elsewhere and still change what a person is
shown, so each one is compared between the signed revision and the final file:

* ``/AcroForm /NeedAppearances true`` — viewers then redraw form fields, and seals, themselves:
  poppler draws a signed widget without its seal picture (``NEED_APPEARANCES_SET``);
* the appearance (``/AP``, ``/AS``, ``/MK``), flags or rectangle of the widget of a signature that was
  already signed — the seal picture replaced, hidden or moved (``SIGNATURE_APPEARANCE_REPLACED``);
* actions: ``/OpenAction``, the catalog's and pages' ``/AA``, document JavaScript (``/Names
  /JavaScript``), and ``/A``/``/AA`` of annotations — code that runs when the file, a page or a field
  is opened can rewrite what is shown (``ACTION_ADDED_AFTER_SIGNING``);
* optional content configuration ``/OCProperties`` — layers switched on or off (``OPTIONAL_CONTENT_CHANGED``);
* the document information a viewer displays: ``/Info`` Title, Author, Subject, Keywords and their XMP
  counterparts (``DOCUMENT_INFO_CHANGED``; only writer bookkeeping such as ModDate or Producer may change).

DocMDP allows none of these at any level (P=1 nothing, P=2 form filling and signing, P=3 also
comments), so under a certification each change is also a ``DOCMDP_VIOLATION`` naming the entries.
pyHanko's diff policy lets ``/NeedAppearances`` and ``/Info`` change freely, which is why this is
judged here and not left to it. Without a certification a changed title is reported but permitted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from lxml import etree
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader

from esign.pdf.annotations import resolved
from esign.verify.modifications.mdp_rules import MAX_TREE_DEPTH, MdpConstraints
from esign.verify.modifications.model import ChangeFinding
from esign.verify.modifications.page_tree import ObjectDigester, list_pages

#: /Info entries a viewer shows in its title bar or document properties
INFO_KEYS = ("/Title", "/Author", "/Subject", "/Keywords")
#: their XMP counterparts (Dublin Core and Adobe PDF schema)
XMP_PROPERTIES = {
    "{http://purl.org/dc/elements/1.1/}title": "dc:title",
    "{http://purl.org/dc/elements/1.1/}creator": "dc:creator",
    "{http://purl.org/dc/elements/1.1/}description": "dc:description",
    "{http://purl.org/dc/elements/1.1/}subject": "dc:subject",
    "{http://ns.adobe.com/pdf/1.3/}Keywords": "pdf:Keywords",
}
#: what of a signed signature's widget decides how it looks and where
WIDGET_LOOKS = ("/AP", "/AS", "/MK", "/F", "/Rect")
#: XMP packets larger than this are not parsed (hostile input): a change is then reported as such
MAX_XMP_BYTES = 4 * 1024 * 1024
_XMP_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)

Key = tuple[int, int] | tuple[str, int, int]
_PAGE_TYPES = ("/Page", "/Pages")


class _PagesOpaque(ObjectDigester):
    """Digests in which a reference to a page stands for itself: an action that goes to page 1 is the
    same action after page 1 gained a later signature's widget."""

    def digest(self, obj: generic.PdfObject, depth: int = 0) -> bytes:
        if isinstance(obj, generic.IndirectObject):
            target = obj.get_object()
            if isinstance(target, generic.DictionaryObject) and resolved(target, "/Type") in _PAGE_TYPES:
                return hashlib.sha256(
                    b"page %d %d" % (obj.reference.idnum, obj.reference.generation)
                ).digest()
        return super().digest(obj, depth)


class _Revision:
    """One revision's catalog, trailer and annotations, with a digester for its objects."""

    def __init__(self, root: generic.DictionaryObject, info: generic.PdfObject | None) -> None:
        self.root, self.info = root, info
        self.digests = _PagesOpaque()
        self.pages = list_pages(root)

    def digest(self, container: object, key: str) -> bytes | None:
        if not isinstance(container, generic.DictionaryObject) or key not in container:
            return None
        return self.digests.digest(container.raw_get(key))

    def annotations(self) -> Iterator[tuple[Key, int, generic.DictionaryObject]]:
        """(key, 1-based page number, annotation) of every annotation; direct ones keyed by position."""
        for number, page in enumerate(self.pages, start=1):
            annots = resolved(page.page, "/Annots", generic.ArrayObject())
            for i in range(len(annots) if isinstance(annots, generic.ArrayObject) else 0):
                raw = annots.raw_get(i)
                annot = raw.get_object()
                if not isinstance(annot, generic.DictionaryObject):
                    continue
                key = (
                    (raw.idnum, raw.generation)
                    if isinstance(raw, generic.IndirectObject)
                    else ("d", number, i)
                )
                yield key, number, annot


def document_entry_changes(
    reader: PdfFileReader, signed_revision: int, constraints: MdpConstraints
) -> list[ChangeFinding]:
    """Findings for the entries above that changed after ``signed_revision``."""
    old_view = reader.get_historical_resolver(signed_revision)
    old = _Revision(old_view.root, _info(old_view.trailer_view, old_view))
    new = _Revision(reader.root, _info(reader.trailer, None))
    findings = [*_form_and_layers(old, new), *_actions(old, new), *_signed_widgets(old, new)]
    info = _changed_info(old, new)
    if info:
        permitted = constraints.doc_mdp is None
        findings.append(ChangeFinding("DOCUMENT_INFO_CHANGED", permitted, (), ", ".join(info)))
    if constraints.doc_mdp is not None and findings:
        entries = "; ".join(f.detail for f in findings)
        detail = (
            f"document-level entries changed after certification P={constraints.doc_mdp.value}: {entries}"
        )
        findings.append(ChangeFinding("DOCMDP_VIOLATION", False, (), detail[:500]))
    return findings


def _form_and_layers(old: _Revision, new: _Revision) -> Iterator[ChangeFinding]:
    if _needs_appearances(new.root) and not _needs_appearances(old.root):
        yield ChangeFinding("NEED_APPEARANCES_SET", False, (), "/AcroForm /NeedAppearances true")
    if old.digest(old.root, "/OCProperties") != new.digest(new.root, "/OCProperties"):
        yield ChangeFinding("OPTIONAL_CONTENT_CHANGED", False, (), "/OCProperties")


def _needs_appearances(root: generic.DictionaryObject) -> bool:
    value = resolved(resolved(root, "/AcroForm"), "/NeedAppearances")
    return isinstance(value, generic.BooleanObject) and bool(value)


def _actions(old: _Revision, new: _Revision) -> Iterator[ChangeFinding]:
    """Actions present now that were not (or were different) in the signed revision."""
    changed = [k for k in ("/OpenAction", "/AA") if _added(old.digest(old.root, k), new.digest(new.root, k))]
    names_old, names_new = resolved(old.root, "/Names"), resolved(new.root, "/Names")
    if _added(old.digest(names_old, "/JavaScript"), new.digest(names_new, "/JavaScript")):
        changed.append("/Names /JavaScript")
    if changed:
        yield ChangeFinding("ACTION_ADDED_AFTER_SIGNING", False, (), ", ".join(changed))
    old_pages = {p.key: old.digest(p.page, "/AA") for p in old.pages if p.key is not None}
    for number, page in enumerate(new.pages, start=1):
        if _added(old_pages.get(page.key) if page.key is not None else None, new.digest(page.page, "/AA")):
            yield ChangeFinding("ACTION_ADDED_AFTER_SIGNING", False, (number,), "page /AA")
    old_annots = {key: annot for key, _, annot in old.annotations()}
    for key, number, annot in new.annotations():
        before = old_annots.get(key)
        for entry in ("/A", "/AA"):
            if _added(old.digest(before, entry), new.digest(annot, entry)):
                what = f"{resolved(annot, '/Subtype', '/Annot')} {entry}"
                yield ChangeFinding("ACTION_ADDED_AFTER_SIGNING", False, (number,), what)


def _added(before: bytes | None, after: bytes | None) -> bool:
    """An entry that is there now and was absent or different at signing (removing one adds no code)."""
    return after is not None and after != before


def _signed_widgets(old: _Revision, new: _Revision) -> Iterator[ChangeFinding]:
    """Widgets of signatures that were signed at the signed revision and look different now."""
    now = {key: (number, annot) for key, number, annot in new.annotations()}
    for key, _, annot in old.annotations():
        if key not in now or not _is_signed_signature(annot):
            continue
        number, current = now[key]
        changed = [k for k in WIDGET_LOOKS if old.digest(annot, k) != new.digest(current, k)]
        if changed:
            name = _field_name(annot)
            yield ChangeFinding(
                "SIGNATURE_APPEARANCE_REPLACED", False, (number,), f"{name}: {' '.join(changed)}"
            )


def _is_signed_signature(annot: generic.DictionaryObject) -> bool:
    """A widget whose field (itself or an ancestor) is a signature field with a value."""
    node: object = annot
    field_type = value = None
    for _ in range(MAX_TREE_DEPTH):
        if not isinstance(node, generic.DictionaryObject):
            break
        field_type = field_type or resolved(node, "/FT")
        value = value if value is not None else resolved(node, "/V")
        node = resolved(node, "/Parent")
    return field_type == "/Sig" and isinstance(value, generic.DictionaryObject)


def _field_name(annot: generic.DictionaryObject) -> str:
    node: object = annot
    for _ in range(MAX_TREE_DEPTH):
        if isinstance(node, generic.DictionaryObject) and "/T" in node:
            return str(node["/T"])
        node = resolved(node, "/Parent")
    return "signature"


def _changed_info(old: _Revision, new: _Revision) -> list[str]:
    """The displayed document information entries whose value differs between the revisions."""
    changed = [k for k in INFO_KEYS if _text(old.info, k) != _text(new.info, k)]
    if old.digest(old.root, "/Metadata") != new.digest(new.root, "/Metadata"):
        before, after = _xmp(old.root), _xmp(new.root)
        changed += [name for name in XMP_PROPERTIES.values() if before.get(name) != after.get(name)]
    return [f"/Info {k}" if k.startswith("/") else f"XMP {k}" for k in changed]


def _info(trailer: generic.PdfObject, revision: HistoricalResolver | None) -> generic.PdfObject | None:
    """The trailer's /Info dictionary as ``revision`` defines it (None = the final file).

    A historical trailer's references resolve to the newest definition, so an /Info rewritten in place
    would look unchanged: the reference is resolved in the revision instead.
    """
    try:
        raw = trailer.raw_get("/Info")  # type: ignore[attr-defined]
        if revision is not None and isinstance(raw, generic.IndirectObject):
            return revision(raw.reference)
        return raw.get_object()
    except (KeyError, TypeError, AttributeError):
        return None


def _text(info: object, key: str) -> str | None:
    value = resolved(info, key)
    return None if value is None else str(value)


def _xmp(root: generic.DictionaryObject) -> dict[str, str]:
    """The displayed XMP properties, as text; a packet that cannot be read yields a marker value."""
    stream = resolved(root, "/Metadata")
    if not isinstance(stream, generic.StreamObject):
        return {}
    try:
        if len(stream.encoded_data or b"") > MAX_XMP_BYTES:
            raise ValueError("XMP packet too large")
        tree = etree.fromstring(stream.read_data(DecodePurpose.XMP_METADATA), parser=_XMP_PARSER)
    except Exception as e:  # an unreadable packet can't be shown to be unchanged
        return dict.fromkeys(XMP_PROPERTIES.values(), f"unreadable: {type(e).__name__}")
    found: dict[str, list[str]] = {}
    for element in tree.iter():
        if element.tag in XMP_PROPERTIES:  # <dc:title><rdf:Alt><rdf:li>…</rdf:li></rdf:Alt></dc:title>
            found.setdefault(XMP_PROPERTIES[element.tag], []).append(" ".join(element.itertext()).strip())
        for attribute, value in element.attrib.items():  # <rdf:Description pdf:Keywords="…"/>
            if attribute in XMP_PROPERTIES:
                found.setdefault(XMP_PROPERTIES[attribute], []).append(value.strip())
    return {name: " | ".join(texts) for name, texts in found.items()}
