"""Run a page task in worker processes, with a per-page deadline and recovery.

The task is `extract_page` unless the caller gives another of the same shape
(the pipeline gives `watcher.pipeline.page_task.extract_article`, which adds
the story fingerprint).

Why processes: trafilatura in threads can segfault (lxml; trafilatura issue
840), its caches grow about 1 MB per page (issue 216) and some pages run for
minutes (issue 704). So:

* workers (`watcher.extract.worker`) call `trafilatura.meta.reset_caches()`
  and give freed memory back to the system every `RESET_CACHES_EVERY`
  pages. That holds a worker's private memory flat however many pages it
  runs (the soak: 10,000 pages per worker, no replacement, BENCHMARKS.md),
  so the pool is recycled on *measured* memory: every `MEMORY_CHECK_EVERY`
  submits the parent reads each worker's private memory
  (`/proc/PID/smaps_rollup`) and replaces the pool once one is over
  `recycle_mb`; `max_tasks_per_child` pages per worker is only a backstop
  (for systems without /proc, and for slow growth). Until 2026-12 the pool
  was replaced every 200 pages per worker: with the overlap below, four
  workers were alive every few seconds of a busy cycle, and the tree's peak
  memory went over its bar;
* at a recycle the old pool finishes the pages it has and exits while new
  pages already go to a fresh pool (started `in_flight` pages ahead, its
  workers warm by then), so concurrency never drops to zero (until 2026-12
  new pages waited for the old pool to drain: every recycle idled the
  workers for a page's time plus a worker's start). The two overlap for at
  most the old pool's last `in_flight` pages, and fresh workers fork from a
  forkserver that has imported and warmed trafilatura
  (`watcher.extract.warm`), sharing its memory. Not ProcessPoolExecutor's
  own `max_tasks_per_child`: on CPython 3.11-3.13 a worker that retires
  while pages are queued may never be replaced and the queue hangs (cpython
  issue 115634);
* a page has a *soft* deadline inside the worker (SIGALRM raises out of
  trafilatura; the worker lives on) and a *hard* deadline in the parent
  (soft + grace): past it the pool is killed and replaced, so a worker stuck
  in C code cannot block later pages. Pages that were in flight on the killed
  pool are resubmitted; they did nothing wrong;
* a worker that dies (segfault, OOM kill) breaks the pool and every page in
  flight with it: the pool is replaced and those pages are retried one at a
  time, alone, so the page that kills its worker again is `FAILED` "worker
  crashed" and its neighbours succeed.

At most `workers x (1 + queued_per_worker)` pages are in flight: one
running in each worker and `queued_per_worker` waiting, so a worker starts
its next page without waiting for the round trip through the parent (with
one page per worker, the workers of a full cycle sat idle most of the
time). A waiting page runs once a page ahead of it finishes, which the soft
deadline bounds, so the hard deadline counts one soft deadline per page
that can be ahead of it. Workers come from the 'forkserver' start
method: fork is unsafe in a process with asyncio and resolver threads, and
`max_tasks_per_child` refuses it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from watcher import metrics
from watcher.extract.page import DEFAULT_OPTIONS, ExtractOptions, extract_page
from watcher.extract.worker import PageInput, PageTask, init_worker, ready, run_page
from watcher.model import Extraction, ExtractionStatus

# The GIL switch interval this process uses once it has a pool (CPython's default is
# 5 ms). The executor's manager and queue-feeder threads take the GIL whenever the
# event loop's thread makes a system call (each submit writes to a wake-up pipe) and
# keep it for up to the interval: with the default, the profiled full cycle spent
# 3.7 ms of every page's submit waiting to get the GIL back.
SWITCH_INTERVAL = 0.0005
_SUBMIT_ATTEMPTS = 3  # a pool that breaks between creation and submit is replaced this often
MEMORY_CHECK_EVERY = 50  # submits between two readings of the workers' memory


@dataclass(frozen=True)
class PoolSettings:
    """How many workers, how long a page may take, how often workers are replaced."""

    workers: int = max(1, min(os.cpu_count() or 1, 8))
    deadline: float = 20.0  # seconds of extraction per page (soft, inside the worker)
    grace: float = 10.0  # more seconds before the parent kills the pool (hard deadline)
    recycle_mb: float = 200.0  # a worker's private memory (MB) past which the pool is replaced
    max_tasks_per_child: int = 20_000  # pages per worker before the pool is replaced anyway
    start_method: str = "forkserver"
    queued_per_worker: int = 1  # pages waiting for each worker beyond the one it runs

    @property
    def in_flight(self) -> int:
        """How many pages may be submitted and not yet finished."""
        return self.workers * (1 + self.queued_per_worker)


def _failed(reason: str) -> Extraction:
    return Extraction(ExtractionStatus.FAILED, reason=reason)


class ExtractorPool:
    """A process pool for page extraction; use it as a context manager.

    `extract` (async) and `extract_many` (sync) never raise for a bad page:
    deadline, crash and extractor errors come back as `FAILED` extractions.
    """

    def __init__(
        self,
        settings: PoolSettings | None = None,
        *,
        options: ExtractOptions = DEFAULT_OPTIONS,
        task: PageTask = extract_page,
    ) -> None:
        self.settings = settings or PoolSettings()
        self.options = options
        self._task = task
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._generation = 0
        self._submitted = 0  # pages submitted to the current pool
        self._retire_at = 0  # submits after which the current pool retires
        self._retire_reason = "pages"  # why it will: the page backstop, or "memory"
        self._retired: dict[int, ProcessPoolExecutor] = {}  # generation -> pool finishing up
        self._standby: ProcessPoolExecutor | None = None  # the next pool, started ahead
        self._async: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore, asyncio.Lock] | None = None
        self._deadline_kills: set[int] = set()  # pool generations killed for a deadline
        self._last_generation: dict[int, int] = {}  # id(page) -> generation (async retries)
        self.restarts = 0  # pools replaced after a deadline or a crash (for metrics)
        self.recycles = 0  # pools replaced on schedule: worker memory or page count
        self.worker_mb = 0.0  # the largest worker's private memory at the last reading

    def __enter__(self) -> ExtractorPool:
        self._current()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers; a worker that is stuck is killed, not waited for."""
        with self._lock:
            executor, self._executor = self._executor, None
            retired = list(self._retired.values())
            if self._standby is not None:
                retired.append(self._standby)
                self._standby = None
            self._retired.clear()
        for old in retired:
            _kill(old)
        if executor is not None:
            _kill(executor, patience=2.0)

    # -- async -------------------------------------------------------------------------

    async def extract(
        self,
        body: bytes,
        *,
        url: str,
        content_type: str,
        options: ExtractOptions | None = None,
    ) -> Extraction:
        """Extract one page in a worker, within the deadline.

        `options`, when given, replace the pool's for this page only.
        """
        page = PageInput(body, url, content_type, options)
        try:
            return await self._extract(page)
        finally:
            self._last_generation.pop(id(page), None)  # else one entry per page, forever

    async def _extract(self, page: PageInput) -> Extraction:
        slots, alone = self._async_primitives()
        while True:
            async with slots:
                result = await self._attempt(page)
            if result is not None:
                return result
            if not self._killed_by_deadline(page):
                break
        # A worker died while this page was in flight: retry it alone, so a page that
        # kills its worker fails by itself and the pages beside it succeed.
        async with alone:
            for _ in range(self.settings.in_flight):
                await slots.acquire()
            try:
                result = await self._attempt(page)
            finally:
                for _ in range(self.settings.in_flight):
                    slots.release()
        return result if result is not None else _failed("worker crashed")

    async def _attempt(self, page: PageInput) -> Extraction | None:
        """One run of a page; None when the pool broke under it."""
        self._maybe_retire()
        future, generation = self._submit(page)
        self._last_generation[id(page)] = generation
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self._hard_deadline)
        except TimeoutError:
            self._replace(generation, deadline=True)
            return _failed(self._deadline_reason)
        except BrokenProcessPool:
            self._replace(generation)
            return None
        except Exception as exc:  # a worker-side error is this page's failure
            return _failed(f"worker error: {exc!r}"[:500])

    def _killed_by_deadline(self, page: PageInput) -> bool:
        """Whether the pool this page last ran on was killed for another page's deadline."""
        return self._last_generation.pop(id(page), -1) in self._deadline_kills

    def _async_primitives(self) -> tuple[asyncio.Semaphore, asyncio.Lock]:
        # asyncio primitives belong to one loop; tests and CLIs may run several loops in turn.
        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            self._async = (loop, asyncio.Semaphore(self.settings.in_flight), asyncio.Lock())
        return self._async[1], self._async[2]

    # -- sync --------------------------------------------------------------------------

    def extract_many(self, items: Iterable[PageInput]) -> list[Extraction]:
        """Extract pages in the workers; results in input order.

        As in `extract`, pages that were in flight when a worker died are
        retried one at a time, with nothing beside them.
        """
        pages = list(items)
        results: list[Extraction | None] = [None] * len(pages)
        # future -> (page index, started at, ran alone, pool generation)
        running: dict[Future[Extraction], tuple[int, float, bool, int]] = {}
        queue = deque(range(len(pages)))
        suspects: deque[int] = deque()
        while queue or suspects or running:
            self._fill(pages, queue, suspects, running)
            first_start = min(started for _, started, _, _ in running.values())
            timeout = max(0.0, first_start + self._hard_deadline - time.monotonic())
            done, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                index, _started, alone, generation = running.pop(future)
                results[index] = self._settle(future, generation)
                if results[index] is None:  # the pool broke under it
                    if alone:
                        results[index] = _failed("worker crashed")
                    elif generation in self._deadline_kills:
                        queue.appendleft(index)
                    else:
                        suspects.append(index)
            now = time.monotonic()
            expired = [f for f, (_, s, _, _) in running.items() if now - s >= self._hard_deadline]
            if expired:
                killed = {running[future][3] for future in expired}
                for generation in killed:
                    self._replace(generation, deadline=True)
                for future in expired:
                    results[running.pop(future)[0]] = _failed(self._deadline_reason)
                # The rest that ran on a killed pool did nothing wrong: start them again.
                for future, (index, _s, alone, generation) in list(running.items()):
                    if generation in killed:
                        del running[future]
                        (suspects if alone else queue).appendleft(index)
        return [r if r is not None else _failed("lost") for r in results]

    def _fill(
        self,
        pages: list[PageInput],
        queue: deque[int],
        suspects: deque[int],
        running: dict[Future[Extraction], tuple[int, float, bool, int]],
    ) -> None:
        """Start pages up to the worker count; a suspect page only with nothing beside it."""
        if suspects:
            if not running:
                index = suspects.popleft()
                self._maybe_retire()
                future, generation = self._submit(pages[index])
                running[future] = (index, time.monotonic(), True, generation)
            return
        while queue and len(running) < self.settings.in_flight:
            index = queue.popleft()
            self._maybe_retire()
            future, generation = self._submit(pages[index])
            running[future] = (index, time.monotonic(), False, generation)

    def _settle(self, future: Future[Extraction], generation: int) -> Extraction | None:
        """A finished future's extraction; None when the pool broke under it."""
        try:
            return future.result()
        except BrokenProcessPool:
            self._replace(generation)
            return None
        except Exception as exc:  # a worker-side error is this page's failure
            return _failed(f"worker error: {exc!r}"[:500])

    # -- the pool ----------------------------------------------------------------------

    @property
    def _hard_deadline(self) -> float:
        # From submit: up to `queued_per_worker` pages ahead, each within its soft deadline.
        ahead = self.settings.queued_per_worker
        return self.settings.deadline * (1 + ahead) + self.settings.grace

    @property
    def _deadline_reason(self) -> str:
        return f"deadline: no result within {self._hard_deadline:g} s; workers replaced"

    def _submit(self, page: PageInput) -> tuple[Future[Extraction], int]:
        for _ in range(_SUBMIT_ATTEMPTS):
            executor, generation = self._current()
            try:
                future = executor.submit(
                    run_page, self._task, page, self.options, self.settings.deadline
                )
            except (BrokenProcessPool, RuntimeError):  # broken or shut down under us
                self._replace(generation)
                continue
            with self._lock:
                if generation == self._generation:
                    self._submitted += 1
            return future, generation
        raise RuntimeError("cannot start extraction workers")

    def _current(self) -> tuple[ProcessPoolExecutor, int]:
        with self._lock:
            if self._executor is None:
                self._executor, self._standby = self._standby or self._new_executor(), None
                self._generation += 1
                self._submitted = 0
                self._retire_at = self.settings.max_tasks_per_child * self.settings.workers
                self._retire_reason = "pages"
            return self._executor, self._generation

    def _new_executor(self) -> ProcessPoolExecutor:
        """A pool (its workers start with its first submits)."""
        if sys.getswitchinterval() > SWITCH_INTERVAL:
            sys.setswitchinterval(SWITCH_INTERVAL)
        context = multiprocessing.get_context(self.settings.start_method)
        if self.settings.start_method == "forkserver":
            # Workers fork from a server that has imported and warmed trafilatura.
            context.set_forkserver_preload(
                ["watcher.extract.warm", self._task.__module__, "watcher.extract.worker"]
            )
        return ProcessPoolExecutor(
            max_workers=self.settings.workers, mp_context=context, initializer=init_worker
        )

    def _maybe_retire(self) -> None:
        """Retire the pool when a worker is over `recycle_mb` or past its page backstop.

        The workers' memory is read every `MEMORY_CHECK_EVERY` submits; when
        one is over, the pool retires `in_flight` submits later. That many
        submits before retiring, the replacement pool is started (its
        workers forked and warmed by a no-op task each), so it takes pages at
        once when the old pool retires, even when starting a worker takes
        longer than the old pool's last pages.
        """
        with self._lock:
            if self._executor is None:
                return
            in_flight = self.settings.in_flight
            if self._submitted % MEMORY_CHECK_EVERY == 0 and self._submitted > 0:
                self.worker_mb = max(
                    (private_mb(pid) or 0.0 for pid in _worker_pids(self._executor)), default=0.0
                )
                metrics.record_worker_memory(self.worker_mb)
                over = self.worker_mb > self.settings.recycle_mb
                if over and self._retire_at > self._submitted + in_flight:
                    self._retire_at = self._submitted + in_flight
                    self._retire_reason = "memory"
            if self._standby is None and self._submitted >= self._retire_at - in_flight:
                self._standby = self._new_executor()
                for _ in range(self.settings.workers):  # one spawn per submit, none idle yet
                    self._standby.submit(ready)
            if self._submitted >= self._retire_at:
                self.recycles += 1
                metrics.record_pool_replacement(self._retire_reason)
                self._retire()

    def _retire(self) -> None:
        """Hold the lock. The pool finishes the pages it has and exits, in the background.

        The next submit starts a fresh pool at once, so both run side by side
        for the old one's last pages (at most `in_flight`): concurrency never
        drops to zero while the old pool drains. A page stuck on the old pool
        is still ended by its hard deadline (`_replace` finds retired pools).
        """
        executor, generation = self._executor, self._generation
        assert executor is not None
        self._executor = None
        self._retired[generation] = executor

        def drain() -> None:
            executor.shutdown(wait=True)
            with self._lock:
                self._retired.pop(generation, None)

        threading.Thread(target=drain, name="extract-pool-retire", daemon=True).start()

    def _replace(self, generation: int, *, deadline: bool = False) -> None:
        """Kill the pool of `generation` (current or retiring) unless it is gone already."""
        with self._lock:
            if generation == self._generation and self._executor is not None:
                executor, self._executor = self._executor, None
            elif generation in self._retired:
                executor = self._retired.pop(generation)
            else:
                return
            if deadline:
                self._deadline_kills.add(generation)
            self.restarts += 1
        metrics.record_pool_replacement("deadline" if deadline else "crash")
        _kill(executor)


