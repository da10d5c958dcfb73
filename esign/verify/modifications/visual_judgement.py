"""Attribute the pixel changes of one page to permitted or suspicious causes.

Permitted widgets may draw only inside their own rectangle, so those rectangles are masked before the
rest of the page is compared — an overlay drawn anywhere else is still caught. Inside a mask, a later
signature or a comment may add ink but must not *erase* signed ink (that is the "sneaky signature" and
"evil annotation" pattern: a white box with new text on top). A filled form field may show its value
on blank paper, but whatever ink was visible inside its box when it was signed (page text, or the
field's own signed appearance) must still look the same: a field laid over signed text and filled
after signing, or given a new appearance, is the shadow "replace" attack.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum, auto

from esign.verify.modifications.mdp_rules import MdpConstraints
from esign.verify.modifications.model import ChangeFinding
from esign.verify.modifications.page_changes import Annotation, PagePair
from esign.verify.modifications.visual import PixelDiff, min_changed_pixels

#: Comment annotations that only mark up what is there; the only ones a P=3 certification lets pass.
COMMENT_SUBTYPES = frozenset(
    {"/Text", "/Highlight", "/Underline", "/StrikeOut", "/Squiggly", "/Popup", "/Caret"}
)
#: Markup annotations that draw content of their own (ISO 32000 §12.5.6): after an approval signature
#: they are comments too, but they may not touch signed ink at all (a text box over a figure, a stamp
#: over a seal). Under a P=3 certification they stay foreign: the evil annotation attack.
DRAWN_COMMENT_SUBTYPES = frozenset(
    {"/FreeText", "/Stamp", "/Ink", "/Square", "/Circle", "/Line", "/Polygon", "/PolyLine"}
)


class Role(Enum):
    """Why an annotation rectangle is on the list of regions of a page."""

    SIGNATURE = auto()  # widget of a later signature: may add ink, may not erase
    COMMENT = auto()  # comment allowed by DocMDP P=3: may add ink, may not erase
    #: comment after an approval signature (no certification): may add ink, may not erase; a drawn
    #: one may not draw over signed ink either. Allowed, but not signed: the signature is no proof of it
    UNSIGNED_COMMENT = auto()
    UNSIGNED_DRAWING = auto()
    FORM_FIELD = auto()  # widget of a form field filled as permitted: may add ink, not change signed ink
    FORM_FIELD_LOCKED = auto()  # widget of a form field whose filling is not permitted
    FOREIGN = auto()  # annotation added without permission
    REMOVED = auto()  # annotation present at signing, now removed or rewritten


@dataclass(frozen=True)
class Region:
    annotation: Annotation
    role: Role


def regions_of(pair: PagePair, constraints: MdpConstraints) -> list[Region]:
    """The annotation rectangles of a changed page, each with the role that decides its judgement."""
    regions: list[Region] = []
    for annot in pair.added:
        regions.append(Region(annot, _added_role(annot, constraints)))
    for annot in pair.rewritten:
        if annot.field_type == "/Sig":
            role = Role.SIGNATURE
        elif annot.is_widget and annot.field_name is not None:
            permitted = constraints.allows_form_filling and not constraints.is_locked(annot.field_name)
            role = Role.FORM_FIELD if permitted else Role.FORM_FIELD_LOCKED
        else:
            role = Role.REMOVED
        regions.append(Region(annot, role))
    regions.extend(Region(annot, Role.REMOVED) for annot in pair.removed)
    return [r for r in regions if r.annotation.rect is not None]


def _added_role(annot: Annotation, constraints: MdpConstraints) -> Role:
    if annot.field_type == "/Sig":
        return Role.SIGNATURE
    if annot.is_widget:
        return Role.FOREIGN
    if constraints.allows_annotations and annot.subtype in COMMENT_SUBTYPES:
        return Role.COMMENT
    if constraints.doc_mdp is not None or not annot.visible:
        # without an appearance stream of its own, what a comment shows is each viewer's invention
        # (ISO 32000-2 §12.5.5 requires one): no longer a comment whose drawing can be judged
        return Role.FOREIGN
    if annot.subtype in COMMENT_SUBTYPES:
        return Role.UNSIGNED_COMMENT
    if annot.subtype in DRAWN_COMMENT_SUBTYPES:
        return Role.UNSIGNED_DRAWING
    return Role.FOREIGN


def judge_page(
    pair: PagePair, regions: list[Region], diff: PixelDiff, dpi: int, optional_content_changed: bool
) -> Iterator[ChangeFinding]:
    """Findings for one rendered page pair; yields nothing when the page looks as it did at signing."""
    threshold = min_changed_pixels(dpi)
    page = (pair.new_number,)
    for i, region in enumerate(regions):
        annot, role = region.annotation, region.role
        changed, erased = diff.changed_in[i], diff.erased_in[i]
        what = f"{annot.subtype[1:] or 'annotation'} {annot.field_name or ''}".strip()
        if role in (Role.SIGNATURE, Role.COMMENT, Role.UNSIGNED_COMMENT) and erased > threshold:
            yield ChangeFinding(
                "ANNOTATION_ADDED_OVER_CONTENT",
                False,
                page,
                f"{what} hides signed content ({erased} px)",
            )
        elif role is Role.UNSIGNED_DRAWING and max(erased, _at(diff.covered_in, i)) > threshold:
            covered = max(erased, _at(diff.covered_in, i))
            yield ChangeFinding(
                "ANNOTATION_ADDED_OVER_CONTENT", False, page, f"{what} hides signed content ({covered} px)"
            )
        elif role in (Role.UNSIGNED_COMMENT, Role.UNSIGNED_DRAWING) and changed > threshold:
            yield ChangeFinding(
                "COMMENT_ADDED_AFTER_APPROVAL",
                True,
                page,
                f"{what} added after signing ({changed} px changed)",
            )
        elif role is Role.FORM_FIELD and _at(diff.covered_in, i) > threshold:
            yield ChangeFinding(
                "SHADOW_ATTACK_SUSPECTED",
                False,
                page,
                f"{what} drawn over ink visible at signing ({diff.covered_in[i]} px changed)",
            )
        elif role is Role.COMMENT and changed > threshold:
            yield ChangeFinding("COMMENT_ADDED_AFTER_SIGNING", True, page, what)
        elif role is Role.FORM_FIELD_LOCKED and changed > threshold:
            yield ChangeFinding("FORM_FILLED_AFTER_SIGNING", False, page, f"{what} changed but not permitted")
        elif role is Role.FOREIGN and changed > threshold:
            over_content = diff.ink_in[i] > threshold
            code = "ANNOTATION_ADDED_OVER_CONTENT" if over_content else "VISUAL_CHANGE_AFTER_SIGNING"
            yield ChangeFinding(code, False, page, f"{what} added after signing ({changed} px changed)")
        elif role is Role.REMOVED and changed > threshold:
            revealed = diff.revealed_in[i] > threshold
            code = "SHADOW_ATTACK_SUSPECTED" if revealed else "VISUAL_CHANGE_AFTER_SIGNING"
            yield ChangeFinding(code, False, page, f"{what} present at signing was removed or changed")
    if diff.changed_outside <= threshold:
        return
    detail = "page size changed" if diff.size_changed else f"{diff.changed_outside} px changed"
    if pair.content_changed:
        yield ChangeFinding("PAGE_CONTENT_CHANGED_AFTER_SIGNING", False, page, detail)
        if pair.dormant_objects:
            objs = ", ".join(f"{n} {g} R" for n, g in pair.dormant_objects[:5])
            yield ChangeFinding(
                "SHADOW_ATTACK_SUSPECTED", False, page, f"objects planted before signing now shown: {objs}"
            )
        elif pair.overwritten_objects:
            objs = ", ".join(f"{n} {g} R" for n, g in pair.overwritten_objects[:5])
            yield ChangeFinding(
                "SHADOW_ATTACK_SUSPECTED", False, page, f"signed objects redefined after signing: {objs}"
            )
    elif optional_content_changed:
        yield ChangeFinding(
            "SHADOW_ATTACK_SUSPECTED", False, page, f"optional content shown/hidden; {detail}"
        )
    else:
        yield ChangeFinding("VISUAL_CHANGE_AFTER_SIGNING", False, page, detail)


def _at(counts: tuple[int, ...], i: int) -> int:
    """``counts[i]``, or 0 when that measurement was not taken (no content rendering)."""
    return counts[i] if i < len(counts) else 0
