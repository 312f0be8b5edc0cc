"""Listing pages and sitemaps as sources (source kinds `html` and `sitemap`)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from tests.support.httpserver import LocalSite
from watcher.errors import ConfigError
from watcher.ingest.fetch import Fetcher, FetchSettings
from watcher.ingest.listing import compile_patterns, discover_links, parse_sitemap, sitemap_children
from watcher.model import FetchOutcome, FetchResult, SourceKind
from watcher.pipeline.cycle import parse_source_document

BASE = "https://www.news.example/world/"
NOW = datetime(2024, 10, 2, 12, 0, tzinfo=UTC)

PAGE = """<!doctype html><html><head><meta charset="utf-8">
<title>World | News Example</title></head><body>
<nav><a href="/">Home</a> <a href="/world/">World</a> <a href="/about">About us</a></nav>
<main>
  <a href="/news/2024/10/01/pact-talks"><img src="t.jpg" alt="Talks photo"></a>
  <h2><a href="/news/2024/10/01/pact-talks">Pact talks widen to new partners</a></h2>
  <h2><a href="https://news.example/news/2024/10/01/export-rules#c">Export rules eased</a></h2>
  <h2><a href="../news/2024/09/30/clearance-law?ref=home">Clearance law passes</a></h2>
  <h2><a href="https://cdn.news.example/news/2024/09/29/sub-site">Subdomain story</a></h2>
  <h2><a href="https://other.example/news/2024/10/01/elsewhere">Off-site story</a></h2>
  <a href="/news/2024/10/01/live-blog">Live: <b>latest</b>  updates</a>
  <a href="javascript:void(0)">Share</a> <a href="mailto:desk@news.example">Mail</a>
  <a href="#top">Top</a> <a>No href</a> <a href="">Empty</a>
</main></body></html>"""


def links(body: str | bytes, **kwargs: object) -> list[tuple[str, str]]:
    data = body.encode() if isinstance(body, str) else body
    options: dict[str, object] = {"include": (r"/news/\d{4}/",), "exclude": ()} | kwargs
    result = discover_links(data, base_url=BASE, **options)  # type: ignore[arg-type]
    return [(e.url or "", e.title) for e in result.entries]


def test_discovers_matching_same_site_links() -> None:
    """Article links are absolutised, filtered by pattern and site, de-duplicated, titled."""
    assert links(PAGE) == [
        ("https://www.news.example/news/2024/10/01/pact-talks", "Pact talks widen to new partners"),
        ("https://news.example/news/2024/10/01/export-rules", "Export rules eased"),
        ("https://www.news.example/news/2024/09/30/clearance-law?ref=home", "Clearance law passes"),
        ("https://cdn.news.example/news/2024/09/29/sub-site", "Subdomain story"),
        ("https://www.news.example/news/2024/10/01/live-blog", "Live: latest updates"),
    ]


def test_entries_are_keyed_by_url() -> None:
    """Each entry's key is its URL and it has no date or summary."""
    result = discover_links(PAGE.encode(), base_url=BASE, include=(r"/news/",), exclude=())
    assert len(result.entries) == 5
    assert all(e.key == e.url and e.published is None and e.summary == "" for e in result.entries)
    assert result.title == "World | News Example"
    assert result.error is None


def test_exclude_patterns_win() -> None:
    """A link matching an exclude pattern is dropped even when it matches include."""
    found = [url for url, _ in links(PAGE, exclude=(r"live-blog", r"\?ref="))]
    assert "https://www.news.example/news/2024/10/01/live-blog" not in found
    assert len(found) == 3


def test_no_include_keeps_every_same_site_link() -> None:
    """Without include patterns every same-site http(s) link except the page itself is kept."""
    found = [url for url, _ in links(PAGE, include=())]
    assert "https://www.news.example/" in found
    assert "https://www.news.example/about" in found
    assert BASE not in found
    assert not any(u.startswith(("javascript:", "mailto:")) for u in found)
    assert not any("other.example" in u for u in found)


def test_sibling_subdomains_are_the_same_site() -> None:
    """A listing on news.example.com keeps links to www.example.com: one registrable domain.

    The listing filter used to compare against the page's host minus `www.`,
    which dropped these while the canonical-URL rule accepted them.
    """
    page = (
        '<a href="https://www.example.com/news/2024/10/01/a">Main site</a>'
        '<a href="https://news.example.com/news/2024/10/01/b">Same host</a>'
        '<a href="https://example.org/news/2024/10/01/c">Elsewhere</a>'
    )
    result = discover_links(
        page.encode(), base_url="https://news.example.com/world/", include=(), exclude=()
    )
    assert [e.url for e in result.entries] == [
        "https://www.example.com/news/2024/10/01/a",
        "https://news.example.com/news/2024/10/01/b",
    ]


