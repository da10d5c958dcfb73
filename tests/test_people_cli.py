"""The CLI speaks in the format it was asked for, refuses with usage errors, never with a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from api.cli import main


def _run(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


def test_verify_errors_come_in_the_chosen_format(tmp_path: Path) -> None:
    missing = tmp_path / "x.pdf"
    text = _run("verify", str(missing), "--format", "text")
    assert text.exit_code == 4 and text.output.startswith("文件: x.pdf\n错误: 参数无效：无法读取"), (
        text.output
    )
    assert "{" not in text.output and "No such file" not in text.output
    english = _run("verify", str(missing), "--format", "text", "--lang", "en")
    assert "Error [BAD_OPTION]: Invalid option: cannot read" in english.output
    xml = _run("verify", str(missing), "--format", "xml")
    assert xml.output.startswith('<Error xmlns="urn:esign:error" code="BAD_OPTION" document="x.pdf">'), (
        xml.output
    )
    assert json.loads(_run("verify", str(missing)).output)["error"]["code"] == "BAD_OPTION"


def test_verify_accepts_a_date_as_midnight_in_its_zone(tmp_path: Path) -> None:
    pdf = tmp_path / "blank.pdf"
    pdf.write_bytes(b"%PDF-1.7\n")  # refused, but only after the policy (and so --at) was read
    for at in ("2020-11-01", "2020-11-01+08:00"):
        result = _run("verify", str(pdf), "--at", at)
        assert "time zone" not in result.output and "ISO 8601" not in result.output, result.output
    from api.commands.verify import parse_moment

    assert parse_moment("2020-11-01").isoformat() == "2020-11-01T00:00:00+00:00"
    assert parse_moment("2020-11-01+08:00").isoformat() == "2020-11-01T00:00:00+08:00"
    assert "--at '2020-13-01'" in _run("verify", str(pdf), "--at", "2020-13-01").output


def test_verify_help_names_the_trust_argument_a_file() -> None:
    assert "--trust FILE" in _run("verify", "--help").output


def test_conformance_run_without_or_with_a_broken_manifest_is_a_typed_error(tmp_path: Path) -> None:
    missing = _run("conformance", "run", str(tmp_path))
    assert missing.exit_code == 2 and "BAD_OPTION" in missing.output and "manifest.json" in missing.output
    assert "Traceback" not in missing.output
    (tmp_path / "manifest.json").write_text("{not json", encoding="utf-8")
    broken = _run("conformance", "run", str(tmp_path))
    assert (
        broken.exit_code == 2 and "不是有效的清单文件" in broken.output and "Traceback" not in broken.output
    )
    (tmp_path / "manifest.json").write_text('[{"nothing": 1}]', encoding="utf-8")
    shapeless = _run("conformance", "run", str(tmp_path))
    assert shapeless.exit_code == 2 and "Traceback" not in shapeless.output, shapeless.output
