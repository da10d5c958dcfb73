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
    claimedNote: "签署人自述时间，无可信时间戳",
    tsTime: "可信时间戳时间",
    signerSays: "签署人自述时间",
    pages: (n) => (n == null ? "" : `共 ${n} 页`),
    zone: (d) => `${stamp(d, 8)} 北京时间 (UTC+8)`,
    colon: "：",
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
    short: { TOTAL_FAILED: "验证失败", INDETERMINATE: "无法确定" },
    indications: { TOTAL_PASSED: "验证通过", TOTAL_FAILED: "验证失败", INDETERMINATE: "无法确定", NO_SIGNATURE_FOUND: "没有电子签名" },
    subindications: {
      FORMAT_FAILURE: "签名格式错误",
      HASH_FAILURE: "文件摘要不符（签名后被改动）",
      SIG_CRYPTO_FAILURE: "签名值验证失败",
      REVOKED: "证书已吊销",
      SIG_CONSTRAINTS_FAILURE: "不满足签名要求",
      CHAIN_CONSTRAINTS_FAILURE: "不满足证书链要求",
      CERTIFICATE_CHAIN_GENERAL_FAILURE: "证书链验证失败",
      CRYPTO_CONSTRAINTS_FAILURE: "算法强度不满足要求",
      EXPIRED: "证书已过期",
      NOT_YET_VALID: "证书尚未生效",
      POLICY_PROCESSING_ERROR: "验证策略处理出错",
      SIGNATURE_POLICY_NOT_AVAILABLE: "签名策略不可用",
      TIMESTAMP_ORDER_FAILURE: "时间戳顺序错误",
      NO_SIGNING_CERTIFICATE_FOUND: "找不到签名证书",
      NO_CERTIFICATE_CHAIN_FOUND: "找不到可信的证书链",
      REVOKED_NO_POE: "证书已吊销，且无签名早于吊销的证明",
      REVOKED_CA_NO_POE: "上级证书已吊销，且无签名早于吊销的证明",
      OUT_OF_BOUNDS_NO_POE: "验证时间不在证书有效期内，且无签名时间证明",
      OUT_OF_BOUNDS_NOT_REVOKED: "验证时间不在证书有效期内（证书未被吊销）",
      REVOCATION_OUT_OF_BOUNDS_NO_POE: "吊销信息不在有效期内，且无签名时间证明",
      CRYPTO_CONSTRAINTS_FAILURE_NO_POE: "算法强度不足，且无签名时间证明",
      NO_POE: "缺少签名时间证明",
      TRY_LATER: "暂时无法获取吊销信息，请稍后重试",
      SIGNED_DATA_NOT_FOUND: "找不到被签名的数据",
    },
    reliability: { reliable: "可靠", not_reliable: "不可靠", undetermined: "无法确定" },
    conditions: {
      exclusive_to_signer: "签名制作数据专属于电子签名人",
      sole_control: "签署时签名制作数据仅由电子签名人控制",
      signature_change_detectable: "签署后对电子签名的任何改动能够被发现",
      content_change_detectable: "签署后对数据电文内容和形式的任何改动能够被发现",
    },
    status: { met: "满足", not_met: "不满足", undetermined: "无法确定" },
    batches: "批量盖章进度",
    refresh: "刷新",
    batchCol: "批次",
    sealCol: "印章",
    stateCol: "状态",
    progressCol: "进度",
    failedCol: "失败",
    noBatches: "暂无批量任务。",
    batchStates: { queued: "排队中", running: "盖章中", done: "已完成" },
    sealTitle: "加盖电子印章",
    sealPick: "印章",
    sm2Format: "国密印章格式",
    formatSes: "GB/T 38540 电子签章（默认）",
    formatCms: "SM2 PKCS#7 签名",
    sealFile: "待盖章的 PDF",
    sealGo: "盖章",
    sealDownload: "下载已盖章的 PDF",
    noSeals: "该 API 密钥没有可用的印章。",
    sealing: "正在盖章…",
    sealed: (seq) => `已盖章（审计记录 ${seq}）。`,
    chooseFile: "请先选择 PDF 文件。",
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
    claimedNote: "claimed by the signer, no trusted timestamp",
    tsTime: "Trusted timestamp time",
    signerSays: "Time claimed by the signer",
    pages: (n) => (n == null ? "" : `${n} page${n === 1 ? "" : "s"}`),
    zone: (d) => `${stamp(d, 0)} UTC`,
    colon: ": ",
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
    short: { TOTAL_FAILED: "Failed", INDETERMINATE: "Indeterminate" },
    indications: {}, // English shows the EN 319 102-1 names themselves
    subindications: {},
    reliability: { reliable: "reliable", not_reliable: "not reliable", undetermined: "undetermined" },
    conditions: {
      exclusive_to_signer: "Signature creation data belong exclusively to the signer",
      sole_control: "The signer alone controlled the creation data when signing",
      signature_change_detectable: "Any change to the signature after signing is detectable",
      content_change_detectable: "Any change to the content or form after signing is detectable",
    },
    status: { met: "met", not_met: "not met", undetermined: "undetermined" },
    batches: "Batch sealing progress",
    refresh: "Refresh",
    batchCol: "Batch",
    sealCol: "Seal",
    stateCol: "State",
    progressCol: "Progress",
    failedCol: "Failed",
    noBatches: "No batches yet.",
    batchStates: { queued: "queued", running: "sealing", done: "done" },
    sealTitle: "Seal a PDF",
    sealPick: "Seal",
    sm2Format: "SM2 seal format",
    formatSes: "GB/T 38540 seal signature (default)",
    formatCms: "SM2 PKCS#7 signature",
    sealFile: "PDF to seal",
    sealGo: "Seal",
    sealDownload: "Download the sealed PDF",
    noSeals: "This API key has no seal it may use.",
    sealing: "Sealing…",
    sealed: (seq) => `Sealed (audit record ${seq}).`,
    chooseFile: "Choose a PDF first.",
  },
};

