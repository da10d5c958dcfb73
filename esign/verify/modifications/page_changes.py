"""Object-level page comparison between the signed revision and the final file.

This decides WHICH pages need rendering (only pages whose content, resources or annotations changed,
so a 2,000-page file with one changed page renders one page) and collects the structural signals that
tell a plain edit from a shadow attack:

* *dormant object activated* — the page now uses an object that already existed in the signed revision
  but was not used by that page (hide-and-replace: the attacker planted the replacement before signing);
* *object overwritten in place* — an object the page used at signing was redefined under the same
  object number by a later incremental update (replace: font, XObject or content stream swapped);
* *optional content state changed* — /OCProperties in the catalog changed (hide: a layer turned on/off).
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.rw_common import PdfHandler

from esign.pdf.annotations import resolved
from esign.verify.modifications.mdp_rules import MAX_TREE_DEPTH, widget_owners
from esign.verify.modifications.page_tree import (
    INHERITABLE,
    LeafPage,
    ObjectDigester,
    ObjKey,
    closure,
    list_pages,
)

_HIDDEN_FLAGS = 0b10 | 0b100000  # Hidden (bit 2) and NoView (bit 6)


@dataclass(frozen=True)
class Annotation:
    """What the visual judgement needs to know about one annotation."""

    key: ObjKey | None
    subtype: str
    rect: tuple[float, float, float, float] | None
    visible: bool
    field_name: str | None = None
    field_type: str | None = None
    hidden: bool = False  # /F has Hidden or NoView

    @property
    def is_widget(self) -> bool:
        return self.subtype == "/Widget"

    @property
    def may_draw(self) -> bool:
        """False only when no viewer draws it: flagged hidden, or a widget with a zero-area rectangle
        (an invisible signature). Viewers make up appearances for other annotations that lack one, and
        draw note icons whatever the rectangle, so those always count."""
        if self.hidden:
            return False
        if not self.is_widget or self.rect is None:
            return True
        x1, y1, x2, y2 = self.rect
        return x1 != x2 and y1 != y2


@dataclass(frozen=True)
class PageGeometry:
    """MediaBox and /Rotate: how PDF user space maps onto poppler's rendering (which uses the MediaBox)."""

    media_box: tuple[float, float, float, float]
    rotate: int


@dataclass(frozen=True)
class PagePair:
    """A page of the signed revision and the page at the same place in the final file, with what changed."""

    old_number: int  # 1-based page number in the signed revision
    new_number: int  # 1-based page number in the final file
    geometry: PageGeometry
    content_changed: bool
    added: tuple[Annotation, ...] = ()
    removed: tuple[Annotation, ...] = ()
    rewritten: tuple[Annotation, ...] = ()
    dormant_objects: tuple[ObjKey, ...] = ()
    overwritten_objects: tuple[ObjKey, ...] = ()
    #: some added, removed or rewritten annotation may draw (before or after); False only when none can
    annotations_may_draw: bool = True

    def needs_rendering(self, optional_content_changed: bool) -> bool:
        """Whether rendering could show a difference; only invisible annotation changes are skipped."""
        return self.content_changed or optional_content_changed or self.annotations_may_draw


@dataclass(frozen=True)
class PageComparison:
    added_pages: tuple[int, ...]  # numbers in the final file
    removed_pages: tuple[int, ...]  # numbers in the signed revision
    changed: tuple[PagePair, ...]  # only pairs with a change, or every pair when optional content changed
    optional_content_changed: bool


@dataclass
class _FinalView:
    """The final file's pages, their owners and object digests: the same for every signature judged."""

    pages: list[LeafPage]
    owners: dict[ObjKey, tuple[str, str | None]]
    digests: ObjectDigester = field(default_factory=ObjectDigester)
    #: objects reachable from the page tree (computed on first use)
    page_objects: set[ObjKey] | None = None


_FINAL_VIEWS: weakref.WeakKeyDictionary[PdfFileReader, _FinalView] = weakref.WeakKeyDictionary()


def _final_view(reader: PdfFileReader) -> _FinalView:
    """One :class:`_FinalView` per reader: ten signatures compare against one final file, read once."""
    view = _FINAL_VIEWS.get(reader)
    if view is None:
        view = _FINAL_VIEWS[reader] = _FinalView(list_pages(reader.root), widget_owners(reader.root))
    return view


