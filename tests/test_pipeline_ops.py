"""The pipeline wires ops notices and the story window from the config, end to end.

`Pipeline` builds its `OpsPolicy` from `[alerts] ops_route / unhealthy_after /
empty_after` and loads its story index with `[stories] window`; these tests
run real polls against local servers (127.0.0.1 and `localhost` only) with a
fake clock and check what reached the database: the ops rows queued on the
ops route, the sources' streak counters, and which story each copy joined.
The article texts are written for this test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.pipeline_helpers import (
    Harness,
    Item,
    article_html,
    make_config,
    rss,
    rss_source,
    small_pool,
)
from tests.support.httpserver import LocalSite
from watcher.config import load_config
from watcher.errors import ConfigError
from watcher.extract.pool import ExtractorPool
from watcher.model import FetchOutcome, SourceSpec
from watcher.pipeline.cycle import CycleReport
from watcher.settings import AlertsConfig, Config
from watcher.store.models import RouteMessageRow

OPS_ROUTE = "#watcher-ops"
ALERTS = AlertsConfig(ops_route=OPS_ROUTE, unhealthy_after=3, empty_after=2)
# Past the longest failure backoff (24 h plus up to 10% jitter), so the next cycle polls.
PAST_BACKOFF = timedelta(hours=27)
RSS_TYPE = "application/rss+xml"

PARAS = [
    "Officials in Canberra said on Thursday that Australia, Britain and the United States had "
    "agreed on a short list of AUKUS projects in which Japan could take part, starting with "
    "maritime autonomy trials off the coast of Western Australia early next year.",
    "The trials would test how uncrewed surface vessels from the four countries share sensor "
    "data at sea, a task that has proved harder than expected because each navy uses its own "
    "communication standards and encryption equipment for the links between ships.",
    "A spokesperson for the Japanese defence ministry in Tokyo said the government welcomed "
    "the invitation and would send engineers from two research institutes, while stressing "
    "that no decision had been made on any role beyond the first round of testing.",
    "Industry groups in all four countries have pushed for faster approvals of export "
    "licences, arguing that months of paperwork for each component make joint development "
    "slow and expensive for the small companies that build most of the sensors involved.",
    "Opposition lawmakers in Tokyo asked the defence minister to explain in parliament how "
    "the arrangement would be overseen and whether data collected during the trials could "
    "later be used for purposes other than research without a separate agreement.",
]


@pytest.fixture(scope="module")
def extractor() -> Iterator[ExtractorPool]:
    with small_pool() as pool:
        yield pool


def _harness(
    database_url: str,
    extractor: ExtractorPool,
    sources: list[SourceSpec],
    *,
    story_window: timedelta = timedelta(days=7),
) -> Harness:
    config = make_config(database_url, sources)
    return Harness(replace(config, alerts=ALERTS, story_window=story_window), extractor)


def _ops(h: Harness) -> list[tuple[str | None, str, int]]:
    """The ops messages queued so far: (reason, route, count), oldest first."""
    with h.db.session() as session:
        rows = session.scalars(
            select(RouteMessageRow)
            .where(RouteMessageRow.kind == "ops")
            .order_by(RouteMessageRow.id)
        )
        return [(r.reason, r.route, r.count) for r in rows]


def _only(h: Harness, name: str) -> CycleReport:
    """One forced cycle polling only source `name`."""
    return asyncio.run(h.pipeline.run_cycle(force=True, only=[name]))


def _outcomes(report: CycleReport) -> list[FetchOutcome]:
    return [s.outcome for s in report.sources]


def test_a_failing_feed_raises_one_unhealthy_notice_and_one_recovered_notice(
    local_site: LocalSite, extractor: ExtractorPool, database_url: str
) -> None:
    """The 3rd failed poll in a row queues one ops notice on the ops route; recovery queues one."""
    local_site.add("/down/feed.xml", b"server error\n", status=500, content_type="text/plain")
    spec = rss_source("Down Daily", local_site.url("/down/feed.xml"))
    with _harness(database_url, extractor, [spec]) as h:
        assert _outcomes(h.cycle()) == [FetchOutcome.HTTP_ERROR]
        assert h.cycle().polled == 0  # force ignores the interval, not the backoff
        h.clock.advance(PAST_BACKOFF)
        assert _outcomes(h.cycle()) == [FetchOutcome.HTTP_ERROR]
        assert _ops(h) == []
        h.clock.advance(PAST_BACKOFF)
        assert _outcomes(h.cycle()) == [FetchOutcome.HTTP_ERROR]
        assert _ops(h) == [("unhealthy", OPS_ROUTE, 3)]
        with h.db.session() as session:
            row = session.scalars(select(RouteMessageRow)).one()
            assert (row.state, row.outcome, row.detail) == ("pending", "http_error", "HTTP 500")
            assert row.source_id == h.source("Down Daily").id

        for _ in range(2):
            h.clock.advance(PAST_BACKOFF)
            assert _outcomes(h.cycle()) == [FetchOutcome.HTTP_ERROR]
        assert _ops(h) == [("unhealthy", OPS_ROUTE, 3)]
        assert h.source("Down Daily").failures == 5

        local_site.add("/down/a.html", article_html("Back online", PARAS))
        items = [Item("Back online", local_site.url("/down/a.html"), guid="down-a")]
        local_site.add("/down/feed.xml", rss(items), content_type=RSS_TYPE)
        h.clock.advance(PAST_BACKOFF)
        assert _outcomes(h.cycle()) == [FetchOutcome.OK]
        assert _ops(h) == [("unhealthy", OPS_ROUTE, 3), ("recovered", OPS_ROUTE, 5)]
        source = h.source("Down Daily")
        assert (source.failures, source.failing_since, source.unhealthy_at) == (0, None, None)
        assert [a.url for a in h.articles()] == [local_site.url("/down/a.html")]


def test_an_empty_feed_raises_one_empty_notice_and_304s_do_not_count(
    local_site: LocalSite, extractor: ExtractorPool, database_url: str
) -> None:
    """Two fetched item-less documents in a row queue one "empty" notice; 304s are not counted."""

    def serve(etag: str) -> None:
        local_site.add("/quiet/feed.xml", rss([]), content_type=RSS_TYPE, etag=etag)

    serve('"e1"')
    spec = rss_source("Quiet Gazette", local_site.url("/quiet/feed.xml"))
    with _harness(database_url, extractor, [spec]) as h:
        assert _outcomes(h.cycle()) == [FetchOutcome.OK]
        assert h.source("Quiet Gazette").empty_polls == 1

        for _ in range(3):  # unchanged document: the server honours If-None-Match
            h.clock.advance(timedelta(minutes=20))
            assert _outcomes(h.cycle()) == [FetchOutcome.NOT_MODIFIED]
        assert local_site.requests[-1].headers.get("if-none-match") == '"e1"'
        assert h.source("Quiet Gazette").empty_polls == 1
        assert _ops(h) == []

        serve('"e2"')  # a new, still empty, document
        h.clock.advance(timedelta(minutes=20))
        assert _outcomes(h.cycle()) == [FetchOutcome.OK]
        assert _ops(h) == [("empty", OPS_ROUTE, 2)]

        h.clock.advance(timedelta(minutes=20))
        assert _outcomes(h.cycle()) == [FetchOutcome.NOT_MODIFIED]
        serve('"e3"')
        h.clock.advance(timedelta(minutes=20))
        assert _outcomes(h.cycle()) == [FetchOutcome.OK]
        assert h.source("Quiet Gazette").empty_polls == 3
        assert _ops(h) == [("empty", OPS_ROUTE, 2)]
        assert h.source("Quiet Gazette").failures == 0


def _copy(site: LocalSite, name: str, host: str, title: str) -> SourceSpec:
    """An outlet at `host` running the same text under its own headline; its feed starts empty."""
    base = site.base_url.replace("127.0.0.1", host)
    site.add(f"/{name}/story.html", article_html(title, PARAS))
    site.add(f"/{name}/feed.xml", rss([]), content_type=RSS_TYPE)
    return rss_source(name, f"{base}/{name}/feed.xml")


def _publish(site: LocalSite, spec: SourceSpec, title: str) -> None:
    """Put the outlet's story in its feed."""
    link = spec.url.replace("feed.xml", "story.html")
    feed = rss([Item(title, link, guid=f"{spec.name}-1", description=PARAS[0][:120])])
    site.add(f"/{spec.name}/feed.xml", feed, content_type=RSS_TYPE)


