// The verification page: drop a PDF, POST it to /v1/verify, show the report in Chinese or English.
// Plain browser JavaScript, no framework and no CDN: the service serves everything itself.
"use strict";

const TEXT = {
  zh: {
    title: "电子签名 / 电子印章验证",
    lead: "拖入 PDF 文件，检查其中每个电子签名（电子印章）是否满足《电子签名法》第十三条的可靠电子签名条件。",
    apiKey: "API 密钥",
    drop: "将 PDF 拖到此处，或点击选择文件",
    findings: "发现的问题",
    footer: "文件只用于本次验证，服务不保存文件内容。",
    toggle: "English",
    verifying: "正在验证…",
    none: "未发现问题。",
    signature: "签名",
    timestamp: "文档时间戳",
    signer: "签署单位",
    time: "签署时间",
    level: "格式/级别",
    result: "验证结果",
    art13: "可靠电子签名（第十三条）",
    remedy: "建议",
    document: "文件",
    severity: { error: "错误", warning: "警告", info: "提示" },
    verdicts: {
      TOTAL_PASSED: "验证通过：签名有效，文件签署后未被篡改",
      TOTAL_FAILED: "验证失败：签名无效或文件已被篡改",
      INDETERMINATE: "无法确定：缺少验证所需的信息",
      NO_SIGNATURE_FOUND: "文件中没有电子签名",
    },
    reliability: { reliable: "可靠", not_reliable: "不可靠", undetermined: "无法确定" },
    conditions: {
      exclusive_to_signer: "签名制作数据专属于电子签名人",
      sole_control: "签署时签名制作数据仅由电子签名人控制",
      signature_change_detectable: "签署后对电子签名的任何改动能够被发现",
      content_change_detectable: "签署后对数据电文内容和形式的任何改动能够被发现",
    },
    status: { met: "满足", not_met: "不满足", undetermined: "无法确定" },
  },
  en: {
    title: "Electronic signature and seal verification",
    lead: "Drop a PDF to check whether each electronic signature (seal) in it is a reliable electronic signature under art. 13 of the PRC Electronic Signature Law.",
    apiKey: "API key",
    drop: "Drop a PDF here, or click to choose a file",
    findings: "Findings",
    footer: "The file is used for this verification only; the service does not keep it.",
    toggle: "中文",
    verifying: "Verifying…",
    none: "No findings.",
    signature: "Signature",
    timestamp: "Document timestamp",
    signer: "Signer organisation",
    time: "Signing time",
    level: "Format / level",
    result: "Result",
    art13: "Reliable e-signature (art. 13)",
    remedy: "Remedy",
    document: "Document",
    severity: { error: "Error", warning: "Warning", info: "Info" },
    verdicts: {
      TOTAL_PASSED: "Passed: the signatures are valid and the document is unchanged since signing",
      TOTAL_FAILED: "Failed: a signature is invalid or the document was altered",
      INDETERMINATE: "Indeterminate: information needed for validation is missing",
      NO_SIGNATURE_FOUND: "The document has no electronic signature",
    },
    reliability: { reliable: "reliable", not_reliable: "not reliable", undetermined: "undetermined" },
    conditions: {
      exclusive_to_signer: "Signature creation data belong exclusively to the signer",
      sole_control: "The signer alone controlled the creation data when signing",
      signature_change_detectable: "Any change to the signature after signing is detectable",
      content_change_detectable: "Any change to the content or form after signing is detectable",
    },
    status: { met: "met", not_met: "not met", undetermined: "undetermined" },
  },
};

let lang = localStorage.getItem("esign-lang") || "zh";
let lastReport = null;
const $ = (id) => document.getElementById(id);

