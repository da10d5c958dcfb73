"""The verify front door (exit codes, JSON lines), the text report, and no crash on the shared corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from esign.errors import EsignError
from esign.policy import ValidationPolicy, load_trust_anchors
from esign.report.text import render_text
from esign.verify.pipeline import verify
from tests.verify_signing import blank_pdf, sign, trusted


@pytest.fixture(scope="module")
def files(pki, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("verify-cli")
    plain = blank_pdf()
    good = sign(plain, pki)
    position = good.index(b"esign verify test")
    made = {
        "good": good,
        "tampered": good[:position] + b"Y" + good[position + 1 :],
        "unsigned": plain,
        "notpdf": b"hello",
    }
    out = {}
    for name, data in made.items():
        out[name] = folder / f"{name}.pdf"
        out[name].write_bytes(data)
    out["trust"] = pki.write_trust_dir(folder / "trust")
    return out


@pytest.mark.parametrize(("name", "code"), [("good", 0), ("tampered", 1), ("unsigned", 3), ("notpdf", 4)])
def test_cli_exit_code_follows_the_indication(files, name, code):
    result = CliRunner().invoke(main, ["verify", str(files[name]), "--trust", str(files["trust"])])
    assert result.exit_code == code, result.output
    data = json.loads(result.output)
    if code == 4:
        assert data["error"]["code"] == "NOT_A_PDF" and set(data["error"]["message"]) == {"zh", "en"}
    else:
        assert data["schema_version"] == 1


def test_cli_without_trust_is_indeterminate(files, monkeypatch):
    monkeypatch.delenv("ESIGN_TRUST_DIR", raising=False)
    assert CliRunner().invoke(main, ["verify", str(files["good"])]).exit_code == 2


def test_cli_several_files_give_one_json_per_line_and_worst_exit(files):
    args = ["verify", str(files["good"]), str(files["tampered"]), "--trust", str(files["trust"])]
    result = CliRunner().invoke(main, args)
    lines = result.output.strip().splitlines()
    assert [json.loads(line)["indication"] for line in lines] == ["TOTAL_PASSED", "TOTAL_FAILED"]
    assert result.exit_code == 1


def test_cli_xml_output_is_an_etsi_report_and_unsigned_gets_a_typed_error(files):
    good = CliRunner().invoke(
        main, ["verify", str(files["good"]), "--trust", str(files["trust"]), "--format", "xml"]
    )
    assert good.exit_code == 0 and ":ValidationReport" in good.output and "total-passed" in good.output
    unsigned = CliRunner().invoke(main, ["verify", str(files["unsigned"]), "--format", "xml"])
    assert unsigned.exit_code == 3, unsigned.output
    assert '<Error xmlns="urn:esign:error" code="XML_REPORT_UNAVAILABLE"' in unsigned.output


def test_cli_text_output_in_both_languages(files):
    base = ["verify", str(files["tampered"]), "--trust", str(files["trust"]), "--format", "text"]
    zh = CliRunner().invoke(main, base).output
    en = CliRunner().invoke(main, [*base, "--lang", "en"]).output
    assert "总体结论: 验证失败" in zh and "签名后文件内容被改动" in zh and "TOTAL_FAILED" not in zh
    assert "Overall result: Failed (TOTAL_FAILED)" in en and "changed after signing" in en


def test_cli_at_option_moves_validation_time(files):
    args = ["verify", str(files["good"]), "--trust", str(files["trust"]), "--at", "2040-06-01T00:00:00+00:00"]
    data = json.loads(CliRunner().invoke(main, args).output)
    assert data["validation_time"].startswith("2040-06-01")
    # agency-a is valid until 2035 and nothing proves the signature existed earlier
    assert data["signatures"][0]["checks"]["chain"] == "expired"
    assert data["indication"] == "INDETERMINATE"


def test_text_report_lists_every_finding_with_remedy(pki, files):
    report = verify(files["tampered"].read_bytes(), trusted(pki)).to_dict()
    text = render_text(report, "en")
    for finding in report["findings"]:
        assert finding["code"] in text and finding["remedy"]["en"] in text


def test_trust_anchors_load_from_a_directory(files, pki):
    assert [c.dump() for c in load_trust_anchors([files["trust"]])] == [pki.root.dump()]


def test_shared_corpus_never_crashes(shared_dir: Path):
    """Every external file yields a report or a typed error — never another exception."""
    policy = ValidationPolicy.preset()
    seen = 0
    for path in sorted((shared_dir / "corpus/external").glob("*/*.pdf")):
        try:
            report = verify(path.read_bytes(), policy, name=path.name)
        except EsignError:
            continue
        seen += 1
        assert report.to_json()
        for sig in report.signatures:
            if sig.checks.integrity == "broken":
                assert sig.indication != "TOTAL_PASSED"
    assert seen > 20
