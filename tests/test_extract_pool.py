"""The extraction process pool: results, per-page deadline, recovery from stuck and dead workers."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter

import pytest

from tests.test_extract import ARTICLE_EN, article_page
from watcher.extract.page import ExtractOptions, extract_page
from watcher.extract.pool import MEMORY_CHECK_EVERY, ExtractorPool, PoolSettings, private_mb
from watcher.extract.worker import PageInput
from watcher.metrics import METRICS
from watcher.model import Extraction, ExtractionStatus
from watcher.pipeline.page_task import extract_article
from watcher.stories.cluster import fingerprint

PAGE = article_page(ARTICLE_EN).encode()
FAST = PoolSettings(workers=2, deadline=0.5, grace=1.5, max_tasks_per_child=3)


def misbehaving(body: bytes, *, url: str, content_type: str, options: ExtractOptions) -> Extraction:
    """Runs in a worker: real extraction, unless the body asks to hang or to die."""
    if body == b"slow":  # interruptible: the in-worker alarm ends it
        time.sleep(30)
    if body == b"stuck":  # deaf to the alarm, like a long call inside lxml
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(30)
    if body == b"crash":  # a segfault or the OOM killer
        os.kill(os.getpid(), signal.SIGKILL)
    if body == b"raise":
        raise RuntimeError("bug in the task")
    if body == b"pid":
        return Extraction(ExtractionStatus.OK, reason=str(os.getpid()))
    if body == b"long-span":  # which worker ran it, from when to when
        start = time.time()
        time.sleep(0.6)
        return Extraction(ExtractionStatus.OK, reason=f"{os.getpid()} {start} {time.time()}")
    return extract_page(body, url=url, content_type=content_type, options=options)


def ok(result: Extraction) -> bool:
    return result.status is ExtractionStatus.OK and result.page is not None


def test_extract_many_matches_in_process_extraction() -> None:
    """Pages extracted in the workers equal extract_article in this process, in input order."""
    pages = [
        PageInput(PAGE, "https://e.com/1", "text/html"),
        PageInput(b"%PDF-1.4", "https://e.com/2", "application/pdf"),
        PageInput(PAGE, "https://e.com/3", ""),
    ]
    with ExtractorPool(PoolSettings(workers=2), task=extract_article) as pool:
        results = pool.extract_many(pages)
    here = [extract_article(p.body, url=p.url, content_type=p.content_type) for p in pages]
    assert results == here
    assert [r.status for r in results] == ["ok", "skipped", "ok"]


def test_workers_fingerprint_the_text_with_the_pipelines_task() -> None:
    """With the pipeline's task a page comes back with its text's story fingerprint;
    the pool's own default task (plain extraction) adds none."""
    page = PageInput(PAGE, "https://e.com/1", "text/html")
    with ExtractorPool(PoolSettings(workers=1), task=extract_article) as pool:
        [result] = pool.extract_many([page])
    assert result.page is not None
    assert result.page.fingerprint == fingerprint(result.page.text).to_bytes()
    with ExtractorPool(PoolSettings(workers=1)) as pool:
        [plain] = pool.extract_many([page])
    assert plain.page is not None
    assert plain.page.fingerprint is None
    assert plain.page.text == result.page.text


def test_async_extract() -> None:
    """The async API extracts concurrently and gives the same results."""

    async def run(pool: ExtractorPool) -> list[Extraction]:
        jobs = [
            pool.extract(PAGE, url=f"https://e.com/{i}", content_type="text/html") for i in range(6)
        ]
        return await asyncio.gather(*jobs)

    with ExtractorPool(PoolSettings(workers=2)) as pool:
        results = asyncio.run(run(pool))
        again = asyncio.run(run(pool))  # a second event loop may use the same pool
    assert len(results) == len(again) == 6
    assert all(ok(r) for r in results + again)


