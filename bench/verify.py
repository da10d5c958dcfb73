"""Verification throughput: ``esign.verify.pipeline`` vs. stock pyHanko ``validate_pdf_signature``, same run.

    .venv/bin/python bench/verify.py [--seconds 5] [--rounds 3] [--skip-large]

esign does more per signature than stock pyHanko (ByteRange sanity, the visual change analysis,
the art. 13 mapping, one complete report), so the question is how much that costs. Stock pyHanko
validates every embedded signature of the same document against the same trust root, with no
network (and, for B-LT, revocation data from the document's DSS). Each side measures every case in
its own fresh interpreter, ``--rounds`` times, the sides alternating which goes first; the ratio is
of the medians. The 50 MB document's peak RSS is measured in a fresh child process per side.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import (  # noqa: E402 - after the path set-up
    child_peak_rss,
    child_rates,
    compare,
    compare_rss,
    median_rates,
    parse_args,
    rate,
    vm_hwm_mb,
    write_json,
)

from fixtures.pki import TestPKI  # noqa: E402


def esign_verifier(root_pem: Path) -> Callable[[bytes], object]:
    from esign.policy import ValidationPolicy, load_trust_anchors
    from esign.verify.pipeline import verify

    policy = ValidationPolicy.preset("default", trust_roots=load_trust_anchors([root_pem]))
    return lambda pdf: verify(pdf, policy)


def stock_verifier(root_pem: Path) -> Callable[[bytes], object]:
    from asn1crypto import pem, x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import DocumentSecurityStore, validate_pdf_signature
    from pyhanko.sign.validation.errors import NoDSSFoundError
    from pyhanko_certvalidator import ValidationContext

    root = x509.Certificate.load(pem.unarmor(root_pem.read_bytes())[2])

    def run(pdf: bytes) -> list[object]:
        reader = PdfFileReader(BytesIO(pdf))
        settings = {"trust_roots": [root], "allow_fetching": False}
        try:
            vc = DocumentSecurityStore.read_dss(reader).as_validation_context(settings)
        except NoDSSFoundError:
            vc = ValidationContext(**settings)
        return [validate_pdf_signature(sig, vc) for sig in reader.embedded_signatures]

    return run


def build_documents(pki: TestPKI, large: bool) -> dict[str, bytes]:
    from pyhanko.sign.timestamps import HTTPTimeStamper

    from esign.seal.image import round_seal
    from esign.seal.pades import AtPosition, Level, SealOptions, seal
    from esign.seal.signers import load_pkcs12
    from fixtures.documents import licence_pdf, long_pdf

    signers = [load_pkcs12(pki.pkcs12(label, b"b"), b"b") for label in ("agency-a", "agency-b", "agency-c")]
    image = round_seal("杭州市市场监督管理局", "行政审批专用章")
    visible = SealOptions(placement=AtPosition(1, 150, 235))
    licence = licence_pdf()
    docs = {
        "1-page B-B": seal(licence, signers[0], visible, image=image),
        "1-page B-LT": seal(
            licence, signers[0], SealOptions(level=Level.B_LT), timestamper=HTTPTimeStamper(pki.tsa_url)
        ),
        "200-page B-B": seal(long_pdf(200), signers[0]),
    }
    ten = licence
    for i in range(10):
        ten = seal(ten, signers[i % 3])
    docs["10 signatures"] = ten
    if large:
        from fixtures.documents import large_pdf

        docs["50 MB B-B"] = seal(large_pdf(50), signers[0])
    return docs


_VERIFIERS = {"esign": esign_verifier, "stock": stock_verifier}


def _rss_child(side: str, root_pem: str, pdf_path: str) -> None:
    verifier = _VERIFIERS[side](Path(root_pem))
    if pdf_path:
        verifier(Path(pdf_path).read_bytes())
    print(vm_hwm_mb())


def _rate_child(side: str, root_pem: str, directory: str, seconds: str) -> None:
    verifier = _VERIFIERS[side](Path(root_pem))
    names = json.loads((Path(directory) / "cases.json").read_text())
    rates = {
        name: rate(verifier, (Path(directory) / f"{i}.pdf").read_bytes(), float(seconds))
        for i, name in enumerate(names)
    }
    print(json.dumps(rates))


def main() -> None:
    args = parse_args(__doc__, ("SIDE", "ROOT", "PDF"))
    if args.rss_child:
        _rss_child(*args.rss_child)
        return
    if args.rate_child:
        _rate_child(*args.rate_child)
        return

    from fixtures.pki import running_services

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with running_services() as services:
            root_pem = services.pki.write_trust_dir(workdir / "trust") / "esign-test-root.pem"
            docs = build_documents(services.pki, large=not args.skip_large)
        cases = workdir / "cases"
        cases.mkdir()
        (cases / "cases.json").write_text(json.dumps(list(docs)))
        for i, pdf in enumerate(docs.values()):
            (cases / f"{i}.pdf").write_bytes(pdf)
        runs = child_rates(
            __file__, ("esign", "stock"), [str(root_pem), str(cases), str(args.seconds)], args.rounds
        )
        ours, stock = median_rates(runs["esign"]), median_rates(runs["stock"])
        for name in docs:
            results.append(compare(f"{name} ({1 / ours[name]:.3f} s/doc)", ours[name], stock[name]))
        if not args.skip_large:
            large = cases / f"{list(docs).index('50 MB B-B')}.pdf"
            size_mb = large.stat().st_size / 2**20
            floor = child_peak_rss(__file__, ["esign", str(root_pem), ""])
            ours_rss = child_peak_rss(__file__, ["esign", str(root_pem), str(large)])
            stock_rss = child_peak_rss(__file__, ["stock", str(root_pem), str(large)])
            results.append(compare_rss(size_mb, floor, ours_rss, stock_rss, limit=1.5 * size_mb + 80))
    write_json(args.json, results)


if __name__ == "__main__":
    main()
