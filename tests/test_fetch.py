"""The HTTP fetcher against a real misbehaving server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.httpserver import LocalSite, RequestHandler, gzip_of_zeros, refused_url
from watcher.errors import ConfigError
from watcher.ingest.fetch import MAX_RETRY_AFTER, Fetcher, FetchSettings, parse_retry_after
from watcher.model import FetchOutcome, FetchResult

MiB = 1024 * 1024

# Fast settings: reach 127.0.0.1, tiny backoff, short deadlines.
FAST = FetchSettings(
    allow_private_addresses=True,
    connect_timeout=2.0,
    total_timeout=5.0,
    retries=2,
    backoff=0.01,
)


def fetch(url: str, *, settings: FetchSettings = FAST, **kwargs: Any) -> FetchResult:
    """Fetch one URL with a fresh Fetcher."""

    async def run() -> FetchResult:
        async with Fetcher(settings) as f:
            return await f.fetch(url, **kwargs)

    return asyncio.run(run())


def fetch_many(urls: Sequence[str], settings: FetchSettings = FAST) -> list[FetchResult]:
    """Fetch URLs concurrently through one Fetcher."""

    async def run() -> list[FetchResult]:
        async with Fetcher(settings) as f:
            return list(await asyncio.gather(*(f.fetch(u) for u in urls)))

    return asyncio.run(run())


FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


def test_ok_fetch_returns_body_and_validators(local_site: LocalSite) -> None:
    """A 200 returns the body, the status, lower-cased headers and the validators."""
    local_site.add(
        "/feed.xml",
        FEED,
        content_type="application/rss+xml",
        etag='"abc"',
        last_modified="Tue, 01 Oct 2024 10:00:00 GMT",
    )
    result = fetch(local_site.url("/feed.xml"))
    assert result.outcome is FetchOutcome.OK
    assert (result.status, result.body) == (200, FEED)
    assert result.final_url == local_site.url("/feed.xml")
    assert result.content_type == "application/rss+xml"
    assert (result.etag, result.last_modified) == ('"abc"', "Tue, 01 Oct 2024 10:00:00 GMT")
    assert result.error is None
    assert result.elapsed > 0


def test_request_headers_are_honest_and_cookieless(local_site: LocalSite) -> None:
    """Requests carry the watcher User-Agent, accept gzip, send extra headers and no cookies."""
    local_site.add("/a", "x", headers={"Set-Cookie": "s=1"})
    fetch_many([local_site.url("/a"), local_site.url("/a")])
    for request in local_site.requests:
        assert request.headers["user-agent"].startswith("watcher/")
        assert "gzip" in request.headers["accept-encoding"]
        assert "cookie" not in request.headers
    fetch(local_site.url("/a"), headers=[("X-Token", "t1")])
    assert local_site.requests[-1].headers["x-token"] == "t1"


@pytest.mark.parametrize(
    ("kwargs", "sent"),
    [
        ({"etag": 'W/"v1"'}, ("if-none-match", 'W/"v1"')),
        (
            {"last_modified": "Tue, 01 Oct 2024 10:00:00 GMT"},
            ("if-modified-since", "Tue, 01 Oct 2024 10:00:00 GMT"),
        ),
    ],
)
def test_conditional_get_not_modified(
    local_site: LocalSite, kwargs: dict[str, Any], sent: tuple[str, str]
) -> None:
    """Validators are sent back verbatim and a 304 is NOT_MODIFIED with them kept."""
    local_site.add("/f", FEED, etag='W/"v1"', last_modified="Tue, 01 Oct 2024 10:00:00 GMT")
    result = fetch(local_site.url("/f"), **kwargs)
    assert result.outcome is FetchOutcome.NOT_MODIFIED
    assert result.body == b""
    assert result.etag == 'W/"v1"'
    name, value = sent
    assert local_site.requests[0].headers[name] == value


def test_changed_etag_gets_full_body(local_site: LocalSite) -> None:
    """A stale validator gets a 200 with the new ETag."""
    local_site.add("/f", FEED, etag='"v2"')
    result = fetch(local_site.url("/f"), etag='"v1"')
    assert (result.outcome, result.etag, result.body) == (FetchOutcome.OK, '"v2"', FEED)


@pytest.mark.parametrize("code", [500, 502, 504])
def test_5xx_is_retried_then_reported(local_site: LocalSite, code: int) -> None:
    """A persistent 5xx is retried `retries` times, then reported as HTTP_ERROR."""
    result = fetch(local_site.url(f"/_/status?code={code}"))
    assert (result.outcome, result.status) == (FetchOutcome.HTTP_ERROR, code)
    assert result.error == f"HTTP {code}"
    assert result.body == b""
    assert local_site.hits("/_/status") == 3


def test_transient_5xx_recovers(local_site: LocalSite) -> None:
    """Two 502s followed by a 200 end as OK after retries."""
    local_site.add("/feed", FEED)
    result = fetch(local_site.url("/_/flaky?fails=2&code=502&path=/feed"))
    assert (result.outcome, result.body) == (FetchOutcome.OK, FEED)
    assert local_site.hits("/_/flaky") == 3


def test_4xx_is_not_retried(local_site: LocalSite) -> None:
    """A 404 is an HTTP_ERROR after a single request."""
    result = fetch(local_site.url("/missing"))
    assert (result.outcome, result.status) == (FetchOutcome.HTTP_ERROR, 404)
    assert local_site.hits("/missing") == 1


@pytest.mark.parametrize(
    ("query", "outcome", "retry_after"),
    [
        ("code=429&retry_after=120", FetchOutcome.RATE_LIMITED, 120.0),
        ("code=503&retry_after=120", FetchOutcome.RATE_LIMITED, 120.0),
        ("code=429&retry_after=1000000000", FetchOutcome.RATE_LIMITED, MAX_RETRY_AFTER),
        ("code=429&retry_after=-5", FetchOutcome.RATE_LIMITED, None),
        ("code=429&retry_after=soon", FetchOutcome.RATE_LIMITED, None),
        ("code=429", FetchOutcome.RATE_LIMITED, None),
        ("code=503&retry_after=soon", FetchOutcome.HTTP_ERROR, None),
    ],
)
def test_rate_limited_with_retry_after(
    local_site: LocalSite, query: str, outcome: FetchOutcome, retry_after: float | None
) -> None:
    """429 (and 503 with a valid Retry-After) is RATE_LIMITED with the parsed wait, not retried."""
    result = fetch(local_site.url(f"/_/status?{query}"))
    assert result.outcome is outcome
    assert result.retry_after == retry_after
    expected_requests = 1 if outcome is FetchOutcome.RATE_LIMITED else 3
    assert local_site.hits("/_/status") == expected_requests


def test_retry_after_http_date(local_site: LocalSite) -> None:
    """A Retry-After HTTP-date becomes the seconds until that date."""
    in_a_minute = datetime.fromtimestamp(time.time() + 60, UTC)
    date = in_a_minute.strftime("%a, %d %b %Y %H:%M:%S GMT").replace(" ", "%20")
    result = fetch(local_site.url(f"/_/status?code=503&retry_after={date}"))
    assert result.outcome is FetchOutcome.RATE_LIMITED
    assert result.retry_after is not None
    assert 55 <= result.retry_after <= 61


NOW = datetime(2024, 10, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("1000000000", MAX_RETRY_AFTER),
        ("-5", None),
        ("1.5", None),
        ("", None),
        ("soon", None),
        ("Tue, 01 Oct 2024 12:02:00 GMT", 120.0),
        ("Tue, 01 Oct 2024 11:00:00 GMT", 0.0),
        ("Tue, 01 Oct 2099 12:00:00 GMT", MAX_RETRY_AFTER),
        ("Tuesday, 01-Oct-24 12:01:00 GMT", 60.0),
        ("Tue, 32 Oct 2024 12:00:00 GMT", None),
    ],
)
def test_parse_retry_after(value: str, expected: float | None) -> None:
    """Retry-After takes seconds or an HTTP-date; malformed or negative is None; clamped to 24 h."""
    assert parse_retry_after(value, NOW) == expected


def test_connection_refused(local_site: LocalSite) -> None:
    """A refused connection is a CONNECTION_ERROR after the retries."""
    result = fetch(refused_url(), settings=replace(FAST, retries=1))
    assert result.outcome is FetchOutcome.CONNECTION_ERROR
    assert result.error is not None
    assert "connect" in result.error.lower()


def test_server_closing_without_answer(local_site: LocalSite) -> None:
    """A server that closes the connection without a response is a CONNECTION_ERROR."""
    result = fetch(local_site.url("/_/close"))
    assert result.outcome is FetchOutcome.CONNECTION_ERROR
    # Our 2 retries, each of which aiohttp may retry once on a dropped connection.
    assert 3 <= local_site.hits("/_/close") <= 6


def test_slowloris_is_cut_by_total_deadline(local_site: LocalSite) -> None:
    """A body trickled a byte at a time is aborted by the total deadline, not per-read timeouts."""
    settings = replace(FAST, total_timeout=0.6, retries=0)
    start = time.monotonic()
    result = fetch(local_site.url("/_/slowloris?interval=0.1&count=1000"), settings=settings)
    assert result.outcome is FetchOutcome.TIMEOUT
    assert time.monotonic() - start < 2.0
    assert result.body == b""


def test_hang_before_headers_times_out(local_site: LocalSite) -> None:
    """A server that never answers is a TIMEOUT within the deadline, retried per settings."""
    settings = replace(FAST, total_timeout=0.3, retries=1)
    start = time.monotonic()
    result = fetch(local_site.url("/_/hang?seconds=30"), settings=settings)
    assert result.outcome is FetchOutcome.TIMEOUT
    assert local_site.hits("/_/hang") == 2
    assert time.monotonic() - start < 2.0


def test_truncated_body_is_an_error(local_site: LocalSite) -> None:
    """A body shorter than its Content-Length is a CONNECTION_ERROR with no body to parse."""
    result = fetch(local_site.url("/_/truncated?declared=5000&sent=120"))
    assert result.outcome is FetchOutcome.CONNECTION_ERROR
    assert result.body == b""
    assert result.etag is None
    assert "incomplete" in (result.error or "")


def _peak_bytes(fn: Callable[[], FetchResult]) -> tuple[FetchResult, int]:
    """Run `fn()` and measure the peak of Python allocations while it ran."""
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("length", ["1", "0"])
def test_huge_body_is_refused_with_bounded_memory(local_site: LocalSite, length: str) -> None:
    """A 100 MB body, with or without Content-Length, is TOO_LARGE with memory near the cap."""
    url = local_site.url(f"/_/huge?size=100000000&length={length}")
    result, peak = _peak_bytes(lambda: fetch(url, max_bytes=MiB))
    assert result.outcome is FetchOutcome.TOO_LARGE
    assert result.body == b""
    assert peak < 8 * MiB


@pytest.mark.parametrize("encoding", ["1", "0"])
def test_gzip_bomb_is_refused_with_bounded_memory(local_site: LocalSite, encoding: str) -> None:
    """A 256 MB gzip bomb, declared or sniffed by magic bytes, is TOO_LARGE in bounded memory."""
    url = local_site.url(f"/_/gzip?size={256 * MiB}&encoding={encoding}")
    gzip_of_zeros(256 * MiB)  # build the bomb outside the measured window
    result, peak = _peak_bytes(lambda: fetch(url, max_bytes=2 * MiB))
    assert result.outcome is FetchOutcome.TOO_LARGE
    assert peak < 12 * MiB


@pytest.mark.slow
def test_one_gigabyte_gzip_bomb(local_site: LocalSite) -> None:
    """A 1 GB gzip bomb with the default feed cap is TOO_LARGE without inflating it."""
    result, peak = _peak_bytes(lambda: fetch(local_site.url(f"/_/gzip?size={1024 * MiB}")))
    assert result.outcome is FetchOutcome.TOO_LARGE
    assert peak < 64 * MiB


def test_gzip_without_content_encoding_is_decoded(local_site: LocalSite) -> None:
    """A gzip body served without Content-Encoding is recognised by magic bytes and decoded."""
    local_site.add("/c.xml", gzip.compress(FEED), content_type="application/xml")
    result = fetch(local_site.url("/c.xml"))
    assert (result.outcome, result.body) == (FetchOutcome.OK, FEED)


def test_declared_gzip_is_decoded(local_site: LocalSite) -> None:
    """A body with Content-Encoding gzip is decoded."""
    local_site.add("/g", gzip.compress(FEED), headers={"Content-Encoding": "gzip"})
    assert fetch(local_site.url("/g")).body == FEED


def test_under_cap_body_is_kept_whole(local_site: LocalSite) -> None:
    """A body exactly at the cap is OK and complete."""
    local_site.add("/exact", b"y" * 1000)
    result = fetch(local_site.url("/exact"), max_bytes=1000)
    assert (result.outcome, len(result.body)) == (FetchOutcome.OK, 1000)
    assert fetch(local_site.url("/exact"), max_bytes=999).outcome is FetchOutcome.TOO_LARGE


def test_redirect_chain_records_final_url(local_site: LocalSite) -> None:
    """301 -> 302 -> 200 is OK with the final URL recorded."""
    local_site.add("/target.xml", FEED)
    result = fetch(local_site.url("/_/redirect?codes=301,302&to=/target.xml"))
    assert (result.outcome, result.body) == (FetchOutcome.OK, FEED)
    assert result.url == local_site.url("/_/redirect?codes=301,302&to=/target.xml")
    assert result.final_url == local_site.url("/target.xml")


@pytest.mark.parametrize(
    ("hops", "outcome"), [(5, FetchOutcome.OK), (6, FetchOutcome.TOO_MANY_REDIRECTS)]
)
def test_redirect_cap(local_site: LocalSite, hops: int, outcome: FetchOutcome) -> None:
    """Five redirects are followed; a sixth is TOO_MANY_REDIRECTS."""
    local_site.add("/end", FEED)
    result = fetch(local_site.url(f"/_/hops?n={hops}&to=/end"))
    assert result.outcome is outcome
    assert local_site.hits("/_/hops") == min(hops, 6)


def test_redirect_loop_is_reported(local_site: LocalSite) -> None:
    """Two URLs redirecting to each other are reported as a loop, not followed forever."""
    result = fetch(local_site.url("/_/loop"))
    assert result.outcome is FetchOutcome.TOO_MANY_REDIRECTS
    assert "loop" in (result.error or "")
    assert local_site.hits("/_/loop") <= 3


def test_redirect_without_location(local_site: LocalSite) -> None:
    """A 302 with no Location header is an HTTP_ERROR."""
    local_site.add("/nowhere", b"", status=302)
    result = fetch(local_site.url("/nowhere"))
    assert (result.outcome, result.status) == (FetchOutcome.HTTP_ERROR, 302)


def test_wrong_content_type_is_still_fetched(local_site: LocalSite) -> None:
    """The fetcher does not judge content types: a feed served as text/plain is OK."""
    local_site.add("/feed", FEED)
    result = fetch(local_site.url("/_/type?ct=text/plain&path=/feed"))
    assert (result.outcome, result.content_type, result.body) == (
        FetchOutcome.OK,
        "text/plain",
        FEED,
    )


def test_per_host_limit(local_site: LocalSite) -> None:
    """No more than `per_host` requests to one host are in flight at once."""
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def slow(h: RequestHandler) -> None:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.1)
        with lock:
            state["now"] -= 1
        h.respond(200, b"ok")

    local_site.handler("/slow", slow)
    results = fetch_many([local_site.url("/slow")] * 6, replace(FAST, per_host=2))
    assert len(results) == 6
    assert all(r.ok for r in results)
    assert state["max"] == 2


def test_waiting_for_a_host_slot_does_not_eat_the_deadline(local_site: LocalSite) -> None:
    """Requests queued behind the per-host limit get their full deadline once they start."""

    def slow(h: RequestHandler) -> None:
        time.sleep(0.25)
        h.respond(200, b"ok")

    local_site.handler("/slow", slow)
    settings = replace(FAST, per_host=1, total_timeout=0.6, retries=0)
    results = fetch_many([local_site.url("/slow")] * 4, settings)
    assert [r.outcome for r in results] == [FetchOutcome.OK] * 4


def test_invalid_allowed_network_is_a_config_error() -> None:
    """A malformed allowed_networks entry raises ConfigError when the fetcher is built."""
    with pytest.raises(ConfigError, match="allowed_networks"):
        Fetcher(replace(FAST, allowed_networks=("10.0.0.0/33",)))