let lang = localStorage.getItem("esign-lang") || "zh";
let lastReport = null;
let lastBatches = null;
let batchTimer = null;
let sealedUrl = null;
let sealsKey = null;
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

// "2026-12-08 09:30:00" in the zone UTC+offset: whole seconds, no browser-local time zone.
function stamp(date, offsetHours) {
  const shifted = new Date(date.getTime() + offsetHours * 3600_000);
  return shifted.toISOString().slice(0, 19).replace("T", " ");
}

const when = (iso, t) => (iso ? t.zone(new Date(iso)) : "—");

// Without a timestamp, best_signature_time is only the moment of verification: show the signer's
// claim, marked as such, and the timestamp's time when one proves an earlier time.
function signingTimes(sig, validationTime, t) {
  if (sig.kind === "document_timestamp") return [[t.tsTime, when(sig.claimed_signing_time, t)]];
  const best = sig.best_signature_time;
  if (best && best !== validationTime) {
    const rows = [[t.tsTime, when(best, t)]];
    if (sig.claimed_signing_time) rows.push([t.signerSays, when(sig.claimed_signing_time, t)]);
    return rows;
  }
  const note = lang === "zh" ? `（${t.claimedNote}）` : ` (${t.claimedNote})`;
  return [[t.time, when(sig.claimed_signing_time, t) + note]];
}

// The headline names the reason: the most severe finding, not a generic "information is missing".
function headline(report, t) {
  const generic = t.verdicts[report.indication] || report.indication;
  const wanted = report.indication === "TOTAL_FAILED" ? ["error"] : ["error", "warning"];
  if (!t.short[report.indication]) return generic;
  // findings that left an art. 13 condition unmet or undetermined come first: they are why it is not a pass
  const decisive = new Set(
    report.signatures.flatMap((s) =>
      Object.values(s.reliable_esignature.conditions)
        .filter((c) => c.status !== "met")
        .flatMap((c) => c.findings),
    ),
  );
  for (const severity of wanted) {
    const candidates = report.findings.filter((f) => f.severity === severity);
    const reason = candidates.find((f) => decisive.has(f.code)) || candidates[0];
    if (reason) return `${t.short[report.indication]}${t.colon}${reason.message[lang]}`;
  }
  return generic;
}

