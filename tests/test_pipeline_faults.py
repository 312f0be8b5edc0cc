"""Misbehaving feed servers at the pipeline level: every fault through `Pipeline.run_cycle`.

Each source is served by the misbehaving local server (`local_site`, 127.0.0.1
only). The checks are on what the pipeline records: the source's outcome,
failure count, next poll and validators, the articles it kept, and the hits.
"""

from __future__ import annotations

import gzip
import time
import tracemalloc
from collections.abc import Iterator
from datetime import timedelta
from email.utils import formatdate
from typing import Any

import pytest

from tests.pipeline_helpers import (
    Harness,
    Item,
    article_html,
    fast_fetch,
    make_config,
    rss,
    rss_source,
    small_pool,
)
from tests.support.httpserver import LocalSite, gzip_of_zeros, refused_url
from watcher.extract.pool import ExtractorPool
from watcher.ingest.fetch import FetchSettings
from watcher.model import FetchOutcome, SourceSpec
from watcher.pipeline.article import fetch_settings

PARAS = [
    "Officials in Tokyo said on Monday that Japan was studying how it could join advanced "
    "technology projects under the AUKUS partnership between Australia, Britain and the "
    "United States.",
    "The talks would cover hypersonic missiles, undersea drones and artificial intelligence, "
    "according to two people familiar with the plans, who said no decision had been taken.",
    "Defence ministers from the four countries are expected to discuss the matter at a "
    "meeting later this year, where industrial cooperation will be on the agenda.",
]
OTHER = [
    "The harbour ferry timetable changes next week as the operator retires two of its "
    "oldest vessels and brings a new catamaran into service on the northern route.",
    "Passengers were told to expect short delays during the first days while crews get used "
    "to the new berthing arrangements at the central terminal and the island jetties.",
]


@pytest.fixture(scope="module")
def extractor() -> Iterator[ExtractorPool]:
    with small_pool() as pool:
        yield pool


def _good_site(site: LocalSite, prefix: str = "/good") -> str:
    """A healthy feed with two articles (one on topic) under `prefix`; returns the feed URL."""
    site.add(f"{prefix}/a.html", article_html("Tokyo weighs AUKUS role", PARAS))
    site.add(f"{prefix}/b.html", article_html("Ferry timetable changes", OTHER))
    items = [
        Item("Tokyo weighs AUKUS role", site.url(f"{prefix}/a.html"), guid=f"{prefix}-a"),
        Item("Ferry timetable changes", site.url(f"{prefix}/b.html"), guid=f"{prefix}-b"),
    ]
    site.add(f"{prefix}/feed.xml", rss(items), content_type="application/rss+xml", etag='"v1"')
    return site.url(f"{prefix}/feed.xml")


def _harness(
    tmp_path: object,
    extractor: ExtractorPool,
    sources: list[SourceSpec],
    *,
    database_url: str | None = None,
    **fetch: Any,
) -> Harness:
    url = database_url or f"sqlite:///{tmp_path}/watcher.db"
    return Harness(make_config(url, sources, fetch=fast_fetch(**fetch)), extractor)


# -- server errors, rate limits, refused, slow ---------------------------------------------


