"""The daemon's first connection: wait for a database server that is not up yet.

In compose (or any orchestrator) PostgreSQL and the daemon start together, and
not every engine honours "start after the database is healthy" (podman-compose
with podman older than 4.6 ignores it). So `watcher run` retries the first
connection with exponential backoff (0.5 s doubling to 10 s between attempts)
for up to `DaemonSettings.database_wait` seconds, logging each failure
(`database_unavailable`, with the next attempt's delay) and answering
`/healthz` with 503 and the reason meanwhile. Past the deadline the last error
is raised (exit code 2, as before). Only a server that does not answer is
retried (`DatabaseUnavailable`); a bad URL or any other error fails at once,
and SQLite (a local file) is never waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from watcher.daemon.health import HealthReport, off_loop
from watcher.daemon.web import create_web_app, start_web
from watcher.errors import DatabaseUnavailable
from watcher.metrics import METRICS
from watcher.store.db import Database

log = structlog.get_logger("watcher.daemon.startup")

FIRST_DELAY = 0.5  # seconds before the second attempt; doubles each time
MAX_DELAY = 10.0  # longest pause between two attempts


def backoff_delays(first: float = FIRST_DELAY, cap: float = MAX_DELAY) -> Callable[[], float]:
    """The pauses between attempts: first, 2*first, ... capped at `cap`."""
    delay = first / 2

    def next_delay() -> float:
        nonlocal delay
        delay = min(cap, delay * 2)
        return delay

    return next_delay


class DatabaseWait:
    """The first connection, retried; `health()` is what `/healthz` says meanwhile."""

    def __init__(self, connect: Callable[[], Database], *, wait: float, listen: str) -> None:
        self.connect = connect
        self.wait = wait
        self.listen = listen
        self.started = time.monotonic()
        self.attempts = 0
        self.last_error: str | None = None
        self._runner: web.AppRunner | None = None

    async def health(self) -> HealthReport:
        """503 while waiting: attempts so far, seconds waited of the limit, the last error."""
        waited = time.monotonic() - self.started
        reason = (
            f"database: waiting for the database ({self.attempts} attempts in {waited:.0f} s "
            f"of {self.wait:g} s): {self.last_error}"
        )
        return HealthReport((reason,), {"waiting_for_database": True, "attempts": self.attempts})

    async def run(self, stopping: asyncio.Event) -> Database | None:
        """The connected (and migrated) database, or None when `stopping` was set first.

        After the first failure `/healthz` is served (503) until this returns.
        Raises the last `DatabaseUnavailable` once `wait` seconds have passed.
        """
        try:
            return await self._attempts(stopping, self._serve_health)
        finally:
            if self._runner is not None:
                await self._runner.cleanup()

    async def _serve_health(self) -> None:
        if self._runner is None:
            self._runner = await start_web(create_web_app(self.health, METRICS), self.listen)

    async def _attempts(
        self, stopping: asyncio.Event, on_failure: Callable[[], Awaitable[None]]
    ) -> Database | None:
        next_delay = backoff_delays()
        deadline = self.started + self.wait
        while True:
            self.attempts += 1
            attempt = asyncio.ensure_future(off_loop(self.connect))
            stop = asyncio.ensure_future(stopping.wait())
            await asyncio.wait({attempt, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not attempt.done():  # stopped mid-attempt: its thread is left behind
                attempt.cancel()
                return None
            try:
                db = attempt.result()
            except DatabaseUnavailable as exc:
                self.last_error = str(exc)
            else:
                if self.attempts > 1:
                    log.info("database_ready", attempts=self.attempts, waited=self._waited())
                return db
            left = deadline - time.monotonic()
            if left <= 0:
                log.error("database_wait_exhausted", attempts=self.attempts, wait_limit=self.wait)
                raise DatabaseUnavailable(self.last_error)
            delay = min(next_delay(), left)
            log.warning(
                "database_unavailable",
                attempt=self.attempts,
                retry_in=round(delay, 1),
                waited=self._waited(),
                wait_limit=self.wait,
                error=self.last_error,
            )
            await on_failure()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)
            if stopping.is_set():
                return None

    def _waited(self) -> float:
        return round(time.monotonic() - self.started, 1)
