"""Which annotations each reader sees on a changed page: one that a reader misses is a hiding risk.

An update can be written so that one reader finds an annotation another does not (an /Annots array
entry one parser resolves and another drops, a dictionary only one accepts): what one viewer draws over
the page, or what captures a click, is then invisible in the other — and to a verifier that asks only
one of them. So, for every page changed after signing, the drawn annotations are counted by three
independent parsers: pyHanko (ours), PDFium (stated by the rendering process while it renders the page,
so it costs nothing extra) and MuPDF (``mutool run``, one short process per revision). poppler has no
command-line tool that lists annotations; its view is its rendering, which is judged page by page.

Links and popups are left out of the count: MuPDF keeps them apart from annotations, and neither draws
over the page by itself. A disagreement already present in the signed revision is the signed
document's own and is not repeated; a new one is ``RENDERERS_DISAGREE`` (a doubt: the signature is at
most INDETERMINATE). A reader that cannot answer (not installed, failed) has no view.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from esign.pdf.annotations import resolved
from esign.verify.modifications.model import ChangeFinding
from esign.verify.modifications.page_tree import list_pages
from esign.verify.modifications.visual import annotation_counts

#: subtypes no reader is asked about: MuPDF lists links apart, popups draw only when opened
NOT_COUNTED = frozenset({"/Link", "/Popup"})
#: MuPDF's count of drawn annotations (comments and widgets, as MuPDF lists them) on the given pages
MUPDF_SCRIPT = """
var doc = new PDFDocument(scriptArgs[0]);
for (var i = 1; i < scriptArgs.length; i++) {
  var n = parseInt(scriptArgs[i]);
  var page = doc.loadPage(n - 1);
  print("annots " + n + " " + (page.getAnnotations().length + page.getWidgets().length));
}
"""
_ANNOTS_LINE = re.compile(rb"^annots (\d+) (\d+)$", re.M)
#: reader name → page number → count
Views = dict[str, dict[int, int]]


def annotation_disagreements(
    signed_pdf: bytes,
    pdf: bytes,
    reader: PdfFileReader,
    signed_revision: int,
    pages: Sequence[tuple[int, int]],
    deadline: float,
) -> list[ChangeFinding]:
    """``pages`` are (page number at signing, page number now) of the changed pages."""
    if not pages:
        return []
    old_numbers, new_numbers = [p[0] for p in pages], [p[1] for p in pages]
    signed = _views(signed_pdf, reader.get_historical_resolver(signed_revision).root, old_numbers, deadline)
    final = _views(pdf, reader.root, new_numbers, deadline)
    findings = []
    for old_number, new_number in pages:
        now = {name: counts[new_number] for name, counts in final.items() if new_number in counts}
        then = {name: counts[old_number] for name, counts in signed.items() if old_number in counts}
        if len(set(now.values())) <= 1 or _same_disagreement(now, then):
            continue
        seen = ", ".join(f"{name}: {count}" for name, count in now.items())
        detail = f"the readers see different numbers of annotations ({seen})"
        findings.append(ChangeFinding("RENDERERS_DISAGREE", False, (new_number,), detail))
    return findings


def _same_disagreement(now: dict[str, int], then: dict[str, int]) -> bool:
    """Whether every reader is off from pyHanko now by what it was off at signing (the signed file's own
    quirk, e.g. a reader that never lists some kind of annotation); a reader without a view then counts
    as a new disagreement."""
    return all(
        name in then and count - now["pyHanko"] == then[name] - then["pyHanko"] for name, count in now.items()
    )


def _views(pdf: bytes, root: generic.DictionaryObject, numbers: Sequence[int], deadline: float) -> Views:
    leaves = list_pages(root)
    views: Views = {"pyHanko": {n: _count(leaves[n - 1].page) for n in numbers if 0 < n <= len(leaves)}}
    pdfium = annotation_counts(pdf)
    if pdfium:
        views["PDFium"] = {n: pdfium[n] for n in numbers if n in pdfium}
    mupdf = _mupdf_counts(pdf, numbers, deadline)
    if mupdf:
        views["MuPDF"] = mupdf
    return views


def _count(page: generic.DictionaryObject) -> int:
    annots = resolved(page, "/Annots", generic.ArrayObject())
    if not isinstance(annots, generic.ArrayObject):
        return 0
    return sum(1 for annot in _dicts(annots) if str(resolved(annot, "/Subtype", "")) not in NOT_COUNTED)


def _dicts(annots: generic.ArrayObject) -> Iterable[generic.DictionaryObject]:
    for i in range(len(annots)):
        annot = annots.raw_get(i).get_object()
        if isinstance(annot, generic.DictionaryObject):
            yield annot


def _mupdf_counts(pdf: bytes, numbers: Sequence[int], deadline: float) -> dict[int, int]:
    """MuPDF's counts, or {} when mutool is missing, fails or runs out of time (it then has no view)."""
    mutool = shutil.which("mutool")
    remaining = deadline - time.monotonic()
    if mutool is None or remaining <= 0:
        return {}
    with tempfile.TemporaryDirectory(prefix="esign-annots-") as tmp:
        source, script = Path(tmp) / "in.pdf", Path(tmp) / "count.js"
        source.write_bytes(pdf)
        script.write_text(MUPDF_SCRIPT)
        cmd = [mutool, "run", str(script), str(source), *map(str, numbers)]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=min(remaining, 30), check=False)
        except subprocess.TimeoutExpired:
            return {}
    found = {int(m.group(1)): int(m.group(2)) for m in _ANNOTS_LINE.finditer(done.stdout)}
    return found if done.returncode == 0 and set(found) == set(numbers) else {}