@pytest.mark.parametrize("code", [500, 502, 504])
def test_server_errors_back_off_keep_validators_and_items_then_reset(
    local_site: LocalSite, tmp_path: object, extractor: ExtractorPool, code: int
) -> None:
    """A 5xx after a good poll counts a failure, backs off, keeps ETag and items; success resets."""
    feed = _good_site(local_site)
    with _harness(tmp_path, extractor, [rss_source("s", feed)]) as h:
        assert h.cycle().sources[0].outcome is FetchOutcome.OK
        assert h.source("s").etag == '"v1"'
        stored = len(h.articles())
        assert stored == 2
        good = local_site.requests[-1]
        assert good.path == "/good/b.html" or good.path.startswith("/good/")

        local_site.add("/good/feed.xml", b"oops", status=code, content_type="text/plain")
        report = h.cycle()
        assert report.sources[0].outcome is FetchOutcome.HTTP_ERROR
        row = h.source("s")
        assert (row.failures, row.last_outcome, row.etag) == (1, "http_error", '"v1"')
        assert row.last_error == f"HTTP {code}"
        assert row.next_poll_at is not None
        assert row.next_poll_at >= h.clock.now + timedelta(minutes=30)
        assert len(h.articles()) == stored

        # Inside the backoff window a forced cycle leaves the source alone.
        assert h.cycle().sources == []
        local_site.add("/good/feed.xml", b"oops", status=code, content_type="text/plain")
        h.clock.advance(timedelta(hours=1))
        h.cycle()
        row = h.source("s")
        assert row.failures == 2
        assert row.next_poll_at is not None
        assert row.next_poll_at >= h.clock.now + timedelta(minutes=60)

        _good_site(local_site)
        h.clock.advance(timedelta(hours=2))
        assert h.cycle().sources[0].outcome is FetchOutcome.NOT_MODIFIED
        row = h.source("s")
        assert (row.failures, row.last_error, row.etag) == (0, None, '"v1"')
        assert len(h.articles()) == stored


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        ("120", 120.0),
        ("http-date", 600.0),
        ("soon", 60.0),  # malformed: ignored, the interval applies
        ("-5", 60.0),  # negative: ignored
        ("1000000000", 24 * 3600.0),  # 10^9 s: clamped to 24 h
    ],
)
@pytest.mark.parametrize("code", [429, 503])
def test_rate_limits_wait_as_asked_clamped_without_counting_a_failure(
    local_site: LocalSite,
    tmp_path: object,
    extractor: ExtractorPool,
    *,
    code: int,
    retry_after: str,
    expected: float,
) -> None:
    """429/503 with Retry-After schedules max(interval, Retry-After) within [1 min, 24 h]."""
    value = (
        formatdate(time.time() + 600, usegmt=True) if retry_after == "http-date" else retry_after
    )
    path = f"/_/status?code={code}&retry_after={value}"
    feed = _good_site(local_site)
    sources = [
        rss_source("limited", local_site.url(path), interval=timedelta(seconds=60)),
        rss_source("neighbour", feed),
    ]
    with _harness(tmp_path, extractor, sources) as h:
        report = {s.name: s for s in h.cycle().sources}
        row = h.source("limited")
        assert report["neighbour"].outcome is FetchOutcome.OK  # same host, unaffected
        assert len(h.articles("neighbour")) == 2
        valid = expected != 60.0 or retry_after.isdigit()
        if code == 503 and not valid:
            # 503 without a usable Retry-After is a plain server error.
            assert report["limited"].outcome is FetchOutcome.HTTP_ERROR
            assert row.failures == 1
            return
        assert report["limited"].outcome is FetchOutcome.RATE_LIMITED
        assert row.failures == 0  # temporary, not breakage
        assert row.last_outcome == "rate_limited"
        assert row.next_poll_at is not None
        wait = (row.next_poll_at - h.clock.now).total_seconds()
        assert expected - 5 <= wait <= expected + 5
        # No hot loop: one request per cycle, and a forced cycle inside the window skips it.
        assert sum(1 for r in local_site.requests if r.path == path.replace(" ", "%20")) <= 1
        h.cycle()
        assert sum(1 for r in local_site.requests if r.path.startswith("/_/status")) == 1


def test_refused_hang_and_slowloris_time_out_and_stay_scheduled(
    local_site: LocalSite, tmp_path: object, extractor: ExtractorPool
) -> None:
    """Connect refused, a hung server and slowloris bodies end as soft errors by the deadline."""
    sources = [
        rss_source("refused", refused_url() + "feed.xml"),
        rss_source("hang", local_site.url("/_/hang?seconds=30")),
        rss_source("slowloris", local_site.url("/_/slowloris?interval=0.3&count=100")),
        rss_source("slowloris-nolength", local_site.url("/_/slowloris?interval=0.3&length=0")),
        rss_source("good", _good_site(local_site)),
    ]
    with _harness(tmp_path, extractor, sources, total_timeout=1.5) as h:
        start = time.monotonic()
        report = {s.name: s.outcome for s in h.cycle().sources}
        assert time.monotonic() - start < 10
        assert report == {
            "refused": FetchOutcome.CONNECTION_ERROR,
            "hang": FetchOutcome.TIMEOUT,
            "slowloris": FetchOutcome.TIMEOUT,
            "slowloris-nolength": FetchOutcome.TIMEOUT,
            "good": FetchOutcome.OK,
        }
        for name in ("refused", "hang", "slowloris", "slowloris-nolength"):
            row = h.source(name)
            assert row.failures == 1
            assert row.next_poll_at is not None
            assert row.next_poll_at > h.clock.now
            assert row.last_error
        assert len(h.articles("good")) == 2


