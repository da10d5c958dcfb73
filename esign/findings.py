"""The one catalogue of verification findings: code → severity, zh/en message, zh/en remedy.

Intake staff must tell the applicant every defect at once (一次性告知), so each finding carries not only
what is wrong but what the applicant should do about it. The member name is the stable code used in
JSON, XML and text reports; other modules (modifications, visual comparison, conformance) append
members here rather than inventing codes of their own.

To append a code, add one member:
``NAME = _f(Severity.X, "中文说明", "English message", "中文建议", "English remedy")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum, unique

from esign.errors import chinese_detail


class Severity(StrEnum):
    """How a finding weighs: ``error`` defeats reliability, ``warning`` limits it, ``info`` is context."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class _Entry:
    severity: Severity
    message_zh: str
    message_en: str
    remedy_zh: str
    remedy_en: str


def _f(severity: Severity, message_zh: str, message_en: str, remedy_zh: str, remedy_en: str) -> _Entry:
    return _Entry(severity, message_zh, message_en, remedy_zh, remedy_en)


_RESUBMIT_ZH = "请提交签章机构出具的原始签章文件，不要提交经过编辑、另存或打印再扫描的副本。"
_RESUBMIT_EN = "Submit the original sealed file as issued, not an edited, re-saved or re-scanned copy."
_ASK_ISSUER_ZH = "请联系出具文件的机构重新签章后再提交。"
_ASK_ISSUER_EN = "Ask the issuing organisation to seal the document again, then resubmit it."
_NONE_ZH = "无需处理。"
_NONE_EN = "No action needed."