def test_the_configured_story_window_decides_whether_a_copy_joins_the_story(
    local_site: LocalSite, extractor: ExtractorPool, database_url: str
) -> None:
    """With a 1-hour window a copy 30 minutes later joins the story, one 2 hours later does not."""
    titles = {
        "wire": "AUKUS partners pick first projects open to Japan",
        "coast": "Japan invited to AUKUS maritime autonomy trials",
        "late": "Four nations plan sea trials of uncrewed vessels",
    }
    specs = [
        _copy(local_site, "wire", "127.0.0.1", titles["wire"]),
        _copy(local_site, "coast", "localhost", titles["coast"]),
        _copy(local_site, "late", "127.0.0.1", titles["late"]),
    ]
    with _harness(database_url, extractor, specs, story_window=timedelta(hours=1)) as h:
        start = h.clock.now
        for name, at in (("wire", 0), ("coast", 30), ("late", 120)):
            h.clock.now = start + timedelta(minutes=at)
            _publish(local_site, next(s for s in specs if s.name == name), titles[name])
            report = _only(h, name)
            assert report.articles_new == 1, name
        stored = {a.url.split("/")[3]: a for a in h.articles()}
        assert set(stored) == set(titles)
        assert all(a.extraction_status == "ok" for a in stored.values())
        assert stored["coast"].story_id == stored["wire"].story_id
        assert stored["late"].story_id != stored["wire"].story_id
        assert h.story_count() == 2


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "watcher.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_story_window_loads_from_the_stories_table(tmp_path: Path) -> None:
    """`[stories] window = "30s"` loads as 30 seconds; without the table the window is 7 days."""
    config = load_config(_write(tmp_path, '[stories]\nwindow = "30s"\n'), environ={})
    assert config.story_window == timedelta(seconds=30)
    assert load_config(_write(tmp_path, ""), environ={}).story_window == timedelta(days=7)
    assert Config().story_window == timedelta(days=7)


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ("window = 0", "got 0"),
        ('window = "soon"', "got 'soon'"),
        ('window = "1h"\nhorizon = "2h"', "horizon"),
    ],
    ids=["zero", "not-a-duration", "unknown-key"],
)
def test_a_bad_stories_table_is_a_config_error_naming_it(
    tmp_path: Path, table: str, named: str
) -> None:
    """A zero or unreadable window or an unknown key raises ConfigError naming [stories] and it."""
    path = _write(tmp_path, f"[stories]\n{table}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    message = str(caught.value)
    assert "[stories]" in message
    assert named in message
