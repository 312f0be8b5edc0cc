"""The database fixtures: SQLite and a real PostgreSQL both give working, isolated databases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.pg import (
    DIR_PREFIX,
    INSTALL_HINT,
    SKIP_ENV,
    PostgresServer,
    find_bindir,
    remove_stale,
    require_bindir,
)


def _scalar(url: str, sql: str) -> object:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar_one()
    finally:
        engine.dispose()


def test_database_url_answers_select_1(database_url: str) -> None:
    """Each param of `database_url` is a database that answers SELECT 1."""
    assert _scalar(database_url, "SELECT 1") == 1


@pytest.mark.parametrize("round_", ["first", "second"])
def test_database_url_is_fresh_per_test(database_url: str, round_: str) -> None:
    """Two tests never share a database: a table one creates is absent in the other."""
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            assert not sa.inspect(conn).has_table("isolation_probe"), round_
            conn.execute(sa.text("CREATE TABLE isolation_probe (round TEXT)"))
            conn.execute(sa.text("INSERT INTO isolation_probe VALUES (:r)"), {"r": round_})
    finally:
        engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_param_is_a_file_in_tmp_path(database_url: str, tmp_path: Path) -> None:
    """The sqlite param points at watcher.db inside the test's own tmp_path."""
    assert database_url == f"sqlite:///{tmp_path / 'watcher.db'}"


@pytest.mark.postgres
def test_pg_server_is_local_fast_postgres_15_plus(pg_server: PostgresServer) -> None:
    """The session server is PostgreSQL >= 15 on 127.0.0.1 with durability switched off."""
    url = pg_server.create_database()
    assert url.startswith(f"postgresql+psycopg://watcher@127.0.0.1:{pg_server.port}/")
    assert int(str(_scalar(url, "SHOW server_version_num"))) >= 150000
    assert _scalar(url, "SHOW fsync") == "off"
    assert _scalar(url, "SHOW synchronous_commit") == "off"
    assert _scalar(url, "SELECT inet_server_addr()::text") in {"127.0.0.1", "127.0.0.1/32"}


@pytest.mark.postgres
def test_create_database_gives_distinct_isolated_databases(pg_server: PostgresServer) -> None:
    """create_database returns a new database each call; data in one is invisible in the other."""
    first, second = pg_server.create_database(), pg_server.create_database()
    assert first != second
    engine = sa.create_engine(first)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE only_in_first (x INT)"))
    finally:
        engine.dispose()
    query = "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_first'"
    assert _scalar(first, query) == 1
    assert _scalar(second, query) == 0


@pytest.mark.postgres
def test_pg_server_url_names_the_database(pg_server: PostgresServer) -> None:
    """url(dbname) is a psycopg SQLAlchemy URL for that database on the session server."""
    assert pg_server.url("postgres") == (
        f"postgresql+psycopg://watcher@127.0.0.1:{pg_server.port}/postgres"
    )
    assert _scalar(pg_server.url("postgres"), "SELECT current_database()") == "postgres"


def test_find_bindir_finds_initdb_and_postgres() -> None:
    """find_bindir returns a directory holding both initdb and postgres when installed."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL binaries not installed here (covered by the failure test)")
    assert (bindir / "initdb").is_file()
    assert (bindir / "postgres").is_file()


def test_missing_binaries_fail_with_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without binaries the postgres tests fail, saying how to install PostgreSQL."""
    monkeypatch.delenv(SKIP_ENV, raising=False)
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y postgresql"):
        require_bindir(None)
    assert SKIP_ENV in INSTALL_HINT


def test_skip_env_skips_postgres_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """WATCHER_TEST_SKIP_POSTGRES=1 turns the postgres tests into skips naming the variable."""
    monkeypatch.setenv(SKIP_ENV, "1")
    with pytest.raises(pytest.skip.Exception, match=SKIP_ENV):
        require_bindir(None)


def test_remove_stale_deletes_only_dirs_of_dead_runs(tmp_path: Path) -> None:
    """Directories of finished test runs are removed; those of live runs are kept."""
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = tmp_path / f"{DIR_PREFIX}{int(finished.stdout)}-abc"
    live = tmp_path / f"{DIR_PREFIX}{os.getpid()}-def"
    for path in (dead, live):
        (path / "data").mkdir(parents=True)
    assert remove_stale(tmp_path) == [dead]
    assert not dead.exists()
    assert live.exists()


@pytest.mark.postgres
def test_pg_server_never_runs_as_root(pg_server: PostgresServer) -> None:
    """As root the server runs under an unprivileged account; otherwise as the current user."""
    owner = Path(f"/proc/{pg_server.process.pid}").stat().st_uid
    if os.geteuid() == 0:
        assert owner != 0
    else:
        assert owner == os.geteuid()


@pytest.mark.postgres
def test_drop_database_removes_it_despite_open_connections(pg_server: PostgresServer) -> None:
    """drop_database removes a database even while a connection to it is still open."""
    url = pg_server.create_database()
    name = url.rsplit("/", 1)[1]
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            pg_server.drop_database(url)
            listed = _scalar(
                pg_server.url("postgres"),
                f"SELECT count(*) FROM pg_database WHERE datname = '{name}'",
            )
            assert listed == 0
            with pytest.raises(sa.exc.OperationalError):
                conn.execute(sa.text("SELECT 1"))
    finally:
        engine.dispose()
