"""What viewers show, asked of more than one viewer: every changed page is judged in every engine.

A forged update can be written so that one reader sees it and another doesn't (a damaged
cross-reference entry one engine repairs, a structure only one of them accepts). The verifier's own
parser (pyHanko) is one reader; poppler and PDFium are the ones people look through. So:

* each changed page is rendered before and after by each engine (:data:`.visual.ENGINES`) and judged
  on its own by :func:`.visual_judgement.judge_page`; a page that changed in ANY engine changed — the
  finding says which engines saw it;
* the page count of the signed revision and of the final file is asked of pyHanko and of each engine;
  when the update makes them disagree (different counts, or a file an engine no longer opens while
  another does) the document is not read alike by everyone: ``RENDERERS_DISAGREE``, a doubt
  (the signature at most INDETERMINATE), since we can't tell which reading the applicant's viewer takes;
* an engine that fails on pages another engine renders is the same doubt;
* on every changed page, the annotations are counted by pyHanko, PDFium and MuPDF
  (:mod:`.annotation_views`): a new disagreement is the same doubt again.

Disagreements already present in the signed revision are the signed document's own and not repeated.
Engines run one after the other, so only one engine's bitmaps of one batch are in memory at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pyhanko.pdf_utils.reader import PdfFileReader

from esign.pdf.input import end_of_revisions
from esign.verify.modifications.annotation_views import annotation_disagreements
from esign.verify.modifications.mdp_rules import MdpConstraints
from esign.verify.modifications.model import ChangeFinding
from esign.verify.modifications.page_changes import PageComparison, PagePair
from esign.verify.modifications.page_tree import list_pages
from esign.verify.modifications.visual import (
    DEFAULT_RENDER_MEMORY_MB,
    ENGINES,
    Engine,
    EngineUnavailable,
    RenderError,
    RenderLimitExceeded,
    RenderTimeout,
    compare,
    forget_files,
    page_count,
    page_dpi,
    render_pages,
)
from esign.verify.modifications.visual_judgement import judge_page, regions_of

if TYPE_CHECKING:
    from esign.policy import Limits

DEFAULT_RENDER_DPI = 72
DEFAULT_RENDER_BATCH = 16
DISAGREE = "RENDERERS_DISAGREE"
OUT_OF_MEMORY = "RENDER_LIMIT_EXCEEDED"
#: how a revision reads: reader name → page count, None when it could not open the file
View = dict[str, int | None]


def visual_changes(
    pdf: bytes,
    reader: PdfFileReader,
    signed_revision: int,
    pages: PageComparison,
    constraints: MdpConstraints,
    limits: Limits | None,
    deadline: float,
) -> Iterator[ChangeFinding]:
    """Findings of every engine on the pages changed after ``signed_revision``; raises RenderTimeout.

    Pages whose only change is annotations that cannot draw (hidden, no appearance, zero-area, e.g. an
    invisible later signature) are not rendered: the renderings could not differ.
    """
    signed_pdf = pdf[: end_of_revisions(pdf, reader, signed_revision)]
    changed = [p for p in pages.changed if p.needs_rendering(pages.optional_content_changed)]
    try:
        if changed:
            yield from _judge_pages(signed_pdf, pdf, changed, constraints, pages, limits, deadline)
            numbers = [(p.old_number, p.new_number) for p in changed]
            yield from annotation_disagreements(signed_pdf, pdf, reader, signed_revision, numbers, deadline)
        # asked last: PDFium has stated its page counts while rendering, which saves asking again
        yield from _engine_views(signed_pdf, pdf, reader, signed_revision, deadline)
    finally:
        forget_files()


def _judge_pages(
    signed_pdf: bytes,
    pdf: bytes,
    changed: list[PagePair],
    constraints: MdpConstraints,
    pages: PageComparison,
    limits: Limits | None,
    deadline: float,
) -> Iterator[ChangeFinding]:
    dpi = int(getattr(limits, "render_dpi", DEFAULT_RENDER_DPI))
    batch = max(1, int(getattr(limits, "render_batch_pages", DEFAULT_RENDER_BATCH)))
    memory_mb = int(getattr(limits, "render_memory_mb", DEFAULT_RENDER_MEMORY_MB))
    by_dpi: dict[int, list[PagePair]] = {}
    for pair in changed:
        by_dpi.setdefault(page_dpi(pair.geometry, dpi), []).append(pair)
    engines = list(ENGINES)  # an engine that can't open a revision at all leaves: it has no picture
    for pair_dpi, pairs in by_dpi.items():
        for start in range(0, len(pairs), batch):
            chunk = pairs[start : start + batch]
            yield from _judge_chunk(
                signed_pdf, pdf, chunk, engines, constraints, pages, (pair_dpi, memory_mb), deadline
            )
    if not engines:
        yield ChangeFinding("DIFF_ANALYSIS_FAILED", False, (), "no rendering engine could open the document")


def _judge_chunk(
    signed_pdf: bytes,
    pdf: bytes,
    chunk: list[PagePair],
    engines: list[Engine],
    constraints: MdpConstraints,
    pages: PageComparison,
    resources: tuple[int, int],
    deadline: float,
) -> Iterator[ChangeFinding]:
    """Each engine's findings on one batch of pages; ``resources`` is (DPI, memory limit in MiB)."""
    dpi, memory_mb = resources
    numbers = tuple(p.new_number for p in chunk)
    seen: dict[str, list[ChangeFinding]] = {}
    failed: dict[str, str] = {}
    for engine in list(engines):
        try:
            old_numbers = [p.old_number for p in chunk]
            before = render_pages(signed_pdf, old_numbers, dpi, deadline, len(chunk), engine, memory_mb)
            after = render_pages(pdf, list(numbers), dpi, deadline, len(chunk), engine, memory_mb)
        except RenderTimeout:
            raise
        except RenderLimitExceeded as e:
            # a doubt, not a verdict: these pages have no picture in this engine (a bomb, or a huge scan)
            yield ChangeFinding(OUT_OF_MEMORY, False, numbers, f"{e} ({memory_mb} MB)")
            continue
        except RenderError as e:
            if isinstance(e, EngineUnavailable) or not _opens(engine, (signed_pdf, pdf), deadline):
                engines.remove(engine)  # the page-count check below says whether the update caused it
            else:
                failed[engine.name] = str(e)
            continue
        found = seen.setdefault(engine.name, [])
        for pair in chunk:
            regions = regions_of(pair, constraints)
            rects = [r.annotation.rect for r in regions]
            diff = compare(before.pop(pair.old_number), after.pop(pair.new_number), pair.geometry, rects)
            found.extend(judge_page(pair, regions, diff, dpi, pages.optional_content_changed))
    if failed and not seen:
        yield ChangeFinding("DIFF_ANALYSIS_FAILED", False, numbers, "; ".join(failed.values())[:500])
    elif failed:
        reasons = "; ".join(failed.values())
        yield ChangeFinding(DISAGREE, False, numbers, f"rendered by {', '.join(seen)} only: {reasons}"[:500])
    yield from _merged(seen)


