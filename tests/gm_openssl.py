"""Checks of SM2 sealed PDFs with the OpenSSL 3 CLI, not with esign's own verifier.

OpenSSL 3.0 verifies an SM2 signature over raw bytes (``pkeyutl -verify -rawin -digest sm3`` with the
distinguishing ID) and hashes with SM3 (``dgst -sm3``); it cannot verify SM2 CMS or a chain above the
leaf in one call, so tests check each signature and each link separately.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import core, pem, x509

from esign.gm import ses, sm2

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the OpenSSL 3 CLI")
DISTID = f"distid:{sm2.DEFAULT_ID.decode()}"


def contents_der(sealed: bytes, index: int = -1) -> bytes:
    """The DER value in the last (or ``index``-th) /Contents hex string, cut at its own length."""
    raw = bytes.fromhex(re.findall(rb"/Contents\s*<([0-9A-Fa-f]+)>", sealed)[index].decode())
    return core.load(raw, strict=False).dump()


def signed_bytes(sealed: bytes, index: int = -1) -> bytes:
    a, b, c, d = (int(n) for n in re.findall(rb"/ByteRange\s*\[([\d ]+)\]", sealed)[index].split())
    return sealed[a : a + b] + sealed[c : c + d]


def sm2_verifies(directory: Path, cert: x509.Certificate, data: bytes, signature: bytes) -> bool:
    """``openssl pkeyutl -verify`` of an SM2/SM3 signature by ``cert``'s key over ``data``."""
    (directory / "pub.pem").write_bytes(pem.armor("PUBLIC KEY", cert.public_key.dump()))
    (directory / "data.bin").write_bytes(data)
    (directory / "sig.der").write_bytes(signature)
    run = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-digest", "sm3", "-rawin", "-pkeyopt", DISTID,
         "-pubin", "-inkey", "pub.pem", "-in", "data.bin", "-sigfile", "sig.der"],
        cwd=directory, capture_output=True,
    )  # fmt: skip
    return run.returncode == 0


def sm3(directory: Path, data: bytes) -> bytes:
    (directory / "hashed.bin").write_bytes(data)
    run = subprocess.run(["openssl", "dgst", "-sm3", "-binary", "hashed.bin"], cwd=directory,
                         capture_output=True, check=True)  # fmt: skip
    return run.stdout


def assert_ses_pdf_checks_out(
    directory: Path, sealed: bytes, signer: x509.Certificate, maker: x509.Certificate, index: int = -1
) -> ses.SESSignature:
    """The SES_Signature in ``sealed``: OpenSSL confirms dataHash, the signer's and the maker's signatures."""
    signature = ses.parse_signature(contents_der(sealed, index))
    assert isinstance(signature, ses.SESSignature)
    tbs = signature["to_sign"]
    assert sm3(directory, signed_bytes(sealed, index)) == tbs["data_hash"].native
    assert signature["cert"].native == signer.dump()
    assert sm2_verifies(directory, signer, tbs.dump(), signature["signature"].native)
    seal = tbs["eseal"]
    assert sm2_verifies(directory, maker, seal["e_seal_info"].dump(), seal["signed_value"].native)
    assert not sm2_verifies(directory, signer, seal["e_seal_info"].dump(), signature["signature"].native)
    return signature
