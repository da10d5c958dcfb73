"""The registry database: an SQLite file by default (WAL), PostgreSQL by URL, Alembic migrations for both.

SQLite transactions start with ``BEGIN IMMEDIATE``: writers queue on the database lock at the start
of a transaction instead of failing half-way with "database is locked" when two processes both
read and then write (the audit chain's read-head-then-append is exactly that). PostgreSQL callers
serialise the audit chain with an advisory lock instead (see ``keystore.audit``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from esign.errors import ErrorCode, EsignError

__all__ = ["DEFAULT_URL", "Database", "database_url", "normalise_url", "upgrade"]

DEFAULT_URL = "sqlite:///esign.db"
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
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged audit record survives power loss
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    """An engine and a session factory for one database URL."""

    def __init__(self, url: str | None = None) -> None:
        self.url = database_url(url)
        self.engine = _make_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

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
        try:
            with self._sessions.begin() as session:
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
