"""Comments after an approval signature: allowed and reported, never passed as signed, never over content.

ISO 32000 lets anything follow an approval signature that no certification forbids, and viewers treat a
comment as such a change; DSS validates such a file (shared corpus ``dss/pades-signed-annot-added.pdf``).
esign reports the comment (COMMENT_ADDED_AFTER_APPROVAL, modifications "permitted"), and the signature is
INDETERMINATE: it does not vouch for what the comment shows. A comment that touches signed ink, or lies
over the seal, is still an attack. Documents are real seals (``esign.seal``) and real pyHanko updates.
"""

from __future__ import annotations

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name, pdf_string
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from esign.report.model import Indication, SubIndication
from tests import test_verify_attacks as attacks

# the attack battery's module-scoped test PKI, policy, signer and approval-sealed licence
pki, policy, signer, licence = attacks.pki, attacks.policy, attacks.signer, attacks.licence

#: blank paper on the licence, left of the seal
BLANK_RECT = (80.0, 250.0, 300.0, 290.0)
#: where the seal sits (AtPosition(1, 150, 235): centre at 425 pt, 176 pt from the bottom)
SEAL_RECT = (390.0, 150.0, 460.0, 200.0)
TEXT_BOX = {"/Contents": pdf_string("Checked, see file 7"), "/DA": pdf_string("/Helv 14 Tf 0 g")}


def _comment(subtype: str, rect: tuple[float, float, float, float]):
    return attacks._annotate(subtype, rect, dict(TEXT_BOX))


def _with_appearance_names(writer: IncrementalPdfFileWriter, **names: generic.PdfObject) -> None:
    """What Acrobat writes with a comment: the icons' appearances filed in the catalog's /Names /AP."""
    icon = writer.add_object(
        attacks._stream(
            b"0 g 0 0 24 24 re f",
            Type=pdf_name("/XObject"),
            Subtype=pdf_name("/Form"),
            BBox=generic.ArrayObject(generic.NumberObject(v) for v in (0, 0, 24, 24)),
        )
    )
    tree = writer.add_object(
        generic.DictionaryObject(
            {pdf_name("/Names"): generic.ArrayObject([pdf_string("~icon+Comment"), icon])}
        )
    )
    entries = {pdf_name("/AP"): tree, **{pdf_name(k): v for k, v in names.items()}}
    writer.root[pdf_name("/Names")] = writer.add_object(generic.DictionaryObject(entries))
    writer.update_root()


def test_a_text_box_on_blank_paper_is_reported_and_not_passed_as_signed(licence, policy) -> None:
    report = attacks._verify(attacks._update(licence, _comment("/FreeText", BLANK_RECT)), policy)
    result = attacks._signature(report)
    assert result.checks.modifications == "permitted"
    assert "COMMENT_ADDED_AFTER_APPROVAL" in result.findings
    assert (result.indication, result.subindication) == (
        Indication.INDETERMINATE,
        SubIndication.SIG_CONSTRAINTS_FAILURE,
    )
    assert result.reliable_esignature.verdict == "undetermined"


def test_a_comment_filed_with_its_appearance_names_is_still_only_a_comment(licence, policy) -> None:
    def change(writer: IncrementalPdfFileWriter) -> None:
        _comment("/FreeText", BLANK_RECT)(writer)
        _with_appearance_names(writer)

    result = attacks._signature(attacks._verify(attacks._update(licence, change), policy))
    assert result.checks.modifications == "permitted", result.findings
    assert result.indication is Indication.INDETERMINATE


def test_names_other_than_appearances_are_not_cleared_with_a_comment(licence, policy) -> None:
    """An attachment slipped into /Names next to the comment's appearances is a change of its own."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        _comment("/FreeText", BLANK_RECT)(writer)
        files = writer.add_object(generic.DictionaryObject({pdf_name("/Names"): generic.ArrayObject()}))
        _with_appearance_names(writer, **{"/EmbeddedFiles": files})

    attacks._shows_change(attacks._verify(attacks._update(licence, change), policy), "MODIFIED_AFTER_SIGNING")


def test_a_text_box_over_signed_text_is_an_attack(licence, policy) -> None:
    attacked = attacks._update(licence, _comment("/FreeText", attacks.TITLE_RECT))
    attacks._shows_change(attacks._verify(attacked, policy), "ANNOTATION_ADDED_OVER_CONTENT")


@pytest.mark.parametrize("subtype", ["/FreeText", "/Stamp"])
def test_a_comment_over_the_seal_is_never_passed(licence, policy, subtype) -> None:
    result = attacks._never_passes(
        attacks._verify(attacks._update(licence, _comment(subtype, SEAL_RECT)), policy), attacks.SEAL
    )
    assert {"ANNOTATIONS_OVERLAP", "ANNOTATION_ADDED_OVER_CONTENT"} & set(result.findings), result.findings


def test_a_link_is_no_comment(licence, policy) -> None:
    """Only markup annotations are comments; a link (an action on a click) added after signing is not."""
    attacked = attacks._update(licence, _comment("/Link", BLANK_RECT))
    attacks._shows_change(attacks._verify(attacked, policy))
