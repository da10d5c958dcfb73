"""SM2 sign/verify operations per second through esign.gm.sm2, against ``openssl speed sm2`` on this machine.

Run: ``.venv/bin/python bench/sm2.py [--seconds 3]``. Prints one table and the ratio ours/OpenSSL; a
ratio near 1 means the Python layer adds little to the native code. (Sealing/verifying whole PDFs in
styles 2 and 3 joins this bench once the PDF seal and verify paths for SM2 exist.)
"""

from __future__ import annotations

import argparse
import re
import subprocess
import time
from collections.abc import Callable

from esign.gm import sm2

MESSAGE = b"x" * 256  # openssl speed signs a short digest-sized input; a small message keeps SM3 cost alike


def ops_per_second(operation: Callable[[], object], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(50):
            operation()
        count += 50
    return count / (time.perf_counter() - start)


def openssl_speed(seconds: int) -> tuple[float, float]:
    """(sign/s, verify/s) from ``openssl speed sm2``."""
    out = subprocess.run(
        ["openssl", "speed", "-seconds", str(seconds), "sm2"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"SM2 \(CurveSM2\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", out)
    if match is None:
        raise SystemExit(f"could not read openssl speed output:\n{out}")
    return float(match.group(1)), float(match.group(2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3)
    args = parser.parse_args()

    key = sm2.generate_private_key()
    public = key.public_key()
    signature = sm2.sign(key, MESSAGE)
    ours = (
        ops_per_second(lambda: sm2.sign(key, MESSAGE), args.seconds),
        ops_per_second(lambda: sm2.verify(public, signature, MESSAGE), args.seconds),
    )
    theirs = openssl_speed(args.seconds)

    print(f"{'':12}{'esign.gm.sm2':>14}{'openssl speed':>15}{'ratio':>8}")
    for name, mine, reference in zip(("sign/s", "verify/s"), ours, theirs, strict=True):
        print(f"{name:12}{mine:14.0f}{reference:15.0f}{mine / reference:8.2f}")


if __name__ == "__main__":
    main()