const codeLabel = (table, code) => (code ? table[code] || code : "");

function applyLanguage() {
  const t = TEXT[lang];
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t[node.dataset.i18n];
  $("lang-toggle").textContent = t.toggle;
  if (lastReport) render(lastReport);
  if (lastBatches) renderBatches(lastBatches);
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
      setStatus(lang === "zh" ? body.detail_zh : `${body.detail} (${body.code})`, true);
      $("status").title = body.code;
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
  verdict.textContent = headline(report, t);
  $("document").textContent =
    `${t.document}${t.colon}${visible(report.document.name)} · ${t.pages(report.document.pages)} · SHA-256 ${report.document.sha256}`;
  $("signatures").replaceChildren(...report.signatures.map((s) => signatureCard(s, report.validation_time, t)));
  const findings = report.findings.map((f) => findingItem(f, t));
  $("findings").replaceChildren(...(findings.length ? findings : [el("li", {}, t.none)]));
  $("result").hidden = false;
}

function signatureCard(sig, validationTime, t) {
  const who = sig.signed_by || {};
  const verdict = [codeLabel(t.indications, sig.indication), codeLabel(t.subindications, sig.subindication)];
  const rows = [
    [t.signer, visible([who.name || who.organization, who.uscc].filter(Boolean).join(" · ") || who.subject || "—")],
    ...signingTimes(sig, validationTime, t),
    [t.level, sig.format || "—"],
    [t.result, verdict.filter(Boolean).join(" / ")],
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
    el("span", { class: "sev" }, `${t.severity[finding.severity] || finding.severity}${where}${t.colon}`),
    finding.message[lang],
  );
  item.title = finding.code; // support staff can still see the stable code; English shows it inline
  if (lang === "en") item.append(" ", el("span", { class: "code" }, finding.code));
  const detail = lang === "zh" ? finding.detail_zh : finding.detail;
  if (detail) item.append(el("div", { class: "detail" }, visible(detail)));
  if (finding.remedy && finding.remedy[lang]) {
    item.append(el("div", { class: "remedy" }, `${t.remedy}: ${finding.remedy[lang]}`));
  }
  return item;
}

// Batch progress for a seal-admin or auditor (every batch of the organisation) or a sealer (its own):
// GET /v1/batches with the key above, polled every 3 s while a batch is still running.
async function loadBatches() {
  clearTimeout(batchTimer);
  const key = $("api-key").value.trim();
  if (!key) return;
  sessionStorage.setItem("esign-key", key);
  try {
    const response = await fetch("/v1/batches", { headers: { Authorization: `Bearer ${key}` } });
    const body = await response.json();
    if (!response.ok) {
      $("batches-status").textContent = `${lang === "zh" ? body.detail_zh : body.detail} (${body.code})`;
      return;
    }
    lastBatches = body;
    renderBatches(body);
    if (body.some((batch) => batch.state !== "done")) batchTimer = setTimeout(loadBatches, 3000);
  } catch (error) {
    $("batches-status").textContent = String(error);
  }
}

