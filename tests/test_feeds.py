"""Feed parsing: identity, dates, text, bozo handling and hostile XML."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from xml.sax.saxutils import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watcher.ingest.feeds import MAX_KEY_CHARS, parse_feed, strip_internal_dtd
from watcher.model import FetchOutcome, ParsedFeed

URL = "https://news.example/world/feed.xml"
NOW = datetime(2024, 10, 2, 12, 0, tzinfo=UTC)
XML = {"content-type": "application/rss+xml; charset=utf-8"}


def item(
    title: str = "Title",
    *,
    guid: str | None = None,
    link: str | None = None,
    description: str | None = None,
    date: str | None = None,
    extra: str = "",
) -> str:
    """One RSS <item>; text arguments are escaped as XML character data."""
    parts = [f"<title>{escape(title)}</title>"]
    if guid is not None:
        parts.append(f'<guid isPermaLink="false">{escape(guid)}</guid>')
    if link is not None:
        parts.append(f"<link>{escape(link)}</link>")
    if description is not None:
        parts.append(f"<description>{escape(description)}</description>")
    if date is not None:
        parts.append(f"<pubDate>{date}</pubDate>")
    return "<item>" + "".join(parts) + extra + "</item>"


def rss(*items: str, prolog: str = "") -> bytes:
    """An RSS 2.0 document around `items`."""
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{prolog}<rss version="2.0"><channel>'
        f"<title>Example World</title><link>https://news.example/world/</link>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def parse(body: bytes, headers: dict[str, str] | None = None) -> ParsedFeed:
    """parse_feed with the test URL, RSS headers and a fixed clock."""
    return parse_feed(body, url=URL, headers=XML if headers is None else headers, now=NOW)


# -- identity -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "key", "url"),
    [
        (item(guid="tag:x,2024:1", link="https://news.example/a"), "tag:x,2024:1", "https://news.example/a"),
        (item(link="https://news.example/a#comments"), "https://news.example/a", "https://news.example/a"),
        (item(link="/world/story-1"), "https://news.example/world/story-1", "https://news.example/world/story-1"),
        (item(link="story-2?id=3"), "https://news.example/world/story-2?id=3", "https://news.example/world/story-2?id=3"),
        (item(guid="  g-1\n ", link="https://x.example/"), "g-1", "https://x.example/"),
        (item(guid="g", link="javascript:alert(1)"), "g", None),
        (item(guid="g", link="mailto:desk@news.example"), "g", None),
    ],
)  # fmt: skip
def test_entry_key_and_link(entry: str, key: str, url: str | None) -> None:
    """The key is the GUID, else the absolute link; links resolve against the feed URL."""
    [parsed] = parse(rss(entry)).entries
    assert (parsed.key, parsed.url) == (key, url)


def test_key_falls_back_to_content_hash() -> None:
    """Without GUID or link the key is a hash of title and summary, stable across parses."""
    body = rss(item("Only a title", description="and a summary"))
    [first] = parse(body).entries
    [again] = parse(body).entries
    assert first.key.startswith("sha256:")
    assert first.key == again.key
    [other] = parse(rss(item("Only a title", description="another summary"))).entries
    assert other.key != first.key


def test_duplicate_guids_are_disambiguated() -> None:
    """Items sharing one GUID all get distinct keys, independent of their order."""
    items = [item(f"Story {i}", guid="same", link=f"https://news.example/{i}") for i in range(3)]
    forward = parse(rss(*items)).entries
    backward = parse(rss(*reversed(items))).entries
    keys = {e.key for e in forward}
    assert len(keys) == 3
    assert all(k.startswith("same#") for k in keys)
    assert keys == {e.key for e in backward}
    assert all(e.guid == "same" for e in forward)


def test_exact_duplicate_items_collapse() -> None:
    """The same item repeated in one document is kept once."""
    twice = item("Dup", guid="g1", link="https://news.example/d")
    entries = parse(rss(twice, twice, item("Other", guid="g2"))).entries
    assert [e.title for e in entries] == ["Dup", "Other"]


def test_missing_guids_use_links() -> None:
    """Items without GUIDs (as in several real outlets) are keyed by their links."""
    entries = parse(
        rss(*(item(f"S{i}", link=f"https://news.example/s{i}") for i in range(5)))
    ).entries
    assert [e.key for e in entries] == [f"https://news.example/s{i}" for i in range(5)]
    assert all(e.guid is None for e in entries)


def test_two_guid_elements_in_one_item() -> None:
    """An item with two <guid> elements still yields one entry with one key."""
    extra = "<guid>second-guid</guid>"
    [entry] = parse(rss(item("Two", guid="first-guid", extra=extra))).entries
    # A guid without isPermaLink="false" is a permalink, so feedparser resolves it.
    assert entry.key.endswith(("first-guid", "second-guid"))


def test_very_long_guid_is_hashed() -> None:
    """A GUID longer than the key limit is stored as its hash."""
    [entry] = parse(rss(item(guid="g" * 5000))).entries
    assert entry.key.startswith("sha256:")
    assert len(entry.key) <= MAX_KEY_CHARS
    assert entry.guid == "g" * 5000


def test_empty_items_are_dropped() -> None:
    """An item with no GUID, link, title or summary is skipped."""
    assert parse(rss("<item></item>", item("Kept"))).entries[0].title == "Kept"
    assert len(parse(rss("<item></item>", item("Kept"))).entries) == 1


# -- dates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Tue, 01 Oct 2024 10:00:00 GMT", datetime(2024, 10, 1, 10, tzinfo=UTC)),
        ("Tue, 01 Oct 2024 19:00:00 +0900", datetime(2024, 10, 1, 10, tzinfo=UTC)),
        ("Tue, 01 Oct 2024 10:00:00 EST", datetime(2024, 10, 1, 15, tzinfo=UTC)),
        ("2024-10-01T10:00:00+09:00", datetime(2024, 10, 1, 1, tzinfo=UTC)),
        ("Wed, 02 Oct 2024 23:00:00 GMT", datetime(2024, 10, 2, 23, tzinfo=UTC)),
        ("Seg, 24 Set 2018 10:00:00 -0300", None),
        ("Thu, 01 Jan 1970 00:00:00 GMT", None),
        ("Wed, 01 Oct 2099 10:00:00 GMT", None),
        ("Fri, 04 Oct 2024 23:00:00 GMT", None),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_published_dates(date: str | None, expected: datetime | None) -> None:
    """Dates become UTC; localized, missing, epoch-0 and future dates become None."""
    [entry] = parse(rss(item("x", guid="g", date=date))).entries
    assert entry.published == expected


def test_updated_is_used_without_published() -> None:
    """An Atom entry with only <updated> uses it as the publication time."""
    atom = (
        b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        b"<title>A</title><id>urn:a</id><updated>2024-10-01T00:00:00Z</updated>"
        b'<entry><id>urn:a:1</id><title>One</title><link href="/one"/>'
        b"<updated>2024-09-30T08:00:00Z</updated></entry></feed>"
    )
    [entry] = parse(atom, {"content-type": "application/atom+xml"}).entries
    assert entry.published == datetime(2024, 9, 30, 8, tzinfo=UTC)
    assert entry.url == "https://news.example/one"


# -- text -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "summary"),
    [
        ("<p>First</p><p>second</p>", "First second"),
        ("A<br>B<br/>C", "A B C"),
        ("Tom &amp; Jerry &lt;3", "Tom & Jerry <3"),
        ("x <script>alert('no')</script>y<style>p{}</style>", "x y"),
        ("  spaced \n\t out  ", "spaced out"),
        ("nul\x01byte", "nul byte"),
        ("<a href='https://e.example'>link</a> text", "link text"),
        ("<img src=x onerror=alert(1)>caption", "caption"),
    ],
)
def test_summaries_are_plain_text(description: str, summary: str) -> None:
    """HTML in summaries is reduced to plain text; scripts, tags and control characters go."""
    [entry] = parse(rss(item("t", guid="g", description=description))).entries
    assert entry.summary == summary


def test_titles_are_plain_text() -> None:
    """HTML in titles (escaped or CDATA) is reduced to text with entities decoded."""
    cdata = "<item><title><![CDATA[Tom & Jerry <i>return</i>]]></title><guid>g</guid></item>"
    [entry] = parse(rss(cdata)).entries
    assert entry.title == "Tom & Jerry return"
    [entry] = parse(rss(item("AT&T <b>wins</b>", guid="h"))).entries
    assert entry.title == "AT&T wins"


def test_content_encoded_is_the_summary_fallback() -> None:
    """Without a description, content:encoded provides the summary text."""
    extra = "<content:encoded><![CDATA[<p>Full <b>body</b></p>]]></content:encoded>"
    body = rss(item("t", guid="g", extra=extra)).replace(
        b'<rss version="2.0">',
        b'<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">',
    )
    assert parse(body).entries[0].summary == "Full body"


# -- documents --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<!doctype html><html><head><title>Just a moment...</title></head><body></body></html>",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b'{"items": "not a list"}',  # JSON, but no JSON Feed (test_feeds_json.py has those)
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
    ],
)
def test_not_a_feed(body: bytes) -> None:
    """HTML pages, images, PDFs and empty bodies are NOT_A_FEED with a reason."""
    result = parse(body, {"content-type": "text/html"})
    assert result.error is FetchOutcome.NOT_A_FEED
    assert result.entries == ()
    assert result.bozo_reason


def test_empty_feed_is_not_an_error() -> None:
    """A valid feed with no items parses with no error."""
    result = parse(rss())
    assert (result.entries, result.error, result.title) == ((), None, "Example World")


def test_bozo_feed_keeps_its_items() -> None:
    """A feed with an XML error mid-way keeps the items it yields and records why."""
    broken = "<item><title>Bad</title><link>https://news.example/b?x=1&y=2</link></item>"
    body = rss(item("Good", guid="g1"), broken, item("After", guid="g3"))
    result = parse(body)
    assert result.bozo
    assert result.bozo_reason
    assert result.error is None
    assert [e.title for e in result.entries] == ["Good", "Bad", "After"]


def test_truncated_feed_with_no_items_is_a_parse_error() -> None:
    """A document cut off before any item is PARSE_ERROR, never an empty feed."""
    body = rss(item("One", guid="g1"))
    cut = body[: body.index(b"<item>")] + b"<!-- Exception rendering module"
    result = parse(cut)
    assert result.error is FetchOutcome.PARSE_ERROR
    assert result.title == "Example World"


def test_text_plain_feed_is_parsed() -> None:
    """A feed served as text/plain is still parsed."""
    result = parse(rss(item("x", guid="g")), {"content-type": "text/plain"})
    assert [e.key for e in result.entries] == ["g"]
    assert result.error is None


def test_every_prefix_of_a_feed_is_safe() -> None:
    """A feed cut at any byte offset gives a value, never an exception."""
    body = rss(*(item(f"Item {i}", guid=f"g{i}", description="<p>text</p>") for i in range(4)))
    for end in range(0, len(body), 7):
        result = parse(body[:end])
        assert isinstance(result, ParsedFeed)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(body: bytes) -> None:
    """Random bytes give a ParsedFeed, never an exception."""
    assert isinstance(parse(body), ParsedFeed)


# -- hostile XML ------------------------------------------------------------------------


def _laughs() -> str:
    """The classic billion-laughs internal subset (10^9 "lol"s if expanded)."""
    levels = ['<!ENTITY lol "lol">']
    for i in range(1, 10):
        previous = f"&lol{i - 1};" if i > 1 else "&lol;"
        levels.append(f'<!ENTITY lol{i} "{previous * 10}">')
    return "<!DOCTYPE rss [" + "".join(levels) + "]>"


LAUGHS = _laughs()


def test_billion_laughs_stays_bounded() -> None:
    """Nested entity definitions are stripped before parsing: fast, no expansion."""
    body = rss(item("&lol9;", guid="g").replace("&amp;lol9;", "&lol9;"), prolog=LAUGHS)
    start = time.monotonic()
    result = parse(body)
    assert time.monotonic() - start < 2.0
    [entry] = result.entries  # the item is kept, its title not expanded
    assert len(entry.title) < 100, entry.title[:200]


def test_entity_amplification_stays_bounded() -> None:
    """One large entity referenced thousands of times does not blow up parse time."""
    prolog = '<!DOCTYPE rss [<!ENTITY big "' + "x" * 100_000 + '">]>'
    items = [item(f"T{i}", guid=f"g{i}", description="&big;") for i in range(2000)]
    body = rss(*items, prolog=prolog).replace(b"&amp;big;", b"&big;")
    start = time.monotonic()
    result = parse(body)
    assert time.monotonic() - start < 5.0
    assert len(result.entries) == 2000
    assert all(len(e.summary) < 1000 for e in result.entries)


def test_external_entity_is_not_read() -> None:
    """An external entity pointing at a local file is never resolved."""
    prolog = '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    body = rss(item("&xxe;", guid="g"), prolog=prolog).replace(b"&amp;xxe;", b"&xxe;")
    [entry] = parse(body).entries  # the item is kept, the entity not resolved
    assert "root:" not in entry.title + entry.summary


def test_dtd_stripping_keeps_doctype_name() -> None:
    """Stripping removes only the internal subset, in UTF-8 and UTF-16 documents."""
    doc = '<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//x" "y" [<!ENTITY a "b">]><rss/>'
    assert (
        strip_internal_dtd(doc.encode())
        == b'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//x" "y"><rss/>'
    )
    wide = doc.replace("1.0", '1.0" encoding="utf-16').encode("utf-16")
    assert "ENTITY" not in strip_internal_dtd(wide).decode("utf-16")
    assert strip_internal_dtd(b"<rss/>") == b"<rss/>"
