"""Which object-level changes a signature allows: its DocMDP/FieldMDP constraints and pyHanko's diff policy.

pyHanko's standard diff policy knows no rule for plain annotations (it treats every comment as an
unexplained change), so a document certified with DocMDP P=3 — which explicitly allows comments —
would always look tampered with. :class:`AnnotationAdditionRule` closes that gap: it clears *added*
non-widget annotations at level ``ANNOTATIONS``; whether that level is allowed is then decided against
the DocMDP permission, and what the annotations actually draw is judged separately by the visual check.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    DiffResult,
    DSSCompareRule,
    FormUpdatingRule,
    GenericFieldModificationRule,
    ModificationLevel,
    QualifiedWhitelistRule,
    ReferenceUpdate,
    SigFieldCreationRule,
    SigFieldModificationRule,
    StandardDiffPolicy,
    SuspiciousModification,
)
from pyhanko.sign.diff_analysis.rules_api import Context
from pyhanko.sign.fields import FieldMDPSpec, MDPPerm
from pyhanko.sign.validation import read_certification_data

#: Bound on page-tree depth, so a hostile tree cannot exhaust the stack.
MAX_TREE_DEPTH = 64


def resolved(obj: generic.PdfObject, key: str, default: object = None) -> Any:
    """``obj[key]`` dereferenced, or ``default``; pyHanko's ``dict.get`` would return the bare reference."""
    if isinstance(obj, generic.DictionaryObject) and key in obj:
        return obj[key]
    return default


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
        if "/V" in field and _field_type(field) == "/Sig":
            yield field, field.raw_get("/V")
        stack.extend((kid, depth + 1) for kid in resolved(field, "/Kids", ()))


def _field_type(field: generic.DictionaryObject) -> str | None:
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


class AnnotationAdditionRule(QualifiedWhitelistRule):
    """Clears pages that only gained freshly written annotations: comments at level ANNOTATIONS, widgets
    of signature fields at LTA_UPDATES (the binding of a new signature to its page).

    The widget binding replaces pyHanko's own (switched off in :data:`DIFF_POLICY`), which rejects the
    whole update when a writer rewrites any other page entry, even into an identical copy (a fresh
    /Resources object with the same content). Here the other entries must be *equal in value*; fresh
    objects that make them so are cleared with the page. The widgets themselves, their appearances and
    their fields are left to pyHanko's signature-field rules. Deleting or rewriting existing annotations,
    a changed page entry, a widget of any other field type, or reusing object numbers of the signed
    revision is left unexplained (so it stays suspicious).
    """

    def apply_qualified(
        self, old: HistoricalResolver, new: HistoricalResolver
    ) -> Iterable[tuple[ModificationLevel, ReferenceUpdate]]:
        owners = widget_owners(new.root)
        for old_page, new_page_ref in _parallel_pages(old.root["/Pages"], new.root["/Pages"], 0):
            yield from self._page_updates(old, new, old_page, new_page_ref, owners)

    @staticmethod
    def _page_updates(
        old: HistoricalResolver,
        new: HistoricalResolver,
        old_page: generic.DictionaryObject,
        new_page_ref: generic.IndirectObject,
        owners: dict[tuple[int, int], tuple[str, str | None]],
    ) -> Iterator[tuple[ModificationLevel, ReferenceUpdate]]:
        new_page = new_page_ref.get_object()
        old_annots = _annotation_refs(old_page)
        new_annots = _annotation_refs(new_page)
        if old_annots is None or new_annots is None or not old_annots < new_annots:
            return
        keys = set(new_page.keys()) - {"/Annots"}
        if set(old_page.keys()) - {"/Annots"} != keys:
            return
        copies: set[generic.Reference] = set()
        if not all(_same_value(old_page.raw_get(k), new_page.raw_get(k), old, new, copies) for k in keys):
            return
        added = new_annots - old_annots
        if any(not old.is_ref_unassignable(ref) for ref in added):
            return
        comments: set[generic.Reference] = set()
        for ref in added:
            annot = new(ref)
            if not isinstance(annot, generic.DictionaryObject):
                return
            if resolved(annot, "/Subtype") != "/Widget":
                comments |= {ref} | new.collect_dependencies(annot, since_revision=new.revision)
            elif (_field_type(annot) or owners.get((ref.idnum, ref.generation), ("", None))[1]) != "/Sig":
                return
        level = ModificationLevel.ANNOTATIONS if comments else ModificationLevel.LTA_UPDATES
        yield level, ReferenceUpdate(new_page_ref.reference)
        annots_value = new_page.raw_get("/Annots")
        if isinstance(annots_value, generic.IndirectObject):
            yield level, ReferenceUpdate(annots_value.reference)
        for ref in comments:
            yield ModificationLevel.ANNOTATIONS, ReferenceUpdate(ref)
        for ref in copies:
            yield ModificationLevel.LTA_UPDATES, ReferenceUpdate(ref)