function renderBatches(batches) {
  const t = TEXT[lang];
  $("batches-status").textContent = batches.length ? "" : t.noBatches;
  $("batch-table").hidden = !batches.length;
  $("batch-rows").replaceChildren(
    ...batches.map((batch) => {
      const finished = batch.done + batch.failed;
      const bar = el("progress", { max: String(batch.total), value: String(finished) });
      const failures = batch.failures.map((f) => `${visible(f.name)}: ${f.code}`).join("\n");
      return el(
        "tr",
        { "data-batch": batch.id, "data-state": batch.state },
        el("td", { class: "code" }, batch.id.slice(0, 8)),
        el("td", {}, visible(batch.seal_code)),
        el("td", {}, t.batchStates[batch.state] || batch.state),
        el("td", {}, bar, ` ${finished} / ${batch.total}`),
        el("td", failures ? { title: failures } : {}, String(batch.failed)),
      );
    }),
  );
}

// Sealing: the caller's organisation's active seals (GET /v1/seals); an SM2 seal offers its two
// formats, GB/T 38540 (the default) or SM2 PKCS#7, sent as the form field sm2_format.
async function loadSeals() {
  const key = $("api-key").value.trim();
  if (key === sealsKey) return; // a change event also fires on blur: the same key lists the same seals
  sealsKey = key;
  $("seal-form").hidden = true;
  if (!key) return;
  try {
    const response = await fetch("/v1/seals", { headers: { Authorization: `Bearer ${key}` } });
    const body = await response.json();
    if (!response.ok) {
      $("seals-status").textContent = `${lang === "zh" ? body.detail_zh : body.detail} (${body.code})`;
      return;
    }
    const usable = body.filter((seal) => seal.status === "active");
    $("seals-status").textContent = usable.length ? "" : TEXT[lang].noSeals;
    $("seal-code").replaceChildren(
      ...usable.map((seal) =>
        el("option", { value: seal.code, "data-algorithm": seal.key_algorithm },
          visible(`${seal.code} · ${seal.org_name}${seal.seal_type_name} · ${seal.key_algorithm}`)),
      ),
    );
    $("seal-form").hidden = !usable.length;
    showFormat();
  } catch (error) {
    $("seals-status").textContent = String(error);
  }
}

function showFormat() {
  const chosen = $("seal-code").selectedOptions[0];
  $("sm2-format-row").hidden = !chosen || chosen.dataset.algorithm !== "SM2";
}

async function sealDocument() {
  const t = TEXT[lang];
  const file = $("seal-file").files[0];
  const status = $("seal-status");
  $("seal-download").hidden = true;
  if (!file) {
    status.textContent = t.chooseFile;
    return;
  }
  const form = new FormData();
  form.append("file", file, file.name);
  if (!$("sm2-format-row").hidden) form.append("sm2_format", $("sm2-format").value);
  status.textContent = t.sealing;
  status.className = "";
  try {
    const code = encodeURIComponent($("seal-code").value);
    const response = await fetch(`/v1/seals/${code}/apply`, {
      method: "POST",
      headers: { Authorization: `Bearer ${$("api-key").value.trim()}` },
      body: form,
    });
    if (!response.ok) {
      const body = await response.json();
      status.textContent = `${lang === "zh" ? body.detail_zh : body.detail} (${body.code})`;
      status.className = "error";
      return;
    }
    if (sealedUrl) URL.revokeObjectURL(sealedUrl);
    sealedUrl = URL.createObjectURL(await response.blob());
    const link = $("seal-download");
    link.href = sealedUrl;
    link.download = file.name.replace(/\.pdf$/i, "") + "-sealed.pdf";
    link.hidden = false;
    status.textContent = t.sealed(response.headers.get("X-Audit-Record"));
  } catch (error) {
    status.textContent = String(error);
    status.className = "error";
  }
}

function init() {
  $("api-key").value = sessionStorage.getItem("esign-key") || "";
  $("lang-toggle").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("esign-lang", lang);
    applyLanguage();
  });
  $("batches-refresh").addEventListener("click", loadBatches);
  $("api-key").addEventListener("change", loadBatches);
  $("api-key").addEventListener("change", loadSeals);
  $("seal-code").addEventListener("change", showFormat);
  $("seal-go").addEventListener("click", sealDocument);
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
  loadBatches();
  loadSeals();
}

init();
