"""No exception escapes verification, and none is reported as VALIDATION_ERROR for a validly signed file.

Issue 13 item 5. Signatures made as other tools make them must verify as EU DSS (BouncyCastle) verifies
them: signer or CA keys that ``cryptography`` refuses to load (negative or zero-padded RSA modulus, BER
lengths, explicit EC parameters), the key's OID as signature algorithm, BSI plain ECDSA, RSA with SHA-3.
What cannot be verified is said in plain words with its own finding, and a battery of malformed CMS
values only ever yields a report (or a typed EsignError for unusable input).
"""

from __future__ import annotations

import random
import re
from io import BytesIO

import pytest
from asn1crypto import algos, cms, keys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from esign.errors import EsignError
from esign.report.model import Report
from esign.verify.pipeline import verify
from tests.crafted_signatures import (
    CmsSpec,
    Issued,
    build_cms,
    der,
    ec_explicit_spki,
    ec_signer,
    issue,
    placeholder,
    policy_for,
    root_ca,
    rsa_signer,
    rsa_spki,
    signed,
    with_contents,
)
from tests.verify_signing import blank_pdf

#: a Python exception class name in a finding detail: the applicant would read a traceback fragment
_EXCEPTION_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception)\b")


@pytest.fixture(scope="module")
def root() -> Issued:
    return root_ca()


@pytest.fixture(scope="module")
def prepared() -> bytes:
    return placeholder(blank_pdf("crafted signatures"))


def _codes(report: Report) -> set[str]:
    return {f.code.name for f in report.findings}


def _verified(prepared: bytes, signer: Issued, root: Issued, spec: CmsSpec | None = None) -> Report:
    return verify(signed(prepared, signer, [root.cert], spec or CmsSpec()), policy_for(root))


def _assert_passed(report: Report) -> None:
    sig = report.signatures[0]
    checks = (sig.checks.integrity, sig.checks.crypto, sig.checks.chain)
    assert checks == ("ok", "ok", "trusted"), _codes(report)
    assert report.indication == "TOTAL_PASSED", _codes(report)
    assert "VALIDATION_ERROR" not in _codes(report)


@pytest.mark.parametrize("style", ["negative", "padded", "ber"])
def test_a_signer_key_cryptography_refuses_is_read_by_its_content(prepared, root, style) -> None:
    report = _verified(prepared, rsa_signer(root, style), root)
    _assert_passed(report)
    assert "CERTIFICATE_ENCODING_IRREGULAR" in _codes(report)


def test_a_ca_key_with_a_negative_modulus_still_anchors_the_chain(prepared) -> None:
    key = rsa.generate_private_key(65537, 2048)
    odd_spki = rsa_spki(key.public_key(), "negative")
    odd_root = issue("crafted root (negative modulus)", odd_spki, key, ca=True, serial=1)
    report = _verified(prepared, rsa_signer(odd_root), odd_root)
    _assert_passed(report)
    noted = [f.detail for f in report.findings if f.code.name == "CERTIFICATE_ENCODING_IRREGULAR"]
    assert any("negative modulus" in detail for detail in noted)


def test_explicit_ec_parameters_with_a_compressed_base_point_verify(prepared, root) -> None:
    report = _verified(prepared, ec_signer(root, spki=ec_explicit_spki), root)
    _assert_passed(report)
    assert "WEAK_KEY" not in _codes(report)


def test_a_strict_der_signer_is_not_called_irregular(prepared, root) -> None:
    report = _verified(prepared, rsa_signer(root), root)
    _assert_passed(report)
    assert "CERTIFICATE_ENCODING_IRREGULAR" not in _codes(report)


def test_a_negative_serial_number_does_not_disturb_verification(prepared, root) -> None:
    report = _verified(prepared, rsa_signer(root, serial=-0x1234), root)
    _assert_passed(report)
    assert report.signatures[0].signed_by.serial == "-1234"


@pytest.mark.parametrize(
    "spec",
    [
        CmsSpec(signature_algorithm="1.2.840.10045.2.1"),
        CmsSpec(signature_algorithm="0.4.0.127.0.7.1.1.4.1.3", plain_ecdsa=True),
    ],
    ids=["id-ecPublicKey-as-signature-algorithm", "bsi-plain-ecdsa"],
)
def test_ecdsa_named_as_other_tools_name_it_verifies(prepared, root, spec) -> None:
    _assert_passed(_verified(prepared, ec_signer(root), root, spec))


def test_rsa_with_sha3_verifies(prepared, root) -> None:
    spec = CmsSpec(signature_algorithm="2.16.840.1.101.3.4.3.14", signing_hash=hashes.SHA3_256)
    _assert_passed(_verified(prepared, rsa_signer(root), root, spec))


