"""``esign serve``: the HTTP service under uvicorn, with the embedded demo defaults unless ``--no-demo``.

The demo runs the test PKI's TSA/OCSP/CRL responder on 127.0.0.1:9173 inside this process (the
registered demo certificates name that address), trusts the test root, and bootstraps the database
(see ``api.bootstrap``). Settings reach uvicorn's worker processes through ``ESIGN_*`` variables,
which is why the demo sets them in the environment before starting uvicorn.
"""

from __future__ import annotations

import os
import socket
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import click

from api.commands.keystore import reports_errors

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
@click.option(
    "--pki-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port of the demo PKI's TSA/OCSP/CRL server (default 9173; env ESIGN_DEMO_PKI_PORT).",
)
@reports_errors
def serve(host: str, port: int, workers: int, demo: bool, pki_port: int | None) -> None:
    """Run the HTTP API and the verification web page (configured by ESIGN_* environment variables)."""
    import uvicorn

    from api.logging import configure_library_logging

    configure_library_logging()  # before pyHanko is imported: its import warnings become JSON lines too

    from api.backends import probe
    from api.settings import Settings

    os.environ["ESIGN_HTTP_WORKERS"] = str(workers)  # each uvicorn worker sizes its verification pool from it
    if pki_port is not None:
        os.environ["ESIGN_DEMO_PKI_PORT"] = str(pki_port)
    settings = Settings()
    probe(settings)  # an unusable ESIGN_DATABASE_URL or ESIGN_RATE_STORE: one line, not a traceback
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
    from api.bootstrap import DEMO_AUDIT_KEY, DEMO_SEALS, bootstrap, write_demo_trust
    from fixtures.pki import start_services

    pki_port = settings.demo_pki_port
    if not _port_free(pki_port):  # werkzeug would print "start the server with a different port" and exit
        raise click.ClickException(
            f"the demo PKI (TSA/OCSP/CRL) cannot listen on 127.0.0.1:{pki_port}, which is in use (another "
            "esign serve?). Stop that one, or give this one another PKI port with --pki-port or "
            "ESIGN_DEMO_PKI_PORT, and its own ESIGN_DATABASE_URL and ESIGN_KEYSTORE_DIR (the demo "
            "certificates name the PKI port); --port only moves the HTTP service."
        )
    services = start_services(pki_port)
    store = Path(settings.keystore_dir)
    store.mkdir(parents=True, exist_ok=True, mode=0o700)
    trust, audit_cert = write_demo_trust(services.pki, store)
    os.environ.setdefault("ESIGN_TRUST_DIR", str(trust))
    os.environ.setdefault("ESIGN_AUDIT_CERT", str(audit_cert))
    os.environ.setdefault("ESIGN_TSA_URL", services.pki.tsa_url)
    os.environ.setdefault("ESIGN_AUDIT_KEY", DEMO_AUDIT_KEY)
    click.echo(f"test PKI: TSA {services.pki.tsa_url}  (OCSP/CRL on 127.0.0.1:{pki_port})")
    if bootstrap(settings, services.pki, click.echo) is None:
        first = DEMO_SEALS[0]
        click.echo(
            "demo seals already registered: the demo API key was printed once, when they were made. Lost it? "
            f"`esign clients create demo-2 --org {first.org_name} --uscc {first.uscc} "
            f"--roles seal-admin,sealer,verifier,auditor` and `esign seals grant {first.code} demo-2` make a "
            f"new one; or stop the server, remove {settings.database_url} and {settings.keystore_dir}/ "
            "and start again."
        )


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _upgrade(settings: Settings) -> None:
    """Bring the database schema up to date once, before uvicorn starts its workers."""
    from keystore.db import Database

    db = Database(settings.database_url)
    try:
        db.upgrade()
    finally:
        db.dispose()
