"""``esign fixtures`` and ``esign demo``: the test PKI's server and the main job, as real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from asn1crypto import crl, pem, x509

from fixtures.pki import TestPKI


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_fixtures_serve_answers_crl_requests_until_stopped() -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "api", "fixtures", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/esign/crls/interm/latest.crl"
        deadline = time.monotonic() + 60
        while True:
            try:
                body = urllib.request.urlopen(url, timeout=5).read()
                break
            except OSError:
                assert time.monotonic() < deadline, "the fixtures server did not come up"
                time.sleep(0.2)
        issued_by = crl.CertificateList.load(body).issuer
        assert issued_by == TestPKI().cert("interm").subject
        sm2 = TestPKI(url_prefix=f"http://127.0.0.1:{port}").sm2
        sm2_crl = urllib.request.urlopen(sm2.crl_url("sm2-interm"), timeout=5).read()
        assert crl.CertificateList.load(sm2_crl).issuer == sm2.cert("sm2-interm").subject
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
    assert f"SM2 CRLs: http://127.0.0.1:{port}/sm2/crl/" in out


def test_fixtures_export_writes_the_root_and_encrypted_keys(tmp_path: Path) -> None:
    env = {**os.environ, "ESIGN_KEY_PASSPHRASE": "export-test"}
    result = subprocess.run(
        [sys.executable, "-m", "api", "fixtures", "export", str(tmp_path / "pki")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    root = x509.Certificate.load(pem.unarmor((tmp_path / "pki/trust/esign-test-root.pem").read_bytes())[2])
    assert root.sha256 == TestPKI().root.sha256
    from esign.seal.signers import load_pkcs12

    signer = load_pkcs12((tmp_path / "pki/agency-a.p12").read_bytes(), b"export-test")
    assert signer.signing_cert.sha256 == TestPKI().cert("agency-a").sha256


def test_demo_seals_a_licence_that_pdfsig_and_esign_accept(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "api", "demo", "--out", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pdfsig: 1 valid signature(s)" in result.stdout
    assert "esign verify: TOTAL_PASSED" in result.stdout
    # what pdfsig concluded about trust is said, and why (its NSS store has no test root)
    assert "pdfsig on the certificate: Certificate issuer isn't Trusted." in result.stdout
    assert "Unclosed client session" not in result.stderr
    assert (tmp_path / "demo/licence-sealed.pdf").read_bytes().startswith(b"%PDF-")
