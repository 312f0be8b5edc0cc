"""Per-document work runs in worker processes under a deadline (issue 13, item 1).

`BudgetPool` on its own (a call past its deadline kills and replaces only
its worker; errors and crashes come back as exceptions), then the pipeline:
a listing page whose links make the operator's include pattern backtrack for
minutes is cut at the deadline in its worker and recorded with the reason,
while the other source on the same cycle is stored.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import time
from pathlib import Path

import pytest

from tests.pipeline_helpers import Harness, Item, fast_fetch, make_config, rss, rss_source
from tests.support.httpserver import LocalSite
from watcher.extract.budget import BudgetExceeded, BudgetPool, BudgetSettings, WorkerLost
from watcher.extract.pool import ExtractorPool, PoolSettings
from watcher.extract.worker import PageInput
from watcher.ingest.decompress import BodyTooLarge, decode_body
from watcher.model import SourceKind, SourceSpec
from watcher.pipeline.documents import Documents
from watcher.pipeline.page_task import extract_article

BACKTRACKS = r"^(a+)+$"  # exponential on "aaaa...b" inside re's C code, GIL held


def test_a_call_past_its_deadline_kills_only_its_worker_and_the_next_call_runs() -> None:
    async def run() -> None:
        with BudgetPool(BudgetSettings(workers=2, deadline=1.0)) as pool:
            started = time.monotonic()
            slow = pool.run(re.match, BACKTRACKS, "a" * 60 + "b")
            quick = pool.run(decode_body, b"plain", "", 100)
            results = await asyncio.gather(slow, quick, return_exceptions=True)
            assert isinstance(results[0], BudgetExceeded)
            assert "no result within 1 s; worker killed and replaced" in str(results[0])
            assert results[1] == b"plain"  # its neighbour was not lost with it
            assert time.monotonic() - started < 5
            assert pool.killed == 1
            assert len(pool.worker_pids()) == 1  # the killed one is gone, not counted
            after = await pool.run(os.getpid)  # a fresh worker for the next call
            assert after in pool.worker_pids()

    asyncio.run(run())


def test_errors_come_back_with_their_type_and_a_crash_is_worker_lost() -> None:
    async def run() -> None:
        with BudgetPool(BudgetSettings(workers=1, deadline=10.0)) as pool:
            with pytest.raises(BodyTooLarge):
                await pool.run(decode_body, gzip.compress(b"x" * 100), "gzip", 10)
            with pytest.raises(WorkerLost):
                await pool.run(os._exit, 3)
            assert await pool.run(decode_body, b"still working", "", 100) == b"still working"

    asyncio.run(run())


def test_a_closed_pool_refuses_work() -> None:
    async def run() -> None:
        pool = BudgetPool(BudgetSettings(workers=1, deadline=5.0))
        assert await pool.run(len, b"abc") == 3
        pids = list(pool.worker_pids())
        pool.close()
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        with pytest.raises(WorkerLost):
            await pool.run(len, b"abc")

    asyncio.run(run())


def test_a_listing_that_backtracks_is_cut_in_its_worker_and_the_other_source_is_stored(
    local_site: LocalSite, tmp_path: Path
) -> None:
    links = "".join(f'<a href="/{"a" * 40}{i}b">story {i}</a>' for i in range(3))
    local_site.add("/listing", f"<html><body>{links}</body></html>")
    local_site.add("/good.xml", rss([Item("Fine news", local_site.url("/p"))]))
    local_site.add("/p", "<html><body><p>short</p></body></html>")
    hostile = SourceSpec(
        name="Listing",
        url=local_site.url("/listing"),
        kind=SourceKind.HTML,
        include=(r"^http://[^/]+/(a+)+\d$",),
    )
    config = make_config(
        f"sqlite:///{tmp_path / 'w.db'}",
        [hostile, rss_source("Good", local_site.url("/good.xml"))],
        fetch=fast_fetch(),
    )
    documents = Documents(BudgetPool(BudgetSettings(workers=2, deadline=1.0)))
    extractor = ExtractorPool(PoolSettings(workers=1, deadline=10.0), task=extract_article)
    with extractor, Harness(config, extractor, documents=documents) as h:
        started = time.monotonic()
        report = h.cycle()
        elapsed = time.monotonic() - started
        documents.pool.close()
    by_name = {s.name: s for s in report.sources}
    assert str(by_name["Listing"].outcome) == "parse_error"
    assert "parsing: no result within 1 s; worker killed and replaced" in (
        by_name["Listing"].error or ""
    )
    assert by_name["Good"].new_articles == 1
    assert elapsed < 20
    with Harness(config, extractor) as again:
        row = again.source("Listing")
        assert row.last_outcome == "parse_error"
        assert row.failures == 1
        assert "worker killed" in (row.last_error or "")


def test_a_source_out_of_time_fails_alone_with_its_stage_and_backs_off(
    local_site: LocalSite, tmp_path: Path
) -> None:
    """The slow host: its article hangs past the source's time; the other source commits."""
    local_site.add("/slow.xml", rss([Item("Slow news", local_site.url("/_/hang?seconds=30"))]))
    local_site.add("/good.xml", rss([Item("Fine news", local_site.url("/p"))]))
    local_site.add("/p", "<html><body><p>short</p></body></html>")
    config = make_config(
        f"sqlite:///{tmp_path / 'w.db'}",
        [
            rss_source("Slow", local_site.url("/slow.xml")),
            rss_source("Good", local_site.url("/good.xml")),
        ],
        fetch=fast_fetch(total_timeout=20.0),
    )
    extractor = ExtractorPool(PoolSettings(workers=1, deadline=10.0), task=extract_article)
    with extractor, Harness(config, extractor) as h:
        # Warm workers: a cold extraction worker's imports are not what is measured here.
        extractor.extract_many([PageInput(b"<html><p>warm</p></html>", "https://e.com/w")])
        h.pipeline.source_timeout = 3.0
        started = time.monotonic()
        report = h.cycle()
        elapsed = time.monotonic() - started
        slow, good = h.source("Slow"), h.source("Good")
        slow_articles, good_articles = h.articles("Slow"), h.articles("Good")
        now = h.clock()
    by_name = {s.name: s for s in report.sources}
    assert by_name["Slow"].timed_out
    assert elapsed < 10
    assert slow.last_outcome == "timeout"
    assert slow.last_error == "no result within 3 s (while fetching and extracting 1 articles)"
    assert slow.failures == 1
    assert slow.next_poll_at is not None
    assert slow.next_poll_at.replace(tzinfo=now.tzinfo) > now + config.sources[0].interval
    assert slow.etag is None
    assert slow_articles == []  # nothing of the cut poll was committed
    assert [a.title for a in good_articles] == ["Fine news"]
    assert good.failures == 0
