"""Poppler's pdfsig as an independent second opinion on every signature of the conformance pack.

Where pdfsig reaches a verdict on a signature ("Signature is Valid." / "Signature is Invalid." /
"Digest Mismatch."), the manifest's claims and esign's integrity and crypto checks must agree with it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fixtures.conformance import PACK_DIR_NAME, TRUST_ANCHOR, VALIDATE_AT, ensure_pack

pytestmark = pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler-utils (pdfsig) not installed")

_FIELD = re.compile(r"- Signature Field Name: (.*)")
_VALIDATION = re.compile(r"- Signature Validation: (.*)")
#: pdfsig's verdict → (integrity, crypto) it implies; None = pdfsig does not decide that check
VERDICTS = {
    "Signature is Valid.": ("ok", "ok"),
    "Digest Mismatch.": ("broken", None),
    "Signature is Invalid.": (None, "failed"),
}


def pdfsig_verdicts(pdf: Path) -> dict[str, tuple[str | None, str | None]]:
    """field name → (integrity, crypto) for every signature pdfsig judged (certificate checks off)."""
    run = subprocess.run(
        ["pdfsig", "-nocert", str(pdf)], capture_output=True, text=True, timeout=60, check=False
    )
    verdicts, field = {}, None
    for line in run.stdout.splitlines():
        if m := _FIELD.search(line):
            field = m.group(1).strip()
        elif (m := _VALIDATION.search(line)) and field and m.group(1).strip() in VERDICTS:
            verdicts[field] = VERDICTS[m.group(1).strip()]
    return verdicts


@pytest.fixture(scope="session")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same on-disk pack as test_conformance_pack.py's: whichever module runs first builds it."""
    return ensure_pack(tmp_path_factory.getbasetemp() / PACK_DIR_NAME).parent


@pytest.fixture(scope="module")
def verdicts(pack: Path) -> dict[str, dict[str, tuple[str | None, str | None]]]:
    return {str(p.relative_to(pack)): pdfsig_verdicts(p) for p in sorted(pack.rglob("*.pdf"))}


def test_pdfsig_judges_most_of_the_pack(verdicts) -> None:
    judged = sum(len(v) for v in verdicts.values())
    assert judged >= 40
    assert verdicts["broken/byte-changed.pdf"] == {"Seal1": ("broken", None)}
    assert verdicts["broken/signature-value-flipped.pdf"] == {"Seal1": (None, "failed")}


def test_pdfsig_agrees_with_the_manifest(pack: Path, verdicts) -> None:
    field_names = {0: "Seal1", 1: "Seal2", 2: "Seal3"}
    for entry in json.loads((pack / "manifest.json").read_text(encoding="utf-8")):
        judged = verdicts[entry["file"]]
        seals = [f for f in judged if f.startswith("Seal")]
        fields = seals if entry["sig_index"] is None else [field_names[entry["sig_index"]]]
        for name in fields:
            for check, theirs in zip(("integrity", "crypto"), judged[name], strict=True):
                ours = entry["expect"][check]
                if theirs is not None and ours is not None:
                    assert ours == theirs, (entry["file"], name, check)


def test_esign_integrity_and_crypto_agree_with_pdfsig(pack: Path, verdicts) -> None:
    pytest.importorskip("esign.verify.pipeline", reason="esign.verify.pipeline has not landed yet")
    from esign.verify.conformance import verify_with_esign

    compared = 0
    for file, judged in verdicts.items():
        if not judged:
            continue
        report = verify_with_esign((pack / file).read_bytes(), [pack / TRUST_ANCHOR], VALIDATE_AT)
        ours = {s["field"]: s["checks"] for s in report["signatures"]}
        for name, (integrity, crypto) in judged.items():
            if integrity is not None:
                assert ours[name]["integrity"] == integrity, (file, name)
                compared += 1
            if crypto is not None:
                assert ours[name]["crypto"] == crypto, (file, name)
                compared += 1
    assert compared >= 40
