"""``esign serve``: the HTTP service under uvicorn, with the embedded demo defaults unless ``--no-demo``.

The demo runs the test PKI's TSA/OCSP/CRL responder on 127.0.0.1:9173 inside this process (the
registered demo certificates name that address), trusts the test root, and bootstraps the database
(see ``api.bootstrap``). Settings reach uvicorn's worker processes through ``ESIGN_*`` variables,
which is why the demo sets them in the environment before starting uvicorn.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from api.settings import Settings


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="uvicorn worker processes."
)
@click.option(
    "--demo/--no-demo",
    default=True,
    show_default=True,
    help="Embedded defaults: test PKI services, its agency seals registered, a demo API key printed once.",
)
def serve(host: str, port: int, workers: int, demo: bool) -> None:
    """Run the HTTP API and the verification web page (configured by ESIGN_* environment variables)."""
    import uvicorn

    from api.logging import configure_library_logging

    configure_library_logging()  # before pyHanko is imported: its import warnings become JSON lines too

    from api.settings import Settings

    os.environ["ESIGN_HTTP_WORKERS"] = str(workers)  # each uvicorn worker sizes its verification pool from it
    settings = Settings()
    if demo:
        _start_demo(settings)
    else:
        _upgrade(settings)
    click.echo(f"esign: http://{host}:{port}/  (API: /v1, schema: /openapi.json)")
    with ExitStack() as cleanup:
        if workers > 1:
            _share_between_workers(Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="esign-"))))
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            http="api.http_protocol:HeaderDeadlineProtocol",  # slow request headers are cut off
            access_log=False,
            log_config=None,
        )


def _share_between_workers(directory: Path) -> None:
    """State the uvicorn workers must see as one, in ``directory`` unless the operator chose a place.

    Metrics: set before the workers import prometheus_client, so /metrics sums all of them. Rate
    limits: one bucket per client across workers, not one per worker.
    """
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        (directory / "metrics").mkdir()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory / "metrics")
    os.environ.setdefault("ESIGN_RATE_STORE", str(directory / "ratelimit.sqlite"))


def _start_demo(settings: Settings) -> None:
    from api.bootstrap import DEMO_AUDIT_KEY, bootstrap, write_demo_trust
    from fixtures.pki import DEFAULT_PORT, start_services

    try:
        services = start_services(DEFAULT_PORT)
    except OSError as exc:
        raise click.ClickException(f"the demo PKI services need 127.0.0.1:{DEFAULT_PORT}: {exc}") from exc
    store = Path(settings.keystore_dir)
    store.mkdir(parents=True, exist_ok=True, mode=0o700)
    trust, audit_cert = write_demo_trust(services.pki, store)
    os.environ.setdefault("ESIGN_TRUST_DIR", str(trust))
    os.environ.setdefault("ESIGN_AUDIT_CERT", str(audit_cert))
    os.environ.setdefault("ESIGN_TSA_URL", services.pki.tsa_url)
    os.environ.setdefault("ESIGN_AUDIT_KEY", DEMO_AUDIT_KEY)
    bootstrap(settings, services.pki, click.echo)


def _upgrade(settings: Settings) -> None:
    """Bring the database schema up to date once, before uvicorn starts its workers."""
    from keystore.db import Database

    db = Database(settings.database_url)
    try:
        db.upgrade()
    finally:
        db.dispose()
