"""Bounded resources: token bombs in an update are refused within the memory and time an upload may cost.

Issue 13 measured one 42 MB hex string in an incremental update at 3.75 GB peak RSS and 39 s (10.5 MB:
about 1 GB): pyHanko's tokenizer keeps a Python object per character of a string or name and per element
of an array. Each case here is verified in a fresh child process that reports its own peak RSS (VmHWM)
and time; every one must end in a typed refusal (PDF_TOO_COMPLEX) or a report that does not pass, under
600 MB and 30 s, while a legitimate 50 MB upload still verifies within the same bounds.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from esign.errors import ErrorCode, EsignError
from esign.pdf.input import oversized_syntax
from esign.policy import Limits
from tests.sized_documents import sized_pdf

MAX_RSS_MB = 600
MAX_SECONDS = 30
#: the child: verify one file, print what happened, its peak RSS and its time
_CHILD = """
import json, sys, time
from pathlib import Path
from esign.errors import EsignError
from esign.policy import ValidationPolicy, load_trust_anchors
from esign.verify.pipeline import verify
data = Path(sys.argv[1]).read_bytes()
policy = ValidationPolicy.preset("default", trust_roots=load_trust_anchors(sys.argv[2:]))
started = time.monotonic()
try:
    out = {"indication": str(verify(data, policy).indication)}
except EsignError as exc:
    out = {"code": exc.code.name}
