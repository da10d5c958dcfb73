"""Shared test fixtures: the live test PKI services and the ../shared corpus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.pki import RunningServices, TestPKI, start_services

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def pki_services() -> Iterator[RunningServices]:
    """certomancer's animator (TSA, OCSP, CRLs) on a free loopback port, for the whole session."""
    services = start_services(0)
    yield services
    services.stop()


@pytest.fixture(scope="session")
def pki(pki_services: RunningServices) -> TestPKI:
    """The test PKI whose certificates point at the running services."""
    return pki_services.pki


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared (corpus, schemas); tests that need it skip in a user's clone, where it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (it exists only in the project workspace)")
    return SHARED
