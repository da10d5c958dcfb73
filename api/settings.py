"""Service configuration: every knob is an ``ESIGN_*`` environment variable (pydantic-settings).

The names the keystore already reads (``ESIGN_DATABASE_URL``, ``ESIGN_KEYSTORE_DIR``,
``ESIGN_TRUST_DIR``) mean the same here, so the CLI and the service configured from one
environment see the same registry, keys and trust anchors.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import Literal

from asn1crypto import x509
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from esign.policy import load_trust_anchors

MIB = 1024 * 1024


class Settings(BaseSettings):
    """One frozen view of the environment, read once per process."""

    model_config = SettingsConfigDict(env_prefix="ESIGN_", frozen=True, extra="ignore")

    database_url: str = "sqlite:///esign.db"
    keystore_dir: str = "keystore.d"
    #: PEM/DER trust anchors (file or directory) for verification
    trust_dir: str | None = None
    #: untrusted intermediates (files/directories separated by the OS path separator) offered to every
    #: verification, as ``esign verify --cert`` (a GB/T 38540 seal signature omits its issuing CA)
    extra_certs: str | None = None
    #: RFC 3161 TSA for seals at B-T and above
    tsa_url: str | None = None
    #: loopback port of the demo PKI's TSA/OCSP/CRL server (``esign serve`` with its demo defaults);
    #: the demo certificates name it, so a second demo server needs its own database and keystore too
    demo_pki_port: int = Field(default=9173, ge=1, le=65535)
    #: certificate of the audit checkpoint key (PEM/DER), for ``GET /v1/audit/verify``
    audit_cert: str | None = None

    max_upload_bytes: int = Field(default=50 * MIB, ge=1024)
    #: a request body must arrive within this many seconds (50 MiB at 4 Mbit/s takes 105 s)
    upload_timeout_s: float = Field(default=300.0, gt=0)
    #: after the grace period a body must keep arriving at this many bytes per second on average
    #: (``api.middleware.BodyDeadline``): 16 KiB/s is 128 kbit/s, a poor mobile link
    min_upload_rate: int = Field(default=16 * 1024, ge=1)
    upload_grace_s: float = Field(default=10.0, ge=0)
    #: uploads whose body is still arriving, per client (API key, or address when anonymous) and in all
    uploads_per_client: int = Field(default=8, ge=1, le=10_000)
    max_uploads: int = Field(default=32, ge=1, le=100_000)
    #: where uploads are spooled (a private 0700 directory is made inside); unset: the system temp dir
    upload_dir: str | None = None
    #: request headers must be complete within this many seconds of the request's first byte
    header_timeout_s: float = Field(default=30.0, gt=0)
    verify_requires_key: bool = True
    default_policy: Literal["default", "online", "strict"] = "default"

    #: verification runs in worker *processes* (CPU-bound, GIL); sealing in threads (key cache, HSM session).
    #: Unset: the machine's cores shared out among the uvicorn workers (see :attr:`verify_processes`).
    verify_workers: int | None = Field(default=None, ge=1, le=64)
    #: uvicorn worker processes sharing this machine (``esign serve --workers`` sets it)
    http_workers: int = Field(default=1, ge=1, le=64)
    seal_workers: int = Field(default=4, ge=1, le=64)
    #: jobs allowed to wait per pool before requests are refused with 503
    queue_limit: int = Field(default=16, ge=0, le=10_000)

    #: per client (API key, or client address when anonymous): sustained rate and burst
    rate_per_minute: float = Field(default=600.0, gt=0)
    rate_burst: int = Field(default=60, ge=1)
    #: where the buckets live when several processes serve: an SQLite file shared by the processes of
    #: one machine (``esign serve --workers N`` sets it), or ``redis://…`` shared by every node
    rate_store: str | None = None

    #: batch jobs (``POST /v1/seals/{code}/batches``): with a broker (``amqp://…`` RabbitMQ, or
    #: ``redis://…``) ``esign worker`` processes run them; unset, this process does, on a few threads
    broker_url: str | None = None
    #: the broker queue of this deployment's batch jobs (two deployments may share one broker)
    broker_queue: str = Field(default="esign.batch", min_length=1, max_length=200)
    batch_threads: int = Field(default=2, ge=1, le=64)
    batch_max_documents: int = Field(default=1000, ge=1, le=100_000)
    #: all the documents of one batch together, unpacked (each is also at most ``max_upload_bytes``)
    batch_max_bytes: int = Field(default=1024 * MIB, ge=1024)
    #: finished batches (every document sealed or failed) are deleted, uploads and sealed bytes with
    #: them, this many days after their upload: at start-up and once a day (``api.retention``)
    batch_retention_days: int = Field(default=30, ge=1, le=36_500)

    log_level: str = "INFO"

    @property
    def verify_processes(self) -> int:
        """Verification processes for this uvicorn worker.

        Every uvicorn worker has its own pool, so by default the cores are divided among them: N
        workers × all cores would put 2N CPU-bound processes on N cores, and each verification
        would take longer while the throughput stays the same.
        """
        if self.verify_workers is not None:
            return self.verify_workers
        return max(1, (os.cpu_count() or 1) // self.http_workers)

    @cached_property
    def trust_roots(self) -> tuple[x509.Certificate, ...]:
        return load_trust_anchors([self.trust_dir]) if self.trust_dir else ()

    @cached_property
    def offered_certs(self) -> tuple[x509.Certificate, ...]:
        return load_trust_anchors([p for p in (self.extra_certs or "").split(os.pathsep) if p])

    @cached_property
    def audit_certificate(self) -> x509.Certificate | None:
        if not self.audit_cert:
            return None
        return load_trust_anchors([self.audit_cert])[0]
