"""Per-document work in worker processes, each call under a hard deadline.

A hostile document (a feed built to make a parser backtrack, a body of
millions of tiny gzip members) can cost seconds of CPU inside one C call.
On the event loop that call holds the GIL: `/healthz` stops answering,
other sources stall and even the stop signal's handler cannot run. So the
pipeline runs decoding and source-document parsing here, beside the
extraction workers (`watcher.extract.pool`), and this pool gives each call
a budget:

* `BudgetPool.run(fn, *args)` sends `fn(*args)` to an idle worker process
  and waits at most `deadline` seconds, counted from the moment the worker
  has the document and the modules it needs (waiting for a free worker, or
  for a fresh worker's imports, is not the document's fault);
* past the deadline the worker is killed (SIGKILL: it may be stuck in C
  code) and replaced by a fresh one for the next call, and `run` raises
  `BudgetExceeded`, whose message is the reason to record;
* a worker that dies under a call (segfault, OOM kill) raises `WorkerLost`;
  an exception `fn` raises is raised again in the caller, same type when it
  can be pickled.

Each worker runs one call at a time, so killing one never loses another
document. The waiting happens in a short-lived daemon thread per call, not
on the loop and not in the loop's default executor (whose threads the
interpreter joins at exit). Workers come from the 'forkserver' start method
(fork is unsafe in a process with threads), and `bind_to_parent` makes each
die with its parent however the daemon ends (see there).

`fn` and its arguments must pickle: module-level functions and plain values.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

T = TypeVar("T")

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
WATCH_INTERVAL = 0.5  # seconds between a worker's looks at its parent
STARTUP_DEADLINE = 60.0  # seconds a worker may take to unpickle a call (its first imports)


def bind_to_parent() -> None:
    """Make this process die with its parent, however the parent ends.

    Called first in every worker process (extraction workers too). Two
    mechanisms, because either alone can miss:

    * `prctl(PR_SET_PDEATHSIG, SIGKILL)` (Linux): the kernel kills this
      process when its parent exits, even a SIGKILLed parent and even while
      this process is stuck in C code. The workers' parent is the
      multiprocessing forkserver, which exits once every copy of the write
      end of its "alive" pipe is closed. multiprocessing hands a copy to each
      worker too (so that it could start processes itself), which kept the
      forkserver and its workers alive forever after the daemon was
      SIGKILLed; the worker closes its copy here, so the daemon holds the
      only one and its death ends the forkserver and then the workers;
    * a watchdog thread that exits the process once it has been re-parented
      (`os.getppid()` changed), for systems without prctl and for a parent
      that died before the prctl call took effect.
    """
    parent = os.getppid()
    _release_forkserver()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)  # the parent died before the prctl call: nobody will collect our work
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()


def _release_forkserver() -> None:
    """Close this process's copy of the forkserver's "alive" pipe (see `bind_to_parent`).

    `_forkserver_alive_fd` is private to multiprocessing (unchanged since
    3.4); it is only set in a process the forkserver started, so the daemon
    itself never closes its own copy.
    """
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if server is None or fd is None or multiprocessing.parent_process() is None:
        return
    with contextlib.suppress(OSError):
        os.close(fd)
    server._forkserver_alive_fd = None


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_INTERVAL)
    os._exit(0)


class BudgetExceeded(Exception):
    """A call ran past its deadline; its worker was killed and will be replaced."""


class WorkerLost(Exception):
    """The worker process died under a call (a crash, an OOM kill, the pool closing)."""


@dataclass(frozen=True)
class BudgetSettings:
    """How many worker processes, and how long one call may take.

    `preload` names modules the forkserver imports once, so workers start
    with them loaded (the pipeline passes the extraction workers' modules
    too: one forkserver serves both pools, and the first to start it sets
    its preload).
    """

    workers: int = max(1, min(os.cpu_count() or 1, 4))
    deadline: float = 20.0  # seconds of one call in its worker
    preload: tuple[str, ...] = ()


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, context: Any) -> None:
        parent_end, child_end = multiprocessing.Pipe()
        self.process: BaseProcess = context.Process(
            target=_serve, args=(child_end,), name="watcher-document-worker", daemon=True
        )
        self.process.start()
        child_end.close()
        self.conn: Connection = parent_end

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.process.join(timeout=2)
        with contextlib.suppress(Exception):
            self.conn.close()


def _serve(conn: Connection) -> None:
    """The worker's loop: receive `(fn, args)`, send back `("ok", value)` or `("error", exc)`."""
    bind_to_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while True:
        try:
            fn, args = conn.recv()
        except (EOFError, OSError):
            return  # the parent closed the pipe
        conn.send(("started", None))  # unpickled (imports done): the deadline starts now
        try:
            reply: tuple[str, Any] = ("ok", fn(*args))
        except Exception as exc:
            reply = ("error", _portable(exc))
        try:
            conn.send(reply)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            conn.send(("error", RuntimeError(f"result cannot be sent back: {exc!r}"[:500])))


