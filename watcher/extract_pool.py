"""Run `extract_page` in worker processes, with a per-page deadline and recovery.

Why processes: trafilatura in threads can segfault (lxml; trafilatura issue
840), its caches grow about 1 MB per page (issue 216) and some pages run for
minutes (issue 704). So:

* workers are recycled after `max_tasks_per_child` pages and call
  `trafilatura.meta.reset_caches()` every `RESET_CACHES_EVERY` pages;
* a page has a *soft* deadline inside the worker (SIGALRM raises out of
  trafilatura; the worker lives on) and a *hard* deadline in the parent
  (soft + grace): past it the pool is killed and replaced, so a worker stuck
  in C code cannot block later pages. Pages that were in flight on the killed
  pool are resubmitted; they did nothing wrong;
* a worker that dies (segfault, OOM kill) breaks the pool: it is replaced and
  the page retried, up to `_ATTEMPTS` times, then `FAILED` "worker crashed".

At most `workers` pages are in flight at once, so a page's deadline starts
when it starts running, not while it waits in a queue. (That also keeps clear
of CPython 3.11's deadlock with `max_tasks_per_child` and a deep queue, which
we reproduced with `executor.map`.) Workers come from the 'forkserver' start
method: fork is unsafe in a process with asyncio and resolver threads, and
`max_tasks_per_child` refuses it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Protocol

from watcher.extract import DEFAULT_OPTIONS, ExtractOptions, extract_page
from watcher.model import Extraction, ExtractionStatus

RESET_CACHES_EVERY = 50  # pages; trafilatura's caches grow ~1 MB per page
_ATTEMPTS = 3  # a page is retried this often when a worker dies under it


class PageTask(Protocol):
    """The work a pool runs: `extract_page`, or a stand-in with the same shape."""

    def __call__(
        self, body: bytes, *, url: str, content_type: str, options: ExtractOptions
    ) -> Extraction: ...


@dataclass(frozen=True)
class PageInput:
    """One fetched page to extract; `content_type` is the raw header, charset included."""

    body: bytes
    url: str
    content_type: str = ""


@dataclass(frozen=True)
class PoolSettings:
    """How many workers, how long a page may take, how often workers are replaced."""

    workers: int = max(1, min(os.cpu_count() or 1, 8))
    deadline: float = 20.0  # seconds of extraction per page (soft, inside the worker)
    grace: float = 10.0  # more seconds before the parent kills the pool (hard deadline)
    max_tasks_per_child: int = 200
    start_method: str = "forkserver"


class _Deadline(BaseException):
    """Raised by SIGALRM inside a worker; a BaseException so `except Exception` can't eat it."""


class _WorkerState:
    """Per worker process: whether a page is running, and how many have run."""

    in_task = False
    done = 0


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    if _WorkerState.in_task:
        raise _Deadline


def _init_worker() -> None:
    signal.signal(signal.SIGALRM, _on_alarm)
    # The parent handles Ctrl-C and SIGTERM and shuts the pool down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run(task: PageTask, page: PageInput, options: ExtractOptions, deadline: float) -> Extraction:
    """In a worker: one page under the soft deadline."""
    _WorkerState.in_task = True
    signal.setitimer(signal.ITIMER_REAL, deadline)
    try:
        return task(page.body, url=page.url, content_type=page.content_type, options=options)
    except _Deadline:
        return Extraction(ExtractionStatus.FAILED, reason=f"deadline: over {deadline:g} s")
    finally:
        _WorkerState.in_task = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        _WorkerState.done += 1
        if _WorkerState.done % RESET_CACHES_EVERY == 0:
            _reset_caches()