out["seconds"] = time.monotonic() - started
status = Path("/proc/self/status").read_text()
out["rss_mb"] = int(next(l for l in status.splitlines() if l.startswith("VmHWM:")).split()[1]) / 1024
print(json.dumps(out))
"""

Edit = Callable[[IncrementalPdfFileWriter, generic.PdfObject], None]


def _hex(size: int) -> generic.ByteStringObject:
    """A string pyHanko writes as ``size`` hex digits (random: compressed, it stays large)."""
    return generic.ByteStringObject(random.Random(size).randbytes(size // 2))


def _text_note(value: generic.PdfObject) -> generic.DictionaryObject:
    return generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Annot"),
            pdf_name("/Subtype"): pdf_name("/Text"),
            pdf_name("/Rect"): generic.ArrayObject([generic.NumberObject(0)] * 4),
            pdf_name("/Contents"): value,
        }
    )


def _in_annotation(writer: IncrementalPdfFileWriter, value: generic.PdfObject) -> None:
    ref, _ = writer.find_page_for_modification(0)
    writer.register_annotation(ref, writer.add_object(_text_note(value)))


def _in_info(writer: IncrementalPdfFileWriter, value: generic.PdfObject) -> None:
    writer.set_info(generic.DictionaryObject({pdf_name("/Title"): value}))


def _in_page(writer: IncrementalPdfFileWriter, value: generic.PdfObject) -> None:
    ref, _ = writer.find_page_for_modification(0)
    ref.get_object()[pdf_name("/PieceInfo")] = value
    writer.mark_update(ref)


def _in_stream_dictionary(writer: IncrementalPdfFileWriter, value: generic.PdfObject) -> None:
    ref, _ = writer.find_page_for_modification(0)
    stream = generic.StreamObject({pdf_name("/X"): value}, stream_data=b"BT ET")
    ref.get_object()[pdf_name("/Contents")] = writer.add_object(stream)
    writer.mark_update(ref)


def _in_field(writer: IncrementalPdfFileWriter, value: generic.PdfObject) -> None:
    field_ref = writer.root["/AcroForm"]["/Fields"].raw_get(0)
    field_ref.get_object()[pdf_name("/TU")] = value
    writer.mark_update(field_ref)


def _in_object_stream(writer: IncrementalPdfFileWriter, value: generic.PdfObject) -> None:
    """The annotation compressed in an object stream: a 10 MB string deflates to kilobytes."""
    ref, _ = writer.find_page_for_modification(0)
    writer.register_annotation(
        ref, writer.add_object(_text_note(value), obj_stream=writer.prepare_object_stream())
    )


def _updated(pdf: bytes, edit: Edit, value: generic.PdfObject) -> bytes:
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    edit(writer, value)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


BOMBS: dict[str, tuple[Edit, Callable[[], generic.PdfObject]]] = {
    "hex-10.5MB-annotation-contents": (_in_annotation, lambda: _hex(10_500_000)),
    "hex-42MB-annotation-contents": (_in_annotation, lambda: _hex(42_000_000)),
    "hex-10.5MB-info-title": (_in_info, lambda: _hex(10_500_000)),
    "hex-10.5MB-page-dictionary": (_in_page, lambda: _hex(10_500_000)),
    "hex-10.5MB-stream-dictionary": (_in_stream_dictionary, lambda: _hex(10_500_000)),
    "hex-10.5MB-form-field": (_in_field, lambda: _hex(10_500_000)),
    "hex-10.5MB-in-object-stream": (_in_object_stream, lambda: _hex(10_500_000)),
    "name-5MB": (_in_page, lambda: generic.NameObject("/" + "N" * 5_000_000)),
    "literal-10MB": (_in_annotation, lambda: generic.TextStringObject("a" * 10_000_000)),
    "array-2M-numbers": (_in_page, lambda: generic.ArrayObject([generic.NumberObject(0)] * 2_000_000)),
}


@pytest.fixture(scope="module")
def root_pem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fixtures.pki import TestPKI

    path = tmp_path_factory.mktemp("trust") / "root.pem"
    path.write_bytes(TestPKI().root_pem())
    return path


@pytest.fixture(scope="module")
def sealed() -> bytes:
    from esign.seal.pades import SealOptions, seal
    from esign.seal.signers import load_pkcs12
    from fixtures.documents import licence_pdf
    from fixtures.pki import TestPKI

    signer = load_pkcs12(TestPKI().pkcs12("agency-a", b"f"), b"f")
    return seal(licence_pdf(), signer, SealOptions())


def _verify_in_child(path: Path, root_pem: Path) -> dict[str, object]:
    """Verified by a fresh interpreter that trusts the test root (so a bomb could otherwise pass)."""
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(root_pem)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_token_bomb_in_an_update_is_refused_within_bounds(
    name: str, sealed: bytes, root_pem: Path, tmp_path: Path
) -> None:
    edit, value = BOMBS[name]
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(_updated(sealed, edit, value()))
    out = _verify_in_child(path, root_pem)
    assert out.get("code") == "PDF_TOO_COMPLEX" or out.get("indication") not in (None, "TOTAL_PASSED"), out
    assert out["rss_mb"] < MAX_RSS_MB, out
    assert out["seconds"] < MAX_SECONDS, out


def test_a_50_mb_upload_verifies_within_bounds(root_pem: Path, tmp_path: Path) -> None:
    path = tmp_path / "scan-50mb.pdf"
    path.write_bytes(sized_pdf(50 * 1024 * 1024))
    out = _verify_in_child(path, root_pem)
    assert out.get("indication") == "NO_SIGNATURE_FOUND", out
    assert out["rss_mb"] < MAX_RSS_MB, out
    assert out["seconds"] < MAX_SECONDS, out


def test_the_scan_ignores_stream_data_but_not_hex_strings_hidden_behind_a_forged_stream_keyword() -> None:
    limit = 1000
    image = b"1 0 obj\n<< /Length 5000 >>\nstream\n" + b"/" + b"\x80" * 4999 + b"\nendstream\nendobj\n"
    assert oversized_syntax(b"%PDF-1.7\n" + image, limit) is None
    assert oversized_syntax(b"%PDF-1.7\n1 0 obj\n[" + b"0 " * 600 + b"]\nendobj\n", limit) is not None
    hidden = b"1 0 obj\n<< /A (stream\n) /B <" + b"41" * 600 + b"> /C (endstream) >>\nendobj\n"
    assert "hex string" in (oversized_syntax(b"%PDF-1.7\n" + hidden, limit) or "")


def test_the_limit_is_a_policy_setting(sealed: bytes) -> None:
    from esign.pdf.input import open_pdf

    assert open_pdf(sealed, Limits()).revisions >= 1
    with pytest.raises(EsignError) as refused:
        open_pdf(sealed, Limits(max_object_syntax=64))
    assert refused.value.code is ErrorCode.PDF_TOO_COMPLEX
