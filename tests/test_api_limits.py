"""Hostile clients against the real server: the caller is known before any body is read, JSON bodies
are capped, request models are bounded, odd keys and broken HTTP framing get problem documents."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.routing import APIRoute

from api.bootstrap import DEMO_SEALS
from api.guard import JSON_BODY_LIMIT, AuthenticatedRoute
from api.routes import audit, clients, health, seals, verify
from tests.api_server import *  # noqa: F403 - the api_server fixture
from tests.api_server import Server, read_response
from tests.keystore_fixtures import small_pdf

PROBLEM = "application/problem+json"
MIB = 1024 * 1024
SEAL = DEMO_SEALS[0].code
#: the seal-admin whose organisation the new clients below belong to (its own rate-limit bucket)
ADMIN, ADMIN_ORG = "c-admin", DEMO_SEALS[2]
#: the JSON routes FastAPI parses itself, and routes that read their own bodies or take none
BODY_ROUTES = [
    "/v1/clients",
    f"/v1/seals/{SEAL}/grants",
    f"/v1/seals/{SEAL}/suspend",
    f"/v1/seals/{SEAL}/resume",
    f"/v1/seals/{SEAL}/revoke",
    "/v1/seals",
    f"/v1/seals/{SEAL}/apply",
    "/v1/clients/a-sealer/revoke",
    "/v1/verify",
]


def _connect(server: Server) -> socket.socket:
    parts = urlsplit(server.url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _exchange(server: Server, raw: bytes, closes: bool = False) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` and read one answer (status, lower-case headers, body) without sending anything more;
    with ``closes``, the server must then close the connection (it will not read the rest)."""
    with _connect(server) as sock:
        sock.sendall(raw)
        data = read_response(sock)
        if closes:
            assert sock.recv(1) == b""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict((k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:]))
    return int(lines[0].split()[1]), headers, body


def _problem_of(status: int, headers: dict[str, str], body: bytes, expected: tuple[int, str]) -> dict:
    assert (status, headers.get("content-type")) == (expected[0], PROBLEM), body[:300]
    problem = json.loads(body)
    assert problem["code"] == expected[1] and problem["detail_zh"]
    return problem


def _problem(response: httpx.Response, status: int, code: str) -> dict:
    return _problem_of(response.status_code, dict(response.headers), response.content, (status, code))


def _client_body(**changes: object) -> dict[str, object]:
    fields = {
        "name": "limits-x",
        "org_name": ADMIN_ORG.org_name,
        "uscc": ADMIN_ORG.uscc,
        "roles": ["verifier"],
    }
    return {**fields, **changes}


@pytest.mark.parametrize("path", BODY_ROUTES)
@pytest.mark.parametrize(
    ("authorization", "code"),
    [("", "API_KEY_MISSING"), ("Authorization: Bearer esk_1_x\r\n", "UNAUTHENTICATED")],
)
def test_unauthenticated_huge_json_is_refused_before_its_body_is_read(
    api_server: Server, path: str, authorization: str, code: str
) -> None:
    """400 MiB declared, a dozen bytes sent: the 401 comes at once and the connection is closed."""
    head = f"POST {path} HTTP/1.1\r\nHost: t\r\n{authorization}Content-Type: application/json\r\n"
    started = time.monotonic()
    answer = _exchange(
        api_server, f"{head}Content-Length: {400 * MIB}\r\n\r\n".encode() + b'{"name": "', True
    )
    assert time.monotonic() - started < 5
    _problem_of(*answer, (401, code))
    assert answer[1]["connection"] == "close"


def test_authenticated_json_over_the_limit_is_413_declared_or_chunked(api_server: Server) -> None:
    huge = json.dumps(_client_body(roles=["verifier"] * 200_000)).encode()  # about 2 MB
    with api_server.client(ADMIN) as http:
        problem = _problem(
            http.post("/v1/clients", content=huge, headers={"Content-Type": "application/json"}),
            413,
            "REQUEST_TOO_LARGE",
        )
    assert str(JSON_BODY_LIMIT) in problem["detail"]
    head = (
        f"POST /v1/clients HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {api_server.keys[ADMIN]}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = huge[: 16 * 1024]
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(5))  # 80 KiB, no final chunk
    _problem_of(*_exchange(api_server, head.encode() + chunks, closes=True), (413, "REQUEST_TOO_LARGE"))