// Names from the upload (file name, field names, certificate names) may carry controls, line breaks,
// zero-width or bidi characters that move or fake text: show them as \uXXXX (as the text report does).
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/g;
const visible = (text) =>
  String(text).replace(UNSAFE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

function applyLanguage() {
  const t = TEXT[lang];
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t[node.dataset.i18n];
  $("lang-toggle").textContent = t.toggle;
  if (lastReport) render(lastReport);
}

function setStatus(message, isError = false) {
  $("status").textContent = message;
  $("status").className = isError ? "error" : "";
}

async function verify(file) {
  const t = TEXT[lang];
  $("result").hidden = true;
  setStatus(t.verifying);
  const headers = { "Content-Type": "application/pdf" };
  const key = $("api-key").value.trim();
  if (key) headers.Authorization = `Bearer ${key}`;
  sessionStorage.setItem("esign-key", key);
  try {
    const response = await fetch(`/v1/verify?format=json&filename=${encodeURIComponent(file.name)}`, {
      method: "POST",
      headers,
      body: file,
    });
    const body = await response.json();
    if (!response.ok) {
      setStatus(`${lang === "zh" ? body.detail_zh : body.detail} (${body.code})`, true);
      return;
    }
    setStatus("");
    lastReport = body;
    render(body);
  } catch (error) {
    setStatus(String(error), true);
  }
}

function render(report) {
  const t = TEXT[lang];
  const verdict = $("verdict");
  verdict.dataset.indication = report.indication;
  verdict.textContent = t.verdicts[report.indication] || report.indication;
  $("document").textContent =
    `${t.document}: ${visible(report.document.name)} · ${report.document.pages} p · SHA-256 ${report.document.sha256}`;
  $("signatures").replaceChildren(...report.signatures.map((s) => signatureCard(s, t)));
  const findings = report.findings.map((f) => findingItem(f, t));
  $("findings").replaceChildren(...(findings.length ? findings : [el("li", {}, t.none)]));
  $("result").hidden = false;
}

function signatureCard(sig, t) {
  const who = sig.signed_by || {};
  const rows = [
    [t.signer, visible([who.name || who.organization, who.uscc].filter(Boolean).join(" · ") || who.subject || "—")],
    [t.time, sig.best_signature_time || sig.claimed_signing_time || "—"],
    [t.level, sig.format || "—"],
    [t.result, [sig.indication, sig.subindication].filter(Boolean).join(" / ")],
    [t.art13, t.reliability[sig.reliable_esignature.verdict] || sig.reliable_esignature.verdict],
  ];
  const list = el("dl");
  for (const [label, value] of rows) list.append(el("dt", {}, label), el("dd", {}, value));
  const conditions = el("ul", { class: "conditions" });
  for (const [name, condition] of Object.entries(sig.reliable_esignature.conditions)) {
    const status = t.status[condition.status] || condition.status;
    conditions.append(el("li", { class: condition.status }, `${t.conditions[name] || name}: ${status}`));
  }
  const kind = sig.kind === "document_timestamp" ? t.timestamp : t.signature;
  return el(
    "article",
    { class: "signature", "data-indication": sig.indication },
    el("h3", {}, `${kind} ${sig.index + 1} «${visible(sig.field)}»`),
    list,
    conditions,
  );
}

function findingItem(finding, t) {
  const where = finding.signature === null || finding.signature === undefined ? "" : ` [${finding.signature + 1}]`;
  const item = el(
    "li",
    { class: `finding ${finding.severity}`, "data-code": finding.code },
    el("span", { class: "sev" }, `${t.severity[finding.severity] || finding.severity}${where}: `),
    finding.message[lang],
    " ",
    el("span", { class: "code" }, finding.code),
  );
  if (finding.remedy && finding.remedy[lang]) {
    item.append(el("div", { class: "remedy" }, `${t.remedy}: ${finding.remedy[lang]}`));
  }
  return item;
}

function init() {
  $("api-key").value = sessionStorage.getItem("esign-key") || "";
  $("lang-toggle").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("esign-lang", lang);
    applyLanguage();
  });
  $("file").addEventListener("change", (event) => {
    if (event.target.files.length) verify(event.target.files[0]);
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files.length) verify(event.dataTransfer.files[0]);
  });
  applyLanguage();
}

init();