def test_off_site_links_when_allowed() -> None:
    """With same_site=False links to other sites are kept too."""
    found = [url for url, _ in links(PAGE, same_site=False)]
    assert "https://other.example/news/2024/10/01/elsewhere" in found


def test_base_href_is_honoured() -> None:
    """Relative links resolve against <base href> when the page has one."""
    page = '<html><head><base href="https://www.news.example/archive/"></head><body>'
    page += '<a href="news/2024/01/02/x">X</a></body></html>'
    assert links(page) == [("https://www.news.example/archive/news/2024/01/02/x", "X")]


def test_image_only_link_uses_alt_text() -> None:
    """A link with only an image is titled by its alt text."""
    page = '<a href="/news/2024/01/02/y"><img alt="Photo caption"></a>'
    assert links(page) == [("https://www.news.example/news/2024/01/02/y", "Photo caption")]


@pytest.mark.parametrize("codec", ["shift_jis", "euc_jp", "cp932"])
@pytest.mark.parametrize("declared", [True, False])
def test_legacy_encoded_listing(codec: str, declared: bool) -> None:
    """Anchor text of Shift_JIS/EUC-JP pages decodes, with or without a meta charset."""
    title = "日本政府、先端技術の協力について豪英米と協議を継続"
    meta = f'<meta charset="{codec}">' if declared else ""
    items = "".join(
        f'<li><a href="/news/2024/10/0{i}/a">{title}第{i}報</a></li>' for i in range(1, 6)
    )
    page = f"<html><head>{meta}</head><body><ul>{items}</ul></body></html>"
    found = links(page.encode(codec))
    assert [t for _, t in found] == [f"{title}第{i}報" for i in range(1, 6)]


TITLES_UTF8 = ["Défense : l'accord AUKUS s'élargit", "Müller trifft Außenminister", "日本、協議へ"]


@pytest.mark.parametrize(
    ("meta", "content_type"),
    [
        ("", ""),  # no declaration anywhere
        ('<meta charset="windows-1252">', ""),  # a template's wrong legacy default
        ('<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">', ""),
        ("", "text/html; charset=ISO-8859-1"),  # a server's wrong default header
    ],
)
def test_utf8_listing_with_wrong_or_missing_charset(meta: str, content_type: str) -> None:
    """UTF-8 anchor text comes out right whatever legacy charset the page or header claims.

    Listings used to trust `<meta charset>` over valid UTF-8 and read these as
    cp1252 ("DÃ©fense"), while article extraction read the same bytes as UTF-8.
    """
    items = "".join(f'<a href="/news/2024/10/0{i}/a">{t}</a>' for i, t in enumerate(TITLES_UTF8))
    page = f"<html><head>{meta}<title>À la une</title></head><body>{items}</body></html>"
    result = discover_links(
        page.encode("utf-8"), base_url=BASE, include=(), exclude=(), content_type=content_type
    )
    assert [e.title for e in result.entries] == TITLES_UTF8
    assert result.title == "À la une"


def test_listing_honours_the_header_charset() -> None:
    """Legacy bytes without a `<meta>` decode by the Content-Type charset the fetch returned.

    chardet alone reads this short windows-1250 title as ISO-8859-2 ("lšsk").
    """
    title = "Śląsk zyskuje"
    body = f'<html><body><a href="/news/2024/10/01/a">{title}</a></body></html>'.encode("cp1250")
    fetched = FetchResult(
        BASE,
        FetchOutcome.OK,
        final_url=BASE,
        headers={"content-type": "text/html; charset=windows-1250"},
        body=body,
    )
    parsed = parse_source_document(SourceKind.HTML, fetched, include=(), exclude=())
    assert [e.title for e in parsed.entries] == [title]


@pytest.mark.parametrize(
    "body", [b"", b"\x89PNG\r\n\x1a\n", b"<html><body><p>No links here</p></body></html>"]
)
def test_nothing_found_is_not_a_feed(body: bytes) -> None:
    """A page without matching links, or not HTML at all, is NOT_A_FEED with a reason."""
    result = discover_links(body, base_url=BASE, include=(r"/news/",), exclude=())
    assert result.entries == ()
    assert result.error is FetchOutcome.NOT_A_FEED
    assert result.bozo_reason


def test_invalid_pattern_is_a_config_error() -> None:
    """An invalid include regex raises ConfigError naming the pattern."""
    with pytest.raises(ConfigError, match=r"invalid include regex '\(unclosed'"):
        discover_links(PAGE.encode(), base_url=BASE, include=("(unclosed",), exclude=())
    with pytest.raises(ConfigError, match="exclude"):
        compile_patterns(["[z-a]"], "exclude")


