"""``esign fixtures``: the test PKI's TSA/OCSP/CRL server and its files, for demos and manual testing."""

from __future__ import annotations

import time
from pathlib import Path

import click


@click.group()
def fixtures() -> None:
    """The deterministic test PKI (test use only: its private keys are public)."""


@fixtures.command()
@click.option(
    "--port", default=9173, show_default=True, help="Loopback port to listen on (0 = any free port)."
)
def serve(port: int) -> None:
    """Serve the test PKI's time-stamping, OCSP and CRL endpoints on 127.0.0.1 until interrupted."""
    from fixtures.pki import start_services

    services = start_services(port)
    click.echo(f"TSA:  {services.pki.tsa_url}")
    click.echo(f"SM2 TSA: {services.pki.sm2_tsa_url}")
    click.echo(f"SM2 CRLs: {services.pki.url_prefix}/sm2/crl/{{sm2-root,sm2-interm}}.crl")
    click.echo(f"OCSP: {services.pki.url_prefix}/esign/ocsp/interm")
    click.echo(f"CRLs: {services.pki.url_prefix}/esign/crls/{{root,interm}}/latest.crl")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        services.stop()


@fixtures.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--passphrase-env",
    default="ESIGN_KEY_PASSPHRASE",
    show_default=True,
    help="Environment variable holding the passphrase for the PKCS#12 files.",
)
@click.option(
    "--port", default=9173, show_default=True, help="Port the service URLs in certificates point to."
)
def export(directory: Path, passphrase_env: str, port: int) -> None:
    """Write the test root (trust anchor) and every seal certificate's key as PKCS#12 into DIRECTORY.

    \b
    DIRECTORY/sm2/ holds the SM2 test PKI: trust/esign-sm2-root.pem (its only trust anchor),
    sm2-interm.pem (the intermediate, untrusted: give it to verify --cert) and SM2 PKCS#12 files
    for the seal certificates and the seal maker (sm2-maker.p12, for ESIGN_SEAL_MAKER_P12).
    """
    import os

    from fixtures import pki_sm2
    from fixtures.pki import AGENCIES, NEGATIVE, TestPKI

    passphrase = os.environ.get(passphrase_env)
    if not passphrase:
        raise click.UsageError(f"set {passphrase_env} to the passphrase for the PKCS#12 files")
    pki = TestPKI(url_prefix=f"http://127.0.0.1:{port}")
    directory.mkdir(parents=True, exist_ok=True)
    pki.write_trust_dir(directory / "trust")
    for label in AGENCIES + NEGATIVE:
        (directory / f"{label}.p12").write_bytes(pki.pkcs12(label, passphrase.encode()))
    click.echo(f"wrote {directory}/trust/esign-test-root.pem and {len(AGENCIES + NEGATIVE)} PKCS#12 files")
    sm2 = pki.sm2
    sm2_dir = directory / "sm2"
    (sm2_dir / "trust").mkdir(parents=True, exist_ok=True)
    (sm2_dir / "trust" / "esign-sm2-root.pem").write_bytes(sm2.pem("sm2-root"))
    (sm2_dir / "sm2-interm.pem").write_bytes(sm2.pem("sm2-interm"))
    for label in pki_sm2.EXPORTED:
        (sm2_dir / f"{label}.p12").write_bytes(sm2.pkcs12(label, passphrase.encode()))
    click.echo(f"wrote {sm2_dir}/trust/esign-sm2-root.pem and {len(pki_sm2.EXPORTED)} SM2 PKCS#12 files")