def compare_pages(reader: PdfFileReader, signed_revision: int) -> PageComparison:
    """Pair the pages of the signed revision with those of the final file and find what changed."""
    old = reader.get_historical_resolver(signed_revision)
    final = _final_view(reader)
    old_pages, new_pages = list_pages(old.root), final.pages
    old_digests, new_digests = ObjectDigester(), final.digests
    rewritten = _rewritten_after(reader, signed_revision)
    ocg_changed = _optional_content_digest(old.root, old_digests) != _optional_content_digest(
        reader.root, new_digests
    )
    if not ocg_changed and _page_tree_untouched(reader, old, final, rewritten):
        return PageComparison(added_pages=(), removed_pages=(), changed=(), optional_content_changed=False)
    pairs, added, removed = _pair_pages(old_pages, new_pages)
    old_owners, new_owners = widget_owners(old.root), final.owners
    changed: list[PagePair] = []
    for old_ix, new_ix in pairs:
        op, np_ = old_pages[old_ix], new_pages[new_ix]
        content_changed = _content_digest(op, old_digests) != _content_digest(np_, new_digests)
        old_annots = dict(_annotations(op.page, old_digests, old_owners))
        new_annots = dict(_annotations(np_.page, new_digests, new_owners))
        a_added = tuple(a for k, (a, _) in new_annots.items() if k not in old_annots)
        a_removed = tuple(a for k, (a, _) in old_annots.items() if k not in new_annots)
        rewritten_keys = [k for k, (_, d) in new_annots.items() if k in old_annots and old_annots[k][1] != d]
        a_rewritten = tuple(new_annots[k][0] for k in rewritten_keys)
        before_rewrite = (old_annots[k][0] for k in rewritten_keys)
        may_draw = any(a.may_draw for a in (*a_added, *a_removed, *a_rewritten, *before_rewrite))
        moved = old_ix != new_ix
        if not (content_changed or a_added or a_removed or a_rewritten or moved or ocg_changed):
            continue
        dormant, overwritten = _shadow_signals(
            op, np_, (old_digests, new_digests), (old, reader), signed_revision, rewritten
        )
        changed.append(
            PagePair(
                old_number=old_ix + 1,
                new_number=new_ix + 1,
                geometry=_geometry(np_),
                content_changed=content_changed or moved,
                added=a_added,
                removed=a_removed,
                rewritten=a_rewritten,
                dormant_objects=dormant if content_changed else (),
                overwritten_objects=overwritten if content_changed else (),
                annotations_may_draw=may_draw,
            )
        )
    return PageComparison(
        added_pages=tuple(ix + 1 for ix in added),
        removed_pages=tuple(ix + 1 for ix in removed),
        changed=tuple(changed),
        optional_content_changed=ocg_changed,
    )


