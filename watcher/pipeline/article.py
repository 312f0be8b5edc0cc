"""One feed entry through the per-article stages: fetch, extract, canonicalise, match.

`process_entry` never raises for anything the internet does: an article page
that cannot be fetched or extracted keeps the feed's title and the fuller of its summary
and content (with
the reason recorded), so a hit on the title is never lost.
"""

from __future__ import annotations

import hashlib
from collections.abc import Set
from dataclasses import replace

from watcher.extract.page import ExtractOptions, Metadata
from watcher.extract.pool import ExtractorPool
from watcher.ingest.fetch import USER_AGENT, Fetcher, FetchSettings
from watcher.model import (
    ArticleRecord,
    Document,
    ExtractedPage,
    Extraction,
    ExtractionStatus,
    FeedEntry,
    FetchOutcome,
    FetchPages,
)
from watcher.rules.active import RuleSnapshot
from watcher.settings import FetchConfig
from watcher.stories.cluster import fingerprint
from watcher.text.urls import canonical_url, host_of


def fetch_settings(cfg: FetchConfig) -> FetchSettings:
    """The fetcher's settings from the `[fetch]` config table."""
    return FetchSettings(
        connect_timeout=cfg.connect_timeout,
        total_timeout=cfg.total_timeout,
        max_feed_bytes=cfg.max_feed_bytes,
        max_page_bytes=cfg.max_page_bytes,
        max_redirects=cfg.max_redirects,
        retries=cfg.retries,
        user_agent=cfg.user_agent or USER_AGENT,
        per_host=cfg.per_host,
        max_connections=cfg.concurrency,
        allow_private_addresses=cfg.allow_private_addresses,
        allowed_networks=cfg.allowed_networks,
    )


def entry_canonical(entry: FeedEntry) -> str:
    """The canonical form of an entry's link (before the page names its own)."""
    return canonical_url(entry.url) if entry.url else f"entry:{entry.key}"


def content_hash(title: str, text: str) -> str:
    """A stable hash of an article's whitespace- and case-folded content."""
    normal = " ".join((title + "\n" + text).split()).casefold()
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


# An entry whose full content has this many characters (plain text) carries the article:
# with `fetch_pages = "auto"` its page is not fetched. Summaries and teasers are shorter.
FULL_CONTENT_CHARS = 1000
# The reason recorded for an article whose text is the feed entry's own full content.
FROM_FEED_REASON = "the feed's full content"
# A page's text under this share of the entry's own content was cut: the feed's is kept.
FEED_GUARD_SHARE = 0.8


async def process_entry(
    entry: FeedEntry,
    *,
    fetcher: Fetcher,
    extractor: ExtractorPool,
    rules: RuleSnapshot,
    cfg: FetchConfig,
    stored: Set[str],
    fetch_pages: FetchPages = FetchPages.AUTO,
) -> ArticleRecord:
    """Fetch, extract and match one new entry; `stored` are canonical URLs already kept.

    `fetch_pages` is the source's setting (see `FetchPages`). A page's
    extraction is checked against the entry's own content: when the page
    gave much less text, the feed's text is kept and the article is `PARTIAL`.
    """
    canonical = entry_canonical(entry)
    if canonical in stored:
        return _existing(entry, canonical)
    url = entry.url or ""
    if fetch_pages is FetchPages.NEVER or (
        fetch_pages is FetchPages.AUTO and len(entry.content) >= FULL_CONTENT_CHARS
    ):
        extraction = _from_feed(entry, extractor.options.min_text_chars)
    elif not entry.url:
        extraction = Extraction(ExtractionStatus.NO_LINK, reason="the entry has no link")
    else:
        page = await fetcher.fetch(entry.url, max_bytes=cfg.max_page_bytes)
        if page.ok:
            url = page.final_url or entry.url
            extraction = await extractor.extract(
                page.body,
                url=url,
                content_type=page.headers.get("content-type", ""),
                options=_options_for(entry, extractor.options),
            )
            extraction = _guard_with_feed(extraction, entry)
        else:
            status = (
                ExtractionStatus.BLOCKED
                if page.outcome is FetchOutcome.BLOCKED
                else ExtractionStatus.UNREACHABLE
            )
            extraction = Extraction(status, reason=f"{page.outcome}: {page.error}")
    title, text = entry.title, max(entry.summary, entry.content, key=len)
    author = language = None
    published = entry.published
    found_fp: bytes | None = None
    if extraction.status in _HAS_TEXT and extraction.page is not None:
        found = extraction.page
        title = entry.title or found.title
        text = found.text
        author, language = found.author, found.language
        published = published or found.published
        found_fp = found.fingerprint
        canonical = canonical_url(url, found.canonical_url)
        if canonical in stored:
            return _existing(entry, canonical)
    outlet = host_of(url) if url else ""
    doc = Document(title=title, text=text, source=outlet, url=url)
    hits = tuple(rules.match(doc))
    if found_fp is None:  # not extracted (a worker computes it for extracted pages)
        found_fp = fingerprint(text).to_bytes()
    return ArticleRecord(
        entry=entry,
        url=url,
        canonical_url=canonical,
        title=title,
        text=text,
        summary=entry.summary,
        outlet=outlet,
        published=published,
        extraction=extraction.status,
        extraction_reason=extraction.reason,
        content_hash=content_hash(title, text),
        fingerprint=found_fp,
        author=author,
        language=language,
        hits=hits,
        routes=rules.routes_for(hits),
    )


_HAS_TEXT = (ExtractionStatus.OK, ExtractionStatus.PARTIAL)


def _options_for(entry: FeedEntry, options: ExtractOptions) -> ExtractOptions:
    """The pool's options, without page metadata when the entry has its title and date."""
    if entry.title and entry.published is not None:
        return replace(options, metadata=Metadata.NONE)
    return options


def _from_feed(entry: FeedEntry, min_chars: int) -> Extraction:
    """The entry's own content as the article (its page not fetched)."""
    if len(entry.content) < min_chars:
        return Extraction(
            ExtractionStatus.SKIPPED,
            reason=f"page not fetched (fetch_pages); feed content {len(entry.content)} chars",
        )
    page = ExtractedPage(title=entry.title, text=entry.content, published=entry.published)
    return Extraction(ExtractionStatus.OK, page=page, reason=FROM_FEED_REASON)


def _guard_with_feed(extraction: Extraction, entry: FeedEntry) -> Extraction:
    """The extraction, or the entry's content when the page's text is much shorter than it."""
    page = extraction.page
    if page is None or len(entry.content) <= len(page.text) / FEED_GUARD_SHARE:
        return extraction
    if extraction.status not in _HAS_TEXT and len(entry.content) < FULL_CONTENT_CHARS:
        return extraction  # a teaser page and a teaser feed: nothing says there is more
    reason = (
        f"page text {len(page.text)} chars < feed content {len(entry.content)}; kept the feed's"
    )
    kept = replace(page, text=entry.content, fingerprint=None)
    return Extraction(ExtractionStatus.PARTIAL, page=kept, reason=reason)


def _existing(entry: FeedEntry, canonical: str) -> ArticleRecord:
    """A placeholder for an article stored earlier: only the entry gets recorded."""
    return ArticleRecord(
        entry=entry,
        url=entry.url or "",
        canonical_url=canonical,
        title=entry.title,
        text="",
        summary=entry.summary,
        outlet="",
        published=entry.published,
        extraction=ExtractionStatus.OK,
        extraction_reason=None,
        content_hash="",
        existing=True,
    )