@unique
class FindingCode(Enum):
    """Every finding the verifier can report. The member name is the stable code."""

    # -- document level ------------------------------------------------------------------------
    NO_SIGNATURE_FOUND = _f(
        Severity.ERROR,
        "文件中没有电子签名或电子印章。",
        "The document contains no electronic signature or seal.",
        "请提交已加盖电子印章的文件。",
        "Submit the document with its electronic seal.",
    )
    PARSED_TOLERANTLY = _f(
        Severity.WARNING,
        "PDF 文件结构不规范，已按容错方式解析。",
        "The PDF structure is not well-formed; it was read with a tolerant parser.",
        "如验证结果异常，请提交原始文件。",
        "If the result looks wrong, submit the original file.",
    )
    EMPTY_SIGNATURE_FIELD = _f(
        Severity.INFO,
        "文件中有未签名的签名域。",
        "The document has an unsigned signature field.",
        _NONE_ZH,
        _NONE_EN,
    )
    TIME_BUDGET_EXCEEDED = _f(
        Severity.WARNING,
        "文件验证超出时间限制，部分检查未完成。",
        "Verification exceeded its time budget; some checks were not completed.",
        "请联系受理机构人工核验。",
        "Ask the receiving office for a manual check.",
    )
    RENDER_LIMIT_EXCEEDED = _f(
        Severity.WARNING,
        "页面渲染超出内存限制，无法比对签名后页面的显示效果。",
        "Rendering a page exceeded its memory limit; what it shows after signing could not be compared.",
        "请联系受理机构人工核验。",
        "Ask the receiving office for a manual check.",
    )
    # -- structure and format --------------------------------------------------------------------
    BYTERANGE_INVALID = _f(
        Severity.ERROR,
        "签名的字节范围（ByteRange）不合规，签名未正确覆盖文件内容。",
        "The signature's ByteRange is malformed; it does not cover the file as required.",
        _RESUBMIT_ZH,
        _RESUBMIT_EN,
    )
    COVERAGE_PARTIAL = _f(
        Severity.ERROR,
        "签名只覆盖了文件的一部分，未签名的部分可能被改动。",
        "The signature covers only part of its revision; unsigned parts may have been altered.",
        _RESUBMIT_ZH,
        _RESUBMIT_EN,
    )
    CONTENTS_NOT_CMS = _f(
        Severity.ERROR,
        "签名数据不是有效的 CMS/PKCS#7 签名结构。",
        "The signature value is not a valid CMS/PKCS#7 structure.",
        _ASK_ISSUER_ZH,
        _ASK_ISSUER_EN,
    )
    CMS_STRUCTURE_INVALID = _f(
        Severity.ERROR,
        "签名数据结构异常（例如包含多个签名者或缺少必要属性）。",
        "The signature structure is irregular (e.g. several signers or a required attribute is missing).",
        _ASK_ISSUER_ZH,
        _ASK_ISSUER_EN,
    )
    GBT38540_SIGNATURE = _f(
        Severity.WARNING,
        "该签名为 GB/T 38540 电子印章（SES_Signature）格式，本验证器未对其作 PAdES 验证。",
        "This is a GB/T 38540 electronic seal (SES_Signature); it is not validated as a PAdES signature.",
        "请使用支持 GB/T 38540 的验证服务核验，或提交 PAdES 格式的签章文件。",
        "Verify it with a GB/T 38540 validator, or submit a PAdES-sealed file.",
    )
    UNSUPPORTED_SUBFILTER = _f(
        Severity.WARNING,
        "签名使用了不常见或不受支持的格式（SubFilter）。",
        "The signature uses an uncommon or unsupported format (SubFilter).",
        "请提交采用 PAdES（ETSI.CAdES.detached）格式签章的文件。",
        "Submit a file sealed in PAdES format (ETSI.CAdES.detached).",
    )
    DEPRECATED_SUBFILTER = _f(
        Severity.WARNING,
        "签名使用了已淘汰的 adbe.pkcs7.sha1 格式。",
        "The signature uses the deprecated adbe.pkcs7.sha1 format.",
        _ASK_ISSUER_ZH,
        _ASK_ISSUER_EN,
    )
    # -- integrity and cryptography ---------------------------------------------------------------
    DIGEST_MISMATCH = _f(
        Severity.ERROR,
        "签名后文件内容被改动：摘要值与签名时不一致。",
        "The document was changed after signing: its digest does not match the signed digest.",
        _RESUBMIT_ZH,
        _RESUBMIT_EN,
    )
    SIGNATURE_VALUE_INVALID = _f(
        Severity.ERROR,
        "签名值验证失败，签名可能被伪造或损坏。",
        "The signature value does not verify; the signature may be forged or damaged.",
        _RESUBMIT_ZH,
        _RESUBMIT_EN,
    )
    WEAK_DIGEST_ALGORITHM = _f(
        Severity.ERROR,
        "签名使用了不安全的摘要算法（如 SHA-1）。",
        "The signature uses an insecure digest algorithm (e.g. SHA-1).",
        _ASK_ISSUER_ZH,
        _ASK_ISSUER_EN,
    )
    WEAK_KEY = _f(
        Severity.ERROR,
        "签名密钥长度不足（如 RSA 密钥短于 2048 位）。",
        "The signing key is too short (e.g. an RSA key below 2048 bits).",
        "请签章机构更换符合要求的证书后重新签章。",
        "Ask the issuer to seal again with a compliant certificate.",
    )
    UNSUPPORTED_ALGORITHM = _f(
        Severity.ERROR,
        "签名使用了无法识别或不受支持的算法（摘要、签名或公钥），签名无法验证。",
        "The signature uses an unknown or unsupported algorithm (digest, signature or key): not verifiable.",
        "请签章机构使用 SHA-256 及以上摘要算法和 RSA 或 ECDSA 密钥重新签章。",
        "Ask the issuer to seal again with SHA-256 or stronger and an RSA or ECDSA key.",
    )
    # -- signer and certificate chain -------------------------------------------------------------
    CERTIFICATE_ENCODING_IRREGULAR = _f(
        Severity.INFO,
        "签名者证书的公钥编码不符合 DER 规范，已按其内容读取（公钥本身确定无疑）。",
        "A certificate's public key is not strict DER; it was read by its content (the key is unambiguous).",
        "建议签章机构的证书服务商按 DER 规范签发证书；本文件无需处理。",
        "The issuer's CA should encode certificates in strict DER; nothing to do for this file.",
    )
    SIGNING_CERTIFICATE_NOT_FOUND = _f(
        Severity.ERROR,
        "签名中找不到签名者证书。",
        "The signer's certificate is not in the signature.",
        _ASK_ISSUER_ZH,
        _ASK_ISSUER_EN,
    )
    CHAIN_UNTRUSTED = _f(
        Severity.ERROR,
        "签名证书无法链接到受信任的电子认证服务机构。",
        "The signing certificate does not chain to a trusted certification authority.",
        "请确认签章证书由依法设立的电子认证服务机构签发，或联系受理机构确认信任配置。",
        "Make sure the seal certificate comes from a licensed CA, or ask the office to check its trust list.",
    )
    CHAIN_INVALID = _f(
        Severity.ERROR,
        "证书链验证失败。",
        "The certificate chain is invalid.",
        _ASK_ISSUER_ZH,
        _ASK_ISSUER_EN,
    )
    KEY_USAGE_NOT_ALLOWED = _f(
        Severity.ERROR,
        "签名证书的密钥用法不允许用于签名。",
        "The signing certificate's key usage does not permit signatures.",
        "请签章机构使用具有数字签名用途的证书重新签章。",
        "Ask the issuer to seal again with a certificate meant for signing.",
    )
    CERTIFICATE_REVOKED = _f(
        Severity.ERROR,
        "签名证书在签名时已被吊销。",
        "The signing certificate was revoked when the signature was made.",
        "该签章无效，请签章机构使用有效证书重新签章。",
        "The seal is invalid; ask the issuer to seal again with a valid certificate.",
    )
    CERTIFICATE_REVOKED_LATER = _f(
        Severity.ERROR,
        "签名证书已被吊销，且无可信时间证明签名早于吊销时间。",
        "The signing certificate is revoked and no trusted time proves the signature predates revocation.",
        "请提交带可信时间戳的签章文件，或请签章机构重新签章。",
        "Submit a file with a trusted timestamp, or ask the issuer to seal again.",
    )
    CA_CERTIFICATE_REVOKED = _f(
        Severity.ERROR,
        "证书链中的 CA 证书已被吊销。",
        "A CA certificate in the chain is revoked.",
        _ASK_ISSUER_ZH,
        _ASK_ISSUER_EN,
    )
    CERTIFICATE_EXPIRED = _f(
        Severity.ERROR,
        "签名证书已过期，且无可信时间证明签名时证书有效。",
        "The signing certificate has expired and no trusted time proves it was valid at signing.",
        "请签章机构使用有效证书重新签章，并加盖可信时间戳。",
        "Ask the issuer to seal again with a valid certificate and a trusted timestamp.",
    )
    CERTIFICATE_NOT_YET_VALID = _f(
        Severity.ERROR,
        "签名时签名证书尚未生效。",
        "The signing certificate was not yet valid when the signature was made.",
        _ASK_ISSUER_ZH,
        _ASK_ISSUER_EN,
    )
    REVOCATION_DATA_MISSING = _f(
        Severity.WARNING,
        "文件中没有签名证书的吊销状态信息（OCSP/CRL），未能确认签名时证书未被吊销。",
        "The file holds no revocation data (OCSP/CRL) for the signing certificate; status unconfirmed.",
        "建议签章机构以 PAdES-B-LT 或更高级别签章（嵌入吊销信息）。",
        "Ask the issuer to seal at PAdES-B-LT or higher (revocation data embedded).",
    )
    REVOCATION_DATA_STALE = _f(
        Severity.WARNING,
        "证书吊销状态信息不够新，无法确认签名时的证书状态。",
        "The revocation data is not fresh enough to confirm the certificate status at signing time.",
        "请稍后重试，或提交嵌入了最新吊销信息的文件。",
        "Try again later, or submit a file with up-to-date revocation data.",
    )
    # -- time ------------------------------------------------------------------------------------
    TIMESTAMP_INVALID = _f(
        Severity.ERROR,
        "签名时间戳无效（与签名不匹配或已损坏）。",
        "The signature timestamp is invalid (it does not match the signature or is damaged).",
        _RESUBMIT_ZH,
        _RESUBMIT_EN,
    )
    TIMESTAMP_UNTRUSTED = _f(
        Severity.WARNING,
        "时间戳服务机构不受信任，签名时间无法证明。",
        "The timestamp authority is not trusted, so the signing time is not proven.",
        "建议使用受信任的时间戳服务加盖时间戳。",
        "Use a trusted time-stamping service.",
    )
    NO_TIMESTAMP = _f(
        Severity.INFO,
        "签名不含可信时间戳，签名时间以签名者自述时间为准。",
        "The signature has no trusted timestamp; the signing time is only as claimed by the signer.",
        "建议以 PAdES-B-T 或更高级别签章。",
        "Prefer sealing at PAdES-B-T or higher.",
    )
    # -- changes after signing (M appends its detailed codes below) -------------------------------
    MODIFICATION_CHECK_UNAVAILABLE = _f(
        Severity.WARNING,
        "未能完成签名后改动检查。",
        "The check for changes after signing could not be completed.",
        "请联系受理机构人工核验文件内容。",
        "Ask the receiving office to check the content manually.",
    )
    UPDATE_NOT_WELL_FORMED = _f(
        Severity.WARNING,
        "签名范围之后的内容不是结构规范的增量更新（交叉引用表、文件尾或对象位置需要修复才能读取），"
        "不同的阅读软件可能显示不同的内容，无法确认签名后未被改动。",
        "What follows the signed range is not a well-formed incremental update (its cross-reference "
        "section, trailer or object positions need repair to be read); viewers may show different "
        "content, so it cannot be confirmed that nothing changed after signing.",
        _RESUBMIT_ZH,
        _RESUBMIT_EN,
    )
    MODIFIED_AFTER_SIGNING = _f(
        Severity.ERROR,
        "签名后文件被改动，改动不属于允许的范围。",
        "The document was changed after signing in a way that is not permitted.",
        _RESUBMIT_ZH,
        _RESUBMIT_EN,
    )
    PERMITTED_CHANGES = _f(
        Severity.INFO,
        "签名后有允许的追加内容（如后续签名、验证数据或时间戳）。",
        "Permitted additions were made after signing (later signatures, validation data or timestamps).",
        _NONE_ZH,
        _NONE_EN,
    )
    # -- changes after signing: what a person sees (esign/verify/modifications/) ----------
    PAGE_ADDED_AFTER_SIGNING = _f(
        Severity.ERROR,
        "签名后文件中增加了页面。",
        "Pages were added to the document after it was signed.",
        _RESUBMIT_ZH,
        _RESUBMIT_EN,
    )
    PAGE_REMOVED_AFTER_SIGNING = _f(
        Severity.ERROR,
        "签名后文件中删除了页面。",
        "Pages were removed from the document after it was signed.",
        _RESUBMIT_ZH,
        _RESUBMIT_EN,
    )
    PAGE_CONTENT_CHANGED_AFTER_SIGNING = _f(
        Severity.ERROR,
        "签名后页面内容被改动，显示的内容与签名时不同。",
        "Page content was changed after signing; the page no longer shows what was signed.",
        _RESUBMIT_ZH,
        _RESUBMIT_EN,
    )
    ANNOTATION_ADDED_OVER_CONTENT = _f(
        Severity.ERROR,
        "签名后在页面内容上添加了注释、图章或签名外观，遮盖或改变了签名时的内容。",
        "An annotation, stamp or signature appearance added after signing hides or alters signed content.",
        _RESUBMIT_ZH,
        _RESUBMIT_EN,
    )
    VISUAL_CHANGE_AFTER_SIGNING = _f(
        Severity.ERROR,
        "签名后页面的显示效果发生了无法解释的变化。",
        "What the page shows changed after signing, and no permitted change explains it.",
        _RESUBMIT_ZH,
        _RESUBMIT_EN,
    )
    SHADOW_ATTACK_SUSPECTED = _f(
        Severity.ERROR,
        "疑似“影子攻击”：签名时已隐藏或预置的内容在签名后被显示或替换。",
        "Shadow attack suspected: content hidden or planted at signing was revealed or swapped in later.",
        "该文件可能被恶意篡改，请向出具机构索取原始签章文件。",
        "The file may have been tampered with on purpose; obtain the original sealed file from the issuer.",
    )
    ANNOTATIONS_OVERLAP = _f(
        Severity.WARNING,
        "页面上的注释（链接、表单域、签名外观等）相互重叠，可能遮盖或截获其下的内容，无法确认显示内容未被掩盖。",
        "Annotations (links, form fields, signature appearances) overlap on a page; one may hide or capture "
        "another, so it cannot be confirmed that nothing shown is masked.",
        "请受理机构人工核对重叠区域的显示内容，或提交没有重叠注释的原始签章文件。",
        "Ask the receiving office to check the overlapping areas by eye, or submit an original without them.",
    )
    RENDERERS_DISAGREE = _f(
        Severity.WARNING,
        "不同的阅读引擎（poppler、PDFium）对签名后的文件解读不一致（页数不同、无法打开或无法显示某些页面），"
        "无法确认各阅读器显示的内容相同。",
        "The rendering engines (poppler, PDFium) read the document differently after signing (different "
        "page counts, a file or page one of them cannot open), so it cannot be confirmed that every viewer "
        "shows the same content.",
        "请受理机构用多种阅读器人工核对文件内容，或提交签章机构出具的原始文件。",
        "Ask the receiving office to compare the content in several viewers, or submit the original file.",
    )
    NEED_APPEARANCES_SET = _f(
        Severity.ERROR,
        "签名后文件被设置为由阅读器重新生成表单外观（NeedAppearances），印章图像和表单内容可能显示得与签名时不同。",
        "After signing the document was set to have viewers regenerate form appearances (NeedAppearances); "
        "seal pictures and form content may be shown differently from what was signed.",
        _RESUBMIT_ZH,
        _RESUBMIT_EN,
    )
    SIGNATURE_APPEARANCE_REPLACED = _f(
        Severity.ERROR,
        "签名后已签名印章的外观、位置或显示标志被改动。",
        "The appearance, position or display flags of a signature's widget were changed after it was signed.",
        _RESUBMIT_ZH,
        _RESUBMIT_EN,
    )
    ACTION_ADDED_AFTER_SIGNING = _f(
        Severity.ERROR,
        "签名后文件中加入了动作或脚本（打开文件、页面或表单域时执行，例如 JavaScript），可能改变显示的内容。",
        "Actions or scripts (run when the file, a page or a field is opened, e.g. JavaScript) were added "
        "after signing; they can change what is shown.",
        _RESUBMIT_ZH,
        _RESUBMIT_EN,
    )
    OPTIONAL_CONTENT_CHANGED = _f(
        Severity.ERROR,
        "签名后文件的图层（可选内容）设置被改动，可能显示或隐藏了部分内容。",
        "The document's layer (optional content) settings were changed after signing; content may have "
        "been shown or hidden.",
        _RESUBMIT_ZH,
        _RESUBMIT_EN,
    )
    DOCUMENT_INFO_CHANGED = _f(
        Severity.WARNING,
        "签名后文件的标题、作者、主题或关键词等文档信息被改动。",
        "The document information (title, author, subject or keywords) was changed after signing.",
        "请以签名时的文档信息为准；如文件经过认证签名，该改动不被允许。",
        "Rely on the information as signed; under a certification signature the change is not permitted.",
    )
    DOCMDP_VIOLATION = _f(
        Severity.ERROR,
        "签名后的改动超出了认证签名（DocMDP）允许的范围。",
        "Changes after signing exceed what the certification signature (DocMDP) permits.",
        _RESUBMIT_ZH,
        _RESUBMIT_EN,
    )
    FIELDMDP_VIOLATION = _f(
        Severity.ERROR,
        "签名后修改了被签名锁定的表单域（FieldMDP）。",
        "A form field locked by the signature (FieldMDP) was changed after signing.",
        _RESUBMIT_ZH,
        _RESUBMIT_EN,
    )
    FORM_FILLED_AFTER_SIGNING = _f(
        Severity.INFO,
        "签名后填写了表单域。",
        "Form fields were filled in after signing.",
        "请确认签名后填写的表单内容无误。",
        "Check that the form entries made after signing are correct.",
    )
    COMMENT_ADDED_AFTER_SIGNING = _f(
        Severity.INFO,
        "签名后添加了批注，认证签名允许添加批注。",
        "Comments were added after signing, as the certification signature permits.",
        "请注意批注不属于签名内容。",
        "Note that the comments are not part of the signed content.",
    )
    COMMENT_ADDED_AFTER_APPROVAL = _f(
        Severity.WARNING,
        "签名后添加了批注（文本框、图章等），签名不涵盖批注显示的内容。",
        "A comment (text box, stamp, drawing) was added after signing; the signature does not cover it.",
        "请核对批注内容，以签名时的版本为准。",
        "Check what the comment says; only the revision as signed is covered by the signature.",
    )
    LATER_SIGNATURE_ADDED = _f(
        Severity.INFO,
        "签名后文件又加盖了其他签名或印章。",
        "Further signatures or seals were added after this signature.",
        _NONE_ZH,
        _NONE_EN,
    )
    VALIDATION_DATA_ADDED = _f(
        Severity.INFO,
        "签名后文件中加入了长期验证数据（DSS/VRI）。",
        "Long-term validation data (DSS/VRI) was added after signing.",
        _NONE_ZH,
        _NONE_EN,
    )
    DOC_TIMESTAMP_ADDED = _f(
        Severity.INFO,
        "签名后文件加盖了文档时间戳。",
        "A document timestamp was added after signing.",
        _NONE_ZH,
        _NONE_EN,
    )
    DIFF_ANALYSIS_FAILED = _f(
        Severity.WARNING,
        "签名后改动分析未能完成，无法确认显示内容是否被改动。",
        "The analysis of changes after signing failed; it is unknown whether the shown content changed.",
        "请联系受理机构人工核对文件内容，或提交原始签章文件。",
        "Ask the receiving office to compare the content manually, or submit the original sealed file.",
    )
    VALIDATION_DATA_UNREADABLE = _f(
        Severity.WARNING,
        "文件中的长期验证数据（DSS）无法读取，未能使用其中的证书和吊销信息。",
        "The file's validation data (DSS) cannot be read; its certificates and revocation data were unused.",
        "建议签章机构重新嵌入长期验证数据（PAdES-B-LT）。",
        "Ask the issuer to embed the validation data again (PAdES-B-LT).",
    )
    # -- catch-all -------------------------------------------------------------------------------
    VALIDATION_ERROR = _f(
        Severity.ERROR,
        "验证过程中出现无法处理的数据，签名无法判定。",
        "Validation hit data it could not process; the signature cannot be judged.",
        _RESUBMIT_ZH,
        _RESUBMIT_EN,
    )
    # -- GB/T 38540 electronic seals (esign.gm) -------------------------------------------------------
    SES_STRUCTURE_INVALID = _f(
        Severity.ERROR,
        "电子印章签章数据（SES_Signature）格式无效，无法验证。",
        "The electronic seal signature (SES_Signature) is malformed and cannot be verified.",
        _RESUBMIT_ZH,
        _RESUBMIT_EN,
    )
    SES_SIGNER_NOT_IN_SEAL = _f(
        Severity.ERROR,
        "签章人证书不在电子印章的证书列表中，签章人无权使用该印章。",
        "The signer's certificate is not in the seal's certificate list: the signer may not use this seal.",
        _ASK_ISSUER_ZH,
        _ASK_ISSUER_EN,
    )
    SES_SEAL_SIGNATURE_INVALID = _f(
        Severity.ERROR,
        "电子印章的制章者签名无效，印章数据可能被篡改（如印章图片被替换）。",
        "The seal maker's signature on the seal is invalid; the seal data (e.g. its picture) may be altered.",
        _ASK_ISSUER_ZH,
        _ASK_ISSUER_EN,
    )
    SES_SEAL_OUTSIDE_VALIDITY = _f(
        Severity.ERROR,
        "签章时间不在电子印章的有效期内。",
        "The signing time is outside the seal's validity period.",
        _ASK_ISSUER_ZH,
        _ASK_ISSUER_EN,
    )
    SES_SEAL_OUTSIDE_VALIDITY_NOW = _f(
        Severity.ERROR,
        "在验证时间，电子印章不在其有效期内，不能再用于签章。",
        "At the validation time the seal is outside its validity period; it cannot be used to seal.",
        "请联系制章机构确认印章状态，或使用有效期内的印章。",
        "Ask the seal maker about the seal's status, or use a seal within its validity period.",
    )
    SES_DOCUMENT_NOT_GIVEN = _f(
        Severity.WARNING,
        "未提供被签章的文件，无法核对签章数据中的文件摘要（dataHash）。",
        "The signed document was not given, so the document hash (dataHash) of the seal signature "
        "was not checked.",
        "请同时提交被签章的原始文件（--document）。",
        "Give the signed document as well (--document).",
    )
    SES_PROPERTY_INFO_MISMATCH = _f(
        Severity.WARNING,
        "签章数据记录的签名范围（propertyInfo）与文件的 ByteRange 不一致："
        "签章软件记录有误，或文件结构被调整过。",
        "The signed range the seal signature records (propertyInfo) differs from the file's ByteRange: "
        "the sealing software recorded it wrongly, or the file's structure was rearranged.",
        _RESUBMIT_ZH,
        _RESUBMIT_EN,
    )

    @property
    def severity(self) -> Severity:
        return self.value.severity

    def message(self) -> dict[str, str]:
        return {"zh": self.value.message_zh, "en": self.value.message_en}

    def remedy(self) -> dict[str, str]:
        return {"zh": self.value.remedy_zh, "en": self.value.remedy_en}

    @classmethod
    def lookup(cls, code: str) -> FindingCode:
        """A code by name; unknown names (a module newer than the catalogue) map to VALIDATION_ERROR."""
        return cls.__members__.get(code, cls.VALIDATION_ERROR)


@dataclass(frozen=True)
class Finding:
    """One occurrence of a code: which signature (``None`` = the document) and a technical detail.

    ``detail`` is English; ``detail_zh`` its Chinese wording where the finding's maker gives one —
    otherwise Chinese readers get the detail only when it is a name or number, not an English sentence.
    """

    code: FindingCode
    signature: int | None = None
    detail: str = ""
    detail_zh: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code.name,
            "severity": self.code.severity.value,
            "signature": self.signature,
            "message": self.code.message(),
            "remedy": self.code.remedy(),
            "detail": self.detail,
            "detail_zh": chinese_detail(self.detail_zh, self.detail) if self.detail else "",
        }
