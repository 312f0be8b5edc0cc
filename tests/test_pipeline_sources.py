"""Source kinds and source state through the pipeline: html listings, sitemaps, status.

`html` and `sitemap` sources go through the same cycle as feeds; the
schedule state the pipeline records is what `watcher sources` reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

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
from tests.support.httpserver import LocalSite
from watcher.extract.pool import ExtractorPool
from watcher.model import FetchOutcome, SourceKind, SourceSpec
from watcher.store.sources import source_statuses

PARAS = [
    "Japan and the AUKUS partners agreed on Thursday to start joint work on undersea drones, "
    "officials in Tokyo said, the first concrete project under the pact's technology pillar.",
    "The project will be run by defence research agencies in the four countries, with "
    "industry partners selected next year through a competition open to their companies.",
]
OTHER = [
    "The city council approved a new budget for road repairs on Thursday, with most of the "
    "money going to bridges and junctions that engineers rated as in poor condition.",
    "Residents can follow the progress of each project on a map the council will publish "
    "online, and works are planned to avoid the busiest weeks of the tourist season.",
]


@pytest.fixture(scope="module")
def extractor() -> Iterator[ExtractorPool]:
    with small_pool() as pool:
        yield pool


def _pages(site: LocalSite) -> None:
    site.add("/news/2026/japan-drones.html", article_html("Japan joins AUKUS drone work", PARAS))
    site.add("/news/2026/roads.html", article_html("Council approves road budget", OTHER))
    site.add("/about.html", article_html("About us", OTHER))


def test_html_listing_and_sitemap_sources_store_their_articles(
    local_site: LocalSite, tmp_path: Path, extractor: ExtractorPool, database_url: str
) -> None:
    """A listing page (include/exclude patterns) and a news sitemap yield matched articles."""
    _pages(local_site)
    listing = (
        "<html><body><nav><a href='/about.html'>About</a></nav><ul>"
        "<li><a href='/news/2026/japan-drones.html'>Japan joins AUKUS drone work</a></li>"
        "<li><a href='/news/2026/roads.html#comments'>Council approves road budget</a></li>"
        "<li><a href='/news/2026/roads.html'>Council approves road budget</a></li>"
        "</ul></body></html>"
    )
    local_site.add("/section.html", listing)
    sitemap = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        f"<url><loc>{local_site.url('/news/2026/japan-drones.html')}</loc><news:news>"
        "<news:title>Japan joins AUKUS drone work</news:title>"
        "<news:publication_date>2026-11-16T09:00:00Z</news:publication_date>"
        "</news:news></url></urlset>"
    )
    local_site.add("/sitemap.xml", sitemap, content_type="application/xml")
    sources = [
        SourceSpec(
            "listing",
            local_site.url("/section.html"),
            kind=SourceKind.HTML,
            include=(r"/news/\d{4}/",),
            exclude=(r"/about",),
        ),
        SourceSpec("sitemap", local_site.url("/sitemap.xml"), kind=SourceKind.SITEMAP),
    ]
    with Harness(make_config(database_url, sources), extractor) as h:
        report = {s.name: s for s in h.cycle().sources}
        assert report["listing"].outcome is FetchOutcome.OK
        assert report["listing"].entries == 2  # /about excluded, the fragment folded
        assert report["sitemap"].outcome is FetchOutcome.OK
        urls = sorted(a.url for a in h.articles())
        assert urls == [
            local_site.url("/news/2026/japan-drones.html"),
            local_site.url("/news/2026/roads.html"),
        ]
        assert all(a.extraction_status == "ok" for a in h.articles())
        assert h.hits() == [(local_site.url("/news/2026/japan-drones.html"), "aukus-japan")]
        assert h.entry_count("sitemap") == 1  # recorded for the source, stored once
        assert len(h.alerts()) == 1
        h.clock.advance(timedelta(hours=1))
        assert h.cycle().articles_new == 0


def test_source_statuses_follow_what_the_pipeline_recorded(
    local_site: LocalSite, tmp_path: Path, extractor: ExtractorPool, database_url: str
) -> None:
    """ok, failing, backing_off, rate-limited and disabled sources report as `watcher sources`."""
    _pages(local_site)
    local_site.add(
        "/feed.xml",
        "<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>"
        f"<item><title>Road budget</title><link>{local_site.url('/news/2026/roads.html')}"
        "</link><guid>roads</guid></item></channel></rss>",
        content_type="application/rss+xml",
        etag='"f1"',
    )
    sources = [
        rss_source("good", local_site.url("/feed.xml")),
        rss_source("broken", local_site.url("/_/status?code=500")),
        rss_source("limited", local_site.url("/_/status?code=429&retry_after=3600")),
        rss_source("gone", local_site.url("/feed.xml")),
    ]
    config = make_config(database_url, sources)
    with Harness(config, extractor) as h:
        h.cycle()
        for _ in range(2):  # two more failures: past the third, the source is backing off
            h.clock.advance(timedelta(days=1))
            h.cycle()
        # "gone" is removed from the config: disabled, not deleted.
        h.pipeline.config = replace(config, sources=tuple(sources[:3]))
        h.cycle()
        with h.db.session() as session:
            statuses = {s.name: s for s in source_statuses(session, h.clock.now)}
    assert statuses["good"].status == "ok"
    assert statuses["broken"].status == "backing_off"
    assert statuses["broken"].failures == 3
    assert statuses["broken"].last_error == "HTTP 500"
    assert statuses["limited"].status == "backing_off"
    assert statuses["limited"].failures == 0
    assert statuses["gone"].status == "disabled"
    # The two sources share one article: stored once, counted for the one that saved it.
    assert statuses["good"].articles + statuses["gone"].articles == 1


def test_a_changed_source_url_drops_the_old_validators(
    local_site: LocalSite, tmp_path: Path, extractor: ExtractorPool
) -> None:
    """Validators belong to a URL: after a URL change the first poll is unconditional."""
    feed = (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>"
        "<item><title>x</title><guid>x</guid></item></channel></rss>"
    )
    local_site.add("/old.xml", feed, content_type="application/rss+xml", etag='"same"')
    local_site.add("/new.xml", feed, content_type="application/rss+xml", etag='"same"')
    config = make_config(
        f"sqlite:///{tmp_path}/w.db", [rss_source("s", local_site.url("/old.xml"))]
    )
    with Harness(config, extractor) as h:
        h.cycle()
        assert h.source("s").etag == '"same"'
        h.pipeline.config = replace(config, sources=(rss_source("s", local_site.url("/new.xml")),))
        h.clock.advance(timedelta(hours=1))
        assert h.cycle().sources[0].outcome is FetchOutcome.OK  # not 304
        new = [r for r in local_site.requests if r.path == "/new.xml"]
        assert "if-none-match" not in new[0].headers


@pytest.mark.parametrize(("networks", "expected"), [((), "blocked"), (("127.0.0.0/8",), "ok")])
def test_allowed_networks_from_the_config_reach_the_fetcher(
    local_site: LocalSite,
    tmp_path: Path,
    extractor: ExtractorPool,
    networks: tuple[str, ...],
    expected: str,
) -> None:
    """With private addresses refused, `[fetch] allowed_networks` lets 127.0.0.0/8 through."""
    _pages(local_site)
    local_site.add(
        "/feed.xml",
        rss([Item("Japan joins AUKUS drone work", local_site.url("/news/2026/japan-drones.html"))]),
        content_type="application/rss+xml",
    )
    fetch = fast_fetch(allow_private_addresses=False, allowed_networks=networks)
    config = make_config(
        f"sqlite:///{tmp_path / 'w.db'}",
        [rss_source("feed", local_site.url("/feed.xml"))],
        fetch=fetch,
    )
    with Harness(config, extractor) as h:
        [report] = h.cycle().sources
        assert str(report.outcome) == expected
        assert len(h.articles()) == (1 if expected == "ok" else 0)
