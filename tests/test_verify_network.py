"""No network unless the policy allows it: the default policy sends nothing to the URLs in a certificate
(SSRF, determinism); ``online`` fetches revocation data from them and finds a revoked certificate."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import pytest
from werkzeug.serving import make_server

from esign.policy import ValidationPolicy
from esign.seal.pades import seal
from esign.seal.signers import load_pkcs12
from esign.verify.pipeline import verify
from fixtures.documents import licence_pdf
from fixtures.pki import TestPKI


class _Counting:
    """The test PKI's responder, counting every request a verifier sends to the certificates' URLs."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app, self.requests = app, 0

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self.requests += 1
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def watched() -> Iterator[tuple[TestPKI, _Counting]]:
    server = make_server("127.0.0.1", 0, app=None, threaded=True)  # type: ignore[arg-type]
    pki = TestPKI(url_prefix=f"http://127.0.0.1:{server.server_port}")
    counter = _Counting(pki.animator())
    server.app = counter  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield pki, counter
    server.shutdown()
    thread.join(timeout=10)


def _sealed(pki: TestPKI, label: str) -> bytes:
    """B-B: no revocation data in the file, so only a fetch could find out about revocation."""
    return seal(licence_pdf(), load_pkcs12(pki.pkcs12(label, b"n"), b"n"))


def test_default_policy_never_contacts_the_urls_in_certificates(watched) -> None:
    pki, counter = watched
    before = counter.requests
    for label in ("agency-a", "agency-revoked"):
        verify(_sealed(pki, label), ValidationPolicy.preset("default", trust_roots=[pki.root]))
    assert counter.requests == before


def test_online_policy_fetches_revocation_data_and_finds_the_revoked_certificate(watched) -> None:
    pki, counter = watched
    before = counter.requests
    report = verify(_sealed(pki, "agency-revoked"), ValidationPolicy.preset("online", trust_roots=[pki.root]))
    assert counter.requests > before
    signature = report.signatures[0]
    assert report.indication != "TOTAL_PASSED"
    assert signature.subindication in ("REVOKED", "REVOKED_NO_POE")
    assert signature.checks.chain == "revoked"


def test_online_policy_passes_a_good_certificate_after_checking_it(watched) -> None:
    pki, counter = watched
    before = counter.requests
    report = verify(_sealed(pki, "agency-a"), ValidationPolicy.preset("online", trust_roots=[pki.root]))
    assert counter.requests > before
    assert report.indication == "TOTAL_PASSED"
