"""Several daemons on one PostgreSQL share the polls through Procrastinate's queue.

With the shared scheduler (`DaemonSettings.scheduler`, the default on
PostgreSQL) a process does not poll the due sources itself. Instead:

    schedule   a Procrastinate periodic task, deferred once per poll tick for
               the whole cluster (Procrastinate's periodic defers are unique per
               tick): mirror the config into the sources table and queue one
               `poll_source` job per due source, with the source's name as both
               its queueing lock (never two waiting jobs for one source) and its
               lock (never two polls of one source at once);
    poll       `poll_source` jobs, taken by whichever process has a free slot
               (worker concurrency = `fetch.sources_at_once`): the pipeline polls
               that one source (`Pipeline.run_cycle(only=..., sync=False)`, which
               re-reads whether it is still due, so a job queued while another
               poll of the source was running finds it done and does nothing);
               the process fetches and extracts the articles of the sources it
               polls, and stores them in the poll's one transaction, as before;
    recover    a periodic task every quarter of `stalled_after`: jobs held by a
               process whose Procrastinate heartbeat (every 5 s, or a quarter of
               a shorter `stalled_after`) is older than `stalled_after` go back
               to the queue, and the dead worker rows are pruned.

The bound on a take-over after a process dies (SIGKILL, power loss): its
sources were never owned, so the other processes keep polling them at the
next tick; the one poll it had in hand per slot is held by its lock until
`stalled_after` + one recover tick (20 s + 5 s by default), then polled
again by another process. Nothing of that poll was committed (its one
transaction never ran), so nothing is lost; the only duplicate is the one
the database already absorbs: a process frozen (not dead) for longer than
`stalled_after` may finish its poll after another process polled the source
too; entry keys and canonical URLs keep one article and one hit. Alerts are
claimed from the outbox by every process's dispatcher with a 60 s lease
(`watcher.pipeline.dispatch`), so a dead process's claimed alert is sent by
another within that lease (the documented at-least-once window).

SIGTERM: Procrastinate's worker stops taking jobs, gives the running polls
`grace` seconds and then aborts them (their transactions never commit; the
sources stay due and the next tick queues them for the others), and removes
its heartbeat row, so `watcher health` counts one process fewer at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from procrastinate import App as TaskApp
from procrastinate import PsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException
from procrastinate.jobs import Status

from watcher.daemon.app import App
from watcher.daemon.health import off_loop
from watcher.errors import ConfigError
from watcher.metrics import METRICS
from watcher.pipeline.cycle import CycleReport
from watcher.settings import DaemonSettings
from watcher.store.cluster import is_postgresql, libpq_url, mark_polled_by, processes_alive
from watcher.store.sources import due_sources, sync_sources

log = structlog.get_logger("watcher.daemon.cluster")

QUEUE = "watcher"
POLL_TASK = "watcher.poll_source"
SCHEDULE_TASK = "watcher.schedule_polls"
RECOVER_TASK = "watcher.recover_stalled"
HEARTBEAT = 5.0  # seconds between a process's heartbeats (at most; see `heartbeat_every`)
POOL_SIZE = 4  # Procrastinate's own connections per process (LISTEN, fetch, heartbeat, defer)
RESTART_DELAY = 5.0  # seconds before a worker that stopped on an error is started again

PollDone = Callable[[CycleReport | None, float, str], None]
"""Called after each poll job: (report or None when cut, seconds, result ok/timeout)."""


def process_name() -> str:
    """This process as `watcher sources` shows it: `host:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def wants_shared_queue(settings: DaemonSettings, app: App) -> bool:
    """Whether this daemon polls through the shared queue; ConfigError for shared on SQLite."""
    if settings.scheduler == "embedded":
        return False
    postgres = is_postgresql(app.db)
    if settings.scheduler == "shared" and not postgres:
        raise ConfigError("WATCHER_SCHEDULER=shared needs a PostgreSQL database")
    return postgres


def heartbeat_every(stalled_after: float) -> float:
    """Seconds between heartbeats: `HEARTBEAT`, or a quarter of a shorter `stalled_after`."""
    return max(0.5, min(HEARTBEAT, stalled_after / 4))


def tick_cron(seconds: float) -> str:
    """A Procrastinate cron (seconds as the 6th column) firing about every `seconds`.

    Cron steps divide a minute or an hour, so the tick is rounded down to the
    nearest divisor of 60 seconds (under a minute) or of 60 minutes.
    """
    whole = max(1, int(seconds))
    if whole < 60:
        step = max(d for d in range(1, 61) if 60 % d == 0 and d <= whole)
        return f"* * * * * */{step}"
    minutes = min(60, whole // 60)
    step = max(d for d in range(1, 61) if 60 % d == 0 and d <= minutes)
    return f"*/{step} * * * *" if step < 60 else "0 * * * *"


class SharedQueue:
    """This process's part in the shared queue: the Procrastinate app, its tasks, its worker."""

    def __init__(
        self,
        app: App,
        settings: DaemonSettings,
        *,
        grace: float,
        on_poll: PollDone | None = None,
        name: str | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.grace = grace
        self.name = name or process_name()
        self._on_poll = on_poll
        self._worker: asyncio.Task[None] | None = None
        self.tasks = TaskApp(
            connector=PsycopgConnector(conninfo=libpq_url(app.db), min_size=1, max_size=POOL_SIZE)
        )
        self._poll = self.tasks.task(name=POLL_TASK, queue=QUEUE)(self.poll_source)
        schedule = self.tasks.task(name=SCHEDULE_TASK, queue=QUEUE)(self.schedule)
        self.tasks.periodic(cron=tick_cron(settings.poll_tick))(schedule)
        recover = self.tasks.task(name=RECOVER_TASK, queue=QUEUE)(self.recover)
        self.tasks.periodic(cron=tick_cron(settings.stalled_after / 4))(recover)
        # Procrastinate logs every job through the standard library: keep its warnings.
        logging.getLogger("procrastinate").setLevel(logging.WARNING)

    # --- the tasks -----------------------------------------------------------------------

    async def schedule(self, timestamp: int) -> int:
        """Queue a poll of every due source (once per tick for the cluster); returns how many."""
        config = self.app.pipeline.config
        db = self.app.db
        now = datetime.now(UTC)

        def due() -> list[str]:
            with db.session() as session:
                sync_sources(session, config.sources, now)
            with db.session() as session:
                return [s.spec.name for s in due_sources(session, config.sources, now, force=False)]

        queued = 0
        for source in await off_loop(due):
            key = f"source:{source}"
            try:
                await self._poll.configure(lock=key, queueing_lock=key).defer_async(source=source)
                queued += 1
            except AlreadyEnqueued:
                pass  # a poll of it is already waiting
        if queued:
            log.debug("polls_queued", sources=queued, tick=timestamp)
        return queued

    async def poll_source(self, source: str) -> None:
        """Poll one source if it is still due (the job of `poll_source`)."""
        start = time.monotonic()
        log.info("poll_job_started", source=source, process=self.name)
        # What the other processes stored lately joins this process's story index.
        self.app.pipeline.catch_up_stories()
        try:
            report = await asyncio.wait_for(
                self.app.pipeline.run_cycle(only=[source], sync=False),
                self.settings.cycle_timeout,
            )
        except TimeoutError:
            log.error(
                "cycle_timeout",
                source=source,
                seconds=self.settings.cycle_timeout,
                detail="nothing of the poll was committed; it is queued again when due",
            )
            self._done(None, start, "timeout")
            return
        except Exception:
            # As the embedded `poll` job: logged and counted; the source stays due.
            METRICS.job_failures.labels("poll").inc()
            log.exception("job_failed", job="poll", source=source)
            self._done(None, start, "failed")
            return
        if report.polled:
            db, names = self.app.db, [s.name for s in report.sources]
            await off_loop(lambda: mark_polled_by(db, names, self.name))
        log.info("poll_job_done", source=source, polled=bool(report.polled))
        self._done(report, start, "ok")

    async def recover(self, timestamp: int) -> int:
        """Queue again the jobs of processes whose heartbeat stopped; returns how many."""
        jobs = self.tasks.job_manager
        moved = 0
        for job in await jobs.get_stalled_jobs(seconds_since_heartbeat=self.settings.stalled_after):
            assert job.id is not None
            try:
                await jobs.retry_job(job)
            except ConnectorException:
                # Another poll of the source is already waiting (queueing lock): let that
                # one do it, and free the lock this dead job holds.
                await jobs.finish_job_by_id_async(job.id, Status.FAILED, delete_job=False)
            moved += 1
            log.warning(
                "stalled_job_requeued",
                job=job.id,
                task=job.task_name,
                args=job.task_kwargs,
                stalled_after=self.settings.stalled_after,
            )
        await jobs.prune_stalled_workers(self.settings.stalled_after)
        return moved

    def _done(self, report: CycleReport | None, start: float, result: str) -> None:
        if self._on_poll is not None:
            self._on_poll(report, time.monotonic() - start, result)

    # --- running -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the connection pool and start the worker in the background."""
        await self.tasks.open_async()
        concurrency = max(1, self.app.config.fetch.sources_at_once)
        self._worker = asyncio.create_task(self._supervise(concurrency), name="shared-queue")
        log.info(
            "shared_queue_started",
            process=self.name,
            slots=concurrency,
            poll_cron=tick_cron(self.settings.poll_tick),
            stalled_after=self.settings.stalled_after,
        )

    async def _supervise(self, concurrency: int) -> None:
        """Run the Procrastinate worker; start it again when it stops on an error.

        Procrastinate's worker stops when one of its side tasks fails (the
        LISTEN connection lost while PostgreSQL restarts, say); without this
        the process would stay up and poll nothing.
        """
        while True:
            try:
                await self.tasks.run_worker_async(
                    queues=[QUEUE],
                    name=self.name,
                    concurrency=concurrency,
                    install_signal_handlers=False,
                    update_heartbeat_interval=heartbeat_every(self.settings.stalled_after),
                    stalled_worker_timeout=self.settings.stalled_after,
                    shutdown_graceful_timeout=self.grace,
                    delete_jobs="successful",
                    fetch_job_polling_interval=2.0,
                )
                log.warning("shared_queue_worker_stopped", restart_in=RESTART_DELAY)
            except Exception as exc:
                log.error("shared_queue_worker_failed", error=repr(exc), restart_in=RESTART_DELAY)
            await asyncio.sleep(RESTART_DELAY)

    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.done()

    async def stop(self, timeout: float) -> None:
        """Stop taking jobs, let the running ones finish (else abort them), close the pool."""
        worker = self._worker
        if worker is not None and not worker.done():
            # In the worker, Procrastinate stops fetching, waits `grace`, aborts the rest.
            worker.cancel()
            done, _ = await asyncio.wait({worker}, timeout=timeout)
            if not done:
                log.warning("shared_queue_stop_timeout", seconds=timeout)
        try:
            await asyncio.wait_for(self.tasks.close_async(), timeout=1.0)
        except (TimeoutError, Exception) as exc:  # closing is best effort at exit
            log.warning("shared_queue_close_failed", error=repr(exc))

    def alive(self) -> int | None:
        """Processes of the cluster alive now (heartbeat younger than `stalled_after`)."""
        return processes_alive(self.app.db, within=self.settings.stalled_after)