@pytest.mark.parametrize(
    ("signer_kind", "algorithm", "key"),
    [("ec", "sha256_rsa", "EC"), ("rsa", "sha256_ecdsa", "RSA"), ("ec", "rsassa_pkcs1v15", "EC")],
)
def test_an_algorithm_that_does_not_fit_the_key_is_an_invalid_signature_not_a_crash(
    prepared, root, signer_kind, algorithm, key
) -> None:
    signer = ec_signer(root) if signer_kind == "ec" else rsa_signer(root)
    report = _verified(prepared, signer, root, CmsSpec(signature_algorithm=algorithm))
    sig = report.signatures[0]
    assert (sig.indication, sig.subindication, sig.checks.crypto) == (
        "TOTAL_FAILED",
        "SIG_CRYPTO_FAILURE",
        "failed",
    )
    detail = next(f.detail for f in report.findings if f.code.name == "SIGNATURE_VALUE_INVALID")
    assert f"does not fit the signer's {key} key" in detail
    assert "VALIDATION_ERROR" not in _codes(report)


def _ber(value: bytes) -> bytes:
    """The same ECDSA (r, s) with non-minimal (BER) lengths, as some signing tools write it."""
    parsed = algos.DSASignature.load(value)
    r, s = (parsed[name].contents for name in ("r", "s"))
    return der(0x30, der(0x02, r, long_form=True) + der(0x02, s), long_form=True)


def test_a_ber_encoded_ecdsa_value_fails_as_strict_verifiers_fail_it_and_says_why(prepared, root) -> None:
    report = _verified(prepared, ec_signer(root), root, CmsSpec(rewrite_value=_ber))
    sig = report.signatures[0]
    assert (sig.indication, sig.checks.crypto) == ("TOTAL_FAILED", "failed")
    detail = next(f.detail for f in report.findings if f.code.name == "SIGNATURE_VALUE_INVALID")
    assert "not DER-encoded" in detail
    assert "VALIDATION_ERROR" not in _codes(report)


@pytest.mark.parametrize(
    "spec",
    [CmsSpec(digest_algorithm="1.2.840.113549.1.1.5"), CmsSpec(signature_algorithm="1.2.3.4.5")],
    ids=["signature-oid-as-digest-algorithm", "unknown-signature-algorithm"],
)
def test_an_unsupported_algorithm_is_indeterminate_not_forged(prepared, root, spec) -> None:
    report = _verified(prepared, rsa_signer(root), root, spec)
    sig = report.signatures[0]
    assert (sig.indication, sig.subindication) == ("INDETERMINATE", "CRYPTO_CONSTRAINTS_FAILURE")
    assert "UNSUPPORTED_ALGORITHM" in _codes(report)
    assert not _codes(report) & {"VALIDATION_ERROR", "SIGNATURE_VALUE_INVALID"}


def test_a_key_on_an_unsupported_curve_is_unsupported(prepared, root) -> None:
    signer = ec_signer(root)
    info = keys.PublicKeyInfo.load(signer.cert.public_key.dump())
    unknown_curve = {"algorithm": "ec", "parameters": {"named": "1.2.3.4.5.6"}}
    custom = keys.PublicKeyInfo({"algorithm": unknown_curve, "public_key": bytes(info["public_key"])})
    odd = issue("crafted ec signer (unknown curve)", custom.dump(), signer.key, root)
    report = _verified(prepared, odd, root)
    assert report.signatures[0].indication == "INDETERMINATE"
    assert "UNSUPPORTED_ALGORITHM" in _codes(report)
    assert "VALIDATION_ERROR" not in _codes(report)


def test_a_pkcs7_v1_signature_with_encapsulated_content_fails_as_such(prepared, root) -> None:
    report = _verified(prepared, rsa_signer(root), root, CmsSpec(encapsulate=b"enveloped content"))
    sig = report.signatures[0]
    assert (sig.indication, sig.checks.crypto) == ("TOTAL_FAILED", "failed")
    assert "CMS_STRUCTURE_INVALID" in _codes(report)
    assert "VALIDATION_ERROR" not in _codes(report)


def test_an_unreadable_dss_is_a_warning_about_validation_data(prepared, root) -> None:
    pdf = signed(prepared, rsa_signer(root), [root.cert], CmsSpec())
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    flate = {generic.pdf_name("/Filter"): generic.pdf_name("/FlateDecode")}
    broken = writer.add_object(generic.StreamObject(flate, encoded_data=b"x"))
    dss = generic.DictionaryObject({generic.pdf_name("/Certs"): generic.ArrayObject([broken])})
    writer.root[generic.pdf_name("/DSS")] = writer.add_object(dss)
    writer.update_root()
    out = BytesIO()
    writer.write(out)
    report = verify(out.getvalue(), policy_for(root))
    assert "VALIDATION_DATA_UNREADABLE" in _codes(report)
    assert "VALIDATION_ERROR" not in _codes(report)


