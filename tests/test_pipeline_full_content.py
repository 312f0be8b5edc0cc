"""Full-content feeds and `fetch_pages`: the entry's own article, and the guard it gives.

A feed whose entries carry the article (`content:encoded`) needs no page
fetch under `fetch_pages = "auto"`; `never` uses the feed alone; `always`
fetches every page, and when the page's text is much shorter than the
entry's content the feed's text is kept and the article is `partial`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pipeline_helpers import Harness, Item, article_html, make_config, rss, small_pool
from tests.support.httpserver import LocalSite
from watcher.alerts.blocks import PARTIAL_NOTE, build_alert
from watcher.cli.render import hit_json, source_json
from watcher.config import load_config
from watcher.errors import ConfigError
from watcher.extract.pool import ExtractorPool
from watcher.model import FetchPages, SourceKind, SourceSpec
from watcher.store.outbox import route_queues
from watcher.store.queries import list_hits
from watcher.store.sources import source_statuses

PARAS = [
    "Japan and the AUKUS partners agreed on Thursday to start joint work on undersea drones, "
    "officials in Tokyo said, the first concrete project under the pact's technology pillar.",
    "The project will be run by defence research agencies in the four countries, with "
    "industry partners selected next year through a competition open to their companies.",
    "Officials said the first trials would take place off the coast of South Australia, "
    "where the navies already share a test range for autonomous underwater vehicles.",
    "A second project on electronic warfare is expected to be announced in the spring, "
    "according to two people briefed on the talks who spoke on condition of anonymity.",
    "Industry groups in all four countries welcomed the decision but warned that export "
    "licences still take months to obtain for components covered by the controls.",
    "The ministers will meet again in Canberra in the autumn to review the first results "
    "and decide whether more partners should be invited to join the drone programme.",
    "Opposition lawmakers in Tokyo asked the government to explain how the new secrecy "
    "rules would apply to engineers working on the joint projects.",
]
ARTICLE = "\n".join(PARAS)


@pytest.fixture(scope="module")
def extractor() -> Iterator[ExtractorPool]:
    with small_pool() as pool:
        yield pool


def _content(text: str) -> str:
    """A `content:encoded` element holding `text` as HTML paragraphs."""
    body = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n"))
    return f"<content:encoded>{html.escape(body)}</content:encoded>"


def _feed(site: LocalSite, path: str, items: list[Item]) -> str:
    document = rss(items).replace(
        '<rss version="2.0">',
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">',
    )
    site.add(path, document, content_type="application/rss+xml")
    return site.url(path)


def _source(name: str, url: str, fetch_pages: FetchPages) -> SourceSpec:
    return SourceSpec(name, url, kind=SourceKind.RSS, fetch_pages=fetch_pages)


def test_auto_uses_full_content_without_fetching_the_page(
    local_site: LocalSite, extractor: ExtractorPool, database_url: str
) -> None:
    """auto: an entry with the whole article is not fetched; a summary-only entry is."""
    local_site.add("/full.html", article_html("Japan joins drone work", PARAS))
    local_site.add("/teaser.html", article_html("Japan joins drone work again", PARAS))
    items = [
        Item(
            "Japan joins drone work",
            local_site.url("/full.html"),
            guid="full",
            description=PARAS[0][:120],
            extra=_content(ARTICLE),
        ),
        Item(
            "Japan joins drone work again",
            local_site.url("/teaser.html"),
            guid="teaser",
            description=PARAS[0][:120],
        ),
    ]
    url = _feed(local_site, "/feed.xml", items)
    with Harness(make_config(database_url, [_source("s", url, FetchPages.AUTO)]), extractor) as h:
        h.cycle()
        full, teaser = (
            h.article(local_site.url("/full.html")),
            h.article(local_site.url("/teaser.html")),
        )
    assert local_site.hits("/full.html") == 0
    assert local_site.hits("/teaser.html") == 1
    assert (full.extraction_status, full.extraction_reason) == ("ok", "the feed's full content")
    assert all(p in full.text for p in PARAS)
    assert teaser.extraction_status == "ok"
    assert all(p in teaser.text for p in PARAS)


def test_never_fetches_no_page(
    local_site: LocalSite, extractor: ExtractorPool, database_url: str
) -> None:
    """never: the page is not requested; the summary is the text when there is no content."""
    local_site.add("/a.html", article_html("Japan joins drone work", PARAS))
    items = [Item("Japan joins drone work", local_site.url("/a.html"), description=PARAS[0])]
    url = _feed(local_site, "/feed.xml", items)
    with Harness(make_config(database_url, [_source("s", url, FetchPages.NEVER)]), extractor) as h:
        h.cycle()
        (article,) = h.articles()
    assert local_site.hits("/a.html") == 0
    assert article.extraction_status == "skipped"
    assert article.text == PARAS[0]


def test_always_fetches_and_keeps_the_fuller_feed_text_as_partial(
    local_site: LocalSite, extractor: ExtractorPool, database_url: str
) -> None:
    """always: the page is fetched; a page cut to two paragraphs loses to the feed's seven."""
    local_site.add("/cut.html", article_html("Japan joins drone work", PARAS[:2]))
    items = [Item("Japan joins drone work", local_site.url("/cut.html"), extra=_content(ARTICLE))]
    url = _feed(local_site, "/feed.xml", items)
    with Harness(make_config(database_url, [_source("s", url, FetchPages.ALWAYS)]), extractor) as h:
        h.cycle()
        (article,) = h.articles()
        with h.db.session() as session:
            (status,) = source_statuses(session, h.clock.now)
            hits = list_hits(session)
            (queue,) = route_queues(session)
    assert local_site.hits("/cut.html") == 1
    assert article.extraction_status == "partial"
    assert article.extraction_reason
    assert "kept the feed's" in article.extraction_reason
    assert all(p in article.text for p in PARAS)
    # `watcher sources`, `watcher hits` and the alert all say the text may be cut.
    assert (status.articles, status.partial, source_json(status)["partial"]) == (1, 1, 1)
    assert [hit_json(hit)["extraction"] for hit in hits] == ["partial"]
    (item,) = queue.alerts
    assert item.message.partial
    payload = build_alert(item.message, rule_names={}, now=h.clock.now)
    assert PARTIAL_NOTE in json.dumps(payload.blocks)


def test_fetch_pages_in_the_config_file(tmp_path: Path) -> None:
    """`fetch_pages` defaults to auto, reads always/never, and refuses anything else."""
    path = tmp_path / "watcher.toml"
    path.write_text(
        '[[sources]]\nname = "a"\nurl = "https://a.example/feed"\n'
        '[[sources]]\nname = "b"\nurl = "https://b.example/feed"\nfetch_pages = "never"\n'
    )
    config = load_config(path, environ={})
    assert [s.fetch_pages for s in config.sources] == [FetchPages.AUTO, FetchPages.NEVER]
    path.write_text(
        '[[sources]]\nname = "a"\nurl = "https://a.example/feed"\nfetch_pages = "yes"\n'
    )
    with pytest.raises(ConfigError, match="fetch_pages must be auto, always or never"):
        load_config(path, environ={})
