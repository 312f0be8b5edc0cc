"""`[fetch] concurrency` and `per_host` bound the requests in flight, as the README says."""

from __future__ import annotations

import asyncio
import threading

from tests.support.httpserver import LocalSite, RequestHandler
from watcher.ingest.fetch import Fetcher
from watcher.pipeline.article import fetch_settings
from watcher.settings import FetchConfig


class InFlight:
    """Counts requests being served at once by a local handler that takes a while."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def handler(self, h: RequestHandler) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            h.sleep(0.3)
            h.respond(200, b"<rss version='2.0'><channel></channel></rss>", content_type="text/xml")
        finally:
            with self.lock:
                self.now -= 1


def peak_in_flight(local_site: LocalSite, config: FetchConfig, requests: int) -> int:
    counter = InFlight()
    local_site.handler("/slow", counter.handler)
    settings = fetch_settings(config)

    async def run() -> None:
        async with Fetcher(settings) as fetcher:
            results = await asyncio.gather(
                *(fetcher.fetch(local_site.url(f"/slow?n={i}")) for i in range(requests))
            )
        assert all(r.status == 200 for r in results), [r.outcome for r in results]

    asyncio.run(run())
    return counter.peak


def test_concurrency_caps_the_requests_in_flight_over_all_hosts(local_site: LocalSite) -> None:
    """With per_host above it, `concurrency` alone bounds what is in flight, and is reached."""
    config = FetchConfig(allow_private_addresses=True, retries=0, per_host=20, concurrency=3)
    assert peak_in_flight(local_site, config, requests=9) == 3


def test_per_host_caps_one_host_below_the_overall_limit(local_site: LocalSite) -> None:
    """One host never gets more than `per_host` requests at once."""
    config = FetchConfig(allow_private_addresses=True, retries=0, per_host=2, concurrency=20)
    assert peak_in_flight(local_site, config, requests=8) == 2
