"""Engines and sessions: SQLite (WAL, busy timeout) or PostgreSQL, and migrations.

`open_database(url)` returns a `Database` whose schema is at the newest
migration; every command that touches the database goes through it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from watcher.errors import DatabaseUnavailable, StorageError
from watcher.log import redact_secrets

SQLITE_BUSY_TIMEOUT_MS = 10_000  # wait this long for another writer before "database is locked"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def normalise_url(url: str) -> str:
    """Use psycopg 3 for `postgresql://` URLs (SQLAlchemy's default driver is psycopg2)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_sqlite(url: str) -> bool:
    """True for a SQLite URL (a local file: nothing to wait for)."""
    try:
        return make_url(normalise_url(url)).get_backend_name() == "sqlite"
    except (ArgumentError, ValueError):  # unusable: connecting says why, at once
        return False


def create_db_engine(url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and foreign keys.

    `busy_timeout_ms` is how long a SQLite connection waits for another
    writer before "database is locked" (ignored for PostgreSQL).
    """
    url = normalise_url(url)
    try:
        parsed = make_url(url)
        port = parsed.port  # parsed lazily: a bad port raises here
    except (ArgumentError, ValueError) as exc:
        reason = "the port must be a number" if isinstance(exc, ValueError) else str(exc)
        raise StorageError(
            f"invalid database URL {redact_secrets(url)!r}: {redact_secrets(reason)}"
        ) from None
    backend = parsed.get_backend_name()
    problem = None
    if backend not in ("sqlite", "postgresql"):
        problem = f"unsupported database {backend!r} (use sqlite:///PATH or postgresql://...)"
    elif port is not None and not 0 < port < 65536:
        problem = f"port {port} is out of range"
    if problem:
        raise StorageError(f"invalid database URL {redact_secrets(url)!r}: {problem}")
    try:
        if backend == "sqlite":
            return _sqlite_engine(url, parsed.database, busy_timeout_ms)
        # A server that drops packets must not hold a connection attempt for minutes
        # (the daemon's start-up wait retries it); a URL's own connect_timeout wins.
        connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": 10}
        return create_engine(
            url, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args=connect_args
        )
    except ImportError as exc:  # e.g. postgresql+psycopg2:// without psycopg2
        raise StorageError(
            f"invalid database URL {redact_secrets(url)!r}: driver {parsed.drivername!r} is "
            f"not installed ({exc.name or exc}); use postgresql:// (psycopg 3) or sqlite:///PATH"
        ) from None
    except OSError as exc:  # the SQLite file's directory cannot be made
        raise StorageError(f"cannot use database {redact_secrets(url)!r}: {exc}") from None


@contextlib.contextmanager
def hold_database_lock(url: str) -> Iterator[Path | None]:
    """Hold an exclusive lock on a SQLite database for as long as the block runs.

    One daemon per SQLite file: two writers on one file fight over its write
    lock and each polls every source, so `watcher run` takes an exclusive
    `flock` on `<database>.lock` (created beside the file, holding the
    holder's pid) for its whole life. The kernel releases it however the
    process ends, SIGKILL included, so a stale lock file never blocks a
    restart. A second `watcher run` on the same file gets a StorageError
    naming the holder (the CLI prints it as one line and exits 2). Yields the
    lock file's path; PostgreSQL and in-memory databases are not locked
    (None).
    """
    try:
        parsed = make_url(normalise_url(url))
    except (ArgumentError, ValueError):
        yield None  # create_db_engine reports the bad URL
        return
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        yield None
        return
    path = Path(f"{database}.lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageError(f"cannot create the database lock {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise StorageError(
                f"another watcher daemon (pid {holder}) is running on {database} "
                f"(it holds {path}); stop it first, or give this one another database"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock


def _sqlite_engine(url: str, database: str | None, busy_ms: int) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": busy_ms / 1000}, pool_pre_ping=True)
    event.listen(engine, "connect", partial(_sqlite_pragmas, busy_ms))
    return engine


def _sqlite_pragmas(busy_ms: int, dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    # Switching a new database to WAL needs an exclusive lock, and SQLite answers
    # "database is locked" at once, without its busy handler, while another process
    # holds one (two daemons starting on an empty file): retry within the busy timeout.
    give_up = time.monotonic() + busy_ms / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > give_up:
                raise
            time.sleep(0.02)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable across app crashes
    cursor.close()


@dataclass
class Database:
    """An engine plus a session factory; use `db.session()` as a context manager."""

    engine: Engine
    factory: sessionmaker[Session]

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self.factory() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    def connection_error(self) -> str | None:
        """None when `SELECT 1` works, else a one-line reason (never the URL or a password)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None)
            message = str(orig if orig is not None else exc).strip().splitlines()
            return f"{type(orig or exc).__name__}: {message[0] if message else 'unavailable'}"
        return None


def upgrade(engine: Engine) -> None:
    """Apply pending Alembic migrations (idempotent).

    Two processes migrating at once are serialised: an advisory lock on
    PostgreSQL, an immediate (write-locking) transaction on SQLite.
    """
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7318152)")
        elif conn.dialect.name == "sqlite":
            # Take the write lock before Alembic reads the version, so a second
            # process waits (busy_timeout) and then finds the schema at head.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_database(
    url: str, *, migrate: bool = True, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS
) -> Database:
    """Connect, apply migrations, and return a ready `Database`."""
    engine = create_db_engine(url, busy_timeout_ms=busy_timeout_ms)
    try:
        if migrate:
            upgrade(engine)
        elif not inspect(engine).has_table("alembic_version"):
            raise StorageError(f"database {engine.url!r} is not migrated: run `watcher db upgrade`")
    except OperationalError as exc:
        engine.dispose()
        raise DatabaseUnavailable(f"cannot use database {engine.url!r}: {exc.orig}") from None
    return Database(engine, sessionmaker(engine, expire_on_commit=False))