def _pair_pages(
    old: list[LeafPage], new: list[LeafPage]
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pair by page object; unmatched pages pair by position only when the count is unchanged.

    Matching by object number keeps an inserted page from making every later page look changed, and the
    positional fallback still catches a page object swapped for a new one (a content change, not an
    addition plus a removal).
    """
    old_index = {p.key: i for i, p in enumerate(old) if p.key is not None}
    pairs: list[tuple[int, int]] = []
    matched_old: set[int] = set()
    unmatched_new: list[int] = []
    for j, page in enumerate(new):
        i = old_index.get(page.key) if page.key is not None else None
        if i is None or i in matched_old:
            unmatched_new.append(j)
        else:
            pairs.append((i, j))
            matched_old.add(i)
    unmatched_old = [i for i in range(len(old)) if i not in matched_old]
    if len(old) == len(new):
        pairs.extend(zip(unmatched_old, unmatched_new, strict=True))
        return sorted(pairs, key=lambda p: p[1]), [], []
    return sorted(pairs, key=lambda p: p[1]), unmatched_new, unmatched_old


def _content_digest(page: LeafPage, digester: ObjectDigester) -> bytes:
    h = hashlib.sha256()
    for k in sorted(k for k in page.page if k not in {"/Annots", "/Parent", *INHERITABLE}):
        h.update(k.encode() + digester.digest(page.page.raw_get(k)))
    for k in sorted(page.inherited):
        h.update(k.encode() + digester.digest(page.inherited[k]))
    return h.digest()


def _annotations(
    page: generic.DictionaryObject, digester: ObjectDigester, owners: dict[ObjKey, tuple[str, str | None]]
) -> Iterator[tuple[ObjKey | tuple[str, int], tuple[Annotation, bytes]]]:
    annots = resolved(page, "/Annots", generic.ArrayObject())
    if not isinstance(annots, generic.ArrayObject):
        return
    for i in range(len(annots)):
        raw = annots.raw_get(i)
        key: ObjKey | None = None
        if isinstance(raw, generic.IndirectObject):
            key = (raw.reference.idnum, raw.reference.generation)
        annot = raw.get_object()
        if not isinstance(annot, generic.DictionaryObject):
            continue
        yield (key or ("direct", i)), (_describe(annot, key, owners), digester.digest(raw))


def _describe(
    annot: generic.DictionaryObject, key: ObjKey | None, owners: dict[ObjKey, tuple[str, str | None]]
) -> Annotation:
    flags = resolved(annot, "/F", 0)
    hidden = isinstance(flags, int) and bool(flags & _HIDDEN_FLAGS)
    visible = not hidden and "/AP" in annot
    name_parts: list[str] = []
    field_type: str | None = None
    node: generic.PdfObject | None = annot
    for _ in range(MAX_TREE_DEPTH):
        if not isinstance(node, generic.DictionaryObject):
            break
        if "/T" in node:
            name_parts.insert(0, str(node["/T"]))
        if field_type is None and "/FT" in node:
            field_type = str(node["/FT"])
        node = resolved(node, "/Parent")
    if not name_parts and key in owners:
        owner_name, field_type = owners[key]
        name_parts.append(owner_name)
    return Annotation(
        key=key,
        subtype=str(resolved(annot, "/Subtype", "")),
        rect=_rect(resolved(annot, "/Rect")),
        visible=visible,
        field_name=".".join(name_parts) or None,
        field_type=field_type,
        hidden=hidden,
    )


def _rect(value: generic.PdfObject | None) -> tuple[float, float, float, float] | None:
    try:
        x1, y1, x2, y2 = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def _geometry(page: LeafPage) -> PageGeometry:
    box = _rect(page.inherited.get("/MediaBox") and page.inherited["/MediaBox"].get_object())
    rotate = page.inherited.get("/Rotate", 0)
    rotate = int(rotate.get_object()) if isinstance(rotate, generic.PdfObject) else 0
    return PageGeometry(media_box=box or (0.0, 0.0, 612.0, 792.0), rotate=rotate % 360)


def _optional_content_digest(root: generic.DictionaryObject, digester: ObjectDigester) -> bytes | None:
    value = root.raw_get("/OCProperties") if "/OCProperties" in root else None
    return None if value is None else digester.digest(value)


def _page_tree_untouched(
    reader: PdfFileReader, old: PdfHandler, final: _FinalView, rewritten: set[ObjKey]
) -> bool:
    """No object the page tree reaches was defined after the signed revision: every page is as signed.

    Both revisions then resolve the same tree to the same definitions, so every digest the pair-wise
    comparison would compute is equal on both sides — and a DSS or timestamp update (the usual later
    revision) does not have to hash the whole page tree twice to show it. The final tree was already
    listed without error (:func:`_final_view`), so the structural refusals stay the same.
    """
    before, after = old.root.raw_get("/Pages"), reader.root.raw_get("/Pages")
    if not isinstance(before, generic.IndirectObject) or not isinstance(after, generic.IndirectObject):
        return False
    if before.reference != after.reference:
        return False
    if final.page_objects is None:
        final.page_objects = closure(after)
    return final.page_objects.isdisjoint(rewritten)


def _rewritten_after(reader: PdfFileReader, signed_revision: int) -> set[ObjKey]:
    keys: set[ObjKey] = set()
    for revision in range(signed_revision + 1, reader.xrefs.total_revisions):
        keys |= {(r.idnum, r.generation) for r in reader.xrefs.explicit_refs_in_revision(revision)}
    return keys


def _shadow_signals(
    old_page: LeafPage,
    new_page: LeafPage,
    digests: tuple[ObjectDigester, ObjectDigester],
    handlers: tuple[object, PdfFileReader],
    signed_revision: int,
    rewritten: set[ObjKey],
) -> tuple[tuple[ObjKey, ...], tuple[ObjKey, ...]]:
    """(dormant objects now used, objects used at signing that were redefined with other content)."""
    reader = handlers[1]
    old_used = _page_closure(old_page)
    new_used = _page_closure(new_page)
    dormant = sorted(key for key in new_used - old_used if _existed_at(reader, key, signed_revision))
    overwritten = sorted(
        key
        for key in (old_used & rewritten) - {old_page.key}
        if _digest_of(key, digests[0], handlers[0]) != _digest_of(key, digests[1], handlers[1])
    )
    return tuple(dormant), tuple(overwritten)


def _digest_of(key: ObjKey, digester: ObjectDigester, handler: object) -> bytes:
    return digester.digest(generic.IndirectObject(key[0], key[1], handler))


def _page_closure(page: LeafPage) -> set[ObjKey]:
    used: set[ObjKey] = set()
    for k in page.page:
        if k not in {"/Annots", "/Parent", *INHERITABLE}:
            used |= closure(page.page.raw_get(k))
    for value in page.inherited.values():
        used |= closure(value)
    return used


def _existed_at(reader: PdfFileReader, key: ObjKey, revision: int) -> bool:
    try:
        return reader.xrefs.get_introducing_revision(generic.Reference(*key)) <= revision
    except KeyError:
        return False