def _worker_pids(executor: ProcessPoolExecutor) -> list[int]:
    # `_processes` is private but present since 3.2 (see `_kill`).
    processes = getattr(executor, "_processes", None) or {}
    return [pid for pid in list(processes) if isinstance(pid, int)]


def private_mb(pid: int) -> float | None:
    """A process's private memory in MB (pages no other process maps); None when unknown.

    Private, not RSS: a worker shares the forkserver's imported modules
    copy-on-write, and RSS would count them once per worker.
    """
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:  # gone, or no /proc (not Linux): the page backstop still applies
        return None
    kb = 0
    for line in text.splitlines():
        if line.startswith(("Private_Clean:", "Private_Dirty:")):
            kb += int(line.split()[1])
    return kb / 1024


def _kill(executor: ProcessPoolExecutor, patience: float = 0.0) -> None:
    """Shut a pool down; workers still busy after `patience` seconds are killed.

    With `patience` 0 (a deadline or a crash) the workers are killed at once
    and the executor is shut down in the background.
    """
    # ProcessPoolExecutor cannot stop a running task, so end its processes ourselves
    # (`_processes` is private but present since 3.2); SIGKILL because a stuck worker
    # may not answer SIGTERM. `shutdown(wait=False)` is not an option: on 3.11 it
    # clears `_processes` under the manager thread, which can then fail with a
    # TypeError while it still tracks a worker.
    processes = list((getattr(executor, "_processes", None) or {}).values())

    def kill() -> None:
        for process in processes:
            if process.is_alive():
                process.kill()

    def shut_down() -> None:
        executor.shutdown(wait=True, cancel_futures=True)
        for process in processes:
            process.join(timeout=5)

    if patience <= 0:
        kill()
    closer = threading.Thread(target=shut_down, name="extract-pool-shutdown", daemon=True)
    closer.start()
    if patience > 0:
        closer.join(patience)
        if closer.is_alive():
            kill()
            closer.join(5)
