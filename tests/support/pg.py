"""Test support: a throwaway PostgreSQL server and the `database_url` fixture.

Storage and pipeline tests run on both SQLite (the default) and a real PostgreSQL
(the production target), so dialect differences show up here rather than in
production. The server is started once per session from the machine's own
binaries, lives entirely in a temporary directory, listens on 127.0.0.1 only and
trusts local connections; durability is switched off because the data is thrown
away.

Fixtures:
  - `pg_server` (session): a running `PostgresServer`; started on first use only.
  - `database_url`: parametrized `sqlite` / `postgres`; a fresh, empty database
    for each test (the `postgres` param carries the `postgres` marker).

Missing binaries fail the postgres tests with an install hint, unless
`WATCHER_TEST_SKIP_POSTGRES=1` is set, which skips them instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

SKIP_ENV = "WATCHER_TEST_SKIP_POSTGRES"
BINDIR_ENV = "WATCHER_PG_BINDIR"
SUPERUSER = "watcher"
DIR_PREFIX = "watcher-pg-"
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, postgres) were not found in `pg_config --bindir`, "
    "/usr/lib/postgresql/*/bin or PATH. Install them with "
    "`sudo apt-get install -y postgresql` (Debian/Ubuntu) or `brew install postgresql@15` "
    f"(macOS), point {BINDIR_ENV} at their directory, "
    f"or set {SKIP_ENV}=1 to skip the PostgreSQL tests."
)
# Speed over durability: every database here is disposable.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "max_connections": "200",  # headroom for engines tests forget to dispose
    "shared_buffers": "32MB",
    "log_min_messages": "warning",
}
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
_PR_SET_PDEATHSIG = 1


def _version_key(path: Path) -> tuple[int, ...]:
    """Sort key for /usr/lib/postgresql/<version>/bin: numeric version parts."""
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))


def find_bindir() -> Path | None:
    """The directory holding `initdb` and `postgres`, or None when not installed.

    Order: $WATCHER_PG_BINDIR, `pg_config --bindir`, the newest
    /usr/lib/postgresql/*/bin (Debian keeps the server off PATH), then PATH.
    """
    candidates: list[Path] = []
    if override := os.environ.get(BINDIR_ENV):
        candidates.append(Path(override))
    if pg_config := shutil.which("pg_config"):
        # pg_config may come from a client-only package; the check below filters it.
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(Path(out.stdout.strip()))
    candidates.extend(
        sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    )
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    for candidate in candidates:
        if all(os.access(candidate / name, os.X_OK) for name in ("initdb", "postgres")):
            return candidate
    return None


def require_bindir(bindir: Path | None) -> Path:
    """`bindir` when found; else fail with an install hint.

    With WATCHER_TEST_SKIP_POSTGRES=1 the PostgreSQL tests are skipped instead,
    whether or not the binaries exist (an explicit opt-out).
    """
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1: PostgreSQL tests skipped")
    if bindir is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    return bindir


@dataclass(frozen=True)
class RunAs:
    """The OS account the server runs as: None fields mean "the current user"."""

    uid: int | None = None
    gid: int | None = None

    @classmethod
    def for_current_user(cls) -> RunAs:
        """Root may not run initdb/postgres: root drops to `postgres` (else `nobody`)."""
        if os.geteuid() != 0:
            return cls()
        for name in ("postgres", "nobody"):
            try:
                account = pwd.getpwnam(name)
            except KeyError:
                continue
            return cls(uid=account.pw_uid, gid=account.pw_gid)
        pytest.fail(
            "Running as root, but there is neither a `postgres` nor a `nobody` system user "
            "to run the test server as (installing the `postgresql` package creates one).",
            pytrace=False,
        )

    def popen_kwargs(self) -> dict[str, Any]:
        """Extra `subprocess` arguments that switch to this account."""
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def _parent_death_hook() -> Callable[[], None] | None:
    """A child-side hook: the server gets SIGQUIT (immediate shutdown) if pytest dies.

    Linux only. prctl is looked up here, in the parent, so the forked child only
    makes one libc call (no dlopen or imports between fork and exec). The hook
    runs after the uid switch, which would otherwise clear the setting, so a
    killed test run (kill -9, OOM) never leaves a postmaster behind.
    """
    if sys.platform != "linux":
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGQUIT)

    return hook


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(parent: Path) -> list[Path]:
    """Delete server directories left by test runs that no longer exist; return them.

    Directories are named `watcher-pg-<pytest pid>-...`; a live owner means another
    concurrent run, which is left alone. A postmaster still running in a stale
    directory is shut down first.
    """
    removed: list[Path] = []
    for path in parent.glob(f"{DIR_PREFIX}*"):
        match = re.match(rf"{DIR_PREFIX}(\d+)-", path.name)
        if not match or _pid_alive(int(match.group(1))):
            continue
        pidfile = path / "data" / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            postmaster = int(pidfile.read_text().split()[0])
            cmdline = Path(f"/proc/{postmaster}/cmdline").read_bytes()
            if str(path).encode() in cmdline:
                os.kill(postmaster, signal.SIGQUIT)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _clean_env() -> dict[str, str]:
    """The environment without PG* variables, which would redirect the tools."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


class PostgresServer:
    """A running throwaway server: hands out SQLAlchemy URLs and fresh databases."""

    def __init__(self, base: Path, port: int, process: subprocess.Popen[bytes]) -> None:
        self.base = base
        self.port = port
        self.process = process
        self._admin = psycopg.connect(self.conninfo("postgres"), autocommit=True)

    def conninfo(self, dbname: str) -> str:
        """A libpq connection string for `dbname` (for direct psycopg use)."""
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={dbname}"

    def url(self, dbname: str) -> str:
        """The SQLAlchemy URL of database `dbname` on this server."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self) -> str:
        """Create a new, empty, uniquely-named database and return its URL."""
        name = f"test_{uuid.uuid4().hex[:16]}"
        # FILE_COPY copies the template's files instead of WAL-logging each block;
        # with fsync off both take ~40 ms here, and FILE_COPY writes less.
        self._admin.execute(f'CREATE DATABASE "{name}" STRATEGY = FILE_COPY')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database `url` names, closing any connections a test left open."""
        name = url.rsplit("/", 1)[1]
        self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Shut the server down (immediately, the data is disposable) and delete it."""
        with contextlib.suppress(psycopg.Error):
            self._admin.close()
        _terminate(self.process)
        shutil.rmtree(self.base, ignore_errors=True)


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(process: subprocess.Popen[bytes], port: int) -> bool:
    """Poll until the server accepts connections; False if it exited or timed out."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    conninfo = f"host=127.0.0.1 port={port} user={SUPERUSER} dbname=postgres connect_timeout=2"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            psycopg.connect(conninfo).close()
        except psycopg.OperationalError:
            time.sleep(0.02)
        else:
            return True
    return False


def _log_tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_server(bindir: Path, port: int | None = None) -> PostgresServer:
    """initdb a cluster in a new temporary directory and start it on `port` (else a
    free one; a given port is tried once).

    Raises RuntimeError (with the server log) when the server cannot start.
    """
    run_as = RunAs.for_current_user()
    # /tmp rather than $TMPDIR: the `postgres` account must be able to reach it.
    parent = Path("/tmp") if run_as.uid is not None else Path(tempfile.gettempdir())
    remove_stale(parent)
    base = Path(tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{os.getpid()}-", dir=parent))
    log = base / "server.log"
    try:
        if run_as.uid is not None and run_as.gid is not None:
            os.chown(base, run_as.uid, run_as.gid)
        data = base / "data"
        with log.open("ab") as out:
            initdb = subprocess.run(
                [
                    str(bindir / "initdb"),
                    *("-D", str(data), "-U", SUPERUSER, "--auth=trust"),
                    *("--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"),
                ],
                cwd=base,
                env=_clean_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
                **run_as.popen_kwargs(),
            )
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{_log_tail(log)}")
        death_hook = _parent_death_hook()
        # A port picked here can be taken before postgres binds it: retry then.
        for _attempt in range(3 if port is None else 1):
            listen_port = port or _free_port()
            settings = {
                **SERVER_SETTINGS,
                "port": str(listen_port),
                "unix_socket_directories": str(base),
            }
            with log.open("ab") as out:
                process = subprocess.Popen(
                    [
                        str(bindir / "postgres"),
                        *("-D", str(data)),
                        *[arg for k, v in settings.items() for arg in ("-c", f"{k}={v}")],
                    ],
                    cwd=base,
                    env=_clean_env(),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    preexec_fn=death_hook,  # noqa: PLW1509 (one async-signal-safe libc call)
                    **run_as.popen_kwargs(),
                )
            if _wait_ready(process, listen_port):
                return PostgresServer(base, listen_port, process)
            _terminate(process)
        raise RuntimeError(f"postgres did not start:\n{_log_tail(log)}")
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session, started on first use."""
    bindir = require_bindir(find_bindir())
    try:
        server = start_server(bindir)
    except (RuntimeError, OSError) as exc:
        pytest.fail(f"Could not start the test PostgreSQL server from {bindir}: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLAlchemy URL of a fresh, empty database: SQLite file or PostgreSQL.

    PostgreSQL databases are dropped after the test, so a long session does not
    fill /tmp (each copy of the template is ~7 MB).
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'watcher.db'}"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    url = server.create_database()
    yield url
    server.drop_database(url)