#: bound on the objects compared for one page, so a hostile page cannot make the comparison unbounded
MAX_COMPARED_OBJECTS = 4096


def _same_value(
    old_value: generic.PdfObject,
    new_value: generic.PdfObject,
    old: HistoricalResolver,
    new: HistoricalResolver,
    copies: set[generic.Reference],
) -> bool:
    """Whether ``new_value`` (in ``new``) shows the same thing as ``old_value`` did (in ``old``).

    The same reference counts as equal (a rewrite of that object is judged on its own); a fresh object
    that is equal in value is added to ``copies``, to be cleared with the page.
    """
    stack = [(old_value, new_value, 0)]
    compared = 0
    while stack:
        a, b, depth = stack.pop()
        compared += 1
        if compared > MAX_COMPARED_OBJECTS or depth > MAX_TREE_DEPTH:
            return False
        same_ref = isinstance(a, generic.IndirectObject) and isinstance(b, generic.IndirectObject)
        if same_ref and a.reference == b.reference:
            continue
        if isinstance(b, generic.IndirectObject):
            if old.is_ref_unassignable(b.reference):
                copies.add(b.reference)
            b = new(b.reference)
        if isinstance(a, generic.IndirectObject):
            a = old(a.reference)
        if isinstance(a, generic.StreamObject) != isinstance(b, generic.StreamObject):
            return False
        if isinstance(a, generic.StreamObject) and a.encoded_data != b.encoded_data:
            return False
        if isinstance(a, generic.DictionaryObject) and isinstance(b, generic.DictionaryObject):
            if set(a.keys()) != set(b.keys()):
                return False
            stack.extend((a.raw_get(k), b.raw_get(k), depth + 1) for k in a)
        elif isinstance(a, generic.ArrayObject) and isinstance(b, generic.ArrayObject):
            if len(a) != len(b):
                return False
            stack.extend((a.raw_get(i), b.raw_get(i), depth + 1) for i in range(len(a)))
        elif type(a) is not type(b) or a != b:
            return False
    return True


def _parallel_pages(
    old_node: generic.PdfObject, new_node: generic.PdfObject, depth: int
) -> Iterator[tuple[generic.DictionaryObject, generic.IndirectObject]]:
    """Leaf pages of two page trees with identical structure; stops silently where they differ."""
    old_kids = resolved(old_node.get_object(), "/Kids", ())
    new_kids = resolved(new_node.get_object(), "/Kids", ())
    if depth > MAX_TREE_DEPTH or len(old_kids) != len(new_kids):
        return
    for old_kid, new_kid in zip(old_kids, new_kids, strict=True):
        same_ref = isinstance(old_kid, generic.IndirectObject) and isinstance(new_kid, generic.IndirectObject)
        if not same_ref or old_kid.reference != new_kid.reference:
            return
        old_obj = old_kid.get_object()
        if resolved(old_obj, "/Type") == "/Pages":
            yield from _parallel_pages(old_obj, new_kid, depth + 1)
        else:
            yield old_obj, new_kid


def _annotation_refs(page: generic.DictionaryObject) -> set[generic.Reference] | None:
    """Indirect annotation refs of a page, or None when any annotation is a direct object."""
    annots = resolved(page, "/Annots", generic.ArrayObject())
    if not isinstance(annots, generic.ArrayObject):
        return None
    raw = [annots.raw_get(i) for i in range(len(annots))]
    if not all(isinstance(a, generic.IndirectObject) for a in raw):
        return None
    return {a.reference for a in raw}


#: Where the signed revision may have used an object that validation data now reuses: the DSS itself,
#: and the trailer's /AdditionalStreams, where Adobe lists the streams of its LTV updates.
VALIDATION_DATA_PATHS = (("/Root", "/DSS"), ("/AdditionalStreams",))