def test_listing_fetched_from_local_site(local_site: LocalSite) -> None:
    """A listing page fetched over HTTP yields absolute links on that server."""
    local_site.add("/world/", '<a href="/news/2024/10/01/a">A story</a>')

    async def run() -> FetchResult:
        async with Fetcher(FetchSettings(allow_private_addresses=True)) as f:
            return await f.fetch(local_site.url("/world/"))

    fetched = asyncio.run(run())
    result = discover_links(fetched.body, base_url=fetched.final_url, include=(), exclude=())
    assert [e.url for e in result.entries] == [local_site.url("/news/2024/10/01/a")]


# -- sitemaps -------------------------------------------------------------------------

NEWS_SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url><loc>https://www.news.example/news/a</loc>
    <news:news><news:publication><news:name>Example</news:name><news:language>en</news:language>
    </news:publication><news:publication_date>2024-10-01T19:00:00+09:00</news:publication_date>
    <news:title>Pact &amp; partners</news:title></news:news></url>
  <url><loc> /news/b </loc><lastmod>2024-09-30</lastmod></url>
  <url><loc>https://www.news.example/news/c</loc><lastmod>2099-01-01</lastmod></url>
  <url><loc>https://www.news.example/news/d</loc><lastmod>last tuesday</lastmod></url>
  <url><loc>https://www.news.example/news/a</loc></url>
  <url><loc>ftp://www.news.example/file</loc></url>
  <url></url>
</urlset>"""


def test_news_sitemap() -> None:
    """A news sitemap yields its URLs with news titles and publication dates (else lastmod)."""
    result = parse_sitemap(NEWS_SITEMAP, url="https://www.news.example/sitemap-news.xml", now=NOW)
    assert result.error is None
    got = [(e.url, e.title, e.published) for e in result.entries]
    assert got[0] == (
        "https://www.news.example/news/a",
        "Pact & partners",
        datetime(2024, 10, 1, 10, tzinfo=UTC),
    )
    assert got[1] == ("https://www.news.example/news/b", "", datetime(2024, 9, 30, tzinfo=UTC))
    assert got[2][2] is None  # far future
    assert got[3][2] is None  # malformed
    assert len(got) == 5  # the repeated URL is disambiguated, ftp and empty entries dropped
    assert len({e.key for e in result.entries}) == 5


SITEMAP_INDEX = b"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://www.news.example/sitemap-news.xml</loc></sitemap>
  <sitemap><loc>/sitemap-2024.xml</loc><lastmod>2024-10-01</lastmod></sitemap>
</sitemapindex>"""


def test_sitemap_index_is_reported_with_children() -> None:
    """A sitemap index is NOT_A_FEED with a reason; sitemap_children lists its sitemaps."""
    url = "https://www.news.example/sitemap.xml"
    result = parse_sitemap(SITEMAP_INDEX, url=url)
    assert result.error is FetchOutcome.NOT_A_FEED
    assert "sitemap index" in (result.bozo_reason or "")
    assert sitemap_children(SITEMAP_INDEX, url=url) == (
        "https://www.news.example/sitemap-news.xml",
        "https://www.news.example/sitemap-2024.xml",
    )
    assert sitemap_children(NEWS_SITEMAP, url=url) == ()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", FetchOutcome.PARSE_ERROR),
        (b"\x00\x01\x02", FetchOutcome.PARSE_ERROR),
        (b"<rss version='2.0'><channel/></rss>", FetchOutcome.NOT_A_FEED),
        (b"<html><body>hi</body></html>", FetchOutcome.NOT_A_FEED),
    ],
)
def test_not_a_sitemap(body: bytes, error: FetchOutcome) -> None:
    """Garbage is PARSE_ERROR and other XML is NOT_A_FEED, never an exception."""
    result = parse_sitemap(body, url="https://www.news.example/sitemap.xml")
    assert (result.entries, result.error) == ((), error)


def test_sitemap_entities_are_not_expanded() -> None:
    """Billion-laughs and external entities in a sitemap are neither expanded nor read."""
    levels = ['<!ENTITY l0 "lol">'] + [
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
    ]
    doctype = "<!DOCTYPE urlset [" + "".join(levels) + '<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    body = (
        doctype + '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        "<url><loc>https://www.news.example/&l9;</loc></url>"
        "<url><loc>https://www.news.example/&x;</loc></url></urlset>"
    ).encode()
    start = time.monotonic()
    result = parse_sitemap(body, url="https://www.news.example/sitemap.xml")
    assert time.monotonic() - start < 1.0
    assert result.entries  # the document still parses; only the entities are left out
    assert all(len(e.url or "") < 200 and "root:" not in (e.url or "") for e in result.entries)
