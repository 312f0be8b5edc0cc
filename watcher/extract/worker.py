"""The worker side of `watcher.extract.pool`: what runs inside an extraction process.

A worker runs one page at a time under a *soft* deadline: SIGALRM raises
out of trafilatura and the page comes back `FAILED` with the reason, while
the worker lives on for the next page. Every `RESET_CACHES_EVERY` pages it
empties trafilatura's caches, which grow about 1 MB per page (trafilatura
issue 216), and hands the memory glibc's allocator keeps after freeing back
to the system (`malloc_trim`): lxml's large trees leave free but mapped
heap behind, which counted as the worker's own memory. The parent's hard
deadline, crash recovery and recycling are in `watcher.extract.pool`.
"""

from __future__ import annotations

import ctypes
import signal
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Protocol

from watcher.extract.budget import bind_to_parent
from watcher.extract.page import ExtractOptions, warm_up
from watcher.model import Extraction, ExtractionStatus

RESET_CACHES_EVERY = 50  # pages; trafilatura's caches grow ~1 MB per page


class PageTask(Protocol):
    """The work a pool runs: `extract_page`, the pipeline's `extract_article`, or a stand-in."""

    def __call__(
        self, body: bytes, *, url: str, content_type: str, options: ExtractOptions
    ) -> Extraction: ...


@dataclass(frozen=True)
class PageInput:
    """One fetched page to extract; `content_type` is the raw header, charset included.

    `options`, when set, replace the pool's for this page (the pipeline asks
    for no page metadata when the feed entry has its title and date).
    """

    body: bytes
    url: str
    content_type: str = ""
    options: ExtractOptions | None = None


class _Deadline(BaseException):
    """Raised by SIGALRM inside a worker; a BaseException so `except Exception` can't eat it."""


class _WorkerState:
    """Per worker process: whether a page is running, and how many have run."""

    in_task = False
    done = 0


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    if _WorkerState.in_task:
        raise _Deadline


def init_worker() -> None:
    """The pool's initializer: the deadline's signal handler, then the warm-up.

    Ctrl-C is the parent's. The warm-up (`page.warm_up`) builds the date
    parser's tables before the first page, whose deadline would otherwise
    pay seconds for them; in a worker forked from the warmed forkserver it
    finds them built and takes milliseconds.
    """
    bind_to_parent()  # no orphaned workers, however the daemon ends
    signal.signal(signal.SIGALRM, _on_alarm)
    # The parent handles Ctrl-C and SIGTERM and shuts the pool down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warm_up()


def ready() -> None:
    """A no-op: submitted to a pool started ahead, so its workers start (and warm up) now."""


def run_page(
    task: PageTask, page: PageInput, options: ExtractOptions, deadline: float
) -> Extraction:
    """In a worker: one page under the soft deadline of `deadline` seconds."""
    _WorkerState.in_task = True
    signal.setitimer(signal.ITIMER_REAL, deadline)
    try:
        return task(
            page.body,
            url=page.url,
            content_type=page.content_type,
            options=page.options or options,
        )
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
    _trim_heap()


def _trim_heap() -> None:
    """Return free heap pages to the system (glibc only; elsewhere nothing happens)."""
    if _Libc.malloc_trim is None:
        try:  # the process's own symbols, libc's among them
            _Libc.malloc_trim = getattr(ctypes.CDLL(None), "malloc_trim", False)
        except OSError:
            _Libc.malloc_trim = False
    if callable(_Libc.malloc_trim):
        _Libc.malloc_trim(0)


class _Libc:
    """glibc's `malloc_trim`, looked up on first use; False where there is none (musl, macOS)."""

    malloc_trim: Callable[[int], int] | bool | None = None