def _portable(exc: Exception) -> Exception:
    """`exc` when it survives pickling, else a RuntimeError carrying its repr."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(repr(exc)[:500])
    return exc


class BudgetPool:
    """Worker processes that run one call each at a time, under a deadline; see module doc."""

    def __init__(self, settings: BudgetSettings | None = None) -> None:
        self.settings = settings or BudgetSettings()
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._closed = False
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        self.killed = 0  # workers killed past their deadline (tests, metrics)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a worker; raises BudgetExceeded, WorkerLost or what `fn` raised."""
        slots = self._semaphore()
        await slots.acquire()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[str, Any]] = loop.create_future()

        def settle(reply: tuple[str, Any]) -> None:
            slots.release()  # only now: the worker is free again, or replaced
            if not future.done():
                future.set_result(reply)

        def work() -> None:
            try:
                reply = self._call(fn, args)
            except BaseException as exc:  # handed to the awaiting task
                reply = ("error", exc)
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(settle, reply)

        try:
            threading.Thread(target=work, name="document-call", daemon=True).start()
        except BaseException:
            slots.release()
            raise
        # Cancelling the awaiting task leaves the call to finish within its deadline.
        tag, value = await asyncio.shield(future)
        if tag == "ok":
            return value  # type: ignore[no-any-return]
        if tag == "deadline":
            raise BudgetExceeded(value)
        if tag == "lost":
            raise WorkerLost(value)
        raise value

    def close(self) -> None:
        """Kill every worker (idle or busy); calls in progress raise WorkerLost."""
        with self._lock:
            self._closed = True
            workers = list(self._all)
            self._all.clear()
            self._idle.clear()
        for worker in workers:
            worker.kill()

    def __enter__(self) -> BudgetPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def worker_pids(self) -> Sequence[int]:
        """The process ids of the live workers."""
        with self._lock:
            return [w.process.pid for w in self._all if w.process.pid is not None]

    # -- in the calling thread -----------------------------------------------------------

    def _semaphore(self) -> asyncio.Semaphore:
        # asyncio primitives belong to one loop; the CLI and tests may run several in turn.
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.settings.workers))
        return self._slots[1]

    def _call(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[str, Any]:
        """Run one call to its end: ("ok"|"error", value) or ("deadline"|"lost", reason)."""
        for attempt in range(2):
            worker = self._checkout()
            try:
                worker.conn.send((fn, args))
            except (OSError, EOFError):
                # An idle worker that died (OOM kill): the document never reached it.
                self._discard(worker)
                if attempt:
                    return "lost", "worker process died before the call"
                continue
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                self._checkin(worker)
                return "error", TypeError(f"cannot send the call to a worker: {exc!r}")
            return self._wait(worker)
        raise AssertionError("unreachable")

    def _wait(self, worker: _Worker) -> tuple[str, Any]:
        deadline = self.settings.deadline
        try:
            # A fresh worker imports what the call needs first (unpickling it): not the
            # document's time, but bounded too.
            if not worker.conn.poll(STARTUP_DEADLINE):
                self._discard(worker, killed=True)
                return "lost", f"worker did not take the call within {STARTUP_DEADLINE:g} s"
            worker.conn.recv()  # ("started", None)
            ready = worker.conn.poll(deadline)
            if not ready:
                self._discard(worker, killed=True)
                return "deadline", f"no result within {deadline:g} s; worker killed and replaced"
            reply: tuple[str, Any] = worker.conn.recv()
        except (OSError, EOFError):
            code = worker.process.exitcode
            self._discard(worker)
            return "lost", f"worker process died (exit code {code})"
        self._checkin(worker)
        return reply

    def _checkout(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise WorkerLost("the pool is closed")
            if self._idle:
                return self._idle.pop()
        worker = _Worker(self._context())
        with self._lock:
            if self._closed:
                closed = True
            else:
                closed = False
                self._all.add(worker)
        if closed:
            worker.kill()
            raise WorkerLost("the pool is closed")
        return worker

    def _checkin(self, worker: _Worker) -> None:
        with self._lock:
            if worker in self._all:
                self._idle.append(worker)

    def _discard(self, worker: _Worker, *, killed: bool = False) -> None:
        with self._lock:
            self._all.discard(worker)
            if killed:
                self.killed += 1
        worker.kill()

    def _context(self) -> Any:
        context = multiprocessing.get_context("forkserver")
        if self.settings.preload:
            # Only effective before the forkserver starts; harmless afterwards.
            context.set_forkserver_preload([__name__, *self.settings.preload])
        return context
