"""schemathesis hooks for this API, shared by ``tests/test_api_schema.py`` and the CLI run in docs/api.md
(``SCHEMATHESIS_HOOKS=tests.schemathesis_hooks``): a PDF body is bytes on the wire, like
``application/octet-stream``, which schemathesis knows how to send."""

import schemathesis

schemathesis.serializer.alias("application/pdf", "application/octet-stream")
