"""Differential fuzzer: mutate sealed samples, verify each mutant, let poppler and PDFium referee.

    .venv/bin/python bench/fuzz_verify.py --seed 1 --count 10000 --out fuzz-report.json [--jobs 2]

The samples are the project's own: a B-B visible seal on the business licence, the application form
certified "no changes" (P1), and the licence sealed twice by two agencies. Each mutant
(:mod:`fuzz_mutators`) is verified in a forked child process with an address-space cap and a
per-case timeout, so a hang or a memory blow-up is a measured result, not the end of the campaign.

The referee: when ``esign.verify`` says TOTAL_PASSED, the child renders every page of the mutant in
poppler (``pdftoppm``) and in PDFium (``pypdfium2``), low DPI and grey, and compares each engine with
its own rendering of the sealed sample. A mutant that one engine shows differently (other pixels,
other pages, or cannot open at all) and that still passed is a *false pass*. Any exception from
``verify`` other than :class:`~esign.errors.EsignError` is a *crash*. Time and peak RSS are measured
per case (the peak includes what the forked process starts with, like a server worker).

Mutants are derived from ``--seed`` and the case number alone, so a case can be replayed with
``--only N``; false passes and crashes are also written to ``--save`` as files.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fuzz_mutators import MUTATORS, Mutator, make_append_document  # noqa: E402 - after the path set-up

DPI = 24
MEMORY_CAP = 3 * 1024**3
RENDER_TIMEOUT_S = 60


#: one engine's rendering: each page as bytes that include its size (None: the engine cannot open the file)
Pages = tuple[bytes, ...] | None
#: a pixel counts as changed when its grey level moves by more than this; a page as changed when more
#: than _CHANGED_PIXELS do (anti-aliasing of a 1-point sliver is not what a reader sees)
_GREY_STEP = 48
_CHANGED_PIXELS = 4


@dataclass(frozen=True)
class Sample:
    name: str
    data: bytes
    #: per signature (file order): engine → page digests of what that signer saw, i.e. the file up
    #: to the end of its signed range (None: the engine cannot open it); the last one is the sample
    renders: tuple[dict[str, Pages], ...]


def build_samples() -> list[Sample]:
    """Seal the samples with the test PKI (deterministic inputs; the signing time varies per run)."""
    from esign.seal.image import round_seal
    from esign.seal.pades import AtPosition, Certification, Invisible, SealOptions, seal
    from esign.seal.signers import load_pkcs12
    from fixtures.documents import form_pdf, licence_pdf
    from fixtures.pki import TestPKI

    pki = TestPKI()
    agency_a = load_pkcs12(pki.pkcs12("agency-a", b"f"), b"f")
    agency_b = load_pkcs12(pki.pkcs12("agency-b", b"f"), b"f")
    licence = seal(
        licence_pdf(),
        agency_a,
        SealOptions(placement=AtPosition(1, 150, 235)),
        image=round_seal("杭州市市场监督管理局"),
    )
    certified = seal(
        form_pdf(), agency_a, SealOptions(certification=Certification.NO_CHANGES, placement=Invisible())
    )
    second = SealOptions(placement=AtPosition(1, 330, 235), field_name="Seal2")
    two = seal(licence, agency_b, second, image=round_seal("杭州市人民政府"))
    docs = {"licence-bb": licence, "form-certified-p1": certified, "licence-two-seals": two}
    return [
        Sample(name, data, tuple(render(data[:end]) for end in _signed_ends(data)))
        for name, data in docs.items()
    ]


def _signed_ends(pdf: bytes) -> list[int]:
    ranges = re.findall(rb"/ByteRange\s*\[\s*\d+\s+\d+\s+(\d+)\s+(\d+)\s*\]", pdf)
    return sorted(int(start) + int(length) for start, length in ranges)


def render(pdf: bytes) -> dict[str, Pages]:
    return {"poppler": _poppler(pdf), "pdfium": _pdfium(pdf)}


def _poppler(pdf: bytes) -> Pages:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        path = Path(tmp) / "in.pdf"
        path.write_bytes(pdf)
        try:
            done = subprocess.run(
                ["pdftoppm", "-q", "-r", str(DPI), "-gray", str(path), str(Path(tmp) / "p")],
                capture_output=True,
                timeout=RENDER_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            return None
        pages = sorted(Path(tmp).glob("p-*.pgm"))
        if done.returncode != 0 or not pages:
            return None
        return tuple(page.read_bytes() for page in pages)


def _pdfium(pdf: bytes) -> Pages:
    import pypdfium2

    try:
        document = pypdfium2.PdfDocument(pdf)
        document.init_forms()
        digests = []
        for index in range(len(document)):
            bitmap = document[index].render(scale=DPI / 72, grayscale=True, may_draw_forms=True)
            digests.append(b"%d %d " % (bitmap.width, bitmap.height) + bytes(bitmap.buffer))
        return tuple(digests) if digests else None
    except Exception:
        return None


def mutators(samples: list[Sample]) -> tuple[list[str], list[Mutator], list[int]]:
    from fixtures.documents import licence_pdf

    table = dict(MUTATORS)
    table["append_document"] = (make_append_document([licence_pdf(), *(s.data for s in samples)]), 4)
    names = sorted(table)
    return names, [table[n][0] for n in names], [table[n][1] for n in names]


def case_plan(
    seed: int, index: int, samples: list[Sample], names: list[str], weights: list[int]
) -> tuple[int, str]:
    """Which sample and mutator case ``index`` uses: a function of the seed and the index only."""
    rng = random.Random(f"{seed}:{index}:plan")
    return rng.randrange(len(samples)), rng.choices(names, weights)[0]


def run_case(
    seed: int, index: int, sample: Sample, name: str, mutator: Mutator, policy: Any, conn: Connection
) -> None:
    """In the child: build the mutant, verify it, and referee it if it passed."""
    from esign.errors import EsignError
    from esign.verify.pipeline import verify

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    logging.disable(logging.CRITICAL)  # pyHanko logs every suspicious diff with a traceback
    row: dict[str, Any] = {"case": index, "sample": sample.name, "mutator": name}
    try:
        mutant, row["detail"] = mutator(random.Random(f"{seed}:{index}"), sample.data)
    except Exception as exc:
        row.update(outcome="not_applicable", detail=f"{type(exc).__name__}: {exc}"[:200])
        conn.send((row, None))
        return
    row["size"] = len(mutant)
    started = time.perf_counter()
    try:
        report = verify(mutant, policy)
        row.update(outcome="report", indication=str(report.indication))
        row["reliable"] = [str(s.reliable_esignature.verdict) for s in report.signatures]
    except EsignError as exc:
        row.update(outcome="refused", code=exc.code.name)
    except BaseException as exc:
        row.update(outcome="crash", error=f"{type(exc).__name__}: {exc}"[:300])
        row["traceback"] = traceback.format_exc()[-3000:]
    row["seconds"] = round(time.perf_counter() - started, 3)
    row["peak_rss_mb"] = round(_vm_hwm_mb(), 1)
    conn.send((row, None))
    if _needs_referee(row):
        differs = referee(sample, render(mutant), row)
        conn.send(({"differs": differs}, mutant if differs else None))


def referee(sample: Sample, seen: dict[str, Pages], row: dict[str, Any]) -> list[str]:
    """The engines in which a passing mutant shows what no signer who passed ever saw.

    TOTAL_PASSED vouches for the whole file: it must look like the sealed sample. A signature that is
    "reliable" while a later one is not vouches for its own revision and what later signers added:
    the mutant must look like one of those revisions.
    """
    final = sample.renders[-1]
    passed = row.get("indication") == "TOTAL_PASSED"
    differs = {e for e, pages in seen.items() if passed and not _looks_same(pages, final[e])}
    for index, verdict in enumerate(row.get("reliable", ())):
        if verdict == "reliable":
            approved = sample.renders[min(index, len(sample.renders) - 1) :]
            differs |= {e for e, pages in seen.items() if not any(_looks_same(pages, r[e]) for r in approved)}
    return sorted(differs)


def _looks_same(a: Pages, b: Pages) -> bool:
    if a is None or b is None or len(a) != len(b):
        return a == b
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        if len(x) != len(y):
            return False
        if sum(abs(p - q) > _GREY_STEP for p, q in zip(x, y, strict=True)) > _CHANGED_PIXELS:
            return False
    return True


def _vm_hwm_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024


class Campaign:
    """Runs cases in forked children, ``jobs`` at a time, and keeps the tallies."""

    def __init__(self, seed: int, samples: list[Sample], timeout: float, save: Path | None) -> None:
        import esign.verify.pipeline  # noqa: F401 - imported before the children fork, not by each of them
        from esign.policy import ValidationPolicy
        from fixtures.pki import TestPKI

        self.seed, self.samples, self.timeout, self.save = seed, samples, timeout, save
        self.policy = ValidationPolicy.preset("default", trust_roots=[TestPKI().root])
        self.names, self.functions, self.weights = mutators(samples)
        self.rows: list[dict[str, Any]] = []

    def run(self, indexes: list[int], jobs: int, on_progress: Any = None) -> None:
        context = multiprocessing.get_context("fork")
        pending = list(reversed(indexes))
        running: dict[Connection, tuple[Any, dict[str, Any], float]] = {}
        while pending or running:
            while pending and len(running) < jobs:
                index = pending.pop()
                sample_at, name = case_plan(self.seed, index, self.samples, self.names, self.weights)
                receiver, sender = context.Pipe(duplex=False)
                mutator = self.functions[self.names.index(name)]
                args = (self.seed, index, self.samples[sample_at], name, mutator, self.policy, sender)
                process = context.Process(target=run_case, args=args, daemon=True)
                process.start()
                sender.close()
                running[receiver] = (
                    process,
                    {"case": index, "sample": self.samples[sample_at].name, "mutator": name},
                    time.monotonic(),
                )
            ready = wait(list(running), timeout=1.0)
            for conn in ready:
                self._receive(conn, running)
            for conn, (process, row, started) in list(running.items()):
                if time.monotonic() - started > self.timeout:
                    process.kill()
                    row.setdefault("outcome", "timeout")
                    if _needs_referee(row) and "differs" not in row:
                        row["differs"] = ["referee-timeout"]
                    row["seconds"] = round(time.monotonic() - started, 1)
                    self._finish(conn, running)
            if on_progress is not None and ready:
                on_progress(self)

    def _receive(
        self, conn: Connection, running: dict[Connection, tuple[Any, dict[str, Any], float]]
    ) -> None:
        process, row, _ = running[conn]
        try:
            update, mutant = conn.recv()
        except EOFError:  # the child died: killed by the memory cap, a signal, or it finished
            if "outcome" not in row:
                process.join(5)
                row.update(outcome="crash", error=f"child died with exit code {process.exitcode}")
            elif row.get("indication") == "TOTAL_PASSED" and "differs" not in row:
                row["differs"] = ["referee-died"]
            self._finish(conn, running)
            return
        row.update(update)
        if mutant is not None and self.save is not None:
            self.save.mkdir(parents=True, exist_ok=True)
            (self.save / f"case-{row['case']}-{row['mutator']}.pdf").write_bytes(mutant)
        if "differs" in update or row.get("outcome") not in ("report",) or not _needs_referee(row):
            self._finish(conn, running)

    def _finish(self, conn: Connection, running: dict[Connection, tuple[Any, dict[str, Any], float]]) -> None:
        process, row, _ = running.pop(conn)
        conn.close()
        process.join(1)
        if process.is_alive():
            process.kill()
            process.join()
        row["false_pass"] = bool(row.get("differs"))
        self.rows.append(row)

    def summary(self, command: str) -> dict[str, Any]:
        rows = self.rows
        timed = [r for r in rows if "seconds" in r and r.get("outcome") != "not_applicable"]
        slowest = max(timed, key=lambda r: r["seconds"], default=None)
        outcomes = Counter(r.get("outcome") for r in rows)
        return {
            "command": command,
            "seed": self.seed,
            "cases": len(rows),
            "mutants_verified": sum(
                1 for r in rows if r.get("outcome") in ("report", "refused", "crash", "timeout")
            ),
            "false_passes": sum(1 for r in rows if r["false_pass"]),
            "crashes": outcomes.get("crash", 0),
            "timeouts": outcomes.get("timeout", 0),
            "outcomes": dict(outcomes),
            "indications": dict(Counter(r.get("indication") for r in rows if r.get("indication"))),
            "refusals": dict(Counter(r.get("code") for r in rows if r.get("code"))),
            "by_mutator": dict(Counter(r["mutator"] for r in rows)),
            "passed_and_referee_agreed": sum(1 for r in rows if r.get("differs") == []),
            "peak_rss_mb": max((r.get("peak_rss_mb", 0) for r in rows), default=0),
            "slowest_case": None
            if slowest is None
            else {k: slowest.get(k) for k in ("case", "sample", "mutator", "detail", "seconds", "outcome")},
            "mean_seconds": round(sum(r["seconds"] for r in timed) / len(timed), 3) if timed else None,
            "false_pass_cases": [r for r in rows if r["false_pass"]],
            "crash_cases": [r for r in rows if r.get("outcome") in ("crash", "timeout")],
        }


def _needs_referee(row: dict[str, Any]) -> bool:
    return row.get("indication") == "TOTAL_PASSED" or "reliable" in row.get("reliable", ())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--start", type=int, default=0, help="first case number")
    parser.add_argument("--only", type=int, action="append", help="replay just these case numbers")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per case before it is killed")
    parser.add_argument("--out", type=Path, default=Path("fuzz-report.json"))
    parser.add_argument("--save", type=Path, help="write false passes and crashes here as PDFs")
    parser.add_argument(
        "--full", action="store_true", help="list every case in the report, not only failures"
    )
    args = parser.parse_args(argv)
    command = "python bench/fuzz_verify.py " + " ".join(sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    campaign = Campaign(args.seed, build_samples(), args.timeout, args.save)
    indexes = args.only or list(range(args.start, args.start + args.count))

    def write(c: Campaign, final: bool = False) -> None:
        if not final and len(c.rows) % 100:
            return
        summary = c.summary(command)
        summary["wall_seconds"] = round(time.monotonic() - started, 1)
        summary["finished"] = final
        if args.full:
            summary["rows"] = c.rows
        args.out.write_text(json.dumps(summary, indent=1, ensure_ascii=False))

    try:
        campaign.run(indexes, args.jobs, write)
    finally:
        write(campaign, final=True)
    summary = campaign.summary(command)
    keys = ("cases", "false_passes", "crashes", "timeouts", "peak_rss_mb", "slowest_case", "outcomes")
    print(json.dumps({k: summary[k] for k in keys}, ensure_ascii=False, indent=1))
    return 1 if summary["false_passes"] or summary["crashes"] else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