# -- the safety net: malformed CMS and certificate variants -----------------------------------------------


def _drop_certificates(sd: cms.SignedData) -> None:
    sd["certificates"] = cms.CertificateSet([])


def _garbage_signed_attrs(sd: cms.SignedData) -> None:
    si = sd["signer_infos"][0]
    si["signed_attrs"] = cms.CMSAttributes([{"type": "content_type", "values": ["signed_data"]}])


def _empty_signature(sd: cms.SignedData) -> None:
    sd["signer_infos"][0]["signature"] = b""


def _wrong_sid(sd: cms.SignedData) -> None:
    sd["signer_infos"][0]["sid"] = cms.SignerIdentifier({"subject_key_identifier": b"\x01" * 20})


def _second_signer_forged(sd: cms.SignedData) -> None:
    forged = sd["signer_infos"][0].copy()
    forged["signature"] = b"\x01" * 256
    sd["signer_infos"] = cms.SignerInfos([sd["signer_infos"][0], forged])


def _encapsulated_type_differs(sd: cms.SignedData) -> None:
    sd["encap_content_info"] = {"content_type": "enveloped_data"}


STRUCTURAL = {
    "no-certificates": _drop_certificates,
    "signed-attrs-wrong-content-type": _garbage_signed_attrs,
    "empty-signature-value": _empty_signature,
    "subject-key-identifier-of-nobody": _wrong_sid,
    "second-signer-forged": _second_signer_forged,
    "encapsulated-type-differs-from-signed": _encapsulated_type_differs,
}


def _odd_keys(root: Issued) -> dict[str, Issued]:
    """Signer certificates whose SubjectPublicKeyInfo is junk in one way or another."""
    base = rsa_signer(root)
    spki = rsa_spki(base.key.public_key(), "der")  # type: ignore[arg-type]
    rsa_algorithm = bytes.fromhex("300d06092a864886f70d0101010500")
    zero_modulus = der(0x02, b"\x00") + der(0x02, b"\x01\x00\x01")
    variants = {
        "spki-truncated-bit-string": spki[:-40],
        "rsa-modulus-zero": der(0x30, rsa_algorithm + der(0x03, b"\x00" + der(0x30, zero_modulus))),
        "rsa-key-not-a-sequence": der(0x30, rsa_algorithm + der(0x03, b"\x00" + der(0x04, b"junk"))),
    }
    out = {}
    for name, value in variants.items():
        try:
            out[name] = issue(f"junk key {name}", value, base.key, root)
        except ValueError:
            continue  # asn1crypto itself refuses to embed it: nothing to feed the verifier
    return out


def _battery(prepared: bytes, root: Issued) -> dict[str, bytes]:
    signer = rsa_signer(root)
    cases = {
        name: signed(prepared, signer, [root.cert], CmsSpec(rewrite_signed_data=rewrite))
        for name, rewrite in STRUCTURAL.items()
    }
    for name, odd in _odd_keys(root).items():
        cases[name] = signed(prepared, odd, [root.cert], CmsSpec())
    good = build_cms(b"\x00" * 32, signer, [root.cert], CmsSpec())
    rng = random.Random(13)
    for number in range(24):
        mutated = bytearray(good)
        for _ in range(1 + number % 3):
            mutated[rng.randrange(len(mutated))] ^= 1 << rng.randrange(8)
        cases[f"flipped-{number}"] = with_contents(prepared, lambda _d, m=bytes(mutated): m, "sha256")
    for cut in (10, 200, len(good) // 2, len(good) - 3):
        cases[f"truncated-at-{cut}"] = with_contents(prepared, lambda _d, c=cut: good[:c], "sha256")
    return cases


def test_malformed_cms_and_certificates_yield_reports_with_plain_language_details(prepared, root) -> None:
    failures = []
    for name, pdf in _battery(prepared, root).items():
        try:
            report = verify(pdf, policy_for(root))
        except EsignError:
            continue
        except Exception as exc:  # exactly what this test exists to catch
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        assert report.indication != "TOTAL_PASSED", name
        for finding in report.findings:
            if _EXCEPTION_NAME.search(finding.detail):
                failures.append(f"{name}: {finding.code.name}: {finding.detail}")
    assert failures == []
