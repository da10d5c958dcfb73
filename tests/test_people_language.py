"""What people read is in their language: every Chinese message Chinese, no raw codes in Chinese text.

Walks the error and finding catalogues, renders reports in both languages, and asks the real
server for a validation error in Chinese.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from api.problems import describe_validation_zh
from esign.errors import ErrorCode, EsignError, latin_sentence
from esign.findings import Finding, FindingCode
from esign.report.labels import moment, signing_times
from esign.report.text import render_text
from esign.verify.modifications.model import ChangeFinding
from esign.verify.modifications.wording import describe_change
from tests.api_server import *  # noqa: F403 - the api_server fixture
from tests.api_server import Server

_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


@pytest.mark.parametrize("code", list(ErrorCode), ids=lambda c: c.name)
def test_every_chinese_error_message_is_chinese(code: ErrorCode) -> None:
    zh = _PLACEHOLDER.sub("X", code.value[1])
    assert latin_sentence(zh) is None, f"{code.name}: English in {code.value[1]!r}"
    assert re.search(r"[\u4e00-\u9fff]", zh), code.name


@pytest.mark.parametrize("code", list(FindingCode), ids=lambda c: c.name)
def test_every_chinese_finding_message_and_remedy_is_chinese(code: FindingCode) -> None:
    for text in (code.value.message_zh, code.value.remedy_zh):
        assert latin_sentence(text) is None, f"{code.name}: English in {text!r}"
        assert re.search(r"[\u4e00-\u9fff]", text), code.name


def test_the_detector_catches_an_english_sentence_and_spares_codes_and_acronyms() -> None:
    assert latin_sentence("请求格式错误：the PDF goes in the multipart part 'file'")
    assert latin_sentence("签名证书的密钥用法不允许签名（需要 digitalSignature 或 nonRepudiation）。") is None
    assert latin_sentence("缺少 API 密钥（请求头 Authorization: Bearer <密钥>）。") is None


def test_an_english_library_detail_is_not_spliced_into_the_chinese_message() -> None:
    error = EsignError(ErrorCode.BAD_OPTION, detail="cannot read x.pdf: [Errno 2] No such file or directory")
    assert latin_sentence(error.message_zh) is None, error.message_zh
    assert "No such file" in error.message_en
    given = EsignError(ErrorCode.BAD_OPTION, detail="cannot read x.pdf", detail_zh="无法读取 x.pdf")
    assert given.message_zh == "参数无效：无法读取 x.pdf"
    named = EsignError(ErrorCode.PDF_CORRUPT, detail="XRefError")  # a name, not a sentence: kept
    assert named.message_zh.endswith("XRefError")


def test_validation_errors_are_explained_in_chinese() -> None:
    errors = [
        {
            "type": "literal_error",
            "loc": ("query", "format"),
            "msg": "Input should be 'json'",
            "ctx": {"expected": "'json', 'text' or 'xml'"},
        },
        {"type": "missing", "loc": ("body", "file"), "msg": "Field required"},
    ]
    zh = describe_validation_zh(errors)
    assert zh == "查询参数 format：取值应为 'json', 'text' 或 'xml'；请求体字段 file：缺少此项"


def test_the_server_answers_a_bad_query_in_chinese(api_server: Server) -> None:
    with api_server.client("a-verifier") as http:
        response = http.post(
            "/v1/verify?format=yaml", content=b"%PDF-1.7", headers={"Content-Type": "application/pdf"}
        )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "REQUEST_INVALID" and "format" in body["detail_zh"]
    assert latin_sentence(body["detail_zh"]) is None, body["detail_zh"]


def test_a_missing_file_part_is_explained_in_chinese(api_server: Server) -> None:
    with api_server.client("a-sealer") as http:
        response = http.post(
            "/v1/seals/HZAMR-01/apply", files={"document": ("a.pdf", b"%PDF-1.7", "application/pdf")}
        )
    assert response.status_code == 400, response.text
    assert latin_sentence(response.json()["detail_zh"]) is None, response.json()["detail_zh"]


def _report(**signature: object) -> dict[str, object]:
    base = {
        "index": 0,
        "field": "Seal1",
        "kind": "signature",
        "subfilter": "/ETSI.CAdES.detached",
        "format": "PAdES-BASELINE-B",
        "signed_by": {"organization": "杭州市市场监督管理局"},
        "claimed_signing_time": "2026-12-08T01:30:00.123456+00:00",
        "best_signature_time": "2026-12-08T02:00:00.918945+00:00",
        "indication": "TOTAL_FAILED",
        "subindication": "FORMAT_FAILURE",
        "checks": {
            "integrity": "ok",
            "crypto": "ok",
            "chain": "trusted",
            "coverage": "entire_file",
            "modifications": "suspicious",
        },
        "reliable_esignature": {"verdict": "not_reliable", "conditions": {}},
        "findings": [],
    }
    base.update(signature)
    finding = Finding(
        FindingCode.PAGE_CONTENT_CHANGED_AFTER_SIGNING,
        0,
        *describe_change(
            ChangeFinding("PAGE_CONTENT_CHANGED_AFTER_SIGNING", False, (1,), "4400 px changed"), 1
        ),
    )
    return {
        "document": {"name": "licence.pdf", "sha256": "ab" * 32, "size": 1000},
        "validation_time": "2026-12-08T02:00:00.918945+00:00",
        "indication": "TOTAL_FAILED",
        "signatures": [base],
        "findings": [finding.to_dict()],
    }


def test_chinese_text_report_shows_labels_not_codes_and_the_claimed_time_in_beijing_time() -> None:
    text = render_text(_report(), "zh")
    for raw in (
        "TOTAL_FAILED",
        "FORMAT_FAILURE",
        "integrity=",
        "=ok",
        "not_reliable",
        "PAGE_CONTENT",
        "ERROR",
    ):
        assert raw not in text, raw
    assert "总体结论: 验证失败" in text
    assert "签署时间: 2026-12-08 09:30:00 北京时间 (UTC+8)（签署人自述时间，无可信时间戳）" in text
    assert "10:00:00" not in text  # the moment of verification is not a signing time
    assert "[1] 签名 «Seal1»" in text  # people count signatures from 1
    assert "第 1 页，签名所在的第 2 版之后：4400 个像素发生变化" in text
    assert latin_sentence(text.replace("PAdES-BASELINE-B", "")) is None, text


def test_english_text_report_keeps_the_codes_and_says_the_time_is_claimed() -> None:
    text = render_text(_report(), "en")
    assert "Overall result: Failed (TOTAL_FAILED)" in text
    assert "Signing time: 2026-12-08 01:30:00 UTC (claimed by the signer, no trusted timestamp)" in text
    assert "page 1, after revision 2 (the signed one): 4400 pixels changed" in text


def test_a_timestamped_signature_shows_the_timestamp_time_and_the_claim() -> None:
    signature = {"best_signature_time": "2026-12-08T01:30:05+00:00", "kind": "signature"}
    rows = signing_times(
        signature | {"claimed_signing_time": "2026-12-08T01:30:00+00:00"}, "2026-12-09T00:00:00+00:00"
    )
    assert rows == [
        ("可信时间戳时间", "2026-12-08 09:30:05 北京时间 (UTC+8)"),
        ("签署人自述时间", "2026-12-08 09:30:00 北京时间 (UTC+8)"),
    ]


def test_moment_drops_microseconds_and_names_the_zone() -> None:
    when = datetime(2026, 12, 8, 1, 30, 0, 918945, tzinfo=UTC).isoformat()
    assert moment(when, "zh") == "2026-12-08 09:30:00 北京时间 (UTC+8)"
    assert moment(when, "en") == "2026-12-08 01:30:00 UTC"


def test_pyhanko_reprs_become_objects_locations_and_revisions_from_one() -> None:
    detail = (
        "There are unexplained xrefs in revision 2: Reference(idnum=16, generation=0).\n"
        "Some objects from revision 1 were replaced in revision 2 without precise justification:\n"
        " - Reference(idnum=8, generation=0) is also used in "
        "AbsoluteContext(path=PathInRevision('.Root.Pages.Kids[0]')) in the prior revision."
    )
    en, zh = describe_change(ChangeFinding("MODIFIED_AFTER_SIGNING", False, (), detail), 1)
    assert "Reference(" not in en and "AbsoluteContext" not in en
    assert "revision 3 changed objects 16 0 R" in en and "/Root/Pages/Kids[0]" in en
    assert "第 3 版改动了对象 16 0 R" in zh and latin_sentence(zh) is None


def test_pyhanko_suspicious_modifications_name_the_entry_and_never_a_repr() -> None:
    changed = "Values for dict key /StructTreeRoot differ:{'/Type': '/StructTreeRoot'} changed to "
    changed += "IndirectObject(32, 0)"
    en, zh = describe_change(ChangeFinding("MODIFIED_AFTER_SIGNING", False, (), changed), 2)
    assert (
        en
        == "after revision 3 (the signed one): the entry /StructTreeRoot of a signed dictionary was changed"
    )
    assert zh == "签名所在的第 3 版之后：已签名的字典中条目 /StructTreeRoot 被改动"
    deleted = ChangeFinding(
        "MODIFIED_AFTER_SIGNING", False, (), "Fields {'Sig2', 'Text1'} were deleted after signing."
    )
    assert describe_change(deleted, None) == (
        "form fields Sig2, Text1 were deleted",
        "表单域 Sig2, Text1 被删除",
    )
    unworded = ChangeFinding("MODIFIED_AFTER_SIGNING", False, (), "Unexpected keys in DSS: {'/Foo'}.")
    assert describe_change(unworded, 0) == ("after revision 1 (the signed one)", "签名所在的第 1 版之后")


def test_the_page_and_the_text_report_label_every_sub_indication() -> None:
    from esign.report.labels import label
    from esign.report.model import SubIndication

    script = (Path(__file__).resolve().parents[1] / "api/web/app.js").read_text(encoding="utf-8")
    table = script[script.index("subindications: {") : script.index("},", script.index("subindications: {"))]
    on_page = set(re.findall(r"^\s+([A-Z_]+):", table, re.M))
    assert on_page == {s.value for s in SubIndication}
    assert all(label("subindication", s.value, "zh") != s.value for s in SubIndication)


def test_a_name_in_a_change_detail_is_kept_in_chinese_and_an_english_sentence_is_not() -> None:
    named = ChangeFinding("DOC_TIMESTAMP_ADDED", True, (), "Timestamp-1c47")
    assert describe_change(named, 1) == (
        "after revision 2 (the signed one): Timestamp-1c47",
        "签名所在的第 2 版之后：Timestamp-1c47",
    )
    sentence = ChangeFinding(
        "DIFF_ANALYSIS_FAILED", False, (), "XRefError: the xref stream is broken beyond repair"
    )
    assert describe_change(sentence, None)[1] == ""  # the finding then shows 详情见英文信息


def test_a_chinese_detail_crosses_the_worker_process_boundary() -> None:
    import pickle

    from api.jobs import Outcome

    error = EsignError(ErrorCode.PDF_CORRUPT, detail="KeyError: '/Fields'", detail_zh="文件结构无法读取")
    params = {k: str(v) for k, v in error.params.items()} | {"detail_zh": error.detail_zh}
    outcome = pickle.loads(pickle.dumps(Outcome(error=error.code.name, params=params)))
    with pytest.raises(EsignError) as raised:
        outcome.raise_error()
    assert raised.value.message_zh == "PDF 文件已损坏，无法解析：文件结构无法读取"
