"""pyHanko's diff policy with esign's rules: which level each object-level change after signing reaches.

pyHanko's standard diff policy knows no rule for plain annotations (it treats every comment as an
unexplained change), so a document certified with DocMDP P=3 — which explicitly allows comments —
would always look tampered with. :class:`AnnotationAdditionRule` closes that gap: it clears *added*
non-widget annotations at level ``ANNOTATIONS``; whether that level is allowed is then decided against
the DocMDP permission, and what the annotations actually draw is judged separately by the visual check.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import HistoricalResolver
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    CatalogModificationRule,
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

from esign.pdf.annotations import resolved
from esign.verify.modifications.mdp_rules import MAX_TREE_DEPTH, field_type, widget_owners


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
            elif (field_type(annot) or owners.get((ref.idnum, ref.generation), ("", None))[1]) != "/Sig":
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
        load_usages(old)
        freed = new.refs_freed_in_revision()
        in_use = [
            ref
            for ref in freed
            if old.reader.xrefs.get_historical_ref(ref, old.revision) is not None
            and old._get_usages_of_ref(ref)
        ]
        if in_use:
            raise SuspiciousModification(f"objects {in_use} used by the signed revision were freed")
        return super().apply(old, new, field_mdp_spec, doc_mdp)


def load_usages(resolver: HistoricalResolver) -> None:
    """pyHanko's reverse index of a revision, with a /StructTreeRoot that is no dictionary treated as absent.

    pyHanko walks the structure tree to build the index and fails on a /StructTreeRoot that is a
    reference to an object the revision does not define (null by ISO 32000 §7.3.10; an entry whose
    value is null is the same as no entry, §7.3.7). A null structure tree has no elements, so the index
    is built with the entry out of the way, and the entry is put back.
    """
    root = resolver.root
    value = root.raw_get("/StructTreeRoot") if "/StructTreeRoot" in root else None
    if value is None or isinstance(value.get_object(), generic.DictionaryObject):
        resolver._load_reverse_xref_cache()
        return
    del root["/StructTreeRoot"]
    try:
        resolver._load_reverse_xref_cache()
    finally:
        root["/StructTreeRoot"] = value


class CatalogRule(CatalogModificationRule):
    """pyHanko's catalog rule, except that the appearance name tree (/Names /AP) may grow with comments.

    Viewers that add a comment (Acrobat among them) also file the appearances of its icons in the
    catalog's /Names /AP tree (ISO 32000 §7.7.4), which pyHanko rejects as a new catalog entry. That tree
    only names appearance streams; nothing is drawn from it by itself. So a /Names whose other entries
    are unchanged in value is cleared at level ANNOTATIONS (a comment's level: forbidden under DocMDP
    P=1 and P=2), with whatever the new /AP tree reaches that the update wrote, provided the signed
    revision used none of it outside /Names /AP. Any other /Names change (scripts, embedded files,
    destinations) is judged by pyHanko's rule: not permitted.
    """

    def apply_qualified(
        self, old: HistoricalResolver, new: HistoricalResolver
    ) -> Iterable[tuple[ModificationLevel, ReferenceUpdate]]:
        cleared = _appearance_names(old, new)
        if cleared is None:
            yield from super().apply_qualified(old, new)
            return
        yield from CatalogModificationRule(self.ignored_keys | {"/Names"}).apply_qualified(old, new)
        for ref in cleared:
            yield ModificationLevel.ANNOTATIONS, ReferenceUpdate(ref)


def _appearance_names(old: HistoricalResolver, new: HistoricalResolver) -> set[generic.Reference] | None:
    """The objects to clear when /Names changed only in /AP; None when it changed otherwise or not at all."""
    old_raw = old.root.raw_get("/Names") if "/Names" in old.root else None
    new_raw = new.root.raw_get("/Names") if "/Names" in new.root else None
    if new_raw is None:
        return None
    old_names = old_raw.get_object() if old_raw is not None else generic.DictionaryObject()
    new_names = new_raw.get_object()
    if not isinstance(old_names, generic.DictionaryObject) or not isinstance(
        new_names, generic.DictionaryObject
    ):
        return None
    keys = set(new_names.keys()) - {"/AP"}
    copies: set[generic.Reference] = set()
    if keys != set(old_names.keys()) - {"/AP"} or "/AP" not in new_names:
        return None
    if not all(_same_value(old_names.raw_get(k), new_names.raw_get(k), old, new, copies) for k in keys):
        return None
    if "/AP" in old_names and _same_value(
        old_names.raw_get("/AP"), new_names.raw_get("/AP"), old, new, set()
    ):
        return None  # the appearance names did not change: nothing to clear here
    cleared = copies | new.collect_dependencies(new_names.raw_get("/AP"), since_revision=new.revision)
    if isinstance(new_raw, generic.IndirectObject):
        cleared.add(new_raw.reference)
    load_usages(old)
    allowed = (("/Root", "/Names", "/AP"),) if old_raw is not None else ()
    for ref in cleared:
        for path in old._get_usages_of_ref(ref):
            if ref != getattr(old_raw, "reference", None) and not any(
                tuple(path)[: len(prefix)] == prefix for prefix in allowed
            ):
                return None
    return cleared


#: pyHanko's standard rules, its catalog, DSS and orphan rules replaced by tolerant ones, plus the
#: annotation rule.
DIFF_POLICY = EsignDiffPolicy(
    global_rules=[
        CatalogRule(),
        *(
            r
            for r in DEFAULT_DIFF_POLICY.global_rules
            if not isinstance(r, CatalogModificationRule)
            and not isinstance(getattr(r, "rule", None), DSSCompareRule)
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