# -- bodies: truncated, huge, gzip bombs, unlabelled gzip ----------------------------------


def test_truncated_bodies_fail_without_saving_validators_or_dropping_items(
    local_site: LocalSite, tmp_path: object, extractor: ExtractorPool, database_url: str
) -> None:
    """A body cut short is an error (no ETag, nothing removed); a bozo feed keeps whole items."""
    feed = _good_site(local_site)
    items = [Item("Tokyo weighs AUKUS role", local_site.url("/good/a.html"), guid="cut-a")]
    whole = rss(items)
    local_site.add("/cut.xml", whole, content_type="application/rss+xml", etag='"c1"')
    # An item, then the server's error page cut the document (the Reuters pattern).
    cut_with_item = whole.split("</channel>")[0] + "<!-- Exception rendering module on serv"
    local_site.add("/bozo.xml", cut_with_item, content_type="application/rss+xml", etag='"b1"')
    sources = [
        rss_source("truncated", local_site.url("/_/truncated?declared=10000&sent=300")),
        rss_source("cut", local_site.url("/cut.xml")),
        rss_source("bozo", local_site.url("/bozo.xml")),
        rss_source("good", feed),
    ]
    with _harness(tmp_path, extractor, sources, database_url=database_url) as h:
        report = {s.name: s.outcome for s in h.cycle().sources}
        assert report["truncated"] is FetchOutcome.CONNECTION_ERROR
        assert h.source("truncated").etag is None
        assert report["bozo"] is FetchOutcome.OK
        assert h.entry_count("bozo") == 1
        assert report["cut"] is FetchOutcome.OK
        assert h.source("cut").etag == '"c1"'

        # Now "cut" is cut mid-XML before its first item: a parse error, nothing removed.
        local_site.add(
            "/cut.xml", whole[: whole.index("<item>") + 12], content_type="application/rss+xml"
        )
        report = {s.name: s.outcome for s in h.cycle().sources}
        assert report["cut"] in (FetchOutcome.PARSE_ERROR, FetchOutcome.NOT_A_FEED)
        row = h.source("cut")
        assert (row.failures, row.etag) == (1, '"c1"')
        assert h.entry_count("cut") == 1
        assert len(h.articles()) == 2  # "cut" and "bozo" point at the good site's page


def test_huge_bodies_and_gzip_bombs_are_capped_with_bounded_memory(
    local_site: LocalSite, tmp_path: object, extractor: ExtractorPool
) -> None:
    """100 MB bodies and 1 GB gzip bombs stop at the cap; memory bounded."""
    cap = 4 * 1024 * 1024
    sources = [
        rss_source("huge-declared", local_site.url("/_/huge?size=100000000&length=1")),
        rss_source("huge-streamed", local_site.url("/_/huge?size=100000000&length=0")),
        rss_source("bomb", local_site.url("/_/gzip?size=1073741824&encoding=1")),
        rss_source("bomb-sniffed", local_site.url("/_/gzip?size=1073741824&encoding=0")),
        rss_source("good", _good_site(local_site)),
    ]
    gzip_of_zeros(1024**3)  # build the bomb before measuring: the server shares our process
    with _harness(tmp_path, extractor, sources, max_feed_bytes=cap) as h:
        tracemalloc.start()
        try:
            report = {s.name: s.outcome for s in h.cycle().sources}
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert report == {
            "huge-declared": FetchOutcome.TOO_LARGE,
            "huge-streamed": FetchOutcome.TOO_LARGE,
            "bomb": FetchOutcome.TOO_LARGE,
            "bomb-sniffed": FetchOutcome.TOO_LARGE,
            "good": FetchOutcome.OK,
        }
        # Each capped body is held at most twice (raw and decoded) while it is checked.
        assert peak < 12 * cap, f"peak {peak / 1e6:.0f} MB"
        for name in ("huge-declared", "huge-streamed", "bomb", "bomb-sniffed"):
            assert h.source(name).failures == 1
        assert len(h.articles("good")) == 2


