"""Which object-level changes a signature allows: its DocMDP/FieldMDP constraints, read from the form tree.

The constraints decide which modification levels are permitted; which level each change reaches is
decided by the diff policy in :mod:`esign.verify.modifications.diff_policy`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import FieldMDPSpec, MDPPerm
from pyhanko.sign.validation import read_certification_data

from esign.pdf.annotations import resolved

#: Bound on page-tree depth, so a hostile tree cannot exhaust the stack.
MAX_TREE_DEPTH = 64


@dataclass(frozen=True)
class MdpConstraints:
    """The modification policy in force for one signature (``None`` = unrestricted)."""

    doc_mdp: MDPPerm | None = None
    field_mdp: FieldMDPSpec | None = None

    @property
    def allows_form_filling(self) -> bool:
        return self.doc_mdp is None or self.doc_mdp >= MDPPerm.FILL_FORMS

    @property
    def allows_annotations(self) -> bool:
        """Only an explicit P=3 certification allows comments; an approval signature makes no such promise."""
        return self.doc_mdp == MDPPerm.ANNOTATE

    def is_locked(self, field_name: str) -> bool:
        return self.field_mdp is not None and self.field_mdp.is_locked(field_name)


def read_constraints(reader: PdfFileReader, signed_revision: int) -> MdpConstraints:
    """The DocMDP/FieldMDP constraints of the signature written in ``signed_revision``.

    The certification (document-level /Perms/DocMDP) binds every later signature as well, so the
    strictest of it and the signature's own transform or field /Lock wins.
    """
    own_doc_mdp: MDPPerm | None = None
    field_mdp: FieldMDPSpec | None = None
    for field, sig in _signature_fields(reader):
        if _last_change(reader, sig) != signed_revision:
            continue
        sig_dict = sig.get_object()
        own_doc_mdp, field_mdp = _transform_constraints(sig_dict)
        lock = resolved(field, "/Lock")
        if lock is not None:
            lock = lock.get_object()
            if own_doc_mdp is None and "/P" in lock:
                own_doc_mdp = MDPPerm(int(lock["/P"]))
            if field_mdp is None:
                field_mdp = FieldMDPSpec.from_pdf_object(lock)
        break
    certified = read_certification_data(reader)
    doc_mdp = own_doc_mdp
    if certified is not None and _certified_at_or_before(reader, signed_revision):
        doc_mdp = certified.permission if doc_mdp is None else min(doc_mdp, certified.permission)
    return MdpConstraints(doc_mdp=doc_mdp, field_mdp=field_mdp)


def _certified_at_or_before(reader: PdfFileReader, revision: int) -> bool:
    sig = reader.root["/Perms"].raw_get("/DocMDP")
    last = _last_change(reader, sig)
    return last is None or last <= revision


def _last_change(reader: PdfFileReader, obj: generic.PdfObject) -> int | None:
    if not isinstance(obj, generic.IndirectObject):
        return None
    try:
        return reader.xrefs.get_last_change(obj.reference)
    except KeyError:
        return None


def _transform_constraints(sig_dict: generic.DictionaryObject) -> tuple[MDPPerm | None, FieldMDPSpec | None]:
    doc_mdp: MDPPerm | None = None
    field_mdp: FieldMDPSpec | None = None
    for ref_dict in resolved(sig_dict, "/Reference", ()):
        ref_dict = ref_dict.get_object()
        method = resolved(ref_dict, "/TransformMethod")
        params = resolved(ref_dict, "/TransformParams", generic.DictionaryObject()).get_object()
        if method == "/DocMDP":
            doc_mdp = MDPPerm(int(resolved(params, "/P", 2)))
        elif method == "/FieldMDP":
            field_mdp = FieldMDPSpec.from_pdf_object(params)
    return doc_mdp, field_mdp


def _signature_fields(reader: PdfFileReader) -> Iterator[tuple[generic.DictionaryObject, generic.PdfObject]]:
    """Signed signature fields as (field, raw /V), found by walking the AcroForm tree ourselves."""
    try:
        fields = reader.root["/AcroForm"]["/Fields"]
    except KeyError:
        return
    stack = [(f, 0) for f in fields]
    seen: set[int] = set()
    while stack:
        node, depth = stack.pop()
        if isinstance(node, generic.IndirectObject):
            if node.reference.idnum in seen or depth > MAX_TREE_DEPTH:
                continue
            seen.add(node.reference.idnum)
        field = node.get_object()
        if not isinstance(field, generic.DictionaryObject):
            continue
        if "/V" in field and field_type(field) == "/Sig":
            yield field, field.raw_get("/V")
        stack.extend((kid, depth + 1) for kid in resolved(field, "/Kids", ()))


def field_type(field: generic.DictionaryObject) -> str | None:
    """The field type (/FT) of a field or widget, inherited through /Parent as PDF form fields inherit it."""
    node: generic.PdfObject | None = field
    for _ in range(MAX_TREE_DEPTH):
        if not isinstance(node, generic.DictionaryObject):
            return None
        if "/FT" in node:
            return str(node["/FT"])
        node = resolved(node, "/Parent")
    return None


def widget_owners(root: generic.DictionaryObject) -> dict[tuple[int, int], tuple[str, str | None]]:
    """Widget reference → (field name, field type), from the form tree's /Kids.

    A widget normally names its field through /Parent, but some writers only list it in the field's
    /Kids; without this map a later signature's widget would look like a foreign annotation.
    """
    try:
        fields = root["/AcroForm"]["/Fields"]
    except (KeyError, TypeError):
        return {}
    if not isinstance(fields, generic.ArrayObject):
        return {}
    owners: dict[tuple[int, int], tuple[str, str | None]] = {}
    seen: set[generic.Reference] = set()
    stack: list[tuple[generic.PdfObject, str, str | None, int]] = [(f, "", None, 0) for f in fields]
    while stack:
        node, prefix, inherited_type, depth = stack.pop()
        if isinstance(node, generic.IndirectObject):
            if node.reference in seen:
                continue  # a form tree that loops (or shares kids) is walked once
            seen.add(node.reference)
        field_dict = node.get_object()
        if depth > MAX_TREE_DEPTH or not isinstance(field_dict, generic.DictionaryObject):
            continue
        name = f"{prefix}.{field_dict['/T']}" if prefix else str(resolved(field_dict, "/T", ""))
        field_type = str(field_dict["/FT"]) if "/FT" in field_dict else inherited_type
        kids = resolved(field_dict, "/Kids", ())
        for i in range(len(kids) if isinstance(kids, generic.ArrayObject) else 0):
            raw = kids.raw_get(i)
            kid = raw.get_object()
            if isinstance(kid, generic.DictionaryObject) and "/T" in kid:
                stack.append((raw, name, field_type, depth + 1))
            elif isinstance(raw, generic.IndirectObject):
                owners[(raw.reference.idnum, raw.reference.generation)] = (name, field_type)
    return owners