def test_soft_deadline_fails_the_page_and_keeps_the_worker() -> None:
    """A page over the deadline is FAILED 'deadline' and the pool carries on without a restart."""
    pages = [
        PageInput(b"slow", "https://e.com/slow"),
        PageInput(PAGE, "https://e.com/ok", "text/html"),
    ]
    with ExtractorPool(FAST, task=misbehaving) as pool:
        started = time.monotonic()
        slow, fine = pool.extract_many(pages)
        assert time.monotonic() - started < 5
        assert pool.restarts == 0
    assert slow.status is ExtractionStatus.FAILED
    assert slow.reason
    assert slow.reason.startswith("deadline")
    assert ok(fine)


def test_stuck_worker_is_killed_and_later_pages_run() -> None:
    """A worker deaf to the deadline is killed at the hard deadline; later pages extract."""
    pages = [PageInput(b"stuck", "https://e.com/stuck")] + [
        PageInput(PAGE, f"https://e.com/{i}", "text/html") for i in range(5)
    ]
    with ExtractorPool(FAST, task=misbehaving) as pool:
        started = time.monotonic()
        stuck, *rest = pool.extract_many(pages)
        assert time.monotonic() - started < 10
        assert pool.restarts == 1
    assert stuck.status is ExtractionStatus.FAILED
    assert stuck.reason
    assert "deadline" in stuck.reason
    assert len(rest) == 5
    assert all(ok(r) for r in rest)


def test_stuck_worker_async() -> None:
    """With the async API too, a stuck page fails at the deadline and does not block the others."""

    async def run(pool: ExtractorPool) -> list[Extraction]:
        stuck = pool.extract(b"stuck", url="https://e.com/stuck", content_type="")
        others = [
            pool.extract(PAGE, url=f"https://e.com/{i}", content_type="text/html") for i in range(4)
        ]
        return await asyncio.gather(stuck, *others)

    with ExtractorPool(FAST, task=misbehaving) as pool:
        stuck, *rest = asyncio.run(run(pool))
    assert stuck.status is ExtractionStatus.FAILED
    assert stuck.reason
    assert "deadline" in stuck.reason
    assert len(rest) == 4
    assert all(ok(r) for r in rest)


def test_dead_worker_is_replaced() -> None:
    """A worker killed mid-page is replaced; the culprit fails and the other pages extract."""
    pages = [
        PageInput(PAGE, "https://e.com/a", "text/html"),
        PageInput(b"crash", "https://e.com/c"),
    ]
    pages += [PageInput(PAGE, f"https://e.com/{i}", "text/html") for i in range(4)]
    with ExtractorPool(FAST, task=misbehaving) as pool:
        results = pool.extract_many(pages)
        assert pool.restarts >= 1
    crashed = results.pop(1)
    assert crashed.status is ExtractionStatus.FAILED
    assert crashed.reason == "worker crashed"
    assert len(results) == 5
    assert all(ok(r) for r in results)


def test_dead_worker_async() -> None:
    """With the async API, a dying worker fails its own page only."""

    async def run(pool: ExtractorPool) -> list[Extraction]:
        crash = pool.extract(b"crash", url="https://e.com/c", content_type="")
        fine = pool.extract(PAGE, url="https://e.com/ok", content_type="text/html")
        return list(await asyncio.gather(crash, fine))

    with ExtractorPool(FAST, task=misbehaving) as pool:
        crashed, fine = asyncio.run(run(pool))
    assert crashed.reason == "worker crashed"
    assert ok(fine)


def test_task_exception_is_a_failed_page() -> None:
    """An exception escaping the task is this page's FAILED result, not the caller's exception."""
    with ExtractorPool(FAST, task=misbehaving) as pool:
        (result,) = pool.extract_many([PageInput(b"raise", "https://e.com/r")])
    assert result.status is ExtractionStatus.FAILED
    assert result.reason
    assert "bug in the task" in result.reason


def test_workers_are_recycled() -> None:
    """The pool is replaced after workers x max_tasks_per_child pages: no worker runs more."""
    per_pool = FAST.workers * FAST.max_tasks_per_child
    with ExtractorPool(FAST, task=misbehaving) as pool:
        results = pool.extract_many([PageInput(b"pid", "https://e.com/p")] * (3 * per_pool))
    pages_per_worker = Counter(r.reason for r in results)
    assert len(pages_per_worker) >= 3  # three pools, each with at least one worker
    assert max(pages_per_worker.values()) <= per_pool