def test_gzip_without_content_encoding_is_sniffed_and_parsed(
    local_site: LocalSite, tmp_path: object, extractor: ExtractorPool
) -> None:
    """A gzip body without Content-Encoding (magic bytes 1f 8b) is decompressed, items kept."""
    _good_site(local_site)
    items = [
        Item("Tokyo weighs AUKUS role", local_site.url("/good/a.html"), guid="z-a"),
        Item("Ferry timetable changes", local_site.url("/good/b.html"), guid="z-b"),
    ]
    local_site.add("/z.xml", gzip.compress(rss(items).encode()), content_type="application/rss+xml")
    with _harness(tmp_path, extractor, [rss_source("z", local_site.url("/z.xml"))]) as h:
        assert h.cycle().sources[0].outcome is FetchOutcome.OK
        assert h.entry_count("z") == 2
        assert h.hits() == [(local_site.url("/good/a.html"), "aukus-japan")]


# -- redirects -----------------------------------------------------------------------------


def test_redirects_loops_and_long_chains(
    local_site: LocalSite, tmp_path: object, extractor: ExtractorPool
) -> None:
    """301->302->200 works; a loop and more than 5 hops are reported as redirect errors."""
    feed_path = "/good/feed.xml"
    _good_site(local_site)
    sources = [
        rss_source("chain", local_site.url(f"/_/redirect?codes=301,302&to={feed_path}")),
        rss_source("five", local_site.url(f"/_/hops?n=5&to={feed_path}")),
        rss_source("six", local_site.url(f"/_/hops?n=6&to={feed_path}")),
        rss_source("loop", local_site.url("/_/loop")),
    ]
    with _harness(tmp_path, extractor, sources) as h:
        report = {s.name: s for s in h.cycle().sources}
        assert report["chain"].outcome is FetchOutcome.OK
        assert report["chain"].entries == 2
        assert report["five"].outcome is FetchOutcome.OK
        for name in ("six", "loop"):
            assert report[name].outcome is FetchOutcome.TOO_MANY_REDIRECTS
            assert h.source(name).failures == 1
        assert "loop" in (h.source("loop").last_error or "")
        assert len(h.articles()) == 2  # both working sources point at the same two pages


# -- wrong content types -------------------------------------------------------------------


def test_wrong_content_types(
    local_site: LocalSite, tmp_path: object, extractor: ExtractorPool
) -> None:
    """An HTML page as feed is not_a_feed; a text/plain feed parses; PDF/image articles skipped."""
    feed = rss(
        [
            Item(
                "AUKUS partners brief Japan on undersea drones",
                local_site.url("/doc.pdf"),
                guid="pdf",
                description="A report on AUKUS cooperation with Japan.",
            ),
            Item(
                "Photo: Tokyo AUKUS meeting",
                local_site.url("/photo.png"),
                guid="png",
                description="Ministers met in Tokyo.",
            ),
        ]
    )
    local_site.add("/typed.xml", feed)
    local_site.add(
        "/doc.pdf",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n",
        content_type="application/pdf",
    )
    local_site.add("/photo.png", b"\x89PNG\r\n\x1a\n" + bytes(64), content_type="image/png")
    sources = [
        rss_source("html", local_site.url("/_/type?ct=text/html")),
        rss_source("plain", local_site.url("/_/type?ct=text/plain&path=/typed.xml")),
    ]
    with _harness(tmp_path, extractor, sources) as h:
        report = {s.name: s.outcome for s in h.cycle().sources}
        assert report == {"html": FetchOutcome.NOT_A_FEED, "plain": FetchOutcome.OK}
        assert h.source("html").failures == 1
        pdf = h.article(local_site.url("/doc.pdf"))
        png = h.article(local_site.url("/photo.png"))
        assert (pdf.extraction_status, png.extraction_status) == ("skipped", "skipped")
        assert "%PDF" not in (pdf.text or "")
        assert h.hits() == [
            (local_site.url("/doc.pdf"), "aukus-japan"),
            (local_site.url("/photo.png"), "aukus-japan"),
        ]


# -- XML bombs and external entities -------------------------------------------------------

LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "lollollollollollollollollollol">'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
    + ']><rss version="2.0"><channel><title>&j;</title>'
    "<item><title>Bomb item &j;</title><guid isPermaLink='false'>bomb</guid></item>"
    "</channel></rss>"
)


