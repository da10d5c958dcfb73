"""Shared measuring tools for the benchmarks: fixed-time rates and peak RSS of a fresh process."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def rate(fn: Callable[[T], object], arg: T, seconds: float) -> float:
    """Calls per second of ``fn(arg)`` over at least ``seconds`` (and at least 3 calls), after one warm-up."""
    fn(arg)  # imports, font and key caches
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds or done < 3:
        fn(arg)
        done += 1
    return done / (time.perf_counter() - started)


def vm_hwm_mb() -> float:
    """This process's peak RSS in MB.

    VmHWM, not ``ru_maxrss``: Linux carries ru_maxrss over from the parent across fork+exec, so a
    child started by a big benchmark process would report the parent's peak.
    """
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024


def child_peak_rss(script: str, args: Sequence[str]) -> float:
    """Run ``script --rss-child ARGS…`` in a fresh interpreter; it prints its :func:`vm_hwm_mb` last."""
    command = [sys.executable, script, "--rss-child", *args]
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=900)
    return float(result.stdout.strip().splitlines()[-1])


def parse_args(doc: str, child_args: tuple[str, str, str]) -> argparse.Namespace:
    """The options every benchmark takes (and the hidden ones its child processes get)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per side and case")
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes per side (median taken)")
    parser.add_argument("--skip-large", action="store_true", help="skip the 50 MB document")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--rss-child", nargs=3, metavar=child_args, help=argparse.SUPPRESS)
    parser.add_argument(
        "--rate-child", nargs=4, metavar=("SIDE", "ROOT", "DIR", "SECONDS"), help=argparse.SUPPRESS
    )
    return parser.parse_args()


def child_rates(script: str, sides: Sequence[str], args: Sequence[str], rounds: int) -> dict[str, list[dict]]:
    """Run ``script --rate-child SIDE ARGS…`` ``rounds`` times per side, alternating which side goes first.

    Each side measures in its own fresh interpreter: esign installs faster readers into pyHanko's
    parser, and stock pyHanko measured in the same process would silently get them too. The child
    prints a JSON object of rates per case as its last line.
    """
    runs: dict[str, list[dict]] = {side: [] for side in sides}
    for number in range(rounds):
        for side in sides if number % 2 == 0 else list(reversed(sides)):
            command = [sys.executable, script, "--rate-child", side, *args]
            result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=1800)
            runs[side].append(json.loads(result.stdout.strip().splitlines()[-1]))
    return runs


def median_rates(runs: list[dict]) -> dict[str, float]:
    """Per case, the median of the rates the rounds measured."""
    return {case: statistics.median(run[case] for run in runs) for case in runs[0]}


def compare(name: str, ours: float, stock: float) -> dict[str, object]:
    """Print one esign-vs-pyHanko line and return it as a result row."""
    print(f"{name:38} esign {ours:8.2f}/s   pyHanko {stock:8.2f}/s   ratio {ours / stock:5.2f}x", flush=True)
    return {"case": name, "esign_per_s": ours, "pyhanko_per_s": stock, "ratio": ours / stock}


def compare_rss(size_mb: float, floor: float, ours: float, stock: float, limit: float) -> dict[str, object]:
    """Print the peak-RSS line for the large document and return it as a result row."""
    print(f"50 MB peak RSS: file {size_mb:.1f} MB, imports alone {floor:.0f} MB, ", end="")
    print(f"esign {ours:.0f} MB, pyHanko {stock:.0f} MB (target ≤ {limit:.0f} MB)")
    return {
        "case": "50 MB peak RSS (MB)",
        "file_mb": size_mb,
        "imports_mb": floor,
        "esign_mb": ours,
        "pyhanko_mb": stock,
        "target_mb": limit,
    }


def write_json(path: Path | None, results: list[dict[str, object]]) -> None:
    if path is not None:
        path.write_text(json.dumps(results, indent=2, ensure_ascii=False))
