"""Files built to hurt a parser: verify and seal answer each with a verdict or a typed error, bounded.

Each file goes through the real ``esign verify`` command in a child process whose address space is
capped (RLIMIT_AS) and whose run time is bounded, so a decompression bomb or a recursion blow-up
would show as a crash, a MemoryError traceback or a timeout instead of passing silently.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

MEMORY_CAP = 1536 * 1024 * 1024  # bytes of address space for the child


def pdf_from_objects(objects: list[bytes], root: int = 1) -> bytes:
    """A syntactically complete PDF with a correct xref table around ``objects`` (1-based numbers)."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref)
    return bytes(out)


def _page_with(content: bytes, extra: bytes = b"") -> list[bytes]:
    return [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length %d %s >>\nstream\n" % (len(content), extra) + content + b"\nendstream",
    ]


def _flate_bomb() -> bytes:
    """A 2 GiB run of zeros that deflates to about 2 MB, as a page content stream and as a signature."""
    compressor = zlib.compressobj(9)
    chunk = bytes(16 * 1024 * 1024)
    body = b"".join(compressor.compress(chunk) for _ in range(128)) + compressor.flush()
    objects = _page_with(body, b"/Filter /FlateDecode")
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [5 0 R] >> >>"
    objects.append(b"<< /FT /Sig /T (Bomb) /V 6 0 R /Subtype /Widget /Rect [0 0 0 0] >>")
    objects.append(
        b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached"
        b" /ByteRange [0 10 20 30] /Contents 4 0 R >>"
    )
    return pdf_from_objects(objects)


HOSTILE = {
    "flate-bomb": _flate_bomb,
    "deep-array-nesting": lambda: pdf_from_objects(
        [
            b"<< /Type /Catalog /Pages 2 0 R /X " + b"[" * 200_000 + b"]" * 200_000 + b" >>",
            b"<< /Type /Pages /Kids [] /Count 0 >>",
        ]
    ),
    "page-tree-cycle": lambda: pdf_from_objects(
        [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>"]
    ),
    "huge-page-count": lambda: pdf_from_objects(
        [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 999999999999 >>"]
    ),
    "self-referencing-object": lambda: pdf_from_objects([b"<< /Type /Catalog /Pages 1 0 R >>"]),
    "xref-offsets-past-eof": lambda: (
        pdf_from_objects(_page_with(b"BT ET"))[:-60] + b"startxref\n99999999\n%%EOF\n"
    ),
    "signature-with-absurd-byterange": lambda: pdf_from_objects(
        [
            *_page_with(b"BT ET")[:3],
            b"<< /Length 0 >>\nstream\n\nendstream",
            b"<< /FT /Sig /T (S) /V 6 0 R >>",
            b"<< /Type /Sig /SubFilter /adbe.pkcs7.detached /ByteRange [0 -5 99999999999 7]"
            b" /Contents <3082> >>",
        ]
    ),
    "empty-file": lambda: b"",
    "header-only": lambda: b"%PDF-1.7\n",
    "not-a-pdf": lambda: b"\x89PNG\r\n\x1a\n" + bytes(100),
}


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_file_gets_a_verdict_or_a_typed_error(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(HOSTILE[name]())
    result = subprocess.run(
        [sys.executable, "-m", "api", "verify", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=180,
        preexec_fn=_capped,
    )
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode in (1, 2, 3, 4), (result.returncode, result.stderr[-2000:])
    report = json.loads(result.stdout.splitlines()[0])
    if result.returncode == 4:
        assert (
            report["error"]["code"] and report["error"]["message"]["zh"] and report["error"]["message"]["en"]
        )
    else:
        assert report["indication"] != "TOTAL_PASSED"


@pytest.fixture(scope="module")
def p12(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fixtures.pki import TestPKI

    path = tmp_path_factory.mktemp("key") / "a.p12"
    path.write_bytes(TestPKI().pkcs12("agency-a", b"bomb-test"))
    return path


@pytest.mark.parametrize("placement", [(), ("--keyword", "盖章", "--seal-name", "测试单位")])
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_file_is_sealed_or_refused_with_a_typed_error(
    name: str, placement: tuple[str, ...], p12: Path, tmp_path: Path
) -> None:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(HOSTILE[name]())
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "api",
            "seal",
            str(path),
            "-o",
            str(tmp_path / "out.pdf"),
            "--p12",
            str(p12),
            "--passphrase-env",
            "BOMB_PASS",
            *placement,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        preexec_fn=_capped,
        env={**os.environ, "BOMB_PASS": "bomb-test"},
    )
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode in (0, 1), (result.returncode, result.stderr[-2000:])
    if result.returncode == 1:
        assert "错误 error [" in result.stderr
        assert not (tmp_path / "out.pdf").exists()
