"""Shared measuring tools for the benchmarks: fixed-time rates and peak RSS of a fresh process."""

from __future__ import annotations

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
