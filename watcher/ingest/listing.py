"""Listing pages and sitemaps -> `ParsedFeed`, for sources without a feed.

`discover_links` reads an `html` source (a section page): every anchor's
href made absolute (honouring `<base href>`), fragment dropped, http(s)
only, on the page's site by default (`watcher.text.urls.same_site`: the
same registrable domain), kept when it matches an `include` pattern (if
any) and no `exclude` pattern; the anchor text becomes the title; each URL
appears once. `parse_sitemap` reads a `sitemap` source: a `<urlset>` (with
Google News `news:title` / `news:publication_date`, else `lastmod`). A
`<sitemapindex>` lists other sitemaps, not articles: it gives `NOT_A_FEED`
with the reason, and `sitemap_children` lists the child sitemaps.

Both never raise on any input from the internet. XML is parsed by lxml with
`resolve_entities=False, no_network=True, load_dtd=False`, so an XML bomb or
external entity reads no file, reaches no network and stays bounded.
Invalid include/exclude patterns are a person's mistake: `compile_patterns`
raises `ConfigError` naming the pattern, so configuration can be checked
before any fetch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from urllib.parse import urldefrag, urljoin

from lxml import etree, html

from watcher.errors import ConfigError
from watcher.ingest.feeds import assign_keys, iso_date
from watcher.model import FeedEntry, FetchOutcome, ParsedFeed
from watcher.text.charset import decode_html
from watcher.text.html import clean_text
from watcher.text.urls import absolute_url, host_of
from watcher.text.urls import same_site as is_same_site

MAX_LINKS = 5_000  # a listing page with more anchors than this is not a listing page
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*>")


def compile_patterns(patterns: Sequence[str], what: str = "pattern") -> tuple[re.Pattern[str], ...]:
    """Compile URL regexes; raises `ConfigError` naming the first invalid one."""
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ConfigError(f"invalid {what} regex {pattern!r}: {exc}") from exc
    return tuple(compiled)


def _parse_html(body: bytes, content_type: str) -> html.HtmlElement | None:
    # Decode in Python: libxml2 does not know every codec name pages declare (euc_jp).
    text, _codec = decode_html(body, content_type)
    text = _XML_DECL.sub("", text, count=1)  # lxml refuses str input that declares an encoding
    if not text.strip():
        return None
    try:
        root = html.document_fromstring(text, parser=html.HTMLParser(no_network=True))
    except (etree.ParserError, ValueError):
        return None
    return root if isinstance(root, html.HtmlElement) else None


def _anchor_text(anchor: html.HtmlElement) -> str:
    text = clean_text(anchor.text_content())
    if not text:
        text = clean_text(anchor.get("title") or "")
    if not text:
        alts = (clean_text(img.get("alt") or "") for img in anchor.iter("img"))
        text = next((a for a in alts if a), "")
    return text


def discover_links(
    body: bytes,
    *,
    base_url: str,
    include: Sequence[str],
    exclude: Sequence[str],
    same_site: bool = True,
    content_type: str = "",
) -> ParsedFeed:
    """Article links of a listing page; see the module docstring.

    `content_type` is the response's Content-Type header (its charset is one
    of the inputs of `watcher.text.charset.decode_html`), "" when unknown.

    Raises `ConfigError` only for an invalid include/exclude regex.
    """
    includes = compile_patterns(include, "include")
    excludes = compile_patterns(exclude, "exclude")
    root = _parse_html(body, content_type)
    if root is None:
        return ParsedFeed((), error=FetchOutcome.NOT_A_FEED, bozo_reason="not an HTML page")
    base = base_url
    base_href = root.find(".//base[@href]")
    if base_href is not None:
        base = urljoin(base_url, base_href.get("href") or "")
    site = host_of(base_url)
    page = urldefrag(base_url).url
    titles: dict[str, str] = {}
    for anchor in root.iter("a"):
        href = anchor.get("href")
        url = absolute_url(base, href) if href else None
        if url is None or url == page:
            continue
        if same_site and not is_same_site(host_of(url), site):
            continue
        if includes and not any(p.search(url) for p in includes):
            continue
        if any(p.search(url) for p in excludes):
            continue
        text = _anchor_text(anchor)
        if len(text) > len(titles.get(url, "")):
            titles[url] = text  # the most descriptive anchor wins (image link vs headline)
        elif url not in titles:
            titles[url] = text
        if len(titles) >= MAX_LINKS:
            break
    title_el = root.find(".//title")
    page_title = clean_text(title_el.text_content()) if title_el is not None else ""
    entries = assign_keys([FeedEntry(url, url, text, "", None) for url, text in titles.items()])
    if not entries:
        return ParsedFeed(
            (), page_title, error=FetchOutcome.NOT_A_FEED, bozo_reason="no article links matched"
        )
    return ParsedFeed(entries, page_title)


# -- sitemaps -----------------------------------------------------------------------


def _xml_root(body: bytes) -> etree._Element | None:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, recover=True, huge_tree=False
    )
    try:
        root = etree.fromstring(body, parser=parser)
    except (etree.XMLSyntaxError, ValueError):
        return None
    return root


def _local(element: etree._Element) -> str:
    try:
        tag = element.tag
        return etree.QName(tag).localname if isinstance(tag, str) else ""
    except ValueError:  # recover mode keeps names lxml then refuses (bad UTF-8, ":", ...)
        return ""


def _children(element: etree._Element, name: str) -> Iterable[etree._Element]:
    return (child for child in element if _local(child) == name)


def _first_text(element: etree._Element, *path: str) -> str:
    """Text of the first descendant along local names `path` ("" if absent)."""
    current: etree._Element | None = element
    for name in path:
        current = next(iter(_children(current, name)), None) if current is not None else None
    if current is None:
        return ""
    try:
        return clean_text(current.text or "")
    except ValueError:  # recover mode keeps text lxml then cannot decode (`&#xD800;`)
        return ""


def sitemap_children(body: bytes, *, url: str) -> tuple[str, ...]:
    """The child sitemap URLs of a `<sitemapindex>` (empty for anything else)."""
    root = _xml_root(body)
    if root is None or _local(root) != "sitemapindex":
        return ()
    locs = (absolute_url(url, _first_text(s, "loc")) for s in _children(root, "sitemap"))
    return tuple(dict.fromkeys(loc for loc in locs if loc))


def parse_sitemap(body: bytes, *, url: str, now: datetime | None = None) -> ParsedFeed:
    """Articles of a (news) sitemap; see the module docstring. Never raises."""
    now = now or datetime.now(UTC)
    root = _xml_root(body)
    if root is None:
        return ParsedFeed((), error=FetchOutcome.PARSE_ERROR, bozo_reason="not well-formed XML")
    kind = _local(root)
    if kind == "sitemapindex":
        n = len(sitemap_children(body, url=url))
        reason = f"sitemap index listing {n} sitemaps, not articles; use a child sitemap"
        return ParsedFeed((), error=FetchOutcome.NOT_A_FEED, bozo_reason=reason)
    if kind != "urlset":
        return ParsedFeed((), error=FetchOutcome.NOT_A_FEED, bozo_reason=f"root is <{kind}>")
    entries: list[FeedEntry] = []
    for item in _children(root, "url"):
        loc = absolute_url(url, _first_text(item, "loc"))
        if loc is None:
            continue
        published = iso_date(_first_text(item, "news", "publication_date"), now) or iso_date(
            _first_text(item, "lastmod"), now
        )
        title = _first_text(item, "news", "title")
        entries.append(FeedEntry(loc, loc, title, "", published))
    return ParsedFeed(assign_keys(entries), bozo=False)