def test_xml_bombs_and_external_entities_are_neutralised(
    local_site: LocalSite, tmp_path: object, extractor: ExtractorPool
) -> None:
    """Billion laughs stays small and fast; external entities read no file and fetch nothing."""
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY file SYSTEM "file:///etc/passwd">'
        f'<!ENTITY net SYSTEM "{local_site.url("/xxe")}">'
        f'<!ENTITY % dtd SYSTEM "{local_site.url("/dtd")}"> %dtd;]>'
        '<rss version="2.0"><channel><title>x</title>'
        "<item><title>File &file; net &net;</title><guid isPermaLink='false'>xxe</guid></item>"
        "</channel></rss>"
    )
    local_site.add("/laughs.xml", LAUGHS, content_type="application/rss+xml")
    local_site.add("/xxe.xml", xxe, content_type="application/rss+xml")
    local_site.add("/xxe", "SECRET-FROM-NETWORK", content_type="text/plain")
    local_site.add("/dtd", '<!ENTITY leak "SECRET-FROM-DTD">', content_type="text/plain")
    sources = [
        rss_source("laughs", local_site.url("/laughs.xml")),
        rss_source("xxe", local_site.url("/xxe.xml")),
    ]
    with _harness(tmp_path, extractor, sources) as h:
        start = time.monotonic()
        h.cycle()
        assert time.monotonic() - start < 10
        for article in h.articles():
            stored = f"{article.title} {article.text} {article.summary}"
            assert len(stored) < 10_000
            assert "root:" not in stored
            assert "SECRET" not in stored
        assert local_site.hits("/xxe") == 0
        assert local_site.hits("/dtd") == 0


# -- dates, GUIDs, reordering --------------------------------------------------------------


def test_malformed_dates_keep_the_item_and_fall_back_to_first_seen(
    local_site: LocalSite, tmp_path: object, extractor: ExtractorPool
) -> None:
    """Localized, missing, future, epoch-0 and bad-zone dates never drop an item or key it."""
    dates = {
        "localized": "Seg, 24 Set 2018 10:00:00 -0300",
        "missing": None,
        "future": "Tue, 01 Jan 2099 00:00:00 GMT",
        "epoch": "Thu, 01 Jan 1970 00:00:00 GMT",
        "badzone": "Mon, 16 Nov 2026 09:00:00 XYZ",
        "fine": "Mon, 16 Nov 2020 09:00:00 GMT",
    }

    def feed(shift: str) -> str:
        return rss(
            [
                Item(
                    f"AUKUS and Japan item {name}",
                    None,
                    guid=f"d-{name}",
                    description="x",
                    pub_date=(value + shift) if value else None,
                )
                for name, value in dates.items()
            ]
        )

    local_site.add("/dates.xml", feed(""), content_type="application/rss+xml")
    with _harness(tmp_path, extractor, [rss_source("dates", local_site.url("/dates.xml"))]) as h:
        h.cycle()
        stored = {a.title.rsplit(" ", 1)[1]: a for a in h.articles()}
        assert set(stored) == set(dates)
        for name, article in stored.items():
            assert article.first_seen_at == h.clock.now
            if name == "fine":
                assert article.published_at is not None
                assert article.published_at.year == 2020
            elif name != "badzone":  # a bad zone may still parse as UTC
                assert article.published_at is None, name
        assert len(h.hits()) == len(dates)

        # The same items with other dates: the date is not part of the key.
        local_site.add("/dates.xml", feed(" "), content_type="application/rss+xml")
        h.clock.advance(timedelta(hours=1))
        assert h.cycle().sources[0].new_articles == 0


def test_duplicate_and_missing_guids_store_each_genuine_item_once(
    local_site: LocalSite, tmp_path: object, extractor: ExtractorPool, database_url: str
) -> None:
    """Shared GUIDs, two GUIDs in an item, no GUID and one story in two feeds: one article each."""
    for n in range(4):
        local_site.add(
            f"/p{n}.html", article_html(f"Story {n} on AUKUS and Japan", PARAS[n % 3 :] + OTHER)
        )
    same = [
        Item(f"Story {n} on AUKUS and Japan", local_site.url(f"/p{n}.html"), guid="same-guid")
        for n in range(3)
    ]
    same.append(same[0])  # the exact same item twice in one document
    two = [
        Item(
            "Story 3 on AUKUS and Japan",
            local_site.url("/p3.html"),
            guid="first",
            extra="<guid>second</guid>",
        )
    ]
    none = [Item(f"Story {n} on AUKUS and Japan", local_site.url(f"/p{n}.html")) for n in range(2)]
    local_site.add("/same.xml", rss(same), content_type="application/rss+xml")
    local_site.add("/two.xml", rss(two), content_type="application/rss+xml")
    local_site.add("/none.xml", rss(none), content_type="application/rss+xml")
    sources = [
        rss_source("same", local_site.url("/same.xml")),
        rss_source("two", local_site.url("/two.xml")),
        rss_source("none", local_site.url("/none.xml")),  # the same stories as "same"
    ]
    with _harness(tmp_path, extractor, sources, database_url=database_url) as h:
        h.cycle()
        assert h.entry_count("same") == 3
        assert h.entry_count("two") == 1
        assert h.entry_count("none") == 2
        urls = sorted(a.url for a in h.articles())
        assert urls == sorted(local_site.url(f"/p{n}.html") for n in range(4))
        # One outbox row per genuine item (the near-identical pages form one story: a
        # first alert, then thread replies), never one per feed entry.
        alerts = h.alerts()
        assert sorted(a for a, *_ in alerts) == [a.id for a in h.articles()]
        assert [kind for *_, kind in alerts].count("alert") == len({s for _, s, _, _ in alerts})
        hits = h.hits()
        assert len(hits) == 4
        before = (len(h.articles()), len(h.alerts()))
        h.clock.advance(timedelta(hours=1))
        h.cycle()
        assert (len(h.articles()), len(h.alerts())) == before


