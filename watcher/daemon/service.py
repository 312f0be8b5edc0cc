"""The daemon: APScheduler ticks over schedule state kept in the database.

Jobs (each with `coalesce=True`, `max_instances=1` and a misfire grace as
long as its interval, since APScheduler 3 silently skips a run that starts
more than a second late; a job that raises is logged and counted, and the
scheduler keeps running):

    poll       every poll tick: poll the sources whose `next_poll_at` has come
               (concurrently, in the pipeline); each source has the cycle
               timeout to finish, past which it alone is recorded as failing
               (`timeout`), so one stuck source cannot stall the others
    dispatch   every dispatch tick: drain the alert outbox (in a thread)
    reload     every reload tick: reload the rules when a rule file changed and
               the config when its file changed; an invalid new version is
               rejected with its error (`file:line:col` for rules) and the last
               good one keeps running (`watcher.daemon.reload`)
    retention  daily: prune old article text (`watcher.store.retention`)

Per-source schedule state (next poll, ETag, failures) lives in our own
tables, so APScheduler keeps no job store and two processes never share one.

With a Slack app token beside the bot token, a Socket Mode connection hears
the analysts' feedback clicks (`watcher.daemon.socket_mode`); it is closed
first at a stop.

Signals: SIGTERM and SIGINT stop accepting work, give the running cycle a
few seconds to finish (else cancel it: its open transactions never commit,
so the next start redoes that work), flush the outbox until the deadline,
and exit 0 within 10 s (a watchdog thread enforces it even if the event loop
is blocked; should a C call hold the GIL so that no Python thread can run,
faulthandler's C timer ends the process at 9.8 s with exit code 1). The
worker processes die with the daemon however it ends
(`watcher.extract.budget.bind_to_parent`). SIGHUP reloads rules and config
at once and resumes a delivery stopped by an auth error (after the operator
fixed the token or scopes).

Several processes on one PostgreSQL share the polls through Procrastinate's
queue instead of the `poll` job (`watcher.daemon.cluster`; the other jobs
stay per process: each dispatcher claims outbox rows, each reloader watches
its files). On SQLite, and with `scheduler="embedded"`, nothing changes.

Tick intervals and limits are a `DaemonSettings` (`watcher.settings`), read
from `WATCHER_*_TICK` variables by `watcher.config.daemon_settings`.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

import structlog
from aiohttp import web
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.exc import SQLAlchemyError

from watcher.daemon.app import App, build_app, connect
from watcher.daemon.cluster import SharedQueue, wants_shared_queue
from watcher.daemon.console.pages import ConsoleDeps
from watcher.daemon.health import (
    DB_CHECK_TIMEOUT,
    HealthReport,
    assess,
    database_error_async,
    off_loop,
    source_alerts,
)
from watcher.daemon.reload import Reloader
from watcher.daemon.scrape import attach_database
from watcher.daemon.socket_mode import FeedbackSocket
from watcher.daemon.startup import DatabaseWait
from watcher.daemon.web import create_web_app, start_web
from watcher.metrics import METRICS, record_cycle
from watcher.pipeline.cycle import CycleReport
from watcher.settings import Config, DaemonSettings
from watcher.store.db import Database, is_sqlite
from watcher.store.retention import prune_articles

log = structlog.get_logger("watcher.daemon.service")

STOP_DEADLINE = 9.5  # seconds after the signal: the watchdog exits the process
HARD_STOP_DEADLINE = 9.8  # ... and if the watchdog cannot run, faulthandler does (exit 1)
CYCLE_GRACE = 5.0  # seconds a running cycle gets to finish after the signal
FLUSH_DEADLINE = 8.0  # seconds after the signal: stop sending alerts


class Daemon:
    """Runs the scheduled jobs and the web server until asked to stop."""

    def __init__(
        self,
        app: App,
        settings: DaemonSettings | None = None,
        *,
        load: Callable[[], Config] | None = None,
    ) -> None:
        self.app = app
        self.settings = settings or DaemonSettings()
        self.reloader = Reloader(app, load)
        app.pipeline.source_timeout = self.settings.cycle_timeout
        self.stopping = asyncio.Event()
        self.cycles = 0
        self.last_cycle_at: datetime | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._poll_task: asyncio.Task[Any] | None = None
        self._dispatching: asyncio.Future[Any] | None = None
        self._watchdog: threading.Timer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.socket: FeedbackSocket | None = None
        self.shared: SharedQueue | None = (
            SharedQueue(app, self.settings, grace=CYCLE_GRACE, on_poll=self._polled)
            if wants_shared_queue(self.settings, app)
            else None
        )

    # --- jobs --------------------------------------------------------------------------

    async def poll(self) -> None:
        """One poll cycle over the due sources, each bounded by the cycle timeout."""
        if self.stopping.is_set():
            return
        self._poll_task = asyncio.current_task()
        start = time.monotonic()
        try:
            report = await self.app.pipeline.run_cycle()
        except asyncio.CancelledError:
            log.warning("cycle_cancelled", detail="unfinished sources are polled at next start")
            raise
        except Exception:
            record_cycle("failed", None)
            raise
        finally:
            self._poll_task = None
        self._polled(report, time.monotonic() - start, "ok")

    def _polled(self, report: CycleReport | None, seconds: float, result: str) -> None:
        """Count and log a finished cycle (a shared-queue poll job is a cycle of one source)."""
        if report is None:
            record_cycle(result, seconds)
            return
        self.cycles += 1
        self.last_cycle_at = datetime.now(UTC)
        timed_out = [s.name for s in report.sources if s.timed_out]
        if timed_out:
            log.error(
                "cycle_timeout",
                seconds=self.settings.cycle_timeout,
                sources=timed_out,
                detail="these sources ran out of time and are recorded as failing; "
                "the others' polls were committed",
            )
        record_cycle("timeout" if timed_out else "ok", seconds if report.polled else None)
        if report.polled:
            log.info(
                "cycle_done",
                cycle=self.cycles,
                sources_polled=report.polled,
                sources_failed=len(report.failed),
                articles_new=report.articles_new,
                hits=report.hits_per_rule,
                alerts_created=report.alerts_created,
                seconds=round(seconds, 3),
            )

    async def dispatch(self) -> None:
        """Send what the outbox holds; the sending runs in a thread."""
        if self.stopping.is_set() or self._dispatching is not None:
            return
        dispatcher = self.app.dispatcher
        self._dispatching = future = asyncio.ensure_future(
            off_loop(lambda: dispatcher.run(max_wait=0.0))
        )
        try:
            result = await future
        finally:
            self._dispatching = None
            METRICS.delivery_stopped.set(1 if dispatcher.auth_error else 0)
        if result.sent or result.dead or result.failed or result.retried:
            log.info(
                "alerts_dispatched",
                sent=result.sent,
                retried=result.retried,
                dead=result.dead,
                failed=result.failed,
                pending=result.waiting,
            )

    async def retention(self) -> None:
        """Prune article text older than the retention age."""
        age = self.settings.retention_max_age
        db = self.app.db
        pruned = await off_loop(lambda: prune_articles(db, now=datetime.now(UTC), max_age=age))
        METRICS.retention_pruned.inc(pruned)
        log.info("retention_done", pruned=pruned, max_age_days=age / timedelta(days=1))

    async def hangup(self) -> None:
        """SIGHUP: reload everything now and resume a delivery stopped by an auth error."""
        if self.app.dispatcher.auth_error is not None:
            log.info("delivery_resumed", previous_error=self.app.dispatcher.auth_error)
            self.app.dispatcher.resume()
            METRICS.delivery_stopped.set(0)
        await self.reloader.reload(force=True)

    async def health(self) -> HealthReport:
        """The `/healthz` verdict."""
        scheduler = self._scheduler
        database_error = await database_error_async(self.app.db)
        details: dict[str, object] = {
            "cycles": self.cycles,
            "last_cycle_at": self.last_cycle_at.isoformat() if self.last_cycle_at else None,
            "rules": len(self.app.rules.current().rules),
            "sources": len([s for s in self.app.config.sources if s.enabled]),
            "alerts": self.app.config.slack.mode,
            "feedback": _socket_state(self.socket),
        }
        shared = self.shared
        if shared is not None:
            details["process"] = shared.name
            with contextlib.suppress(TimeoutError):
                details["processes_alive"] = await off_loop(shared.alive, timeout=DB_CHECK_TIMEOUT)
        if database_error is None:
            # Informational: the sources with an ops alert raised. A failure here is left
            # to the database check above, which speaks for the database.
            with contextlib.suppress(TimeoutError, SQLAlchemyError):
                details["source_alerts"] = await off_loop(
                    lambda: source_alerts(self.app.db), timeout=DB_CHECK_TIMEOUT
                )
        running = bool(scheduler and scheduler.running) and (shared is None or shared.running)
        return assess(
            scheduler_running=running and not self.stopping.is_set(),
            database_error=database_error,
            delivery_error=self.app.dispatcher.auth_error,
            details=details,
        )

    # --- running -----------------------------------------------------------------------

    def _guard(
        self, name: str, job: Callable[[], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]:
        """Wrap a job so an exception is logged and counted and never reaches APScheduler."""

        async def guarded() -> None:
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                METRICS.job_failures.labels(name).inc()
                log.exception("job_failed", job=name)

        return guarded

    def _schedule(self) -> AsyncIOScheduler:
        s = self.settings
        scheduler = AsyncIOScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1}
        )
        now = datetime.now(UTC)
        jobs: list[tuple[str, Callable[[], Awaitable[None]], float, datetime]] = [
            ("poll", self.poll, s.poll_tick, now),
            ("dispatch", self.dispatch, s.dispatch_tick, now + timedelta(seconds=0.5)),
            ("reload", self.reloader.reload, s.reload_tick, now + timedelta(seconds=s.reload_tick)),
            (
                "retention",
                self.retention,
                s.retention_tick,
                now + timedelta(seconds=min(60.0, s.retention_tick)),
            ),
        ]
        for name, job, every, first in jobs:
            if name == "poll" and self.shared is not None:
                continue  # the shared queue polls (watcher.daemon.cluster)
            scheduler.add_job(
                self._guard(name, job),
                "interval",
                seconds=every,
                id=name,
                name=name,
                next_run_time=first,
                misfire_grace_time=max(1, int(every)),
                jitter=min(2.0, every / 10) if name == "poll" else None,
            )
        scheduler.add_listener(
            _scheduler_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR
        )
        return scheduler

    async def run(self) -> None:
        """Serve `/healthz` and `/metrics`, run the jobs, stop cleanly on a signal."""
        self._loop = loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_stop_signal)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self._hup()))
        logging.getLogger("apscheduler").setLevel(logging.CRITICAL)  # events logged as JSON below
        attach_database(METRICS, self.app.db)
        runner: web.AppRunner | None = await start_web(
            create_web_app(self.health, METRICS, _console(self.app)), self.app.config.listen
        )
        try:
            self._scheduler = self._schedule()
            self._scheduler.start()
            await self._start_socket()
            if self.shared is not None:
                await self.shared.start()
            log.info(
                "daemon_started",
                sources=len(self.app.config.sources),
                rules=len(self.app.rules.current().rules),
                alerts=self.app.config.slack.mode,
                listen=self.app.config.listen,
                poll_tick=self.settings.poll_tick,
                scheduler="shared" if self.shared is not None else "embedded",
            )
            await self.stopping.wait()
            await self._shutdown()
        finally:
            if runner is not None:
                await runner.cleanup()
        log.info("daemon_stopped")

    async def _start_socket(self) -> None:
        """Open the Socket Mode connection when the app is set up for feedback."""
        slack = self.app.config.slack
        if slack.app_token and not slack.bot_token:
            log.warning("feedback_disabled", reason="SLACK_APP_TOKEN needs SLACK_BOT_TOKEN")
        if self.app.feedback is None or not slack.app_token:
            return
        self.socket = FeedbackSocket(slack.app_token, self.app.feedback, base_url=slack.base_url)
        await self.socket.start()

    async def _hup(self) -> None:
        log.info("reload_requested", signal="SIGHUP")
        await self._guard("reload", self.hangup)()

    def _on_stop_signal(self, signum: int, _frame: FrameType | None) -> None:
        # Runs in the main thread between bytecodes, even if the loop is busy: no
        # logging here (a print could re-enter stdout); the loop does the rest.
        if self._watchdog is None:
            self._watchdog = threading.Timer(STOP_DEADLINE, _deadline_exit)
            self._watchdog.daemon = True
            self._watchdog.start()
            # The backstop for a thread that cannot get the GIL (a C call holding it):
            # faulthandler's timer is a C thread, it dumps the stacks and exits (code 1).
            with contextlib.suppress(RuntimeError, ValueError, OSError):
                faulthandler.dump_traceback_later(HARD_STOP_DEADLINE, exit=True)
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._request_stop, signal.Signals(signum))

    def _request_stop(self, sig: signal.Signals) -> None:
        if not self.stopping.is_set():
            log.info("stopping", signal=sig.name)
            self.stopping.set()

    async def _shutdown(self) -> None:
        """No new jobs; let the cycle finish or cancel it; flush the outbox until the deadline."""
        started = time.monotonic()
        if self.socket is not None:  # no more clicks; unacknowledged ones are redelivered
            await self.socket.stop()
        scheduler = self._scheduler
        if scheduler is not None and scheduler.running:
            # Pause, not shutdown: APScheduler's shutdown cancels running jobs at once.
            scheduler.pause()
        if self.shared is not None:
            await self.shared.stop(CYCLE_GRACE + 1.5)
        task = self._poll_task
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=CYCLE_GRACE)
            if not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
        remaining = FLUSH_DEADLINE - (time.monotonic() - started)
        dispatcher = self.app.dispatcher
        if self._dispatching is None and dispatcher.auth_error is None and remaining > 0.5:
            # Final flush: what this run committed should not wait for the next start.
            self._dispatching = asyncio.ensure_future(
                off_loop(lambda: dispatcher.run(max_wait=0.0))
            )
        if self._dispatching is not None:
            # Past the deadline the sending thread is left behind: its claimed row is
            # retried after the claim lease on the next start (at-least-once).
            done, _ = await asyncio.wait({self._dispatching}, timeout=max(remaining, 0.0))
            if not done:
                log.warning("dispatch_abandoned_at_stop", detail="unsent alerts stay queued")
            for fut in done:
                if not fut.cancelled() and fut.exception() is not None:
                    log.error("dispatch_failed_at_stop", error=repr(fut.exception()))
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)  # cancels whatever is still awaiting
        log.info("shutdown_done", seconds=round(time.monotonic() - started, 3))


def _socket_state(socket: FeedbackSocket | None) -> str:
    """`/healthz` detail: "off" (no app token), "connected", or "connecting" (informational)."""
    if socket is None:
        return "off"
    return "connected" if socket.connected else "connecting"


def _scheduler_event(event: Any) -> None:
    """APScheduler's own events, as our JSON log lines."""
    if event.code == EVENT_JOB_MAX_INSTANCES:
        log.debug("job_skipped", job=event.job_id, reason="the previous run is still going")
    elif event.code == EVENT_JOB_MISSED:
        log.warning("job_missed", job=event.job_id, scheduled=str(event.scheduled_run_time))
    else:
        log.error("job_error", job=event.job_id, error=repr(getattr(event, "exception", None)))


