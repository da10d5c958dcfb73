"""Typed errors: one catalogue of stable codes with Chinese and English messages.

Every input the core refuses (not a PDF, wrong passphrase, keyword not found …) raises
:class:`EsignError` with a member of :class:`ErrorCode`. Front doors (CLI, HTTP) show the code and
both messages and map ``http_status`` — they never show a stack trace. Messages may contain
``{name}`` placeholders filled from the keyword arguments given to :class:`EsignError`.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any


class ErrorCode(Enum):
    """code = (HTTP status, 中文, English). The member name is the stable code."""

    NOT_A_PDF = (415, "上传的文件不是 PDF 文件。", "The file is not a PDF.")
    PDF_TRUNCATED = (422, "PDF 文件不完整（被截断）。", "The PDF file is truncated.")
    PDF_CORRUPT = (
        422,
        "PDF 文件已损坏，无法解析：{detail}",
        "The PDF file is corrupt and cannot be parsed: {detail}",
    )
    PDF_ENCRYPTED = (
        422,
        "PDF 文件已加密，请提交未加密的文件。",
        "The PDF is encrypted; submit an unencrypted file.",
    )
    PDF_TOO_LARGE = (413, "文件过大（上限 {limit} 字节）。", "The file is too large (limit {limit} bytes).")
    PDF_TOO_COMPLEX = (
        422,
        "PDF 文件超出处理限制：{detail}",
        "The PDF exceeds a processing limit: {detail}",
    )
    PAGE_OUT_OF_RANGE = (
        422,
        "页码 {page} 超出范围（文档共 {pages} 页）。",
        "Page {page} is out of range (the document has {pages} pages).",
    )
    KEYWORD_NOT_FOUND = (
        422,
        "文档中未找到关键字“{keyword}”。",
        "The keyword '{keyword}' was not found in the document.",
    )
    BAD_PLACEMENT = (422, "印章位置无效：{detail}", "Invalid seal placement: {detail}")
    SEAL_OVERLAPS_ANNOTATION = (
        409,
        "印章会与第 {page} 页上已有的注释（链接、表单域或其他印章）重叠，遮盖或截获它们；"
        "建议改放在该页距左边 {x_mm} 毫米、距上边 {y_mm} 毫米处（印章中心），或允许自动移开印章。",
        "The seal would overlap an existing annotation (a link, form field or another seal) on page {page}, "
        "hiding it or capturing its clicks; place its centre {x_mm} mm from the left and {y_mm} mm from the "
        "top of that page instead, or allow the seal to be moved (avoid_annotations=move).",
    )
    NO_FREE_SEAL_SPOT = (
        409,
        "第 {page} 页上没有可放置印章而不遮盖已有注释的位置。",
        "Page {page} has no spot where the seal would not cover an existing annotation.",
    )
    BAD_IMAGE = (422, "印章图片无效：{detail}", "Invalid seal image: {detail}")
    WRONG_PASSPHRASE = (
        401,
        "密钥文件口令错误或密钥文件无法读取。",
        "Wrong passphrase, or the key file cannot be read.",
    )
    KEY_FILE_INVALID = (422, "密钥文件格式无效：{detail}", "The key file is invalid: {detail}")
    CERT_EXPIRED = (
        422,
        "签章证书已于 {not_after} 过期。",
        "The seal certificate expired on {not_after}.",
    )
    CERT_NOT_YET_VALID = (
        422,
        "签章证书自 {not_before} 起才生效。",
        "The seal certificate is not valid before {not_before}.",
    )
    CERT_KEY_USAGE = (
        422,
        "签章证书的密钥用法不允许签名（需要 digitalSignature 或 nonRepudiation）。",
        "The seal certificate's key usage does not allow signing (needs digitalSignature or nonRepudiation).",
    )
    TSA_UNREACHABLE = (
        503,
        "时间戳服务不可用：{detail}",
        "The time-stamping service is unreachable: {detail}",
    )
    REVOCATION_UNAVAILABLE = (
        503,
        "无法获取证书状态信息（OCSP/CRL）：{detail}",
        "Revocation information (OCSP/CRL) could not be fetched: {detail}",
    )
    SIGNING_FAILED = (500, "签章失败：{detail}", "Sealing failed: {detail}")
    BAD_OPTION = (400, "参数无效：{detail}", "Invalid option: {detail}")
    CERT_REVOKED = (422, "签章证书已被吊销。", "The seal certificate has been revoked.")
    CERT_WEAK_KEY = (
        422,
        "签章证书的密钥过弱（{detail}），所盖印章将无法通过验证。",
        "The seal certificate's key is too weak ({detail}); seals made with it would fail verification.",
    )
    IO_ERROR = (500, "文件读写失败：{detail}", "Reading or writing a file failed: {detail}")
    DOCUMENT_LOCKED = (
        409,
        "文档已被认证签章锁定，不允许再加盖印章。",
        "The document is locked by a certification seal that allows no further seals.",
    )
    CERTIFIED_VISIBLE_SEAL = (
        409,
        "文档带有认证签章，新增可见印章会使该认证签章失效；请改用不可见印章，或盖在文档已有的空白签名域中。",
        "The document carries a certification seal that a new visible seal would invalidate; "
        "seal invisibly, or into an empty signature field the document already has.",
    )
    RENDER_FAILED = (500, "印章图片渲染失败：{detail}", "Rendering the seal image failed: {detail}")
    # --- keystore / seal registry / API clients (issue 4) ---
    SEAL_NOT_FOUND = (404, "印章“{seal}”不存在。", "Seal '{seal}' does not exist.")
    SEAL_CODE_TAKEN = (409, "印章编码“{seal}”已被使用。", "Seal code '{seal}' is already in use.")
    SEAL_NOT_ACTIVE = (
        409,
        "印章“{seal}”当前不可用（{reason}）。",
        "Seal '{seal}' cannot be used now ({reason}).",
    )
    SEAL_BAD_TRANSITION = (
        409,
        "印章“{seal}”处于“{status}”状态，不能执行“{action}”。",
        "Seal '{seal}' is {status}; '{action}' is not allowed.",
    )
    SEAL_ORG_MISMATCH = (
        422,
        "证书所属单位（{cert_org}）与印章单位（{seal_org}）不一致。",
        "The certificate's organisation ({cert_org}) does not match the seal's ({seal_org}).",
    )
    SEAL_VALIDITY_OUTSIDE_CERT = (
        422,
        "印章有效期必须在证书有效期（{not_before} 至 {not_after}）之内。",
        "The seal's validity must lie within the certificate's ({not_before} to {not_after}).",
    )
    USCC_INVALID = (
        422,
        "统一社会信用代码“{uscc}”无效（GB 32100 校验位错误或格式不符）。",
        "Unified social credit code '{uscc}' is invalid (GB 32100 shape or check character).",
    )
    CERT_KEY_MISMATCH = (422, "证书与签章密钥不匹配。", "The certificate does not match the signing key.")
    #: also the answer for another organisation's key, so that key names cannot be probed
    KEY_NOT_FOUND = (
        404,
        "密钥“{key}”未登记，或不属于本单位。",
        "Key '{key}' is not registered, or not for this organisation.",
    )
    KEY_NOT_BINDABLE = (
        409,
        "密钥“{key}”属于{owner_zh}，不能用于统一社会信用代码为“{uscc}”的印章。",
        "Key '{key}' belongs to {owner_en} and cannot back a seal of '{uscc}'.",
    )
    KEY_OWNER_MISMATCH = (
        422,
        "密钥所有者“{owner}”与证书所属单位（{cert_org}）不一致：单位密钥的证书必须载有该统一社会信用代码。",
        "The key's owner '{owner}' does not match the certificate's organisation ({cert_org}): "
        "an organisation's key needs a certificate carrying that unified social credit code.",
    )
    KEY_NAME_TAKEN = (409, "密钥名称“{key}”已被使用。", "Key name '{key}' is already in use.")
    KEYSTORE_OFFLINE = (
        503,
        "密钥库不可用（{detail}），请稍后重试。",
        "The keystore is offline ({detail}); try again later.",
    )
    SECRET_UNAVAILABLE = (
        500,
        "无法读取口令/PIN（{source}）。",
        "The passphrase/PIN could not be read ({source}).",
    )
    UNAUTHENTICATED = (401, "API 密钥无效或已吊销。", "The API key is invalid or revoked.")
    PERMISSION_DENIED = (403, "无权执行此操作：{detail}", "Permission denied: {detail}")
    CLIENT_NOT_FOUND = (404, "API 客户端“{client}”不存在。", "API client '{client}' does not exist.")
    CLIENT_NAME_INVALID = (
        422,
        "客户端名称或机构名称含有控制字符、不可见的格式字符或换行符（U+{codepoint}），请删除后重试。",
        "The client or organisation name contains a control, invisible formatting or line-separator "
        "character (U+{codepoint}); remove it and retry.",
    )
    DATABASE_ERROR = (503, "数据库不可用：{detail}", "The database is unavailable: {detail}")
    # --- shared services of a multi-node deployment (issue 16) ---
    CONFIG_INVALID = (
        500,
        "配置项 {setting} 无效：{detail}",
        "The setting {setting} is unusable: {detail}",
    )
    DRIVER_MISSING = (
        500,
        "未安装{backend}驱动程序，请安装附加组件 {extra}。",
        "The {backend} driver is not installed; install the {extra} extra.",
    )
    BACKEND_UNAVAILABLE = (
        503,
        "后端服务 {backend} 暂不可用，请稍后重试。",
        "The {backend} service is unavailable; retry later.",
    )
    BATCH_NOT_FOUND = (404, "批量任务“{batch}”不存在。", "Batch '{batch}' does not exist.")
    BATCH_INVALID = (422, "批量文件无效：{detail}", "Invalid batch upload: {detail}")
    TOO_MANY_DOCUMENTS = (
        413,
        "批量文件数量过多（上限 {limit} 个）。",
        "Too many documents in one batch (limit {limit}).",
    )
    IDEMPOTENCY_KEY_REUSED = (
        422,
        "幂等键“{key}”已用于另一个盖章请求（文档、印章或选项不同），请换用新的幂等键。",
        "Idempotency key '{key}' was already used for a different sealing request "
        "(another document, seal or options); use a new key.",
    )
    XML_REPORT_UNAVAILABLE = (
        422,
        "无法生成 ETSI TS 119 102-2 XML 验证报告：{detail}",
        "The ETSI TS 119 102-2 XML validation report cannot be produced: {detail}",
    )
    # --- GB/T 38540 / GM/T 0031 electronic seals (issue 6) ---
    SES_MALFORMED = (
        422,
        "电子印章数据（{what}）格式无效：{detail}",
        "The electronic seal data ({what}) is malformed: {detail}",
    )
    # --- SM2 keys through the product (issue 14) ---
    SEAL_MAKER_MISSING = (
        503,
        "未配置制章系统密钥，无法制作国密电子印章。",
        "No seal maker key is configured (ESIGN_SEAL_MAKER_P12), so no GB/T 38540 seal can be made.",
    )
    SEAL_SIGNER_NOT_SM2 = (
        422,
        "国密电子印章只能由国密（SM2）证书使用，该印章的证书不是国密证书。",
        "A GB/T 38540 seal can only list SM2 certificates; this seal's certificate is {algorithm}.",
    )
    TOKEN_WITHOUT_SM2 = (
        422,
        "密钥令牌“{token}”不支持国密（SM2）签名机制，无法使用其中的国密密钥。",
        "The PKCS#11 token '{token}' offers no SM2 signing mechanism, so its SM2 key cannot be used.",
    )
    CERTIFICATE_UNREADABLE = (
        400,
        "证书“{name}”无法读取（应为 PEM 或 DER 格式的 X.509 证书）。",
        "The certificate '{name}' cannot be read (expected a PEM or DER X.509 certificate): {detail}",
    )
    ESL_NOT_FOR_SIGNER = (
        422,
        "所给电子印章的证书列表不包含签章证书。",
        "The given electronic seal does not list the signing certificate.",
    )
    # --- HTTP service (issue 5) ---
    API_KEY_MISSING = (
        401,
        "缺少 API 密钥（请求头 Authorization: Bearer <密钥>）。",
        "An API key is required (header Authorization: Bearer <key>).",
    )
    MALFORMED_REQUEST = (400, "请求格式错误：{detail}", "Malformed request: {detail}")
    REQUEST_INVALID = (422, "请求参数无效：{detail}", "Invalid request parameters: {detail}")
    REQUEST_TOO_LARGE = (
        413,
        "请求内容过大（上限 {limit} 字节）。",
        "The request body is too large (limit {limit} bytes).",
    )
    RESOURCE_NOT_FOUND = (404, "资源“{path}”不存在。", "No resource at '{path}'.")
    METHOD_NOT_ALLOWED = (405, "不支持 {method} 方法。", "Method {method} is not allowed here.")
    UNSUPPORTED_MEDIA_TYPE = (
        415,
        "不支持的请求内容类型（应为 {expected}）。",
        "Unsupported request content type (expected {expected}).",
    )
    UPLOAD_TIMEOUT = (
        408,
        "上传超时：请求内容须在 {seconds} 秒内传完，且开始 {grace} 秒后平均每秒不少于 {rate} 字节，"
        "请检查网络后重新提交。",
        "Upload timed out: the request body must arrive within {seconds} s, and after the first "
        "{grace} s at {rate} bytes/s or faster on average; check the connection and resend.",
    )
    RATE_LIMITED = (
        429,
        "请求过于频繁，请 {retry_after} 秒后重试。",
        "Too many requests; retry after {retry_after} s.",
    )
    TOO_MANY_UPLOADS = (
        429,
        "同时进行的上传过多（每个客户端最多 {limit} 个），请 {retry_after} 秒后重试。",
        "Too many uploads in progress for this client (at most {limit}); retry after {retry_after} s.",
    )
    OVERLOADED = (
        503,
        "服务繁忙（处理队列已满），请稍后重试。",
        "The service is busy (work queue full); retry later.",
    )
    INTERNAL_ERROR = (
        500,
        "服务内部错误（请求编号 {request_id}），已记录。",
        "Internal error (request id {request_id}); it has been logged.",
    )

    @property
    def http_status(self) -> int:
        return self.value[0]


class EsignError(Exception):
    """A refusal with a stable code; ``str()`` gives the English message.

    A ``{detail}`` is usually English (library text, a path, a limit). Give ``detail_zh`` for the
    Chinese message; without it, an English sentence is not spliced into the Chinese one — the
    Chinese message then points to the English message instead (see :func:`latin_sentence`).
    """

    def __init__(self, code: ErrorCode, *, detail_zh: str | None = None, **params: Any) -> None:
        self.code = code
        self.params = params
        self.detail_zh = detail_zh
        super().__init__(self.message_en)

    @property
    def message_zh(self) -> str:
        params = dict(self.params)
        if "detail" in params:
            params["detail"] = chinese_detail(self.detail_zh, str(params["detail"]))
        return self.code.value[1].format_map(_Defaulting(params))

    @property
    def message_en(self) -> str:
        return self.code.value[2].format_map(_Defaulting(self.params))

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code.name, "message": {"zh": self.message_zh, "en": self.message_en}}


#: three Latin words in a row (letters, digits, apostrophes, hyphens), the mark of an English sentence
_LATIN_RUN = re.compile(r"[A-Za-z][\w'’-]*(?:[ ,:;()]+[A-Za-z][\w'’-]*){2,}", re.ASCII)
_NO_ZH_DETAIL = "详情见英文信息"


def latin_sentence(text: str) -> str | None:
    """The first run of three or more Latin words in ``text`` (an English sentence), if any."""
    match = _LATIN_RUN.search(text)
    return match.group() if match else None


def chinese_detail(detail_zh: str | None, detail: str) -> str:
    """What a Chinese message shows for a detail: its Chinese text, or English only if it is a name/code."""
    if detail_zh:
        return detail_zh
    return _NO_ZH_DETAIL if latin_sentence(detail) else detail


class _Defaulting(dict[str, Any]):
    """Leaves an unknown placeholder visible instead of raising KeyError inside error handling."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
