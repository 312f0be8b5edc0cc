"""Health: what `/healthz` reports, and the client `watcher health` uses.

The daemon is healthy when its scheduler runs, the database answers a
trivial query, and alert delivery is not stopped by an authentication
error (a revoked token stops every send until the operator fixes it, so it
must be loud). Anything else is worth a log line or a metric, not a
container restart: sources with a raised ops alert (`source_alerts`) are
listed in the details, never a reason to be unhealthy.

`probe(url)` is the container's HEALTHCHECK: one GET with a short timeout,
the daemon's JSON reason on failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from watcher.config import DEFAULT_CONFIG_PATH, Config, load_config
from watcher.errors import ConfigError
from watcher.store.db import Database
from watcher.store.models import SourceRow

T = TypeVar("T")

DB_CHECK_TIMEOUT = 3.0  # seconds; a database slower than this counts as down
PROBE_TIMEOUT = 3.0  # seconds for `watcher health`


@dataclass(frozen=True)
class HealthReport:
    """The verdict and why: `reasons` is empty exactly when healthy."""

    reasons: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.reasons

    def as_json(self) -> dict[str, Any]:
        """`{"status": "ok"|"unhealthy", "reason": str|None, "reasons": [...], ...details}`."""
        return {
            "status": "ok" if self.ok else "unhealthy",
            "reason": "; ".join(self.reasons) if self.reasons else None,
            "reasons": list(self.reasons),
            **self.details,
        }


def assess(
    *,
    scheduler_running: bool,
    database_error: str | None,
    delivery_error: str | None,
    details: Mapping[str, Any] | None = None,
) -> HealthReport:
    """Combine the three checks into one report."""
    reasons = []
    if not scheduler_running:
        reasons.append("scheduler is not running")
    if database_error is not None:
        reasons.append(f"database: {database_error}")
    if delivery_error is not None:
        reasons.append(f"alert delivery stopped: {delivery_error}")
    return HealthReport(tuple(reasons), dict(details or {}))


def database_error(db: Database) -> str | None:
    """None when `SELECT 1` works, else a one-line reason (never the URL or a password)."""
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None)
        message = str(orig if orig is not None else exc).strip().splitlines()
        return f"{type(orig or exc).__name__}: {message[0] if message else 'unavailable'}"
    return None


def source_alerts(db: Database) -> dict[str, list[str]]:
    """Enabled sources with a raised ops alert, by kind, for `/healthz` details.

    `{"unhealthy": [names], "empty": [names]}`. Informational only: a broken
    feed is the operator's to fix (the ops route was told), never a reason to
    restart the container, so it does not change the verdict.
    """
    with db.session() as session:
        rows = session.execute(
            select(SourceRow.name, SourceRow.unhealthy_at, SourceRow.empty_at)
            .where(SourceRow.enabled.is_(True))
            .order_by(SourceRow.name)
        ).all()
    return {
        "unhealthy": [name for name, unhealthy, _empty in rows if unhealthy is not None],
        "empty": [name for name, _unhealthy, empty in rows if empty is not None],
    }


async def off_loop(fn: Callable[[], T], *, timeout: float | None = None) -> T:
    """Run blocking `fn` in a daemon thread and await it (optionally with a timeout).

    Not `asyncio.to_thread`: its executor is joined when the loop closes, so a
    hung database or Slack call would hold up the process's exit past the
    stop deadline. A daemon thread that is still running at exit is dropped;
    the work it abandons is a transaction that never commits.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(value: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)  # type: ignore[arg-type]

    def work() -> None:
        value: T | None = None
        error: BaseException | None = None
        try:
            value = fn()
        except BaseException as exc:  # handed to the awaiting task, which decides
            error = exc
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=work, name="watcher-offloop", daemon=True).start()
    if timeout is None:
        return await future
    return await asyncio.wait_for(asyncio.shield(future), timeout)


async def database_error_async(db: Database, timeout: float = DB_CHECK_TIMEOUT) -> str | None:
    """`database_error` off the event loop, with `timeout` counting as unavailable."""
    try:
        return await off_loop(lambda: database_error(db), timeout=timeout)
    except TimeoutError:
        return f"no answer within {timeout:g} s"


# --- the client side: `watcher health` ----------------------------------------------------


def parse_listen(listen: str) -> tuple[str, int]:
    """`"host:port"`, `"[::1]:port"` or `":port"` -> (host, port); raises ConfigError."""
    value = listen.strip()
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"web.listen must be host:port, got {listen!r}")
    host = host.strip("[]")
    return host, int(port_text)


def listen_address(path: Path | None, environ: Mapping[str, str]) -> str:
    """Where the daemon serves `/healthz`: `WATCHER_LISTEN`, else the config's `web.listen`.

    Read leniently: the daemon keeps running on its last good config when
    the file is edited into an invalid state, so a health check must not
    start failing (and get the container restarted into a broken config)
    because of an unrelated mistake elsewhere in the file.
    """
    if environ.get("WATCHER_LISTEN"):
        return environ["WATCHER_LISTEN"]
    try:
        return load_config(path, environ).listen
    except ConfigError:
        pass
    where = path or Path(environ.get("WATCHER_CONFIG", str(DEFAULT_CONFIG_PATH)))
    try:
        web = tomllib.loads(where.read_text(encoding="utf-8")).get("web", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        web = {}
    listen = web.get("listen") if isinstance(web, dict) else None
    return listen if isinstance(listen, str) else Config.listen


def health_url(listen: str) -> str:
    """The `/healthz` URL for a listen address (a wildcard host is asked on loopback)."""
    host, port = parse_listen(listen)
    if host in ("", "0.0.0.0", "*"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/healthz"


@dataclass(frozen=True)
class ProbeResult:
    """What `/healthz` answered: `ok` on 200, else the reason to print."""

    ok: bool
    status: int | None
    reason: str


def probe(url: str, *, timeout: float = PROBE_TIMEOUT) -> ProbeResult:
    """GET `url` once; never raises for an unreachable or unhealthy daemon."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            status, body = resp.status, resp.read(65536)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(65536)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return ProbeResult(False, None, f"{url}: {reason}")
    return ProbeResult(status == 200, status, _reason(status, body))


def _reason(status: int, body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        if status == 200:
            return str(data.get("status", "ok"))
        reason = data.get("reason")
        if reason:
            return str(reason)
    return f"HTTP {status}: {body[:200].decode('utf-8', 'replace').strip()}"