def test_reordered_reappearing_and_shrinking_feeds_never_realert(
    local_site: LocalSite, tmp_path: object, extractor: ExtractorPool, database_url: str
) -> None:
    """New means an unseen key: reordering, reappearing, edited titles and 0 items add nothing."""
    items = [
        Item(f"AUKUS Japan update {n}", None, guid=f"r{n}", description=f"Item {n} body.")
        for n in range(3)
    ]

    def serve(chosen: list[Item]) -> None:
        local_site.add("/r.xml", rss(chosen), content_type="application/rss+xml")

    serve(items)
    with _harness(
        tmp_path, extractor, [rss_source("r", local_site.url("/r.xml"))], database_url=database_url
    ) as h:
        assert h.cycle().sources[0].new_articles == 3
        alerts = len(h.alerts())
        assert alerts == 3
        edited = Item("AUKUS Japan update 1 (corrected)", None, guid="r1", description="Edited.")
        for chosen in ([items[2], items[0], items[1]], [items[1]], [], [items[0], edited]):
            serve(chosen)
            h.clock.advance(timedelta(hours=1))
            report = h.cycle().sources[0]
            assert report.outcome is FetchOutcome.OK
            assert report.new_articles == 0
            assert len(h.alerts()) == alerts
            assert len(h.articles()) == 3
        assert h.source("r").failures == 0


# -- SSRF ----------------------------------------------------------------------------------

INTERNAL_LINKS = {
    "metadata": "http://169.254.169.254/latest/meta-data/",
    "loopback6": "http://[::1]/admin",
    "private10": "http://10.0.0.1/",
    "cgnat": "http://100.64.0.1/",
    "ula": "http://[fc00::1]/",
    "zero": "http://0.0.0.0/",
    "decimal": "http://2130706433/",
    "mapped": "http://[::ffff:127.0.0.1]/",
    "file": "file:///etc/passwd",
    "gopher": "gopher://127.0.0.1:70/",
}


def _guarded(config_fetch: object) -> FetchSettings:
    """The production settings with the guard on, letting only the test server's host in."""
    from dataclasses import replace

    from watcher.settings import FetchConfig

    assert isinstance(config_fetch, FetchConfig)
    return replace(fetch_settings(config_fetch), allowed_networks=("127.0.0.1/32",))


def _ssrf_site(site: LocalSite) -> None:
    items = [
        Item(
            f"AUKUS Japan internal link {name}",
            url,
            guid=f"x-{name}",
            description=f"Summary of the {name} item about AUKUS and Japan.",
        )
        for name, url in INTERNAL_LINKS.items()
    ]
    # A link on the allowed host that redirects to the metadata address: checked per hop.
    site.redirect("/to-internal", "http://169.254.169.254/latest/")
    items.append(
        Item(
            "AUKUS Japan redirect",
            site.url("/to-internal"),
            guid="x-redirect",
            description="Redirected to an internal address.",
        )
    )
    site.add("/ssrf.xml", rss(items), content_type="application/rss+xml")


