"""A signer from the keystore is shared by every sealing thread of a process, so it comes parsed.

asn1crypto's lazy ``Name.native`` is visible half-built to a second thread; a province node sealing
500 documents on four threads got ``PDF_CORRUPT: KeyError: 'organization_name'`` from it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fixtures.pki import TestPKI
from keystore.keys import KeyStore, Pkcs12Ref
from tests.keystore_fixtures import *  # noqa: F403 - the fixtures
from tests.keystore_fixtures import P12_PASSPHRASE_ENV


def test_the_keystores_signer_has_its_names_parsed_before_any_thread_reads_them(
    p12_file: Callable[[str], Path], pki: TestPKI, secrets_env: None
) -> None:
    ref = Pkcs12Ref(path=str(p12_file("agency-a")), passphrase=f"env:{P12_PASSPHRASE_ENV}")
    signer = KeyStore().signer(ref, pki.chain("agency-a"))
    names = [signer.signing_cert.subject, signer.signing_cert.issuer]
    names += [cert.subject for cert in signer.cert_registry]
    assert all(name._native is not None for name in names)  # no lazy fill left for threads to race on
    assert signer.subject_name
