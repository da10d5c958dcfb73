"""schemathesis against the live OpenAPI schema: generated requests never get a 5xx, and every response
(status, content type, headers, body) is one the schema documents. Bounded: a few examples per operation.

The operations are driven with Hypothesis directly rather than through schemathesis' pytest plugin,
which does not load under the pytest version this project pins.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api_server import *  # noqa: F403 - the api_server fixture
from tests.api_server import Server

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# a PDF body is bytes on the wire, like application/octet-stream
schemathesis.serializer.alias("application/pdf", "application/octet-stream")
BOUNDED = settings(
    max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
)


def test_generated_requests_get_documented_answers_and_no_server_errors(api_server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{api_server.url}/openapi.json")
    # a client of its own, so that its rate-limit bucket is not the other tests' one
    headers = {"Authorization": f"Bearer {api_server.keys['a-fuzzer']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14

    for operation in operations:

        @BOUNDED
        @given(case=operation.as_strategy())
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        call()
