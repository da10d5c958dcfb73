"""The HTTP service end to end: a real uvicorn, real sealing through the registry, real verification."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from xml.etree import ElementTree

import httpx
import pytest

from fixtures.documents import licence_pdf
from fixtures.pki import TestPKI
from tests.api_server import *  # noqa: F403 - the api_server fixture
from tests.api_server import CHECKPOINT_EVERY, Server, start_server, stop_server
from tests.keystore_fixtures import small_pdf

PROBLEM = "application/problem+json"
MARKER = b"esign api test document"


def _problem(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["detail_zh"]
    assert "Traceback" not in response.text
    return body


def _seal(server: Server, key: str, code: str, pdf: bytes, **fields: str) -> httpx.Response:
    with server.client(key) as http:
        return http.post(
            f"/v1/seals/{code}/apply", files={"file": ("doc.pdf", pdf, "application/pdf")}, data=fields
        )


def _verify(server: Server, pdf: bytes, key: str = "a-verifier", **params: str) -> httpx.Response:
    with server.client(key) as http:
        return http.post("/v1/verify", files={"file": ("doc.pdf", pdf, "application/pdf")}, params=params)


@pytest.fixture(scope="module")
def sealed(api_server: Server) -> bytes:
    response = _seal(api_server, "a-sealer", "HZAMR-01", small_pdf(MARKER.decode()), level="B-T")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert int(response.headers["x-audit-record"]) > 0
    return response.content


def test_authorised_sealer_gets_a_sealed_pdf_that_verifies_total_passed(
    api_server: Server, sealed: bytes
) -> None:
    response = _verify(api_server, sealed)
    assert response.status_code == 200
    report = response.json()
    assert report["indication"] == "TOTAL_PASSED"
    assert report["signatures"][0]["format"] == "PAdES-BASELINE-T"
    assert response.headers["x-esign-indication"] == "TOTAL_PASSED"


def test_tampered_byte_is_total_failed(api_server: Server, sealed: bytes) -> None:
    at = sealed.index(MARKER)
    tampered = sealed[:at] + b"E" + sealed[at + 1 :]
    assert _verify(api_server, tampered).json()["indication"] == "TOTAL_FAILED"


def test_raw_pdf_body_and_accept_xml_give_the_etsi_report(api_server: Server, sealed: bytes) -> None:
    with api_server.client("a-verifier") as http:
        response = http.post(
            "/v1/verify",
            content=sealed,
            headers={"Content-Type": "application/pdf", "Accept": "application/xml"},
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(response.content)
    assert root.tag.endswith("ValidationReport")
    assert b"total-passed" in response.content.lower()


def test_text_report_in_english(api_server: Server, sealed: bytes) -> None:
    response = _verify(api_server, sealed, format="text", lang="en")
    assert response.headers["content-type"].startswith("text/plain")
    assert "TOTAL_PASSED" in response.text


def test_visible_seal_at_keyword_on_licence(api_server: Server) -> None:
    response = _seal(
        api_server, "a-sealer", "HZAMR-01", licence_pdf(), keyword="（盖章）", reason="核发营业执照"
    )
    assert response.status_code == 200, response.text
    assert _verify(api_server, response.content).json()["indication"] == "TOTAL_PASSED"


def test_another_agencys_seal_is_forbidden(api_server: Server) -> None:
    body = _problem(_seal(api_server, "b-sealer", "HZAMR-01", small_pdf()), 403, "PERMISSION_DENIED")
    assert "another organisation" in body["detail"]


def test_verifier_cannot_seal(api_server: Server) -> None:
    _problem(_seal(api_server, "a-verifier", "HZAMR-01", small_pdf()), 403, "PERMISSION_DENIED")


def test_sealer_cannot_verify_without_the_verifier_role(api_server: Server, sealed: bytes) -> None:
    _problem(_verify(api_server, sealed, key="a-sealer"), 403, "PERMISSION_DENIED")


def test_suspended_then_revoked_seal_is_refused_with_409(api_server: Server) -> None:
    with api_server.client("demo") as admin:
        assert (
            admin.post("/v1/seals/HZAMR-01/suspend", json={"reason": "test"}).json()["status"] == "suspended"
        )
        _problem(_seal(api_server, "a-sealer", "HZAMR-01", small_pdf()), 409, "SEAL_NOT_ACTIVE")
        assert admin.post("/v1/seals/HZAMR-01/resume").json()["status"] == "active"
        assert _seal(api_server, "a-sealer", "HZAMR-01", small_pdf()).status_code == 200
        # another agency's admin may not touch it
        with api_server.client("b-sealer") as other:
            _problem(other.post("/v1/seals/HZAMR-01/suspend"), 403, "PERMISSION_DENIED")


def test_revoked_seal_is_refused_with_409(api_server: Server) -> None:
    with api_server.client("demo") as admin:
        created = admin.post(
            "/v1/clients",
            json={
                "name": "hr-admin",
                "org_name": "杭州市人力资源和社会保障局",
                "uscc": "12330100MB2345678W",
                "roles": ["seal-admin"],
            },
        )
        assert created.status_code == 403  # a seal-admin manages only its own organisation's clients
    api_server.keys["b-admin"] = _new_client(api_server, "b-admin", ["seal-admin"], org=1)
    with api_server.client("b-admin") as admin:
        assert (
            admin.post("/v1/seals/HZHRSS-01/revoke", json={"reason": "机构撤销"}).json()["status"]
            == "revoked"
        )
        _problem(admin.post("/v1/seals/HZHRSS-01/resume"), 409, "SEAL_BAD_TRANSITION")
    body = _problem(_seal(api_server, "b-sealer", "HZHRSS-01", small_pdf()), 409, "SEAL_NOT_ACTIVE")
    assert "HZHRSS-01" in body["detail"]


def _new_client(server: Server, name: str, roles: list[str], org: int) -> str:
    """A client of another organisation, made by the operator (as at the command line)."""
    from api.bootstrap import DEMO_SEALS
    from keystore.authz import OPERATOR
    from keystore.clients import create_client
    from keystore.db import Database

    db = Database(_db_url(server))
    with db.transaction() as session:
        seal = DEMO_SEALS[org]
        key = create_client(
            session, OPERATOR, name=name, org_name=seal.org_name, uscc=seal.uscc, roles=",".join(roles)
        )
    db.dispose()
    return key.api_key


def _db_url(server: Server) -> str:
    return f"sqlite:///{server.keystore.parent / 'esign.db'}"


def test_missing_and_invalid_keys_are_401(api_server: Server, sealed: bytes) -> None:
    with api_server.client() as http:
        _problem(
            http.post("/v1/verify", content=sealed, headers={"Content-Type": "application/pdf"}),
            401,
            "API_KEY_MISSING",
        )
        bad = {"Authorization": "Bearer esk_1_not-the-key"}
        _problem(http.get("/v1/seals", headers=bad), 401, "UNAUTHENTICATED")
        _problem(
            http.get("/v1/seals", headers={"Authorization": "Basic Zm9vOmJhcg=="}), 401, "API_KEY_MISSING"
        )


def test_revoked_client_key_stops_working_at_once(api_server: Server) -> None:
    with api_server.client("demo") as admin:
        made = admin.post(
            "/v1/clients",
            json={
                "name": "short-lived",
                "org_name": "杭州市市场监督管理局",
                "uscc": "11330100MB1234567E",
                "roles": ["verifier"],
            },
        )
        assert made.status_code == 201
        key = made.json()["api_key"]
        assert key.startswith("esk_")
        names = [c["name"] for c in admin.get("/v1/clients").json()]
        assert "short-lived" in names and "b-sealer" not in names
        with httpx.Client(base_url=api_server.url, headers={"Authorization": f"Bearer {key}"}) as user:
            assert user.get("/v1/seals").status_code == 200
            assert admin.post("/v1/clients/short-lived/revoke").json()["revoked_at"] is not None
            _problem(user.get("/v1/seals"), 401, "UNAUTHENTICATED")


def test_not_a_pdf_is_415_and_garbage_pdf_is_422(api_server: Server) -> None:
    _problem(_verify(api_server, b"hello, not a pdf"), 415, "NOT_A_PDF")
    with api_server.client("a-verifier") as http:
        _problem(
            http.post("/v1/verify", content=b"{}", headers={"Content-Type": "application/json"}),
            415,
            "NOT_A_PDF",
        )
    response = _verify(api_server, b"%PDF-1.7\n1 0 obj <</Type /Catalog" + b"\x00" * 100)
    assert response.status_code == 422 and response.json()["code"].startswith("PDF_")


def test_bad_options_are_422_or_400(api_server: Server) -> None:
    _problem(_seal(api_server, "a-sealer", "HZAMR-01", small_pdf(), level="B-Z"), 422, "REQUEST_INVALID")
    _problem(_seal(api_server, "a-sealer", "HZAMR-01", small_pdf(), page="1"), 400, "BAD_OPTION")
    _problem(_verify(api_server, small_pdf(), format="pdf"), 422, "REQUEST_INVALID")
    body = _problem(
        _seal(api_server, "a-sealer", "HZAMR-01", small_pdf(), keyword="不存在的关键字"),
        422,
        "KEYWORD_NOT_FOUND",
    )
    assert "不存在的关键字" in body["detail_zh"]


def test_malformed_multipart_is_400(api_server: Server) -> None:
    with api_server.client("a-verifier") as http:
        response = http.post(
            "/v1/verify",
            content=b'--xyz\r\nContent-Disposition: form-data; name="other"\r\n\r\nvalue\r\n--xyz--\r\n',
            headers={"Content-Type": "multipart/form-data; boundary=xyz"},
        )
    _problem(response, 400, "MALFORMED_REQUEST")


def test_unknown_things_are_404_problems(api_server: Server) -> None:
    with api_server.client("demo") as http:
        _problem(http.get("/v1/nothing-here"), 404, "RESOURCE_NOT_FOUND")
        _problem(http.get("/v1/seals/NO-SUCH-SEAL"), 404, "SEAL_NOT_FOUND")
        _problem(http.post("/v1/clients/nobody/revoke"), 404, "CLIENT_NOT_FOUND")
        _problem(http.delete("/v1/seals"), 405, "METHOD_NOT_ALLOWED")


def test_rate_limit_is_429_with_retry_after(api_server: Server) -> None:
    with api_server.client("a-throttled") as http:
        statuses = [http.get("/v1/seals").status_code for _ in range(110)]
        assert statuses[0] == 200
        assert 429 in statuses
        limited = http.get("/v1/seals")
    body = _problem(limited, 429, "RATE_LIMITED")
    assert int(limited.headers["retry-after"]) >= 1
    assert body["detail_zh"]


def test_keystore_offline_is_503(api_server: Server) -> None:
    (api_server.keystore / "agency-c.p12").rename(api_server.keystore / "agency-c.p12.away")
    try:
        _problem(_seal(api_server, "c-sealer", "HZPSB-01", small_pdf()), 503, "KEYSTORE_OFFLINE")
    finally:
        (api_server.keystore / "agency-c.p12.away").rename(api_server.keystore / "agency-c.p12")
    assert _seal(api_server, "c-sealer", "HZPSB-01", small_pdf()).status_code == 200


def test_registry_list_show_and_image(api_server: Server) -> None:
    with api_server.client("demo") as http:
        seals = http.get("/v1/seals").json()
        assert [s["code"] for s in seals] == ["HZAMR-01"]  # only the caller's organisation
        shown = http.get("/v1/seals/HZAMR-01").json()
        assert shown["org_name"] == "杭州市市场监督管理局" and shown["seal_type_name"] == "单位专用章"
        _problem(http.get("/v1/seals/HZPSB-01"), 403, "PERMISSION_DENIED")
        png = http.get("/v1/seals/HZAMR-01/image.png")
        assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
        svg = http.get("/v1/seals/HZAMR-01/image.svg")
        assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content


def test_audit_records_seals_and_the_chain_verifies(api_server: Server, sealed: bytes) -> None:
    with api_server.client("a-auditor") as http:
        page = http.get("/v1/audit", params={"action": "seal.applied", "limit": 1000}).json()
        assert page["records"] and all(r["action"] == "seal.applied" for r in page["records"])
        assert page["records"][0]["payload"]["sha256_after"]
        check = http.get("/v1/audit/verify").json()
        assert check["ok"] is True and check["records"] >= len(page["records"])
    with api_server.client("a-sealer") as http:
        _problem(http.get("/v1/audit"), 403, "PERMISSION_DENIED")


def test_sealing_over_http_signs_audit_checkpoints_with_the_audit_key(api_server: Server) -> None:
    for _ in range(CHECKPOINT_EVERY):  # some seq among them is a multiple of the checkpoint interval
        assert _seal(api_server, "a-sealer", "HZAMR-01", small_pdf()).status_code == 200
    with api_server.client("a-auditor") as http:
        check = http.get("/v1/audit/verify").json()
    assert check["ok"] is True, check  # ESIGN_AUDIT_CERT (the test PKI's audit certificate) verifies them
    assert check["checkpoints"] >= 1


def test_health_readiness_and_metrics(api_server: Server, sealed: bytes) -> None:
    # its own verification: under pytest-xdist the module's other tests may run in another process
    assert _verify(api_server, sealed).headers["X-Esign-Indication"] == "TOTAL_PASSED"
    with api_server.client() as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        assert http.get("/readyz").json()["status"] == "ready"
        metrics = http.get("/metrics").text
    assert 'esign_http_requests_total{method="POST",route="/v1/seals/{code}/apply",status="200"}' in metrics
    assert 'esign_verifications_total{indication="TOTAL_PASSED"}' in metrics
    assert 'esign_seals_applied_total{seal="HZAMR-01"}' in metrics
    assert 'esign_worker_queue_depth{pool="verify"}' in metrics


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory, pki: TestPKI) -> Iterator[Server]:
    """``esign serve --workers 2`` with a tight rate limit: 4 requests, then about one a minute."""
    server = start_server(
        tmp_path_factory.mktemp("two-workers"),
        pki,
        workers=2,
        ESIGN_RATE_PER_MINUTE="1",
        ESIGN_RATE_BURST="4",
    )
    yield server
    stop_server(server)


def test_metrics_sum_every_uvicorn_worker(two_workers: Server) -> None:
    """A scrape lands on one worker but must count the requests of both."""

    def healthz_count() -> float:
        metrics = httpx.get(f"{two_workers.url}/metrics", timeout=30).text
        prefix = 'esign_http_requests_total{method="GET",route="/healthz",status="200"} '
        return float(next(line for line in metrics.splitlines() if line.startswith(prefix)).split()[-1])

    before = healthz_count()  # start_server's own readiness probes
    for _ in range(30):  # a new connection each, so the kernel spreads them over both workers
        assert httpx.get(f"{two_workers.url}/healthz", timeout=30).status_code == 200
    assert [healthz_count() for _ in range(6)] == [before + 30] * 6


def test_rate_limit_holds_across_uvicorn_workers(two_workers: Server) -> None:
    """One bucket per client for the whole service: two workers must not double a client's burst."""
    headers = {"Authorization": f"Bearer {two_workers.keys['a-verifier']}"}
    statuses = [
        httpx.get(f"{two_workers.url}/v1/seals", headers=headers, timeout=30).status_code for _ in range(12)
    ]
    assert statuses.count(429) == 8, statuses