def _deadline_exit() -> None:
    """The watchdog: the stop took too long (a blocked call); leave now, exit code 0.

    Whatever is still running is a transaction that never commits, so the
    next start redoes it, as after a `kill -9`.
    """
    with contextlib.suppress(Exception):
        log.error("stop_deadline_exceeded", seconds=STOP_DEADLINE)
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(0)


def run_daemon(
    config: Config,
    *,
    load: Callable[[], Config] | None = None,
    settings: DaemonSettings | None = None,
) -> int:
    """Build the app and run the daemon until SIGTERM/SIGINT; returns the exit code.

    `load` re-reads the configuration for hot reloads (the CLI passes
    `watcher.config.config_loader`, which reads the file and the environment
    again and keeps a `--rules` flag); without it only the rules reload.
    `settings` are the ticks and limits (`watcher.config.daemon_settings`).
    """
    settings = settings or DaemonSettings()
    # Until the daemon's own handlers are in place (migrations can take a while), a
    # stop signal unwinds normally: open transactions roll back, the exit code is 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop_during_startup)
    # A database server may still be starting beside us (compose): wait for it,
    # with a 503 /healthz meanwhile. A SQLite file is there or not: no waiting.
    wait = 0.0 if is_sqlite(config.database_url) else settings.database_wait
    db = asyncio.run(_wait_for_database(config, wait)) if wait > 0 else connect(config)
    if db is None:
        return 0  # stopped while waiting
    try:
        app = build_app(config, db=db)
    except BaseException:
        db.dispose()
        raise
    try:
        asyncio.run(Daemon(app, settings, load=load).run())
    finally:
        app.close()
    return 0


async def _wait_for_database(config: Config, wait: float) -> Database | None:
    """Connect with retries; SIGTERM/SIGINT while waiting end the wait (None)."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, stopping.set)
    try:
        waiter = DatabaseWait(lambda: connect(config), wait=wait, listen=config.listen)
        return await waiter.run(stopping)
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
            signal.signal(sig, _stop_during_startup)


def _stop_during_startup(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def _console(app: App) -> ConsoleDeps | None:
    """The console's dependencies, or None (logged with the reason) when it must stay off."""
    from watcher.daemon.console import console_deps, console_refusal

    refusal = console_refusal(app.config.listen, app.config.web_token)
    if refusal is not None:
        log.warning("console_disabled", reason=refusal)
        return None
    return console_deps(app)
