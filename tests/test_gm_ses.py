"""SES codec: golden vectors (GM/T 0031 v1, GB/T 38540 v4, GM/T 0031-2025 v5), v4 writing, hostile input."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asn1crypto import x509

from esign.errors import ErrorCode, EsignError
from esign.gm import ses, ses_make, sm2
from esign.gm.certs import validation_context
from esign.gm.ses_verify import Check, verify_ses_signature
from fixtures.pki_sm2 import load


@pytest.fixture(scope="module")
def corpus(shared_dir: Path) -> tuple[Path, list[dict]]:
    folder = shared_dir / "corpus" / "gbt38540"
    return folder, json.loads((folder / "manifest.json").read_text())["files"]


def _parse(path: Path, kind: str) -> ses.AnySeal | ses.AnySignature:
    return ses.parse_seal(path.read_bytes()) if kind == "SESeal" else ses.parse_signature(path.read_bytes())


def test_golden_vectors_parse_as_their_version_and_reencode_byte_identically(corpus) -> None:
    folder, files = corpus
    for entry in files:
        der = (folder / entry["file"]).read_bytes()
        parsed = _parse(folder / entry["file"], entry["kind"])
        seal = parsed if entry["kind"] == "SESeal" else parsed["to_sign"]["eseal"]
        assert ses.seal_version(seal) == entry["version"], entry["file"]
        assert parsed.dump() == der
        assert parsed.dump(force=True) == der, f"{entry['file']} is not re-encoded identically"
        if "header_version" in entry["expect"]:
            assert seal["e_seal_info"]["header"]["version"].native == entry["expect"]["header_version"]
        if "vid" in entry["expect"]:
            assert seal["e_seal_info"]["header"]["vid"].native == entry["expect"]["vid"]


def test_v4_seal_fields_match_the_manifest(corpus) -> None:
    folder, files = corpus
    expect = next(e for e in files if e["file"] == "UserV4.esl")["expect"]
    seal = ses.parse_seal((folder / "UserV4.esl").read_bytes())
    info = seal["e_seal_info"]
    prop = info["property"]
    assert info["es_id"].native == expect["esID"]
    assert prop["type"].native == expect["type"]
    assert prop["name"].native == expect["name"]
    assert prop["cert_list_type"].native == expect["cert_list_type"]
    assert prop["valid_start"].native == datetime(2020, 4, 22, 2, 9, tzinfo=UTC)
    assert prop["valid_end"].native == datetime(2022, 4, 22, 2, 9, tzinfo=UTC)
    assert info["picture"]["type"].native == expect["picture"]["type"]
    assert info["picture"]["width"].native == expect["picture"]["width_mm"]
    assert info["picture"]["data"].native.startswith(b"\x89PNG")
    assert seal["sign_alg_id"].dotted == expect["signature_algorithm"]
    assert len(prop.certificates()) == 1


def test_v5_seal_with_timestamp_is_recognised(corpus) -> None:
    folder, _ = corpus
    assert ses.parse_seal((folder / "UserV5_ts.esl").read_bytes())["time_stamp"].native is not None
    assert ses.parse_seal((folder / "UserV5.esl").read_bytes())["time_stamp"].native is None


@pytest.mark.parametrize("name", ["UserV1.esl", "UserV4.esl", "UserV5.esl", "UserV5_ts.esl"])
def test_golden_seal_maker_signatures_verify(corpus, name: str) -> None:
    folder, files = corpus
    seal = ses.parse_seal((folder / name).read_bytes())
    maker, _, value = ses.seal_maker_signature(seal)
    key = sm2.load_public_key(x509.Certificate.load(maker).public_key.dump())
    expected = next(e for e in files if e["file"] == name)["expect"].get("maker_signature_valid", True)
    assert sm2.verify(key, value, ses.seal_signed_bytes(seal)) is expected


def test_golden_v4_signature_verifies_as_the_manifest_says(corpus) -> None:
    folder, files = corpus
    expect = next(e for e in files if e["file"] == "SignedValueV4.dat")["expect"]
    result = asyncio.run(
        verify_ses_signature((folder / "SignedValueV4.dat").read_bytes(), validation_context([load().root]))
    )
    assert result.format == "GBT38540-v4"
    assert result.result(Check.SIGNATURE_VALUE).passed is expect["signer_signature_valid"]
    assert result.result(Check.SIGNER_IN_SEAL).passed is expect["signer_cert_in_seal_cert_list"]
    assert result.result(Check.SEAL_MAKER_SIGNATURE).passed is True
    assert result.result(Check.SEAL_VALIDITY).passed is expect["seal_valid_at_time_info"]
    assert result.signing_time == datetime(2020, 10, 12, 11, 14, 3, tzinfo=UTC)
    assert result.property_info == expect["property_info"]
    assert result.result(Check.TIMESTAMP).passed is None  # has_timestamp: false
    # the OFD R&W test CA is not one of our trust anchors
    assert result.result(Check.SIGNER_CHAIN).passed is False


def test_written_v4_seal_round_trips_and_is_signed_by_the_maker() -> None:
    pki = load()
    info = ses_make.SealInfo(
        "esign-0001", "测试市市场监督管理局", 1, b"\x89PNG\r\n", "PNG", 42, 42,
        datetime(2025, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    der = ses_make.make_seal(
        info, [pki.cert("sm2-agency-a")], pki.key("sm2-maker"), pki.cert("sm2-maker")
    ).dump()
    seal = ses.parse_seal(der)
    assert seal.dump(force=True) == der
    assert ses.seal_version(seal) == 4
    assert seal["e_seal_info"]["property"].certificates() == [pki.cert("sm2-agency-a").dump()]
    maker_key = pki.key("sm2-maker").public_key()
    assert sm2.verify(maker_key, seal["signed_value"].native, ses.seal_signed_bytes(seal))


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x30",
        b"\x30\x84\xff\xff\xff\xff",
        b"not a seal at all",
        b"\x30\x03\x02\x01\x09",
        b"\x04\x00" * 100,
    ],
)
def test_garbage_is_a_typed_error(garbage: bytes) -> None:
    for parse in (ses.parse_seal, ses.parse_signature):
        with pytest.raises(EsignError) as caught:
            parse(garbage)
        assert caught.value.code is ErrorCode.SES_MALFORMED


def test_truncated_vector_is_a_typed_error(corpus) -> None:
    folder, _ = corpus
    der = (folder / "SignedValueV4.dat").read_bytes()
    for cut in (10, len(der) // 2, len(der) - 1):
        with pytest.raises(EsignError):
            ses.parse_signature(der[:cut])


def test_oversized_input_is_refused_before_parsing() -> None:
    with pytest.raises(EsignError) as caught:
        ses.parse_seal(b"\x30" + b"\x00" * (ses.MAX_SES_BYTES + 1))
    assert "larger than" in caught.value.message_en


def test_unknown_version_is_refused() -> None:
    pki = load()
    info = ses_make.SealInfo(
        "x", "x", 1, b"p", "PNG", 1, 1, datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
    )
    seal = ses_make.make_seal(info, [], pki.key("sm2-maker"), pki.cert("sm2-maker"))
    der = seal.dump().replace(b"\x16\x02ES\x02\x01\x04", b"\x16\x02ES\x02\x01\x03", 1)
    with pytest.raises(EsignError) as caught:
        ses.parse_seal(der)
    assert "unknown version 3" in caught.value.message_en
