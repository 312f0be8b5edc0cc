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
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from watcher.store.db import Database
from watcher.store.queries import sources_with_ops_alerts

T = TypeVar("T")

DB_CHECK_TIMEOUT = 3.0  # seconds; a database slower than this counts as down


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
    """None when the database answers, else a one-line reason (never the URL or a password)."""
    return db.connection_error()


def source_alerts(db: Database) -> dict[str, list[str]]:
    """Enabled sources with a raised ops alert, by kind, for `/healthz` details.

    `{"unhealthy": [names], "empty": [names]}`. Informational only: a broken
    feed is the operator's to fix (the ops route was told), never a reason to
    restart the container, so it does not change the verdict.
    """
    with db.session() as session:
        return sources_with_ops_alerts(session)


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