def test_ssrf_links_are_blocked_before_connecting_and_the_items_kept(
    local_site: LocalSite, tmp_path: object, extractor: ExtractorPool, database_url: str
) -> None:
    """Internal and non-http links are refused before any connection; items and title hits stay."""
    _ssrf_site(local_site)
    config = make_config(
        database_url,
        [rss_source("ssrf", local_site.url("/ssrf.xml"))],
        fetch=fast_fetch(allow_private_addresses=False),
    )
    with Harness(config, extractor, fetch_settings=_guarded(config.fetch)) as h:
        assert h.cycle().sources[0].outcome is FetchOutcome.OK
        stored = {a.title.rsplit(" ", 1)[1]: a for a in h.articles()}
        assert set(stored) == {*INTERNAL_LINKS, "redirect"}
        for name, article in stored.items():
            if name in ("file", "gopher"):
                assert article.extraction_status == "no_link"  # the feed parser drops the link
                continue
            assert article.extraction_status == "blocked", name
            # Refused by the URL check that runs before DNS and connect.
            assert "not public" in (article.extraction_reason or "") or "numeric host" in (
                article.extraction_reason or ""
            ), article.extraction_reason
            assert article.text == article.summary
        assert len(h.hits()) == len(stored)
        assert len({s for _, s, _, _ in h.alerts()}) == len(stored)
        # Only the feed and the redirecting link reached the (allowed) test server.
        assert sorted(r.path for r in local_site.requests) == ["/ssrf.xml", "/to-internal"]


# -- Japanese encodings --------------------------------------------------------------------

# Our own sample text (the full-width AUKUS folds to ASCII under NFKC before matching).
JA_TITLE = "日本、ＡＵＫＵＳ第２の柱への参加を検討"
JA_PARAS = [
    "政府関係者によると、日本はＡＵＫＵＳの第２の柱である先端技術分野の協力に参加する方向で、"
    "オーストラリア、英国、米国との協議を進めている。",
    "対象となるのは極超音速兵器、無人潜水機、人工知能などの分野で、防衛省は年内にも具体的な"
    "共同研究の候補を示す見通しだ。",
    "一方、機密情報の保護制度の整備が前提になるとの指摘もあり、政府は経済安全保障分野の"
    "セキュリティー・クリアランス制度の運用開始を急いでいる。",
    "専門家は、日本の参加が実現すれば、インド太平洋地域の技術協力の枠組みが大きく広がると"
    "話している。",
]
JA_LABELS = {"utf_8": "utf-8", "shift_jis": "Shift_JIS", "euc_jp": "EUC-JP", "cp932": "Windows-31J"}
MOJIBAKE = ("\ufffd", "Ã", "ã\x81", "縺", "譁")  # replacement char, UTF-8-as-latin1, UTF-8-as-SJIS


def _serve_japanese(site: LocalSite, codec: str, mode: str) -> SourceSpec:
    """A feed and an article in `codec`, declared, undeclared or mis-declared (as UTF-8)."""
    label = JA_LABELS[codec]
    name = f"{codec}-{mode}"
    declared = mode == "declared"
    header = {"declared": f"; charset={label}", "undeclared": "", "misdeclared": "; charset=utf-8"}
    page_url = site.url(f"/ja/{name}.html")
    feed = rss(
        [Item(JA_TITLE, page_url, guid=f"ja-{name}", description=JA_PARAS[0])],
        title="テスト新聞",
        encoding=label if declared else None,
    )
    page = article_html(JA_TITLE, JA_PARAS, charset=label if declared else None, lang="ja")
    site.add(
        f"/ja/{name}.xml",
        feed.encode(codec),
        content_type="application/rss+xml" + header[mode],
    )
    site.add(f"/ja/{name}.html", page.encode(codec), content_type="text/html" + header[mode])
    return rss_source(name, site.url(f"/ja/{name}.xml"))


def test_japanese_encodings_give_identical_text_and_hits(
    local_site: LocalSite, tmp_path: object, extractor: ExtractorPool
) -> None:
    """Shift_JIS, EUC-JP and CP932, declared, undeclared or mis-declared: the same text and hits."""
    sources = [_serve_japanese(local_site, "utf_8", "declared")]
    for codec in ("shift_jis", "euc_jp", "cp932"):
        sources += [
            _serve_japanese(local_site, codec, m) for m in ("declared", "undeclared", "misdeclared")
        ]
    with _harness(tmp_path, extractor, sources) as h:
        report = h.cycle()
        assert len(report.sources) == len(sources)
        assert all(s.outcome is FetchOutcome.OK for s in report.sources), report.sources
        articles = h.articles()
        assert len(articles) == len(sources)
        for article in articles:
            assert article.extraction_status == "ok", (article.url, article.extraction_reason)
            for text in (article.title, article.text or "", article.summary):
                assert not any(m in text for m in MOJIBAKE), (article.url, text[:80])
        assert {a.title for a in articles} == {JA_TITLE}
        assert {a.summary for a in articles} == {JA_PARAS[0]}
        assert len({a.text for a in articles}) == 1
        assert all(p in (articles[0].text or "") for p in JA_PARAS)
        assert len({a.content_hash for a in articles}) == 1
        assert len({a.fingerprint for a in articles}) == 1
        assert {rule for _, rule in h.hits()} == {"aukus-japan"}
        assert len(h.hits()) == len(sources)
        assert h.story_count() == 1  # the same text in ten encodings is one story