class ValidationDataRule(QualifiedWhitelistRule):
    """Clears whatever the new /DSS reaches, at level LTA_UPDATES, however its writer laid it out.

    pyHanko's own DSS rule insists on one layout (VRI keys that are hashes, VRI entries never
    rewritten, no reuse of object numbers the old DSS used) and rejects the whole update otherwise;
    other PAdES writers routinely do all three. Validation data is never drawn, so the only thing that
    matters is that no object the signed revision *showed* is redefined: an object that the old
    revision used outside the /DSS stays unexplained (its other usages are not cleared here).
    """

    def apply_qualified(
        self, old: HistoricalResolver, new: HistoricalResolver
    ) -> Iterable[tuple[ModificationLevel, ReferenceUpdate]]:
        if "/DSS" not in new.root:
            return
        dss = new.root.raw_get("/DSS")
        reached = new.collect_dependencies(dss)
        if isinstance(dss, generic.IndirectObject):
            reached.add(dss.reference)
        level = ModificationLevel.LTA_UPDATES
        for ref in reached & set(new.explicit_refs_in_revision()):
            usages = old._get_usages_of_ref(ref)  # pyHanko's own reverse index of the signed revision
            if not usages:
                yield level, ReferenceUpdate(ref)
            for path in usages:
                if any(tuple(path)[: len(prefix)] == prefix for prefix in VALIDATION_DATA_PATHS):
                    yield level, ReferenceUpdate(ref, context_checked=Context.from_absolute(old, path))


class OrphanRule(QualifiedWhitelistRule):
    """Objects an update writes but nothing references are never shown: level LTA_UPDATES.

    pyHanko has the same rule built in, but its search fails the whole analysis on a reference to an
    object that no revision defines; the standard says such a reference is null, and so it is here.
    As in pyHanko, only objects numbered beyond what the signed revision could assign are candidates,
    and only objects written by the update are searched for references to them.
    """

    def apply_qualified(
        self, old: HistoricalResolver, new: HistoricalResolver
    ) -> Iterable[tuple[ModificationLevel, ReferenceUpdate]]:
        written = set(new.explicit_refs_in_revision())
        fresh = {ref for ref in written if old.is_ref_unassignable(ref)}
        if not fresh:
            return
        reached = _written_refs_reached(new, [new.trailer_view, *(new(ref) for ref in written - fresh)])
        for ref in fresh - reached:
            yield ModificationLevel.LTA_UPDATES, ReferenceUpdate(ref)


def _written_refs_reached(new: HistoricalResolver, starts: list[generic.PdfObject]) -> set[generic.Reference]:
    """Refs to objects written in ``new``'s revision reachable from ``starts``; dangling ones are skipped."""
    xrefs = new.reader.xrefs
    seen: set[generic.Reference] = set()
    stack = list(starts)
    while stack:
        obj = stack.pop()
        if isinstance(obj, generic.IndirectObject):
            ref = obj.reference
            if ref in seen:
                continue
            try:
                if xrefs.get_introducing_revision(ref) < new.revision:
                    continue
            except KeyError:  # defined by no revision: null
                continue
            seen.add(ref)
            obj = new(ref)
        if isinstance(obj, generic.DictionaryObject):
            stack.extend(obj.values())
        elif isinstance(obj, generic.ArrayObject):
            stack.extend(obj)
    return seen


class EsignDiffPolicy(StandardDiffPolicy):
    """pyHanko's standard policy, except that freeing an object the signed revision never used is harmless.

    Some writers mark object numbers free that no revision ever defined (or that nothing referenced);
    pyHanko rejects every freeing. Freeing an object that the signed revision used is still rejected:
    whatever referenced it would silently become null.
    """

    def apply(
        self,
        old: HistoricalResolver,
        new: HistoricalResolver,
        field_mdp_spec: FieldMDPSpec | None = None,
        doc_mdp: MDPPerm | None = None,
    ) -> DiffResult:
        freed = new.refs_freed_in_revision()
        if freed:
            old._load_reverse_xref_cache()
        in_use = [
            ref
            for ref in freed
            if old.reader.xrefs.get_historical_ref(ref, old.revision) is not None
            and old._get_usages_of_ref(ref)
        ]
        if in_use:
            raise SuspiciousModification(f"objects {in_use} used by the signed revision were freed")
        return super().apply(old, new, field_mdp_spec, doc_mdp)


#: pyHanko's standard rules, its DSS and orphan rules replaced by tolerant ones, plus the annotation rule.
DIFF_POLICY = EsignDiffPolicy(
    global_rules=[
        *(
            r
            for r in DEFAULT_DIFF_POLICY.global_rules
            if not isinstance(getattr(r, "rule", None), DSSCompareRule)
        ),
        ValidationDataRule(),
        OrphanRule(),
        AnnotationAdditionRule(),
    ],
    form_rule=FormUpdatingRule(
        field_rules=[
            SigFieldCreationRule(approve_widget_bindings=False),  # bindings: AnnotationAdditionRule
            SigFieldModificationRule(),
            GenericFieldModificationRule(),
        ]
    ),
    reject_object_freeing=False,
    ignore_orphaned_objects=False,
)
