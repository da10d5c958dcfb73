"""Keys belong to organisations, through the real server (issue 11, "Keys belong to organisations").

Replays the attack: a seal-admin registers a seal on the platform's audit-checkpoint key by naming
it and that certificate's organisation, and a seal-admin of one organisation names another
organisation's key. Both must be refused with the answer an unknown key gets, so that key names
cannot be probed either.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.bootstrap import DEMO_AUDIT_KEY, DEMO_SEALS
from tests.api_server import *  # noqa: F403 - the api_server fixture
from tests.api_server import Server

AUDIT_ORG = "esign 统一电子印章系统"  # the audit certificate's O; it carries no USCC
AGENCY_A, AGENCY_C = DEMO_SEALS[0], DEMO_SEALS[2]


def _register(server: Server, client: str, **fields: str) -> httpx.Response:
    with server.client(client) as http:
        return http.post("/v1/seals", json={"seal_type": "01", **fields})


def _answer(response: httpx.Response, key: str) -> dict[str, Any]:
    """The problem a caller sees, without the per-request id and with the key name it sent taken out."""
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    body.pop("request_id", None)
    return {
        name: value.replace(key, "…") if isinstance(value, str) else value for name, value in body.items()
    }


def _no_seal(server: Server, client: str, code: str) -> None:
    with server.client(client) as http:
        assert http.get(f"/v1/seals/{code}").json()["code"] == "SEAL_NOT_FOUND"


@pytest.mark.parametrize(
    ("client", "agency"), [("a-fuzzer", AGENCY_A), ("c-admin", AGENCY_C)], ids=["agency-a", "agency-c"]
)
def test_no_seal_admin_can_register_a_seal_on_the_audit_key(
    api_server: Server, client: str, agency: Any
) -> None:
    attack = {"code": "AUDIT-SEAL", "org_name": AUDIT_ORG, "uscc": agency.uscc}
    refused = _register(api_server, client, key_name=DEMO_AUDIT_KEY, **attack)
    unknown = _register(api_server, client, key_name="no-such-key", **attack)
    assert refused.status_code == 404 and refused.json()["code"] == "KEY_NOT_FOUND"
    assert _answer(refused, DEMO_AUDIT_KEY) == _answer(unknown, "no-such-key")
    _no_seal(api_server, client, "AUDIT-SEAL")


def test_another_organisations_key_answers_like_an_unknown_key(api_server: Server) -> None:
    # agency C's seal-admin names agency A's key (bootstrap name "agency-a"), with A's or C's name
    for org_name in (AGENCY_A.org_name, AGENCY_C.org_name):
        asked = {"code": "HZPSB-FOREIGN", "org_name": org_name, "uscc": AGENCY_C.uscc}
        foreign = _register(api_server, "c-admin", key_name="agency-a", **asked)
        unknown = _register(api_server, "c-admin", key_name="agency-q", **asked)
        assert foreign.status_code == 404 and foreign.json()["code"] == "KEY_NOT_FOUND"
        assert _answer(foreign, "agency-a") == _answer(unknown, "agency-q")
    _no_seal(api_server, "c-admin", "HZPSB-FOREIGN")


def test_a_seal_admin_still_registers_a_seal_on_its_own_key(api_server: Server) -> None:
    made = _register(
        api_server,
        "c-admin",
        code="HZPSB-OWNKEY",
        org_name=AGENCY_C.org_name,
        uscc=AGENCY_C.uscc,
        key_name="agency-c",
    )
    assert made.status_code == 201, made.text
    assert made.json()["key_name"] == "agency-c" and made.json()["uscc"] == AGENCY_C.uscc
