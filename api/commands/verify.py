"""``esign verify FILE…``: a thin front door over :func:`esign.verify.pipeline.verify`.

Exit codes: 0 TOTAL_PASSED, 1 TOTAL_FAILED, 2 INDETERMINATE, 3 NO_SIGNATURE_FOUND, 4 input not
processable. With several files the worst code wins and JSON is one object per line.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import click

from esign.errors import ErrorCode, EsignError
from esign.policy import PRESETS, ValidationPolicy, load_trust_anchors

EXIT_CODES = {"TOTAL_PASSED": 0, "TOTAL_FAILED": 1, "INDETERMINATE": 2, "NO_SIGNATURE_FOUND": 3}
EXIT_UNPROCESSABLE = 4
_SEVERITY = [0, 3, 2, 1, 4]  # exit codes ordered from best to worst


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--trust",
    "trust",
    multiple=True,
    metavar="FILE",
    help="Trust anchor PEM/DER file or directory (repeatable).",
)
@click.option(
    "--cert",
    "extra",
    multiple=True,
    metavar="FILE",
    help="Untrusted intermediate certificate PEM/DER file or directory for path building (repeatable; "
    "default: ESIGN_EXTRA_CERTS, paths separated by the OS path separator).",
)
@click.option(
    "--at",
    "at",
    default=None,
    metavar="TIME",
    help="Validation time, ISO 8601 with time zone; a date alone (2020-11-01, 2020-11-01+08:00) is 00:00 "
    "in its zone, UTC if none.",
)
@click.option(
    "--document",
    "document",
    default=None,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    metavar="FILE",
    help="The document a standalone GB/T 38540 seal signature (SES_Signature file) signed: its SM3 "
    "hash is checked against the signature's dataHash.",
)
@click.option("--policy", "policy_name", type=click.Choice(PRESETS), default="default", show_default=True)
@click.option(
    "--format", "fmt", type=click.Choice(["json", "xml", "text"]), default="json", show_default=True
)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
def verify(
    files: tuple[Path, ...],
    trust: tuple[str, ...],
    extra: tuple[str, ...],
    at: str | None,
    document: Path | None,
    policy_name: str,
    fmt: str,
    lang: str,
) -> None:
    """Verify every signature and document timestamp in FILES (EN 319 102-1 and art. 13).

    FILES are PDFs, or standalone GB/T 38540 files — a seal (.esl) or a seal signature
    (SignedValue.dat), told apart by their content; --document gives the document a seal
    signature signed. --trust names the trust anchors; --cert only offers certificates (e.g. the
    intermediate CA a GB/T 38540 seal signature does not carry), which must still chain up to a
    trust anchor.
    """
    try:
        policy = _policy(trust, extra, at, policy_name)
    except EsignError as exc:
        click.echo(render_error(exc, None, fmt, lang))
        raise SystemExit(EXIT_UNPROCESSABLE) from None
    worst = 0
    for path in files:
        code = _verify_one(path, policy, fmt, lang, document)
        worst = max(worst, code, key=_SEVERITY.index)
    raise SystemExit(worst)


def _policy(trust: tuple[str, ...], extra: tuple[str, ...], at: str | None, name: str) -> ValidationPolicy:
    sources = list(trust) or ([os.environ["ESIGN_TRUST_DIR"]] if os.environ.get("ESIGN_TRUST_DIR") else [])
    offered = list(extra) or [p for p in os.environ.get("ESIGN_EXTRA_CERTS", "").split(os.pathsep) if p]
    moment = None if at is None else parse_moment(at)
    return ValidationPolicy.preset(
        name,
        trust_roots=load_trust_anchors(sources),
        extra_certs=load_trust_anchors(offered),
        validation_time=moment,
    )


_DATE_ONLY = re.compile(r"(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}:?\d{2})?")


def parse_moment(at: str) -> datetime:
    """``--at``: ISO 8601 with a zone, or a date alone: 00:00 in its zone (UTC if none), as DSS reads it."""
    date_only = _DATE_ONLY.fullmatch(at.strip())
    try:
        if date_only is None:
            return datetime.fromisoformat(at)
        day, zone = date_only.groups()
        moment = datetime.fromisoformat(f"{day}T00:00:00{zone or ''}")
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    except ValueError as exc:
        raise EsignError(
            ErrorCode.BAD_OPTION,
            detail=f"--at {at!r} is not an ISO 8601 time",
            detail_zh=f"--at {at!r} 不是 ISO 8601 时间",
        ) from exc


_OS_ERRORS_ZH = {
    FileNotFoundError: "文件不存在",
    IsADirectoryError: "这是一个目录",
    PermissionError: "没有读取权限",
}


def render_error(error: EsignError, name: str | None, fmt: str, lang: str) -> str:
    """A refusal in the style of the chosen output: a JSON line, an XML element, or a line of text."""
    if fmt == "json":
        document = {} if name is None else {"document": {"name": name}}
        return json.dumps({**document, "error": error.to_dict()}, ensure_ascii=False)
    if fmt == "xml":
        root = ElementTree.Element("Error", {"xmlns": "urn:esign:error", "code": error.code.name})
        if name is not None:
            root.set("document", name)
        for language, text in (("zh", error.message_zh), ("en", error.message_en)):
            ElementTree.SubElement(root, "Message", {"xml:lang": language}).text = text
        return ElementTree.tostring(root, encoding="unicode")
    prefix = "" if name is None else (f"文件: {name}\n" if lang == "zh" else f"Document: {name}\n")
    if lang == "en":
        return f"{prefix}Error [{error.code.name}]: {error.message_en}"
    return f"{prefix}错误: {error.message_zh}"


def _verify_one(path: Path, policy: ValidationPolicy, fmt: str, lang: str, document: Path | None) -> int:
    from esign.verify.seal_file import seal_file_kind

    try:
        data = path.read_bytes()
        kind = seal_file_kind(data)
        if kind == "seal" and document is not None:
            raise EsignError(
                ErrorCode.BAD_OPTION,
                detail=f"{path.name} is a seal (SESeal), which signs no document: --document does not apply",
                detail_zh=f"{path.name} 是电子印章（SESeal），不对文件签章，--document 不适用",
            )
        if kind is not None:
            return _verify_seal_file(data, path.name, policy, fmt, lang, document)
        if document is not None:
            raise EsignError(
                ErrorCode.BAD_OPTION,
                detail=f"--document goes with a GB/T 38540 seal signature file; {path.name} is not one",
                detail_zh=f"--document 仅用于国密电子签章数据文件，{path.name} 不是",
            )
        from esign.verify.pipeline import verify as run_verify

        report = run_verify(data, policy, name=path.name).to_dict()
    except (EsignError, OSError) as exc:
        error = (
            exc
            if isinstance(exc, EsignError)
            else EsignError(
                ErrorCode.BAD_OPTION,
                detail=f"cannot read {path}: {exc}",
                detail_zh=f"无法读取 {path}：{_OS_ERRORS_ZH.get(type(exc), '读写失败')}",
            )
        )
        click.echo(render_error(error, path.name, fmt, lang))
        return EXIT_UNPROCESSABLE
    if fmt == "json":
        click.echo(json.dumps(report, ensure_ascii=False))
    elif fmt == "text":
        from esign.report.text import render_text

        click.echo(render_text(report, lang), nl=False)
    else:
        from esign.report.etsi import render_xml

        try:
            click.echo(render_xml(report).decode("utf-8"))
        except EsignError as exc:  # e.g. nothing to report: TS 119 102-2 needs one signature at least
            click.echo(render_error(exc, report["document"]["name"], fmt, lang))
    return EXIT_CODES[report["indication"]]


def _verify_seal_file(
    data: bytes, name: str, policy: ValidationPolicy, fmt: str, lang: str, document: Path | None
) -> int:
    """A standalone seal or seal signature: JSON or text (TS 119 102-2 XML is a report on a document)."""
    from esign.verify.seal_file import verify_seal_file

    signed = None if document is None else document.read_bytes()
    doc_name = "" if document is None else document.name
    report = verify_seal_file(data, policy, name=name, document=signed, document_name=doc_name)
    if fmt == "json":
        click.echo(json.dumps(report, ensure_ascii=False))
    elif fmt == "text":
        from esign.report.seal_text import render_seal_text

        click.echo(render_seal_text(report, lang), nl=False)
    else:
        detail = "a standalone GB/T 38540 seal or seal signature has JSON and text reports only"
        unavailable = EsignError(
            ErrorCode.XML_REPORT_UNAVAILABLE,
            detail=detail,
            detail_zh="独立的国密电子印章或签章数据文件只有 JSON 和文本报告",
        )
        click.echo(render_error(unavailable, name, fmt, lang))
        return EXIT_UNPROCESSABLE
    return EXIT_CODES[report["indication"]]
