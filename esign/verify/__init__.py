"""The verify path: signature discovery, validation, modifications, art. 13 law, evidence, conformance runs.

The pipeline lives in :mod:`esign.verify.pipeline` and is re-exported here, so callers write
``from esign.verify import verify``.
"""

from esign.verify.pipeline import averify, verify

__all__ = ["averify", "verify"]
