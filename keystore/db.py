"""The registry database: an SQLite file by default (WAL), PostgreSQL by URL, Alembic migrations for both.

SQLite transactions start with ``BEGIN IMMEDIATE``: writers queue on the database lock at the start
of a transaction instead of failing half-way with "database is locked" when two processes both
read and then write (the audit chain's read-head-then-append is exactly that). PostgreSQL callers
serialise the audit chain with an advisory lock instead (see ``keystore.audit``).

An SQLite database file is private to its owner (0600): it holds the API keys' hashes, the audit
log and the kept sealed documents. SQLite creates the ``-wal`` and ``-shm`` files with the mode of
the database file, so creating that file 0600 first covers all three.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from esign.errors import ErrorCode, EsignError

__all__ = ["DEFAULT_URL", "Database", "database_url", "normalise_url", "upgrade"]

DEFAULT_URL = "sqlite:///esign.db"
_READ_ONLY = "esign_read_only"
MIGRATIONS = Path(__file__).parent / "migrations"


def database_url(url: str | None = None) -> str:
    """The given URL, else ``ESIGN_DATABASE_URL``, else ``esign.db`` in the working directory."""
    return normalise_url(url or os.environ.get("ESIGN_DATABASE_URL") or DEFAULT_URL)


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (SQLAlchemy's default driver would be psycopg2)."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return _server_engine(url)
    _make_private(make_url(url).database)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={_sqlite_synchronous()}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _server_engine(url: str) -> Engine:
    """A database server's engine; its driver is an install extra, so say which one when it is absent."""
    try:
        return create_engine(url, pool_pre_ping=True)
    except (ImportError, NoSuchModuleError) as exc:
        postgresql = make_url(url).get_backend_name() == "postgresql"
        if postgresql and not isinstance(exc, NoSuchModuleError):
            missing = EsignError(ErrorCode.DRIVER_MISSING, backend="PostgreSQL", extra="esign[postgres]")
            raise missing from None
        detail = "not an SQLite or PostgreSQL URL"
        raise EsignError(ErrorCode.CONFIG_INVALID, setting="ESIGN_DATABASE_URL", detail=detail) from None


def _make_private(database: str | None) -> None:
    """Create the SQLite file 0600 before SQLite does (umask 022 would make it 0644), and tighten old ones.

    Where the file cannot be created (no such directory) SQLite's own error is the better answer.
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        os.close(os.open(database, os.O_RDWR | os.O_CREAT, 0o600))
    except OSError:
        return
    for path in (database, f"{database}-wal", f"{database}-shm"):
        try:
            if os.stat(path).st_mode & 0o077:
                os.chmod(path, 0o600)
        except OSError:
            continue  # absent, or another user's file: not ours to change


def _sqlite_synchronous() -> str:
    """``NORMAL`` (default) or ``FULL``, from ``ESIGN_SQLITE_SYNCHRONOUS``.

    In WAL mode, NORMAL keeps every committed transaction across a crash or kill of the process;
    only an operating-system crash or power loss can drop the last few commits. FULL also survives
    those, at the price of one fsync per commit — on a busy disk that is most of the cost of the
    registry path, so it is the operator's choice (PostgreSQL makes the same trade with
    ``synchronous_commit``).
    """
    value = os.environ.get("ESIGN_SQLITE_SYNCHRONOUS", "NORMAL").upper()
    if value not in ("NORMAL", "FULL"):
        raise EsignError(ErrorCode.BAD_OPTION, detail="ESIGN_SQLITE_SYNCHRONOUS is NORMAL or FULL")
    return value


class Database:
    """An engine and a session factory for one database URL."""

    def __init__(self, url: str | None = None) -> None:
        self.url = database_url(url)
        self.engine = _make_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._reading_engine = self.engine.execution_options(**{_READ_ONLY: True})
        self._readers = sessionmaker(self._reading_engine, expire_on_commit=False)

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @classmethod
    def open(cls, url: str | None = None) -> Database:
        """Connect and bring the schema up to date (what every front door does at start-up)."""
        database = cls(url)
        try:
            database.upgrade()
        except OperationalError as exc:
            raise EsignError(ErrorCode.DATABASE_ERROR, detail=type(exc.orig).__name__) from None
        return database

    def upgrade(self) -> None:
        upgrade(self.url, self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed on success, rolled back on any error.

        A database that cannot be reached becomes ``DATABASE_ERROR`` (503) rather than a stack trace.
        """
        with self._begin(self._sessions) as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A transaction that only reads: on SQLite it does not queue behind writers (plain ``BEGIN``)."""
        with self._begin(self._readers) as session:
            yield session

    @contextmanager
    def statements(self, read_only: bool = False) -> Iterator[Connection]:
        """A Core connection in a transaction, for the per-request hot path (no ORM unit of work).

        Sealing re-reads a few columns and appends one audit record per document; without the ORM's
        bookkeeping that costs a fraction of a millisecond, which keeps the registry path within a
        few percent of the bare core.
        """
        with self._begin(self._reading_engine if read_only else self.engine) as connection:
            yield connection

    @staticmethod
    @contextmanager
    def _begin(factory: sessionmaker[Session] | Engine) -> Iterator[Any]:
        try:
            with factory.begin() as session:
                yield session
        except OperationalError as exc:
            raise EsignError(ErrorCode.DATABASE_ERROR, detail=type(exc.orig).__name__) from None

    def dispose(self) -> None:
        self.engine.dispose()


def upgrade(url: str, engine: Engine | None = None) -> None:
    """Bring the schema at ``url`` to the newest migration (idempotent)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = engine or _make_engine(normalise_url(url))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
