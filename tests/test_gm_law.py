"""Art. 13 for GB/T 38540 seal signatures: the seal's own defects decide the conditions they touch."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from esign.policy import ValidationPolicy
from esign.seal.gm import seal_ses
from esign.verify.pipeline import verify
from fixtures.pki_sm2 import SM2TestPKI, load
from tests.keystore_fixtures import small_pdf


@pytest.fixture(scope="module")
def pki() -> SM2TestPKI:
    return load()


def _conditions(pki: SM2TestPKI, sealed: bytes) -> tuple[str, dict[str, str]]:
    policy = ValidationPolicy.preset(trust_roots=[pki.root], extra_certs=[pki.cert("sm2-interm")])
    law = verify(sealed, policy).to_dict()["signatures"][0]["reliable_esignature"]
    return law["verdict"], {name: c["status"] for name, c in law["conditions"].items()}


def test_a_seal_issued_to_someone_else_is_not_the_signers(pki: SM2TestPKI) -> None:
    seal = pki.seal(["sm2-agency-b"])  # agency-a signs with a seal listing only agency-b
    verdict, conditions = _conditions(
        pki, seal_ses(small_pdf(), seal, pki.key("sm2-agency-a"), pki.cert("sm2-agency-a"))
    )
    assert verdict == "not_reliable" and conditions["exclusive_to_signer"] == "not_met"


def test_a_seal_used_outside_its_validity_was_not_under_the_signers_control(pki: SM2TestPKI) -> None:
    expired = pki.seal(valid=(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)))
    sealed = seal_ses(small_pdf(), expired, pki.key("sm2-agency-a"), pki.cert("sm2-agency-a"))
    verdict, conditions = _conditions(pki, sealed)
    assert verdict == "not_reliable" and conditions["sole_control"] == "not_met"


def test_a_good_seal_signature_meets_all_four_conditions(pki: SM2TestPKI) -> None:
    sealed = seal_ses(small_pdf(), pki.seal(), pki.key("sm2-agency-a"), pki.cert("sm2-agency-a"))
    verdict, conditions = _conditions(pki, sealed)
    assert verdict == "reliable" and set(conditions.values()) == {"met"}
