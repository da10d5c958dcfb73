"""Change findings in words people read, in Chinese and English.

The analysis speaks in pyHanko's terms (``Reference(idnum=4, generation=0)``,
``AbsoluteContext(path=PathInRevision('.Root.Pages'))``, revisions counted from 0) and in short
English phrases. A clerk needs what changed, where (page, object, location in the document) and in
which revision, counted from 1 like ``document.revisions`` in the report.
"""

from __future__ import annotations

import re

from esign.errors import latin_sentence
from esign.verify.modifications.model import ChangeFinding

__all__ = ["describe_change"]

_REF = re.compile(r"Reference\(idnum=(\d+), generation=(\d+)\)")
_PATH = re.compile(r"AbsoluteContext\(path=PathInRevision\('([^']*)'\)\)")
_UNEXPLAINED = re.compile(r"There are unexplained xrefs in revision (\d+): ([^\n]*)")
_KEYS = re.compile(r"Dict keys differ: \{([^}]*)\} vs\. \{([^}]*)\}")
_INDIRECT = re.compile(r"IndirectObject\((\d+), (\d+)\)")
#: what must never reach a report: Python class names, reprs, tracebacks (then only the place is given)
_INTERNALS = re.compile(r"<class |\w+(?:Error|Exception)\b|pyhanko|Traceback| at 0x|\b[A-Z]\w*\(|\{'|\['")

#: (pattern, English, Chinese) for the phrases esign's own judges write; groups fill both templates
_PHRASES: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(pattern, re.DOTALL), en, zh)
    for pattern, en, zh in (
        (r"(\d+) px changed", "{0} pixels changed", "{0} 个像素发生变化"),
        (r"page size changed", "the page size changed", "页面尺寸发生变化"),
        (
            r"(.*) hides signed content \((\d+) px\)",
            "{0} hides signed content ({1} pixels)",
            "{0} 遮盖了签名内容（{1} 个像素）",
        ),
        (
            r"(.*) drawn over ink visible at signing \((\d+) px changed\)",
            "{0} drawn over content visible at signing ({1} pixels changed)",
            "{0} 覆盖在签名时可见的内容上（{1} 个像素发生变化）",
        ),
        (
            r"(.*) changed but not permitted",
            "{0} changed, which is not permitted",
            "{0} 被改动，这不在允许范围内",
        ),
        (
            r"(.*) added after signing \((\d+) px changed\)",
            "{0} added after signing ({1} pixels changed)",
            "签名后添加了 {0}（{1} 个像素发生变化）",
        ),
        (
            r"(.*) present at signing was removed or changed",
            "{0} present at signing was removed or changed",
            "签名时已有的 {0} 被删除或改动",
        ),
        (
            r"objects planted before signing now shown: (.*)",
            "objects planted before signing are now shown: {0}",
            "签名前预置的对象现在被显示：{0}",
        ),
        (
            r"signed objects redefined after signing: (.*)",
            "signed objects were redefined after signing: {0}",
            "签名后重新定义了已签名的对象：{0}",
        ),
        (
            r"optional content shown/hidden; .*",
            "optional content was shown or hidden",
            "可选内容的显示状态被改变",
        ),
        (r"signature field (.*) rewritten", "signature field {0} was rewritten", "签名域 {0} 被改写"),
        (r"change analysis stopped: (.*)", "change analysis stopped: {0}", "改动分析超出时间限制，未完成"),
        (
            r"objects (.*) appended after the last revision, outside its cross-reference chain",
            "objects {0} were appended after the last revision, outside its cross-reference chain",
            "对象 {0} 追加在最后一个版本之后，不在交叉引用链中",
        ),
        (
            r"a cross-reference section appended after the last revision, outside its cross-reference chain",
            "a cross-reference section was appended after the last revision, outside the chain",
            "最后一个版本之后追加了不在交叉引用链中的交叉引用表",
        ),
        (
            r"the document's structure after signing could not be analysed",
            "the document's structure after signing could not be analysed",
            "无法分析签名后的文件结构",
        ),
        (
            r"the PDF objects changed after signing could not be compared",
            "the PDF objects changed after signing could not be compared",
            "无法比较签名后改动的 PDF 对象",
        ),
        (
            r"an update cannot be parsed strictly",
            "an update cannot be parsed strictly",
            "有增量更新无法严格解析",
        ),
        # pyHanko's difference analysis (SuspiciousModification), with its reprs left out
        (
            r"Values for dict key (/[^\s:]+) differ:.*",
            "the entry {0} of a signed dictionary was changed",
            "已签名的字典中条目 {0} 被改动",
        ),
        (
            r"Key (/\S+) was deleted from dictionary",
            "the entry {0} was removed from a signed dictionary",
            "已签名的字典中删除了条目 {0}",
        ),
        (
            r"Attempted to update an appearance stream in an annotation appearance dictionary, .*",
            "an annotation's appearance stream was changed while its appearance dictionary is shared"
            " with other annotations",
            "某个注释的外观流被改动，而其外观字典与其他注释共用",
        ),
        (
            r"Update clobbers or reuses (.*) in an unexpected way\.",
            "{0} was overwritten or reused in a way no permitted change explains",
            "{0} 被覆盖或复用，不属于允许的改动",
        ),
        (
            r"Update of (.*) is not allowed because the form field (.*) is locked\.",
            "{0} was updated although the form field {1} is locked",
            "表单域 {1} 已锁定，但 {0} 被改动",
        ),
        (r"Fields (.*) were deleted after signing\.", "form fields {0} were deleted", "表单域 {0} 被删除"),
        (r"Annotations (.*) were deleted\.", "annotations {0} were deleted", "注释 {0} 被删除"),
        (
            r"The newly added annotations (.*) were not recognised\.",
            "the added annotations {0} are of no permitted kind",
            "新增的注释 {0} 不属于允许的类型",
        ),
        (r"Unexpected change to page tree structure\.", "the page tree was changed", "页面树结构被改动"),
    )
)