def test_workers_are_recycled_on_their_measured_memory() -> None:
    """Over `recycle_mb` of private memory the pool is replaced; under it, it is kept.

    Same pages, same page backstop (far away); only the memory ceiling differs.
    """
    pages = [PageInput(b"pid", "https://e.com/p")] * (3 * MEMORY_CHECK_EVERY)
    roomy = PoolSettings(workers=2, recycle_mb=10_000, max_tasks_per_child=10_000)
    with ExtractorPool(roomy, task=misbehaving) as pool:
        results = pool.extract_many(pages)
    assert len({r.reason for r in results}) <= 2  # the first pool's workers did every page
    assert pool.recycles == 0
    assert 5 < pool.worker_mb < 10_000  # it was measured: a Python worker has megabytes of its own

    tight = PoolSettings(workers=2, recycle_mb=1, max_tasks_per_child=10_000)
    with ExtractorPool(tight, task=misbehaving) as pool:
        results = pool.extract_many(pages)
    assert pool.recycles >= 2  # once per memory reading after the first pool's
    scraped = METRICS.registry.get_sample_value
    replaced = scraped("watcher_extraction_pool_replacements_total", {"reason": "memory"})
    assert replaced is not None
    assert replaced >= pool.recycles
    assert (scraped("watcher_extraction_worker_memory_bytes") or 0) > 2**20
    assert len({r.reason for r in results}) > 2
    assert all(r.status is ExtractionStatus.OK for r in results)


def test_private_memory_is_read_from_proc() -> None:
    """This process has private memory; a process that is gone has none to read."""
    mine = private_mb(os.getpid())
    assert mine is not None
    assert mine > 5
    assert private_mb(2**22 + 1) is None  # above the kernel's pid limit: never a process


def _spans(results: list[Extraction]) -> list[tuple[float, float]]:
    """(start, end) of each page, in input order, from the `span` task's reason."""
    spans = []
    for result in results:
        assert result.reason is not None, result
        _pid, start, end = result.reason.split()
        spans.append((float(start), float(end)))
    return spans


def test_recycling_keeps_pages_running() -> None:
    """A recycled pool's last pages and the next pool's first pages overlap (sync and async).

    The pool is replaced after `workers x max_tasks_per_child` submits; the
    replacement takes pages at once instead of waiting for the old pool to
    drain, so concurrency never drops to zero at a recycle.
    """
    settings = PoolSettings(workers=2, deadline=5, grace=5, max_tasks_per_child=3)
    per_pool = settings.workers * settings.max_tasks_per_child

    async def run(pool: ExtractorPool) -> list[Extraction]:
        jobs = [
            pool.extract(b"long-span", url=f"https://e.com/{i}", content_type="")
            for i in range(3 * per_pool)
        ]
        return list(await asyncio.gather(*jobs))

    with ExtractorPool(settings, task=misbehaving) as pool:
        many = pool.extract_many([PageInput(b"long-span", "https://e.com/s")] * (3 * per_pool))
        gathered = asyncio.run(run(pool))
    for results in (many, gathered):
        assert len({r.reason.split()[0] for r in results if r.reason}) >= 6  # 3 pools of 2
        spans = _spans(results)
        for k in (1, 2):
            old_last_end = max(end for _, end in spans[(k - 1) * per_pool : k * per_pool])
            new_first_start = min(start for start, _ in spans[k * per_pool : (k + 1) * per_pool])
            assert new_first_start < old_last_end, (k, new_first_start, old_last_end)


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_start_methods(method: str) -> None:
    """Both safe start methods work."""
    settings = PoolSettings(workers=1, start_method=method)
    with ExtractorPool(settings) as pool:
        (result,) = pool.extract_many([PageInput(PAGE, "https://e.com/1", "text/html")])
    assert ok(result)