def _merged(seen: dict[str, list[ChangeFinding]]) -> Iterator[ChangeFinding]:
    """One finding per (code, permitted, pages), its detail saying which engines saw it and how."""
    details: dict[tuple[str, bool, tuple[int, ...]], dict[str, str]] = {}
    for engine, findings in seen.items():
        for f in findings:
            details.setdefault((f.code, f.permitted, f.pages), {})[engine] = f.detail
    for (code, permitted, pages), by_engine in details.items():
        only = " only" if len(by_engine) < len(seen) else ""
        text = "; ".join(f"{engine}{only}: {detail}" for engine, detail in by_engine.items())
        yield ChangeFinding(code, permitted, pages, text[:500])


def _engine_views(
    signed_pdf: bytes, pdf: bytes, reader: PdfFileReader, signed_revision: int, deadline: float
) -> list[ChangeFinding]:
    """A finding when the update made the readers disagree about the pages or about opening the file."""
    signed: View = {"pyHanko": len(list_pages(reader.get_historical_resolver(signed_revision).root))}
    final: View = {"pyHanko": len(list_pages(reader.root))}
    refusals: list[str] = []
    for engine in ENGINES:
        try:
            before, after = (
                _count(signed_pdf, engine, deadline, refusals),
                _count(pdf, engine, deadline, refusals),
            )
        except EngineUnavailable:
            continue  # not installed: the engine has no view, which says nothing about the file
        signed[engine.name], final[engine.name] = before, after
    if len(set(final.values())) <= 1 or final == signed:
        return []
    detail = f"the final file reads as {_describe(final)}; the signed revision as {_describe(signed)}"
    if refusals:
        detail += f" ({'; '.join(refusals)})"
    return [ChangeFinding(DISAGREE, False, (), detail[:500])]


def _opens(engine: Engine, files: tuple[bytes, ...], deadline: float) -> bool:
    return all(_count(f, engine, deadline, []) is not None for f in files)


def _count(pdf: bytes, engine: Engine, deadline: float, refusals: list[str]) -> int | None:
    """The engine's page count, or None (its complaint added to ``refusals``) when it can't open ``pdf``."""
    try:
        return page_count(pdf, engine, deadline)
    except (RenderTimeout, EngineUnavailable):
        raise
    except RenderError as e:
        refusals.append(str(e)[:120])
        return None


def _describe(view: View) -> str:
    return ", ".join(f"{name}: {'cannot open' if n is None else f'{n} pages'}" for name, n in view.items())
