"""SM2 throughput: operations against ``openssl speed sm2``, and whole documents in the three styles.

Run: ``.venv/bin/python bench/sm2.py [--seconds 3]``. Two tables, both measured in this one run:

* SM2 sign/verify per second through esign.gm.sm2 next to ``openssl speed sm2`` and their ratio (near 1
  means the Python layer adds little to the native code);
* documents per second sealing and verifying the one-page sample licence (an invisible B-B seal) in
  style 1 (RSA-2048 PAdES: ``esign.seal.pades.seal``, stock pyHanko validation), style 2 (SM2 CMS) and style 3
  (GB/T 38540 seal signature), with each style's ratio to style 1.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from io import BytesIO
from pathlib import Path

from cryptography.hazmat.primitives import serialization

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from esign.gm import sm2

MESSAGE = b"x" * 256  # openssl speed signs a short digest-sized input; a small message keeps SM3 cost alike


def ops_per_second(operation: Callable[[], object], seconds: float, batch: int = 50) -> float:
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(batch):
            operation()
        count += batch
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


def document_rates(seconds: float) -> list[tuple[str, float, float]]:
    """(style, seals/s, verifications/s) for styles 1, 2 and 3 on the same document."""
    from asn1crypto import x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from esign.gm.cms_signer import SM2Signer
    from esign.policy import ValidationPolicy
    from esign.seal.gm import seal_ses, seal_sm2_cms
    from esign.seal.pades import seal
    from esign.seal.signers import signer_from_key
    from esign.verify.gm import verify_gm_pdf
    from fixtures.documents import licence_pdf
    from fixtures.pki import TestPKI
    from fixtures.pki_sm2 import load

    document = licence_pdf()
    rsa_pki, sm2_pki = TestPKI(), load()
    rsa_key = serialization.load_der_private_key(rsa_pki.key("agency-a").dump(), None)
    rsa_signer = signer_from_key(rsa_key, rsa_pki.cert("agency-a"), rsa_pki.chain("agency-a")[1:])
    rsa_root: x509.Certificate = rsa_pki.cert("root")

    def verify_rsa(pdf: bytes) -> object:
        reader = PdfFileReader(BytesIO(pdf))
        context = ValidationContext(trust_roots=[rsa_root], allow_fetching=False)
        return [validate_pdf_signature(sig, context) for sig in reader.embedded_signatures]

    label = "sm2-agency-a"
    key, cert, chain = sm2_pki.key(label), sm2_pki.cert(label), sm2_pki.chain(label)[1:]
    sm2_signer = SM2Signer(key, cert, chain)
    esl = sm2_pki.seal([label])
    policy = ValidationPolicy.preset(trust_roots=[sm2_pki.root])

    def verify_sm2(pdf: bytes) -> object:
        return asyncio.run(verify_gm_pdf(pdf, policy, other_certs=chain, crls=sm2_pki.crls))

    styles: list[tuple[str, Callable[[bytes], bytes], Callable[[bytes], object]]] = [
        ("1 RSA PAdES", lambda pdf: seal(pdf, rsa_signer), verify_rsa),
        ("2 SM2 CMS", lambda pdf: seal_sm2_cms(pdf, sm2_signer), verify_sm2),
        ("3 GB/T 38540", lambda pdf: seal_ses(pdf, esl, key, cert), verify_sm2),
    ]
    out = []
    for name, sealer, verifier in styles:
        sealed = sealer(document)
        out.append((name, ops_per_second(partial(sealer, document), seconds, batch=5),
                    ops_per_second(partial(verifier, sealed), seconds, batch=5)))  # fmt: skip
    return out


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

    rates = document_rates(args.seconds)
    base_seal, base_verify = rates[0][1], rates[0][2]
    print(f"\n{'one-page PDF, B-B':18}{'seal/s':>9}{'verify/s':>10}{'seal ×':>8}{'verify ×':>10}")
    for name, sealed, verified in rates:
        print(
            f"{name:18}{sealed:9.1f}{verified:10.1f}{sealed / base_seal:8.2f}{verified / base_verify:10.2f}"
        )


if __name__ == "__main__":
    main()