def test_concurrent_seals_and_verifications_all_succeed(api_server: Server, sealed: bytes) -> None:
    def one(i: int) -> tuple[int, str]:
        if i % 2:
            return _verify(api_server, sealed).status_code, "verify"
        return _seal(api_server, "a-sealer", "HZAMR-01", small_pdf(f"concurrent {i}")).status_code, "seal"

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(12)))
    assert results == [(200, "seal" if i % 2 == 0 else "verify") for i in range(12)]


def _access_line(server: Server, request_id: str) -> tuple[str, dict[str, object]]:
    """The server's log and its access line for ``request_id`` (written just after the response is sent)."""
    deadline = time.monotonic() + 10
    while True:
        log = server.log()
        entries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        for entry in entries:
            if entry.get("request_id") == request_id and entry.get("route") == "/v1/verify":
                return log, entry
        assert time.monotonic() < deadline, f"no access log line for request {request_id}"
        time.sleep(0.05)


def test_log_lines_are_json_with_request_ids_and_no_secrets(api_server: Server, sealed: bytes) -> None:
    with api_server.client("a-verifier") as http:
        request_id = http.post(
            "/v1/verify",
            content=sealed,
            headers={"Content-Type": "application/pdf", "X-Request-Id": "intake-42"},
        ).headers["x-request-id"]
    assert request_id == "intake-42"
    log, entry = _access_line(api_server, "intake-42")
    for key in api_server.keys.values():
        assert key not in log
    assert MARKER.decode() not in log
    # the serving process and its verification workers silence cryptography's DSA import warning
    assert "DSA is deprecated" not in log
    # the upload is spooled without a digest; the worker's report supplies it
    assert entry["document_sha256"] == hashlib.sha256(sealed).hexdigest()
    assert entry["document_bytes"] == len(sealed)


def test_a_refused_document_is_logged_with_its_digest(api_server: Server) -> None:
    """The worker refuses it (no report to take the digest from), and hashes it itself."""
    garbage = b"%PDF-1.7\n" + b"not a PDF at all " * 100
    with api_server.client("a-verifier") as http:
        response = http.post(
            "/v1/verify",
            content=garbage,
            headers={"Content-Type": "application/pdf", "X-Request-Id": "intake-43"},
        )
    assert response.status_code in (400, 422), response.text
    _log, entry = _access_line(api_server, "intake-43")
    assert entry["document_sha256"] == hashlib.sha256(garbage).hexdigest()
