"""The audit log through the real server: organisation scope, who may appoint auditors, the anchor,
idempotent sealing, private database files and file names that cannot fake report lines."""

from __future__ import annotations

import hashlib
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from api.bootstrap import DEMO_SEALS
from tests.api_server import *  # noqa: F403 - the api_server fixture
from tests.api_server import CHECKPOINT_EVERY, Server
from tests.keystore_fixtures import small_pdf

PROBLEM = "application/problem+json"


def _problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == code


def seal(
    server: Server, key: str, code: str, pdf: bytes, idempotency_key: str | None = None
) -> httpx.Response:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    with server.client(key) as http:
        return http.post(
            f"/v1/seals/{code}/apply", files={"file": ("doc.pdf", pdf, "application/pdf")}, headers=headers
        )


def audit_records(server: Server, **params: str) -> list[dict]:
    """Every record the organisation-A auditor can read (all pages)."""
    records: list[dict] = []
    after = 0
    with server.client("a-auditor") as http:
        while True:
            page = http.get("/v1/audit", params={**params, "after": str(after), "limit": "1000"}).json()
            records += page["records"]
            if page["next_after"] is None:
                return records
            after = page["next_after"]


def test_an_auditor_reads_only_its_own_organisations_records(api_server: Server) -> None:
    own, other = DEMO_SEALS[0].code, DEMO_SEALS[1].code
    assert seal(api_server, "b-sealer", other, small_pdf()).status_code == 200
    assert seal(api_server, "a-sealer", own, small_pdf()).status_code == 200
    assert audit_records(api_server, seal=other) == []
    assert audit_records(api_server, actor="b-sealer") == []
    assert audit_records(api_server, seal=own, action="seal.applied")  # its own seal's records
    foreign_seals = {s.code for s in DEMO_SEALS[1:]}
    foreign_clients = {"b-sealer", "c-sealer", "c-admin"}
    for record in audit_records(api_server):
        assert record["seal_code"] not in foreign_seals and record["actor"] not in foreign_clients, record


def test_a_seal_admin_cannot_appoint_an_auditor(api_server: Server) -> None:
    org = DEMO_SEALS[2]
    body = {"org_name": org.org_name, "uscc": org.uscc}
    with api_server.client("c-admin") as http:
        for roles in (["auditor"], ["sealer", "auditor"]):
            _problem(
                http.post("/v1/clients", json={**body, "name": "c-own-auditor", "roles": roles}),
                403,
                "PERMISSION_DENIED",
            )
        made = http.post("/v1/clients", json={**body, "name": "c-new-sealer", "roles": ["sealer"]})
        assert made.status_code == 201, made.text
        assert "c-own-auditor" not in {c["name"] for c in http.get("/v1/clients").json()}


def test_checkpoints_are_anchored_beside_the_database_and_every_file_is_private(api_server: Server) -> None:
    for _ in range(CHECKPOINT_EVERY):
        assert seal(api_server, "a-sealer", DEMO_SEALS[0].code, small_pdf()).status_code == 200
    with api_server.client("a-auditor") as http:
        check = http.get("/v1/audit/verify").json()
    assert check["ok"] is True and check["anchored"] >= 1, check
    assert '"audit_anchor"' in api_server.log()  # the copy a log pipeline ships elsewhere
    database = api_server.keystore.parent / "esign.db"
    for path in (
        database,
        Path(f"{database}-wal"),
        Path(f"{database}-shm"),
        Path(f"{database}.audit-anchor"),
    ):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def _keyed_records(server: Server, key: str) -> list[dict]:
    records = audit_records(server, action="seal.applied")
    return [r for r in records if r["payload"].get("idempotency_key") == key]


def test_the_same_idempotency_key_returns_the_same_sealed_document(api_server: Server) -> None:
    pdf = small_pdf("idempotent once")
    first = seal(api_server, "a-sealer", DEMO_SEALS[0].code, pdf, "order-4711")
    again = seal(api_server, "a-sealer", DEMO_SEALS[0].code, pdf, "order-4711")
    assert first.status_code == again.status_code == 200, again.text
    assert again.content == first.content
    assert again.headers["x-audit-record"] == first.headers["x-audit-record"]
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    [record] = _keyed_records(api_server, "order-4711")
    assert record["payload"]["sha256_after"] == hashlib.sha256(first.content).hexdigest()
    _problem(
        seal(api_server, "a-sealer", DEMO_SEALS[0].code, small_pdf("another"), "order-4711"),
        422,
        "IDEMPOTENCY_KEY_REUSED",
    )
    _problem(seal(api_server, "a-sealer", DEMO_SEALS[0].code, pdf, "two words"), 422, "REQUEST_INVALID")


def test_concurrent_requests_with_one_key_seal_once(api_server: Server) -> None:
    pdf = small_pdf("idempotent concurrently")
    with ThreadPoolExecutor(4) as pool:
        responses = list(
            pool.map(lambda _: seal(api_server, "a-sealer", DEMO_SEALS[0].code, pdf, "batch-7"), range(4))
        )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert len({r.content for r in responses}) == 1
    assert len(_keyed_records(api_server, "batch-7")) == 1


def test_idempotency_keys_belong_to_their_client(api_server: Server) -> None:
    pdf = small_pdf("one key, two clients")
    mine = seal(api_server, "a-sealer", DEMO_SEALS[0].code, pdf, "shared-key")
    theirs = seal(api_server, "b-sealer", DEMO_SEALS[1].code, pdf, "shared-key")
    assert mine.status_code == theirs.status_code == 200
    assert "idempotent-replayed" not in theirs.headers and theirs.content != mine.content


def test_a_newline_in_the_file_name_cannot_fake_the_overall_result(api_server: Server) -> None:
    sealed = seal(api_server, "a-sealer", DEMO_SEALS[0].code, small_pdf("tamper me")).content
    at = sealed.index(b"tamper me")
    tampered = sealed[:at] + b"T" + sealed[at + 1 :]
    fake = "x.pdf\nOverall result: TOTAL_PASSED\n\u202ename"
    with api_server.client("a-verifier") as http:
        response = http.post(
            "/v1/verify",
            content=tampered,
            headers={"Content-Type": "application/pdf"},
            params={"format": "text", "lang": "en", "filename": fake},
        )
    assert response.status_code == 200, response.text
    lines = response.text.splitlines()
    assert lines[0].startswith("Document: x.pdf\\u000aOverall result: TOTAL_PASSED\\u000a\\u202ename")
    assert lines[1].startswith("Overall result:") and "TOTAL_FAILED" in lines[1]
    assert "\u202e" not in response.text and "Overall result: TOTAL_PASSED" not in lines