# -- every fault at once -------------------------------------------------------------------


def test_one_cycle_survives_every_fault_at_once_and_healthy_sources_are_unaffected(
    local_site: LocalSite, tmp_path: object, extractor: ExtractorPool
) -> None:
    """All faulty sources in one cycle: each gets its outcome, the healthy ones on the host work."""
    good = _good_site(local_site)
    other = _good_site(local_site, "/other")
    local_site.add("/laughs.xml", LAUGHS, content_type="application/rss+xml")
    _serve_japanese(local_site, "shift_jis", "misdeclared")
    expected = {
        "http-500": ("/_/status?code=500", FetchOutcome.HTTP_ERROR),
        "http-502": ("/_/status?code=502", FetchOutcome.HTTP_ERROR),
        "http-504": ("/_/status?code=504", FetchOutcome.HTTP_ERROR),
        "429": ("/_/status?code=429&retry_after=120", FetchOutcome.RATE_LIMITED),
        "503": ("/_/status?code=503&retry_after=120", FetchOutcome.RATE_LIMITED),
        "hang": ("/_/hang?seconds=30", FetchOutcome.TIMEOUT),
        "slowloris": ("/_/slowloris?interval=0.3&count=100", FetchOutcome.TIMEOUT),
        "truncated": ("/_/truncated?declared=10000&sent=300", FetchOutcome.CONNECTION_ERROR),
        "closed": ("/_/close", FetchOutcome.CONNECTION_ERROR),
        "huge": ("/_/huge?size=100000000&length=0", FetchOutcome.TOO_LARGE),
        "bomb": ("/_/gzip?size=1073741824&encoding=1", FetchOutcome.TOO_LARGE),
        "loop": ("/_/loop", FetchOutcome.TOO_MANY_REDIRECTS),
        "hops": ("/_/hops?n=6&to=/good/feed.xml", FetchOutcome.TOO_MANY_REDIRECTS),
        "chain": ("/_/redirect?codes=301,302&to=/other/feed.xml", FetchOutcome.OK),
        "html": ("/_/type?ct=text/html", FetchOutcome.NOT_A_FEED),
        "laughs": ("/laughs.xml", FetchOutcome.OK),
        "sjis": ("/ja/shift_jis-misdeclared.xml", FetchOutcome.OK),
    }
    sources = [rss_source(name, local_site.url(path)) for name, (path, _) in expected.items()]
    sources += [rss_source("refused", refused_url()), rss_source("good", good)]
    sources.append(rss_source("other", other))
    gzip_of_zeros(1024**3)  # built once by the server; not part of what is timed
    # Enough per-host slots for every source at once: a redirect's later hops queue for a
    # slot under the same deadline, so with few slots the slow sources would starve them.
    fetch: dict[str, Any] = {"total_timeout": 1.5, "max_feed_bytes": 4_000_000, "per_host": 32}
    with _harness(tmp_path, extractor, sources, **fetch) as h:
        start = time.monotonic()
        report = {s.name: s.outcome for s in h.cycle().sources}
        assert time.monotonic() - start < 20
        want = {name: outcome for name, (_, outcome) in expected.items()}
        want |= {
            "refused": FetchOutcome.CONNECTION_ERROR,
            "good": FetchOutcome.OK,
            "other": FetchOutcome.OK,
        }
        assert report == want
        assert len(h.articles("good")) == 2
        assert len(h.articles("other")) + len(h.articles("chain")) == 2
        for name, outcome in want.items():
            row = h.source(name)
            assert row.next_poll_at is not None, name
            assert row.next_poll_at > h.clock.now, name
            assert row.last_outcome == str(outcome)
            failed = outcome not in (FetchOutcome.OK, FetchOutcome.RATE_LIMITED)
            assert row.failures == int(failed), name
