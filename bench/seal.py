"""Sealing throughput: esign vs. stock pyHanko, measured in the same run.

    .venv/bin/python bench/seal.py [--seconds 5] [--skip-large]

For each case both sides seal the same document in a loop for a fixed time: esign with a cached-key
signer and a computed reservation (``esign.seal.pades.aseal``), stock pyHanko with
``SimpleSigner.load_pkcs12`` + ``PdfSigner.sign_pdf`` and the same visible seal. The machine is
noisy, so the ratio matters more than the absolute rate. Peak RSS of the 50 MB case is measured in a
fresh child process per side (``VmHWM``), so imports and earlier cases do not pollute it. Last, the
registry path vs. the bare core and SoftHSM2 vs. PKCS#12 keys (``bench/registry.py``).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import registry  # noqa: E402 - after the path set-up
from harness import child_peak_rss, compare, compare_rss, parse_args, rate, vm_hwm_mb, write_json  # noqa: E402 - after the path set-up

PASSPHRASE = b"bench"


def _setup(workdir: Path, label: str) -> tuple[Path, Path]:
    """PKCS#12 of ``label`` and the seal picture as files (stock pyHanko reads both from disk)."""
    from esign.seal.image import round_seal
    from fixtures.pki import TestPKI

    p12 = workdir / f"{label}.p12"
    p12.write_bytes(TestPKI().pkcs12(label, PASSPHRASE))
    seal_pdf = workdir / "seal.pdf"
    seal_pdf.write_bytes(round_seal("杭州市市场监督管理局", "行政审批专用章").pdf)
    return p12, seal_pdf


def esign_sealer(p12: Path, seal_pdf: Path, level: str, tsa_url: str | None) -> Callable[[bytes], bytes]:
    from pyhanko.sign.timestamps import HTTPTimeStamper

    from esign.seal.image.page import SealImage
    from esign.seal.pades import AtPosition, Level, SealOptions, aseal, validation_context_for
    from esign.seal.signers import load_pkcs12
    from esign.sync_bridge import run_sync

    signer = load_pkcs12(p12.read_bytes(), PASSPHRASE)
    # built once and reused: revocation data fetched for one document serves the next ones
    vc = validation_context_for(signer) if level in ("B-LT", "B-LTA") else None
    image = SealImage(pdf=seal_pdf.read_bytes(), width_mm=42, height_mm=42)
    options = SealOptions(level=Level(level), placement=AtPosition(1, 150, 235))
    timestamper = HTTPTimeStamper(tsa_url) if tsa_url else None

    def run(pdf: bytes) -> bytes:
        return run_sync(
            aseal(pdf, signer, options, image=image, timestamper=timestamper, validation_context=vc)
        )

    return run


def stock_sealer(p12: Path, seal_pdf: Path, level: str, tsa_url: str | None) -> Callable[[bytes], bytes]:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.timestamps import HTTPTimeStamper
    from pyhanko.stamp import StaticStampStyle
    from pyhanko_certvalidator import ValidationContext

    from fixtures.pki import TestPKI

    signer = signers.SimpleSigner.load_pkcs12(str(p12), passphrase=PASSPHRASE)
    style = StaticStampStyle.from_pdf_file(str(seal_pdf), border_width=0)
    mm = 72 / 25.4
    box = (150 * mm - 59.5, 62 * mm - 59.5, 150 * mm + 59.5, 62 * mm + 59.5)
    lt = level in ("B-LT", "B-LTA")
    vc = ValidationContext(trust_roots=[TestPKI().root], allow_fetching=True) if lt else None
    meta = signers.PdfSignatureMetadata(
        field_name="Seal1",
        subfilter=fields.SigSeedSubFilter.PADES,
        embed_validation_info=lt,
        use_pades_lta=level == "B-LTA",
        validation_context=vc,
    )
    timestamper = HTTPTimeStamper(tsa_url) if tsa_url else None

    def run(pdf: bytes) -> bytes:
        pdf_signer = signers.PdfSigner(
            meta,
            signer,
            timestamper=timestamper,
            stamp_style=style,
            new_field_spec=fields.SigFieldSpec("Seal1", on_page=0, box=box),
        )
        return pdf_signer.sign_pdf(IncrementalPdfFileWriter(BytesIO(pdf))).getvalue()

    return run


def peak_rss_child(side: str, workdir: Path, pdf_path: Path | None) -> float:
    """Peak RSS (MB) of a fresh process that seals ``pdf_path`` once with ``side`` (None: imports only).

    The key and seal picture come ready-made from ``workdir``: drawing the seal loads the 24 MB CJK
    font, which is a one-off cost of registering a seal, not of sealing.
    """
    return child_peak_rss(__file__, [side, str(workdir), str(pdf_path or "")])


def _rss_child(side: str, workdir: str, pdf_path: str) -> None:
    import pyhanko.sign  # noqa: F401

    import esign.seal.pades  # noqa: F401 - the import cost is part of the floor

    if pdf_path:
        p12, seal_pdf = Path(workdir) / "agency-a.p12", Path(workdir) / "seal.pdf"
        sealer = {"esign": esign_sealer, "stock": stock_sealer}[side](p12, seal_pdf, "B-B", None)
        sealer(Path(pdf_path).read_bytes())
    print(vm_hwm_mb())


def main() -> None:
    args = parse_args(__doc__, ("SIDE", "DIR", "PDF"))
    if args.rss_child:
        _rss_child(*args.rss_child)
        return

    from fixtures.documents import licence_pdf, long_pdf, write_large_pdf
    from fixtures.pki import running_services

    results = []
    with tempfile.TemporaryDirectory() as tmp, running_services() as services:
        workdir = Path(tmp)
        licence, long_doc = licence_pdf(), long_pdf(200)
        cases = [
            ("1-page licence, B-B, RSA-2048", "agency-a", "B-B", licence),
            ("1-page licence, B-B, ECDSA P-256", "agency-a-ec", "B-B", licence),
            ("1-page licence, B-LT, RSA-2048", "agency-a", "B-LT", licence),
            ("200-page document, B-B, RSA-2048", "agency-a", "B-B", long_doc),
        ]
        if not args.skip_large:
            large = workdir / "large.pdf"
            with large.open("wb") as out:
                write_large_pdf(out, 50)
            cases.append(("50 MB document, B-B, RSA-2048", "agency-a", "B-B", large.read_bytes()))
        for name, label, level, pdf in cases:
            p12, seal_pdf = _setup(workdir, label)
            tsa = services.pki.tsa_url if level != "B-B" else None
            ours = rate(esign_sealer(p12, seal_pdf, level, tsa), pdf, args.seconds)
            stock = rate(stock_sealer(p12, seal_pdf, level, tsa), pdf, args.seconds)
            results.append(compare(name, ours, stock))
        if not args.skip_large:
            size_mb = large.stat().st_size / 2**20
            _setup(workdir, "agency-a")
            floor = peak_rss_child("esign", workdir, None)
            ours_rss = peak_rss_child("esign", workdir, large)
            stock_rss = peak_rss_child("stock", workdir, large)
            results.append(compare_rss(size_mb, floor, ours_rss, stock_rss, limit=2.5 * size_mb + 80))
    print()
    results.append(registry.run(args.seconds))
    write_json(args.json, results)


if __name__ == "__main__":
    main()
