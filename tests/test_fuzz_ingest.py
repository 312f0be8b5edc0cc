"""Fuzzing the ingest path: random and mutated feeds, listings, sitemaps and pages never raise.

Inputs are random bytes and mutations (byte flips, cuts, hostile insertions
such as surrogate and NUL character references, entity declarations, huge
links) of small documents written here and, when `../shared/corpora` is
present, of its real feeds. Besides never raising, everything the parsers
return must be storable on both databases: no NUL or lone surrogate in any
string, entry keys within 255 characters, canonical URLs within 2,000 and
outlets within 255 (the column sizes), so one hostile item can never make a
whole feed's transaction fail forever. The deeper profile is `slow`.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.shared import optional_shared_path, shared_path
from watcher.extract.page import extract_page
from watcher.ingest.feeds import parse_feed
from watcher.ingest.listing import discover_links, parse_sitemap
from watcher.model import Extraction, ExtractionStatus, ParsedFeed
from watcher.text.urls import canonical_url, host_of

BASE = "http://news.example.org/section/feed.xml"
LONG_LINK = b"http://news.example.org/" + b"a" * 2100
RSS = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
    b"<item><title>AUKUS &amp; Japan</title><link>http://news.example.org/a/1</link>"
    b"<guid>g1</guid><description>&lt;p&gt;Pillar II&lt;/p&gt;</description>"
    b"<pubDate>Mon, 16 Nov 2026 09:00:00 GMT</pubDate></item>"
    b"<item><title>Second</title><link>/a/2</link></item></channel></rss>"
)
ATOM = (
    b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>'
    b'<entry><title type="html">Quantum &lt;b&gt;sensing&lt;/b&gt;</title>'
    b'<link href="http://news.example.org/b/1"/><id>urn:x:1</id>'
    b'<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">Text</div></content>'
    b"<updated>2026-11-16T09:00:00Z</updated></entry></feed>"
)
RDF = (
    b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    b'xmlns="http://purl.org/rss/1.0/"><channel><title>R</title></channel>'
    b'<item rdf:about="http://news.example.org/c/1"><title>R1</title>'
    b"<link>http://news.example.org/c/1</link></item></rdf:RDF>"
)
SITEMAP = (
    b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
    b'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url>'
    b"<loc>http://news.example.org/d/1</loc><lastmod>2026-11-16</lastmod><news:news>"
    b"<news:title>AUKUS</news:title></news:news></url></urlset>"
)
LISTING = (
    b'<html><head><meta charset="utf-8"></head><body><a href="/e/1">AUKUS talks</a>'
    b'<a href="http://news.example.org/e/2?x=1#f">Japan &amp; UK</a>'
    b'<a href="javascript:x()">no</a></body></html>'
)
PAGE = (
    b'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>AUKUS</title>'
    b'<link rel="canonical" href="http://news.example.org/f/1"></head><body><article>'
    b"<h1>Japan and AUKUS</h1><p>"
    + b"Officials discussed Pillar II projects today. " * 12
    + b"</p><p>"
    + b"Quantum sensing and undersea drones were on the agenda. " * 10
    + b"</p></article></body></html>"
)
HOSTILE = [
    b"&#xD800;", b"&#55296;", b"&#0;", b"\x00", b"&#x1F;", b"&#xFFFE;", b"\xff\xfe", b"\xe3\x81",
    b"<![CDATA[", b"]]>", b"<!DOCTYPE x [<!ENTITY a 'aaaaaaaaaa'>]>", b"&a;", b"&amp;", b"<", b">",
    b"</item>", b"<item>", b"<entry>", b"<link>" + LONG_LINK + b"</link>", LONG_LINK,
    b'<link href="' + LONG_LINK + b'"/>', b'<a href="' + LONG_LINK + b'">x</a>',
    b"<loc>" + LONG_LINK + b"</loc>", b"http://" + b"h" * 300 + b".example/x",
    b'<?xml version="1.0" encoding="shift_jis"?>', b'encoding="utf-16"', b"\xef\xbb\xbf",
    b"<guid>" + b"g" * 400 + b"</guid>", b"<title>\xf0\x9f\x92\xa5 <!channel></title>",
    b'<link rel="canonical" href="' + LONG_LINK + b'">', b'<html lang="' + b"x" * 40 + b'">',
]  # fmt: skip
CONTENT_TYPES = [
    "", "application/rss+xml", "text/xml", "text/html; charset=shift_jis", "text/html",
    "application/xml; charset=utf-16", "text/plain", "application/xhtml+xml; charset=bogus",
]  # fmt: skip
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEEP = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def _feeds_under(corpora: Path) -> tuple[bytes, ...]:
    found: list[bytes] = []
    for sub in ("real-feeds", "feedparser/wellformed", "feedparser/illformed"):
        for path in sorted((corpora / sub).rglob("*")):
            suffix_ok = path.suffix in (".xml", ".rss", ".atom", ".rdf")
            if suffix_ok and path.is_file() and path.stat().st_size <= 64_000:
                found.append(path.read_bytes())
    return tuple(found[:: max(1, len(found) // 200)])


def corpus_feeds() -> tuple[bytes, ...]:
    """Up to 200 small real feeds from ../shared/corpora (read, never copied); skips without."""
    feeds = _feeds_under(shared_path("corpora"))
    assert feeds, "../shared/corpora has no feeds to mutate"
    return feeds


def optional_corpus_feeds() -> tuple[bytes, ...]:
    """The same real feeds, or none without ../shared/corpora (fails when it is required)."""
    corpora = optional_shared_path("corpora")
    return _feeds_under(corpora) if corpora is not None else ()


@st.composite
def mutated(draw: st.DrawFn, seeds: Iterable[bytes]) -> bytes:
    """A seed document after one to five cuts, flips, duplications or hostile insertions."""
    body = draw(st.sampled_from(list(seeds)))
    for _ in range(draw(st.integers(1, 5))):
        i = draw(st.integers(0, len(body)))
        j = draw(st.integers(i, min(len(body), i + 40)))
        op = draw(st.sampled_from(["insert", "insert", "cut", "flip", "dup", "truncate"]))
        if op == "insert":
            body = body[:i] + draw(st.sampled_from(HOSTILE)) + body[i:]
        elif op == "cut":
            body = body[:i] + body[j:]
        elif op == "flip" and i < len(body):
            body = body[:i] + bytes([body[i] ^ draw(st.integers(1, 255))]) + body[i + 1 :]
        elif op == "dup":
            body = body[:j] + body[i:j] * draw(st.integers(1, 3)) + body[j:]
        elif op == "truncate":
            body = body[:i]
    return body


def _storable(value: str | None, limit: int | None = None) -> None:
    if value is None:
        return
    assert "\x00" not in value, value[:200]
    value.encode("utf-8")  # raises on a lone surrogate, which no database takes
    if limit is not None:
        assert len(value) <= limit, (len(value), value[:100])


def check_parsed(parsed: ParsedFeed) -> None:
    """The entries can be stored: clean strings, keys and URLs within their columns."""
    assert isinstance(parsed, ParsedFeed)
    assert len({e.key for e in parsed.entries}) == len(parsed.entries)
    _storable(parsed.title)
    _storable(parsed.bozo_reason)
    for entry in parsed.entries:
        _storable(entry.key, 255)
        _storable(entry.title)
        _storable(entry.summary)
        _storable(entry.guid)
        _storable(entry.url)
        if entry.url:
            _storable(canonical_url(entry.url), 2000)
            _storable(host_of(entry.url), 255)


def check_feed(body: bytes, content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    check_parsed(parse_feed(body, url=BASE, headers=headers))


def check_listing(body: bytes) -> None:
    check_parsed(discover_links(body, base_url=BASE, include=(), exclude=()))
    check_parsed(parse_sitemap(body, url=BASE))


def check_page(body: bytes, content_type: str) -> None:
    result = extract_page(body, url="http://news.example.org/f/1", content_type=content_type)
    assert isinstance(result, Extraction)
    _storable(result.reason)
    if result.status is ExtractionStatus.OK:
        page = result.page
        assert page is not None
        for value in (page.title, page.text, page.author):
            _storable(value)
        _storable(page.language, 20)
        _storable(canonical_url("http://news.example.org/f/1", page.canonical_url), 2000)


FEEDS = st.one_of(st.binary(max_size=400), mutated([RSS, ATOM, RDF]))
CTYPES = st.sampled_from(CONTENT_TYPES)


@FAST
@given(FEEDS, CTYPES)
def test_random_and_mutated_feeds_never_raise(body: bytes, content_type: str) -> None:
    """parse_feed returns storable entries or an error value for any bytes."""
    check_feed(body, content_type)


@FAST
@given(st.one_of(st.binary(max_size=400), mutated([LISTING, SITEMAP, RSS])))
def test_random_and_mutated_listings_and_sitemaps_never_raise(body: bytes) -> None:
    """discover_links and parse_sitemap return storable links for any bytes."""
    check_listing(body)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=300), mutated([PAGE, LISTING])), CTYPES)
def test_random_and_mutated_pages_never_raise(body: bytes, content_type: str) -> None:
    """extract_page returns a value (storable text when OK) for any bytes and content type."""
    check_page(body, content_type)


@FAST
@given(st.data())
def test_mutated_real_feeds_never_raise(data: st.DataObject) -> None:
    """Real feeds from the shared corpora, mutated, parse to storable entries or an error."""
    feeds = corpus_feeds()
    check_feed(data.draw(mutated(feeds)), data.draw(CTYPES))


@pytest.mark.slow
@DEEP
@given(st.data())
def test_feeds_deep(data: st.DataObject) -> None:
    """The feed property over many more examples, real feeds included."""
    bodies = st.one_of(FEEDS, mutated(optional_corpus_feeds() or (RSS,)))
    check_feed(data.draw(bodies), data.draw(CTYPES))


@pytest.mark.slow
@DEEP
@given(st.one_of(st.binary(max_size=400), mutated([LISTING, SITEMAP, RSS])))
def test_listings_deep(body: bytes) -> None:
    """The listing and sitemap property over many more examples."""
    check_listing(body)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=300), mutated([PAGE, LISTING])), CTYPES)
def test_pages_deep(body: bytes, content_type: str) -> None:
    """The page property over many more examples."""
    check_page(body, content_type)
