"""schemathesis against the live OpenAPI schema: generated requests never get a 5xx, and every response
(status, content type, headers, body) is one the schema documents — for a client with a key (a
seal-admin, verifier and auditor), for one without, and in stateful sequences whose links
schemathesis infers from the schema (list the clients, then revoke one; list the seals, then show,
grant or suspend one…). Bounded: a few examples per operation, a few short sequences.

The operations are driven with Hypothesis directly rather than through schemathesis' pytest plugin,
which does not load under the pytest version this project pins. The server is this module's own,
with a rate limit high enough that generated requests are answered rather than throttled, and so
that what the fuzzer suspends or revokes does not disturb the other API tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fixtures.pki import TestPKI
from tests import schemathesis_hooks  # noqa: F401 - registers the PDF serializer
from tests.api_server import Server, start_server, stop_server

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
QUIET = {"deadline": None, "suppress_health_check": list(HealthCheck), "derandomize": True, "database": None}
#: the seal-admin, verifier and auditor of the first demo organisation
FUZZER = "a-fuzzer"


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, pki: TestPKI) -> Iterator[Server]:
    unthrottled = {"ESIGN_RATE_PER_MINUTE": "100000", "ESIGN_RATE_BURST": "100000"}
    server = start_server(tmp_path_factory.mktemp("schema-server"), pki, **unthrottled)
    yield server
    stop_server(server)


def _schema(server: Server) -> Any:
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


def _headers(server: Server, key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.keys[key]}"} if key else {}


@pytest.mark.parametrize("key", [FUZZER, None], ids=["authenticated", "unauthenticated"])
def test_generated_requests_get_documented_answers_and_no_server_errors(
    fuzzed: Server, key: str | None
) -> None:
    headers = _headers(fuzzed, key)
    operations = [result.ok() for result in _schema(fuzzed).get_all_operations()]
    assert len(operations) >= 14

    for operation in operations:

        @settings(max_examples=12, **QUIET)
        @given(case=operation.as_strategy())
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        call()


@pytest.mark.parametrize("key", [FUZZER, None], ids=["authenticated", "unauthenticated"])
def test_stateful_sequences_get_documented_answers_and_no_server_errors(
    fuzzed: Server, key: str | None
) -> None:
    schema = _schema(fuzzed)
    headers = _headers(fuzzed, key)

    class Sequences(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: schemathesis.Case) -> None:
            # the sequences list the clients and revoke them; revoking its own key would leave only 401s
            if case.path_parameters and case.path_parameters.get("name") == FUZZER:
                case.path_parameters["name"] = "a-throttled"

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": headers}

        def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, headers=headers)

    Sequences.run(settings=settings(max_examples=25, stateful_step_count=6, **QUIET))


def test_every_reference_in_the_schema_resolves(fuzzed: Server) -> None:
    """An unresolvable ``$ref`` makes schemathesis (and any client generator) skip that part silently."""
    document = httpx.get(f"{fuzzed.url}/openapi.json").json()
    pending, refs = [document], []
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            refs.extend([node["$ref"]] if "$ref" in node else [])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    assert refs
    for ref in refs:
        target = document
        for part in ref.removeprefix("#/").split("/"):
            target = (
                target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
            )
        assert target, f"unresolvable {ref}"