def describe_change(change: ChangeFinding, signed_revision: int | None) -> tuple[str, str]:
    """(English, Chinese) detail of ``change``; ``signed_revision`` is pyHanko's 0-based number."""
    en, zh = _object_diff(change.detail) or _phrase(change.detail) or (_plain(change.detail), "")
    en, zh = ("" if _INTERNALS.search(en) else en), ("" if _INTERNALS.search(zh) else zh)
    if not zh and latin_sentence(en) is None:
        zh = en  # a field name or object numbers read the same in both languages
    where_en, where_zh = _where(change.pages, signed_revision)
    en = f"{where_en}: {en}" if where_en and en else (en or where_en)
    zh = f"{where_zh}：{zh}" if where_zh and zh else (zh or where_zh)
    return en, zh


def _where(pages: tuple[int, ...], signed_revision: int | None) -> tuple[str, str]:
    parts_en, parts_zh = [], []
    if pages:
        listed = ", ".join(map(str, pages[:10]))
        parts_en.append(f"page {listed}" if len(pages) == 1 else f"pages {listed}")
        parts_zh.append(f"第 {'、'.join(map(str, pages[:10]))} 页")
    if signed_revision is not None:
        parts_en.append(f"after revision {signed_revision + 1} (the signed one)")
        parts_zh.append(f"签名所在的第 {signed_revision + 1} 版之后")
    return ", ".join(parts_en), "，".join(parts_zh)


def _object_diff(detail: str) -> tuple[str, str] | None:
    """pyHanko's object diff verdicts: which objects, which revision (from 1), where they are used."""
    unexplained, keys = _UNEXPLAINED.search(detail), _KEYS.search(detail)
    if unexplained is None and keys is None:
        return None
    en_parts, zh_parts = [], []
    if unexplained is not None:
        revision = int(unexplained.group(1)) + 1
        objects = ", ".join(f"{n} {g} R" for n, g in _REF.findall(unexplained.group(2))[:10])
        en_parts.append(
            f"revision {revision} changed objects {objects} in a way no permitted change explains"
        )
        zh_parts.append(f"第 {revision} 版改动了对象 {objects}，不属于允许的改动")
    paths = list(dict.fromkeys(_slash(p) for p in _PATH.findall(detail)))[:6]
    if paths:
        en_parts.append(f"they are used at {', '.join(paths)}")
        zh_parts.append(f"这些对象在签名版本中位于 {'、'.join(paths)}")
    if keys is not None:
        after, before = _names(keys.group(1)), _names(keys.group(2))
        added, removed = sorted(after - before), sorted(before - after)
        if added:
            en_parts.append(f"entries {', '.join(added)} were added to a signed dictionary")
            zh_parts.append(f"已签名的字典中增加了条目 {'、'.join(added)}")
        if removed:
            en_parts.append(f"entries {', '.join(removed)} were removed from a signed dictionary")
            zh_parts.append(f"已签名的字典中删除了条目 {'、'.join(removed)}")
    return "; ".join(en_parts), "；".join(zh_parts)


def _phrase(detail: str) -> tuple[str, str] | None:
    for pattern, en, zh in _PHRASES:
        match = pattern.fullmatch(detail)
        if match is not None:
            groups = [_listing(_plain(group)) for group in match.groups()]
            return en.format(*groups), zh.format(*groups)
    return None


def _plain(detail: str) -> str:
    """Any other text with pyHanko's reprs made readable."""
    text = _REF.sub(lambda m: f"object {m.group(1)} {m.group(2)} R", detail)
    text = _INDIRECT.sub(lambda m: f"object {m.group(1)} {m.group(2)} R", text)
    return _PATH.sub(lambda m: _slash(m.group(1)), text).replace("\n", " ")


def _listing(text: str) -> str:
    """A Python set or list of names (``{'a', 'b'}``) as the names: ``a, b``."""
    if text[:1] in "{[(" and text[-1:] in "}])":
        return ", ".join(sorted(_names(text[1:-1])))
    return text


def _slash(path: str) -> str:
    return path.replace(".", "/") or "/"


def _names(listing: str) -> set[str]:
    return {name.strip().strip("'\"") for name in listing.split(",") if name.strip()}
