"""JSON Feed 1.0/1.1 read as feeds, and UTF-8 bytes read as UTF-8 whatever Latin-1 label they carry.

The JSON Feed tests read the real and hand-made feeds of
../shared/corpora/jsonfeed (skipped when the shared checkout is absent) and
compare with the JSON itself; the other samples are written here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.httpserver import LocalSite
from watcher.ingest.feeds import parse_feed
from watcher.ingest.fetch import Fetcher, FetchSettings
from watcher.model import FetchOutcome

JSONFEED = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "jsonfeed"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
URL = "https://news.example/feed.json"


def _corpus() -> list[Path]:
    if not JSONFEED.is_dir():
        pytest.skip(f"{JSONFEED} is absent: the shared corpora are not checked out")
    return sorted(JSONFEED.glob("*.json"))


def test_every_real_json_feed_reads_every_item() -> None:
    """Each JSON Feed of the corpus gives one entry per item, with its id, link, title and date."""
    paths = _corpus()
    assert len(paths) >= 8
    total = 0
    for path in paths:
        body = path.read_bytes()
        items = json.loads(body)["items"]
        for content_type in ("application/feed+json", "application/json", ""):
            headers = {"content-type": content_type} if content_type else {}
            feed = parse_feed(body, url=URL, headers=headers, now=NOW)
            assert feed.error is None, (path.name, feed.bozo_reason)
            assert len(feed.entries) == len(items), path.name
        for entry, item in zip(feed.entries, items, strict=True):
            assert entry.guid == str(item["id"]).strip(), path.name
            if item.get("url"):
                assert entry.url == item["url"], path.name
            assert entry.title == (item.get("title") or "").strip(), path.name
            if item.get("content_html") or item.get("content_text"):
                assert entry.content, (path.name, item["id"])
            if item.get("date_published"):
                expected = datetime.fromisoformat(item["date_published"]).astimezone(UTC)
                assert entry.published == expected, path.name
        total += len(items)
    assert total >= 100


def test_json_feed_items_resolve_links_and_prefer_summary() -> None:
    """Relative item URLs resolve against the feed; `summary` is the summary, HTML content text."""
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Example",
        "items": [
            {
                "id": 7,
                "url": "/2026/12/a",
                "title": "Allies meet",
                "summary": "Short summary.",
                "content_html": "<p>First <b>paragraph</b>.</p><p>Second.</p>",
                "date_published": "2026-11-30T09:00:00+09:00",
            },
            {
                "id": "b",
                "content_text": "Only text, no link.",
                "date_modified": "2099-01-01T00:00Z",
            },
            {"title": ""},  # nothing to identify or match
        ],
    }
    feed = parse_feed(json.dumps(doc).encode(), url=URL, headers={}, now=NOW)
    assert feed.title == "Example"
    first, second = feed.entries
    assert (first.key, first.url, first.summary) == (
        "7",
        "https://news.example/2026/12/a",
        "Short summary.",
    )
    assert first.content == "First paragraph. Second."
    assert first.published == datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    assert (second.url, second.summary, second.published) == (None, "Only text, no link.", None)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"version": "https://jsonfeed.org/version/1", "items": [', FetchOutcome.PARSE_ERROR),
        (b'{"version": "https://jsonfeed.org/version/1"}', FetchOutcome.NOT_A_FEED),
        (b'["not", "a", "feed"]', FetchOutcome.NOT_A_FEED),
    ],
)
def test_broken_json_feeds(body: bytes, error: FetchOutcome) -> None:
    """Invalid JSON is a parse error; JSON without an items list is not a feed."""
    feed = parse_feed(body, url=URL, headers={"content-type": "application/feed+json"}, now=NOW)
    assert feed.error is error
    assert feed.entries == ()


def test_json_feed_fetched_over_http(local_site: LocalSite) -> None:
    """A JSON Feed served with its media type goes through the fetcher and the parser."""
    doc = {"version": "https://jsonfeed.org/version/1", "items": [{"id": "1", "url": "/a"}]}
    site = local_site
    site.add("/feed.json", json.dumps(doc).encode(), content_type="application/feed+json")

    async def fetch() -> bytes:
        async with Fetcher(FetchSettings(allow_private_addresses=True)) as fetcher:
            result = await fetcher.fetch(site.url("/feed.json"))
        assert result.ok, result.error
        return result.body

    import asyncio

    feed = parse_feed(asyncio.run(fetch()), url=site.url("/feed.json"), headers={}, now=NOW)
    assert [e.url for e in feed.entries] == [site.url("/a")]


RSS = """<?xml version="1.0" encoding="{label}"?>
<rss version="2.0"><channel><title>Caf\u00e9 news</title>
<item><title>Caf\u00e9 in Z\u00fcrich</title><link>https://news.example/a</link>
<description>\u00c9t\u00e9 \u2013 \u201cquoted\u201d</description></item>
</channel></rss>"""


@pytest.mark.parametrize("label", ["windows-1252", "ISO-8859-1", "us-ascii"])
@pytest.mark.parametrize("where", ["xml", "header", "both"])
def test_utf8_declared_as_latin1_reads_as_utf8(label: str, where: str) -> None:
    """Valid UTF-8 with non-ASCII characters is read as UTF-8 whatever Latin-1 label it carries."""
    xml_label = label if where in ("xml", "both") else "utf-8"
    body = RSS.format(label=xml_label).encode("utf-8")
    charset = label if where in ("header", "both") else "utf-8"
    headers = {"content-type": f"application/rss+xml; charset={charset}"}
    feed = parse_feed(body, url=URL, headers=headers, now=NOW)
    (entry,) = feed.entries
    assert entry.title == "Caf\u00e9 in Z\u00fcrich"
    assert entry.summary == "\u00c9t\u00e9 \u2013 \u201cquoted\u201d"
    assert feed.title == "Caf\u00e9 news"


def test_real_windows_1252_still_reads_as_declared() -> None:
    """Bytes that are not valid UTF-8 keep their windows-1252 declaration (curly quotes, euro)."""
    body = RSS.format(label="windows-1252").replace("\u00e9", "\u20ac").encode("cp1252")
    feed = parse_feed(body, url=URL, headers={"content-type": "application/rss+xml"}, now=NOW)
    (entry,) = feed.entries
    assert entry.title == "Caf\u20ac in Z\u00fcrich"
    assert entry.summary == "\u00c9t\u20ac \u2013 \u201cquoted\u201d"
