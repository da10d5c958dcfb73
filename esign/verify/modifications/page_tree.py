"""The page tree and the object graph as the page comparison walks them: leaf pages, digests, closures.

Split from :mod:`esign.verify.modifications.page_changes`: every walk here is bounded (tree depth,
object nesting) and refuses cycles with :class:`PageStructureError`, so a hostile file cannot make the
comparison loop or exhaust the stack.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError

from esign.verify.modifications.mdp_rules import MAX_TREE_DEPTH

#: Page attributes that a page inherits from its ancestors in the page tree.
INHERITABLE = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")
#: Back-pointers that do not influence what a page shows and would drag the whole tree into a digest.
_BACK_POINTERS = frozenset({"/Parent", "/P", "/Popup"})
#: Nesting bound for digests: deeper structures are hostile, not documents.
MAX_OBJECT_DEPTH = 256

ObjKey = tuple[int, int]


class PageStructureError(ValueError):
    """The page structure cannot be analysed (cycles, absurd depth, non-dictionary pages)."""


@dataclass
class LeafPage:
    """A leaf of the page tree, with the attributes it inherits from its ancestors."""

    key: ObjKey | None
    page: generic.DictionaryObject
    inherited: dict[str, generic.PdfObject] = field(default_factory=dict)


def _is_back_pointer(obj: generic.DictionaryObject, key: str) -> bool:
    """``key`` names one of :data:`_BACK_POINTERS` *and* refers to a dictionary (a page, field or popup).

    The same keys mean other things elsewhere: an /OCMD's /P is its visibility policy (/AllOff hides
    what the page drew), so a value that is not a referenced dictionary is content like any other.
    """
    if key not in _BACK_POINTERS:
        return False
    value = obj.raw_get(key)
    if not isinstance(value, generic.IndirectObject):
        return False
    try:
        return isinstance(value.get_object(), generic.DictionaryObject)
    except PdfError:  # a dangling reference (strict reader) points nowhere: nothing to compare
        return True


class ObjectDigester:
    """Content hashes of objects as one revision sees them, memoised per object number."""

    def __init__(self) -> None:
        self._memo: dict[ObjKey, bytes] = {}

    def digest(self, obj: generic.PdfObject, depth: int = 0) -> bytes:
        if depth > MAX_OBJECT_DEPTH:
            raise PageStructureError("object nesting too deep")
        if isinstance(obj, generic.IndirectObject):
            key = (obj.reference.idnum, obj.reference.generation)
            cached = self._memo.get(key)
            if cached is not None:
                return cached
            self._memo[key] = b"cycle"  # a reference back into itself hashes to a constant
            result = self.digest(obj.get_object(), depth + 1)
            self._memo[key] = result
            return result
        h = hashlib.sha256(type(obj).__name__.encode())
        if isinstance(obj, generic.DictionaryObject):
            for k in sorted(k for k in obj if not _is_back_pointer(obj, k)):
                h.update(k.encode() + b"\0" + self.digest(obj.raw_get(k), depth + 1))
            if isinstance(obj, generic.StreamObject):
                h.update(hashlib.sha256(obj.encoded_data or b"").digest())
        elif isinstance(obj, generic.ArrayObject):
            for i in range(len(obj)):
                h.update(self.digest(obj.raw_get(i), depth + 1))
        elif not isinstance(obj, generic.NullObject):
            # NullObject's repr is its memory address: hashing it would make every null (an empty
            # form field's missing /V) look different in each revision, i.e. "filled after signing"
            h.update(repr(obj).encode())
        return h.digest()


def closure(obj: generic.PdfObject) -> set[ObjKey]:
    """Object numbers reachable from ``obj`` (back-pointers excluded)."""
    seen: set[ObjKey] = set()
    stack: list[tuple[generic.PdfObject, int]] = [(obj, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_OBJECT_DEPTH:
            raise PageStructureError("object nesting too deep")
        if isinstance(item, generic.IndirectObject):
            key = (item.reference.idnum, item.reference.generation)
            if key in seen:
                continue
            seen.add(key)
            item = item.get_object()
        if isinstance(item, generic.DictionaryObject):
            stack.extend((item.raw_get(k), depth + 1) for k in item if not _is_back_pointer(item, k))
        elif isinstance(item, generic.ArrayObject):
            stack.extend((item.raw_get(i), depth + 1) for i in range(len(item)))
    return seen


def list_pages(root: generic.DictionaryObject) -> list[LeafPage]:
    """Leaf pages in order, with inherited attributes resolved; cycles and absurd depth are refused."""
    pages: list[LeafPage] = []
    visited: set[ObjKey] = set()

    def walk(node: generic.PdfObject, inherited: dict[str, generic.PdfObject], depth: int) -> None:
        if depth > MAX_TREE_DEPTH:
            raise PageStructureError("page tree too deep")
        key = None
        if isinstance(node, generic.IndirectObject):
            key = (node.reference.idnum, node.reference.generation)
            if key in visited:
                raise PageStructureError("page tree contains a cycle")
            visited.add(key)
        obj = node.get_object()
        if not isinstance(obj, generic.DictionaryObject):
            raise PageStructureError("page tree node is not a dictionary")
        here = {**inherited, **{k: obj.raw_get(k) for k in INHERITABLE if k in obj}}
        if "/Kids" in obj:
            for kid in obj["/Kids"]:
                walk(kid, here, depth + 1)
        else:
            pages.append(LeafPage(key, obj, here))

    walk(root.raw_get("/Pages"), {}, 0)
    return pages