def _reset_caches() -> None:
    import trafilatura.meta

    trafilatura.meta.reset_caches()


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
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        self.restarts = 0  # pools replaced after a deadline or a crash (for metrics)

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
        if executor is not None:
            _kill(executor, patience=2.0)

    # -- async -------------------------------------------------------------------------

    async def extract(self, body: bytes, *, url: str, content_type: str) -> Extraction:
        """Extract one page in a worker, within the deadline."""
        page = PageInput(body, url, content_type)
        async with self._semaphore():
            for _attempt in range(_ATTEMPTS):
                future, generation = self._submit(page)
                try:
                    return await asyncio.wait_for(asyncio.wrap_future(future), self._hard_deadline)
                except TimeoutError:
                    self._replace(generation)
                    return _failed(self._deadline_reason)
                except BrokenProcessPool:
                    self._replace(generation)
                except Exception as exc:  # a worker-side error is this page's failure
                    return _failed(f"worker error: {exc!r}"[:500])
        return _failed("worker crashed")

    def _semaphore(self) -> asyncio.Semaphore:
        # asyncio primitives belong to one loop; tests and CLIs may run several loops in turn.
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.settings.workers))
        return self._slots[1]

    # -- sync --------------------------------------------------------------------------

    def extract_many(self, items: Iterable[PageInput]) -> list[Extraction]:
        """Extract pages in the workers; results in input order."""
        pages = list(items)
        results: list[Extraction | None] = [None] * len(pages)
        # future -> (page index, started at, attempt, pool generation)
        running: dict[Future[Extraction], tuple[int, float, int, int]] = {}
        queue = [(index, 0) for index in range(len(pages))]
        queue.reverse()  # pop() from the end keeps input order
        while queue or running:
            while queue and len(running) < self.settings.workers:
                index, attempt = queue.pop()
                future, generation = self._submit(pages[index])
                running[future] = (index, time.monotonic(), attempt, generation)
            first_deadline = min(started for _, started, _, _ in running.values())
            timeout = max(0.0, first_deadline + self._hard_deadline - time.monotonic())
            done, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                index, _started, attempt, generation = running.pop(future)
                try:
                    results[index] = future.result()
                except BrokenProcessPool:
                    self._replace(generation)
                    if attempt + 1 < _ATTEMPTS:
                        queue.append((index, attempt + 1))
                    else:
                        results[index] = _failed("worker crashed")
                except Exception as exc:  # a worker-side error is this page's failure
                    results[index] = _failed(f"worker error: {exc!r}"[:500])
            now = time.monotonic()
            expired = [f for f, (_, s, _, _) in running.items() if now - s >= self._hard_deadline]
            if expired:
                self._replace(running[expired[0]][3])
                for future in expired:
                    results[running.pop(future)[0]] = _failed(self._deadline_reason)
                # The rest ran on the killed pool: start them again, as the same attempt.
                for future, (index, _s, attempt, _g) in list(running.items()):
                    del running[future]
                    queue.append((index, attempt))
        return [r if r is not None else _failed("lost") for r in results]

    # -- the pool ----------------------------------------------------------------------

    @property
    def _hard_deadline(self) -> float:
        return self.settings.deadline + self.settings.grace

    @property
    def _deadline_reason(self) -> str:
        return f"deadline: no result within {self._hard_deadline:g} s; workers replaced"

    def _submit(self, page: PageInput) -> tuple[Future[Extraction], int]:
        for _ in range(_ATTEMPTS):
            executor, generation = self._current()
            try:
                future = executor.submit(
                    _run, self._task, page, self.options, self.settings.deadline
                )
            except (BrokenProcessPool, RuntimeError):  # broken or shut down under us
                self._replace(generation)
                continue
            return future, generation
        raise RuntimeError("cannot start extraction workers")

    def _current(self) -> tuple[ProcessPoolExecutor, int]:
        with self._lock:
            if self._executor is None:
                context = multiprocessing.get_context(self.settings.start_method)
                if self.settings.start_method == "forkserver":
                    # Workers fork from a server that has imported trafilatura once.
                    context.set_forkserver_preload(["watcher.extract", "trafilatura"])
                self._executor = ProcessPoolExecutor(
                    max_workers=self.settings.workers,
                    mp_context=context,
                    initializer=_init_worker,
                    max_tasks_per_child=self.settings.max_tasks_per_child,
                )
                self._generation += 1
            return self._executor, self._generation

    def _replace(self, generation: int) -> None:
        """Kill the pool of `generation` unless it was already replaced."""
        with self._lock:
            if generation != self._generation or self._executor is None:
                return
            executor, self._executor = self._executor, None
            self.restarts += 1
        _kill(executor)


def _kill(executor: ProcessPoolExecutor, patience: float = 0.0) -> None:
    """Shut a pool down; workers still alive after `patience` seconds are killed."""
    # ProcessPoolExecutor cannot stop a running task, so end its processes ourselves
    # (`_processes` is private but present since 3.2); SIGKILL because a stuck worker
    # may not answer SIGTERM.
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    give_up = time.monotonic() + patience
    for process in processes:
        process.join(timeout=max(0.0, give_up - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.kill()
    for process in processes:
        process.join(timeout=5)
