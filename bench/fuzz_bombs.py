"""Token bombs for ``bench/fuzz_verify.py``: an update whose one object is huge, or very many objects.

Written by hand with a classic xref table (pyHanko's writer would not produce some of these), so the
mutant is exactly the bomb and a well-formed update around it: only the resource limits can stop it.
"""

from __future__ import annotations

import random
import re

_STARTXREF = re.compile(rb"startxref\s+(\d+)")


def bomb(rng: random.Random, pdf: bytes) -> tuple[bytes, str]:
    """An update whose one object is huge: a string, a name, nesting, an array; or very many objects."""
    how = rng.randrange(6)
    size = rng.randint(100_000, 3_000_000)
    if how == 0:
        body, detail = b"<" + b"41" * (size // 2) + b">", f"{size}-byte hex string"
    elif how == 1:
        body, detail = b"(" + b"a" * size + b")", f"{size}-byte literal string"
    elif how == 2:
        body, detail = b"/" + b"N" * size, f"{size}-byte name"
    elif how == 3:
        depth = rng.randint(1_000, 200_000)
        body, detail = b"[" * depth + b"]" * depth, f"arrays nested {depth} deep"
    elif how == 4:
        body, detail = b"[" + b"0 " * (size // 2) + b"]", f"array of {size // 2} numbers"
    else:
        return _many_objects(rng, pdf)
    return _raw_update(pdf, {1: b"<< /Type /Catalog /Pages 2 0 R /X " + body + b" >>"}, rng), detail


def _many_objects(rng: random.Random, pdf: bytes) -> tuple[bytes, str]:
    count = rng.randint(10_000, 100_000)
    size = _trailer_size(pdf)
    objects = {size + i: b"<< /N %d >>" % i for i in range(count)}
    return _raw_update(pdf, objects, rng), f"{count} new objects"


def _trailer_size(pdf: bytes) -> int:
    return max(int(m.group(1)) for m in re.finditer(rb"/Size\s+(\d+)", pdf))


def _raw_update(pdf: bytes, objects: dict[int, bytes], rng: random.Random) -> bytes:
    """An update with a classic xref table, written by hand (pyHanko would not write some of these)."""
    last = list(_STARTXREF.finditer(pdf))[-1]
    root = re.findall(rb"/Root\s+(\d+\s+\d+\s+R)", pdf)[-1]
    if 1 in objects:  # the catalog is replaced: keep its real object number
        number = int(root.split()[0])
        objects = {number: objects.pop(1).replace(b"/Pages 2 0 R", _pages_ref(pdf)), **objects}
    out = bytearray(pdf if pdf.endswith(b"\n") else pdf + b"\n")
    offsets = {}
    for number, body in objects.items():
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n"
    for number in sorted(offsets):
        out += b"%d 1\n%010d 00000 n \n" % (number, offsets[number])
    size = max(_trailer_size(pdf), max(offsets) + 1)
    out += b"trailer\n<< /Size %d /Root %s /Prev %s >>\n" % (size, root, last.group(1))
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _pages_ref(pdf: bytes) -> bytes:
    found = re.findall(rb"/Pages\s+(\d+\s+\d+\s+R)", pdf)
    return b"/Pages " + (found[-1] if found else b"2 0 R")