def test_seal_registration_as_json_over_the_limit_is_413_request_too_large(api_server: Server) -> None:
    """``POST /v1/seals`` as JSON reads its body itself: over 64 KiB it names the request, not a PDF."""
    body = json.dumps({"code": "HZBIG-01", "org_name": "x" * (70 * 1024)}).encode()
    with api_server.client(ADMIN) as http:
        problem = _problem(
            http.post("/v1/seals", content=body, headers={"Content-Type": "application/json"}),
            413,
            "REQUEST_TOO_LARGE",
        )
    assert problem["detail_zh"].startswith("请求内容过大")


def test_long_lists_and_strings_in_request_models_are_422(api_server: Server) -> None:
    with api_server.client(ADMIN) as http:
        _problem(
            http.post("/v1/clients", json=_client_body(roles=["verifier"] * 100)), 422, "REQUEST_INVALID"
        )
    with api_server.client("a-sealer") as http:
        response = http.post(
            f"/v1/seals/{SEAL}/apply",
            files={"file": ("doc.pdf", small_pdf("bounded options"), "application/pdf")},
            data={"cross_page": ",".join(["1"] * 600)},
        )
    _problem(response, 422, "REQUEST_INVALID")


@pytest.mark.parametrize(
    "key", [b"esk_99999999999999999999999_x", b"esk_9223372036854775808_x", b"esk_\xb2_x", b"esk_-1_x"]
)
def test_keys_with_impossible_client_ids_are_401(api_server: Server, key: bytes) -> None:
    with httpx.Client(base_url=api_server.url, headers={"Authorization": b"Bearer " + key}) as http:
        _problem(http.get("/v1/seals"), 401, "UNAUTHENTICATED")


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: nine\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHo st: t\r\n\r\n",
        b"GET /v1/\xff HTTP/1.1\r\nHost: t\r\n\r\n",
        b"POST /v1/clients HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    ],
)
def test_unparsable_http_gets_a_400_problem_document(api_server: Server, raw: bytes) -> None:
    status, headers, body = _exchange(api_server, raw, closes=True)
    problem = _problem_of(status, headers, body, (400, "MALFORMED_REQUEST"))
    assert problem["title"] == "Bad Request" and headers["connection"] == "close"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "nul\x00name"),
        ("name", "zero\u200bwidth"),
        ("name", "bidi\u202eeman"),
        ("name", "esc\x1b[31mred"),
        ("name", "line\u2028sep"),
        ("name", "para\u2029sep"),
        ("org_name", "杭州\u2066市"),
    ],
)
def test_invisible_characters_in_client_names_are_refused(api_server: Server, field: str, value: str) -> None:
    with api_server.client(ADMIN) as http:
        _problem(http.post("/v1/clients", json=_client_body(**{field: value})), 422, "CLIENT_NAME_INVALID")
        assert all(value not in c["name"] for c in http.get("/v1/clients").json())


def test_lone_surrogate_in_a_client_name_is_422(api_server: Server) -> None:
    body = json.dumps(_client_body(name="surrogate\ud800")).encode()  # "\ud800" as a JSON escape
    with api_server.client(ADMIN) as http:
        response = http.post("/v1/clients", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM


def test_every_route_whose_body_fastapi_parses_authenticates_first() -> None:
    """A JSON route added later without the route class would read bodies before the key: caught here."""
    routes = [
        r for m in (audit, clients, health, seals, verify) for r in m.router.routes if isinstance(r, APIRoute)
    ]
    parsed = {r.path: r for r in routes if r.body_field is not None}
    assert {"/v1/clients", "/v1/seals/{code}/grants", "/v1/seals/{code}/{action}"} <= parsed.keys()
    assert all(isinstance(route, AuthenticatedRoute) for route in parsed.values())


def test_json_body_that_is_not_utf8_is_422_not_an_undocumented_400(api_server: Server) -> None:
    with api_server.client(ADMIN) as http:
        response = http.post(
            "/v1/clients", content=b'{"name": "\xff"}', headers={"Content-Type": "application/json"}
        )
    assert "not UTF-8" in _problem(response, 422, "REQUEST_INVALID")["detail"]


def test_a_guarded_request_is_charged_to_its_rate_bucket_once(api_server: Server) -> None:
    """The guard and the route's own dependency identify the caller once: 60 requests against a burst of
    100 (refilling 2 a second) all get their real answer; charged twice, the last ones would be 429."""
    with api_server.client("a-auditor") as http:
        answers = {
            http.post(f"/v1/seals/{SEAL}/suspend", json={"reason": "x"}).status_code for _ in range(60)
        }
    assert answers == {403}
