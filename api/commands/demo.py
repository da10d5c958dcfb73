"""``esign demo``: the main job with embedded defaults — seal a sample licence end to end.

It needs nothing but this repository: the test PKI's TSA/OCSP/CRL server runs on a loopback port
for the duration of the demo, a licence is generated, sealed at "（盖章）" with a drawn round seal at
PAdES B-LTA, and the result is checked with poppler's ``pdfsig`` and with esign's own verifier.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import click


@click.command()
@click.option(
    "--out",
    "out_dir",
    default=Path("out/demo"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the demo files.",
)
def demo(out_dir: Path) -> None:
    """Seal a sample licence with the test PKI and verify it (pdfsig and esign verify)."""
    from pyhanko.sign.timestamps import HTTPTimeStamper

    from esign.seal.batch import write_atomically
    from esign.seal.image import round_seal
    from esign.seal.pades import AtKeyword, Level, SealOptions, seal
    from esign.seal.signers import load_pkcs12
    from fixtures.documents import licence_pdf
    from fixtures.pki import running_services

    out_dir.mkdir(parents=True, exist_ok=True)
    licence = licence_pdf()
    write_atomically(out_dir / "licence.pdf", licence)
    with running_services() as services:
        pki = services.pki
        pki.write_trust_dir(out_dir / "trust")
        signer = load_pkcs12(pki.pkcs12("agency-a", b"demo"), b"demo")
        image = round_seal("杭州市市场监督管理局", "行政审批专用章")
        options = SealOptions(level=Level.B_LTA, placement=AtKeyword("（盖章）"), reason="核发营业执照")
        sealed = seal(licence, signer, options, image=image, timestamper=HTTPTimeStamper(pki.tsa_url))
    target = out_dir / "licence-sealed.pdf"
    write_atomically(target, sealed)
    click.echo(f"已盖章 sealed ({options.level}): {target}")
    ok = _pdfsig(target) & _esign_verify(target, out_dir / "trust")
    sys.exit(0 if ok else 1)


def _pdfsig(path: Path) -> bool:
    if shutil.which("pdfsig") is None:
        click.echo("pdfsig not installed (apt-get install poppler-utils): skipped", err=True)
        return True
    output = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=120).stdout
    valid = output.count("Signature is Valid.")
    click.echo(f"pdfsig: {valid} valid signature(s)")
    for verdict in dict.fromkeys(re.findall(r"Certificate Validation: (.+)", output)):
        # pdfsig judges trust with its own NSS database, which does not hold the test root (README, pdfsig)
        click.echo(f"pdfsig on the certificate: {verdict.strip()} (its NSS trust store has no test root)")
    return valid >= 1


def _esign_verify(path: Path, trust_dir: Path) -> bool:
    from esign.policy import ValidationPolicy, load_trust_anchors
    from esign.verify.pipeline import verify

    policy = ValidationPolicy.preset("default", trust_roots=load_trust_anchors([trust_dir]))
    report = verify(path.read_bytes(), policy, name=path.name)
    click.echo(f"esign verify: {report.indication}")
    return report.indication == "TOTAL_PASSED"
