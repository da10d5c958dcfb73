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
    policy_name: str,
    fmt: str,
    lang: str,
) -> None:
    """Verify every signature and document timestamp in FILES (EN 319 102-1 and art. 13).

    --trust names the trust anchors; --cert only offers certificates (e.g. the intermediate CA a
    GB/T 38540 seal signature does not carry), which must still chain up to a trust anchor.
    """
    try:
        policy = _policy(trust, extra, at, policy_name)
    except EsignError as exc:
        click.echo(render_error(exc, None, fmt, lang))
        raise SystemExit(EXIT_UNPROCESSABLE) from None
    worst = 0
    for path in files:
        code = _verify_one(path, policy, fmt, lang)
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


def _verify_one(path: Path, policy: ValidationPolicy, fmt: str, lang: str) -> int:
    from esign.verify.pipeline import verify as run_verify

    try:
        report = run_verify(path.read_bytes(), policy, name=path.name).to_dict()
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
