"""Article pages (bytes we fetched) -> `Extraction`: trafilatura plus the checks around it.

`extract_page` is the entry point. It never raises: a page that is not
HTML is `SKIPPED`, a page without article-sized text is `TOO_SHORT` (with the
little it found), a page over the size caps or one that makes trafilatura
fail is `FAILED`, each with a `reason`; a text kept although the
extractor's passes disagreed on its length is `PARTIAL` (see
`ExtractOptions` for the passes). It runs in the calling thread, so run
it in worker *processes* (`watcher.extract.pool.ExtractorPool`): trafilatura
is not safe in threads (lxml, trafilatura issue 840) and keeps caches.

Decoding is `watcher.text.charset.decode_html` (the same decoder listing
pages use): BOM, then a valid UTF-8 body, then the Content-Type charset, then
`<meta charset>` / the XML declaration, then chardet. trafilatura is given
text, so its own charset guessing never runs.
"""

from __future__ import annotations

import enum
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from watcher.model import ExtractedPage, Extraction, ExtractionStatus
from watcher.text.charset import decode_html
from watcher.text.urls import absolute_url

if TYPE_CHECKING:
    from lxml.html import HtmlElement

__all__ = [
    "DEFAULT_OPTIONS",
    "ExtractOptions",
    "Metadata",
    "extract_page",
]


class Metadata(enum.StrEnum):
    """How much page metadata (title, date, author) an extraction looks for.

    NONE      none: the feed entry has its title and date (the pipeline's usual case)
    CHEAP     meta tags, JSON-LD, `<title>`, and htmldate without its extensive search
    FULL      trafilatura's `with_metadata=True` as is (extensive date search)

    BENCHMARKS.md ("Extraction settings") has each one's cost and quality.
    """

    NONE = "none"
    CHEAP = "cheap"
    FULL = "full"


@dataclass(frozen=True)
class ExtractOptions:
    """How pages are extracted; the defaults are the measured choice (BENCHMARKS.md).

    Two passes, comments off, tables on. The first pass is trafilatura with
    `favor_recall` and `fast` (no fallback extractors): on a page whose
    article it finds at length (`full_pass_below` characters or more) it is
    kept as is. A shorter text gets the second pass, trafilatura's own
    defaults (readability and jusText fallbacks, its recall escalation),
    whose text is kept unless it is under `agree_share` of the first's: a
    pass that cut the article short never wins over one that found it, and
    when the two disagree that much the extraction is `PARTIAL`.

    `favor_precision` is not used: on pages whose article continues in a box
    it discards (a `border` style or a `bottom` class, with a class its
    overall rules take for hidden or boilerplate), it returns the first
    paragraph alone (tests/test_extract_truncation.py).
    """

    min_text_chars: int = 150  # below this the page has no article (paywall, teaser, index)
    max_body_bytes: int = 5_000_000  # the benchmark's largest page is 1.5 MB
    max_elements: int = 60_000  # start tags; the benchmark's largest page has < 2,000
    # A first-pass text shorter than this gets the second pass (trafilatura's own
    # threshold for skipping its fallbacks in recall mode: 10 x min_extracted_size).
    full_pass_below: int = 2500
    # The two passes disagree when the shorter text is under this share of the longer:
    # the longer is kept and the extraction is `PARTIAL` (the article may be cut).
    agree_share: float = 0.5
    include_comments: bool = False
    include_tables: bool = True
    metadata: Metadata = Metadata.CHEAP


DEFAULT_OPTIONS = ExtractOptions()

# Types we extract. Anything else that is declared (PDF, image, JSON, text/plain) is skipped.
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Types that say nothing about the bytes; those are sniffed.
_UNKNOWN_TYPES = frozenset(
    {
        "",
        "application/octet-stream",
        "binary/octet-stream",
        "application/unknown",
        "unknown/unknown",
    }
)
_HTML_SNIFF = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)

_XML_DECLARATION = re.compile(r"^\s*<\?xml\b[^>]*\?>", re.I)
_START_TAG = re.compile(r"<[A-Za-z]")
_LINK_TAG = re.compile(r"<link\b[^>]*>", re.I)
_META_TAG = re.compile(r"<meta\b[^>]*>", re.I)
_HTML_TAG = re.compile(r"<html\b[^>]*>", re.I)
_ATTRIBUTE = re.compile(r"""([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_LANGUAGE = re.compile(r"^([a-z]{2,3})(?:$|[-_])")
_HEAD_CHARS = 256_000  # where <link rel=canonical> and <html lang> may be
_PROSE_LINE = 30  # characters; shorter lines are menus, headings, bylines


def extract_page(
    body: bytes, *, url: str, content_type: str, options: ExtractOptions = DEFAULT_OPTIONS
) -> Extraction:
    """Extract the article of one fetched page; never raises.

    `content_type` is the raw Content-Type header *with* its parameters (the
    charset matters), or "" when the server sent none.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in _HTML_TYPES and not (
        media_type in _UNKNOWN_TYPES and _HTML_SNIFF.match(body[:2048])
    ):
        return Extraction(ExtractionStatus.SKIPPED, reason=f"not HTML: {media_type or 'empty'}")
    if len(body) > options.max_body_bytes:
        return Extraction(
            ExtractionStatus.FAILED,
            reason=f"page too large: {len(body)} bytes > {options.max_body_bytes}",
        )
    try:
        return _extract(body, url, content_type, options)
    except Exception as exc:  # the contract: a bad page is a value, never a crash
        return Extraction(ExtractionStatus.FAILED, reason=f"extractor error: {exc!r}"[:500])


def _extract(body: bytes, url: str, content_type: str, options: ExtractOptions) -> Extraction:
    text, _encoding = decode_html(body, content_type)
    elements = len(_START_TAG.findall(text))
    if elements > options.max_elements:
        return Extraction(
            ExtractionStatus.FAILED,
            reason=f"page too large: {elements} elements > {options.max_elements}",
        )
    # lxml refuses str input that carries an XML encoding declaration.
    text = _XML_DECLARATION.sub("", text, count=1)

    from trafilatura.utils import load_html

    tree = load_html(text)
    head = text[:_HEAD_CHARS]
    canonical = _canonical_link(head, url)
    if tree is None:
        page = ExtractedPage(title="", text="", canonical_url=canonical)
        return Extraction(ExtractionStatus.TOO_SHORT, page=page, reason="no HTML tree")
    first = _trafilatura(tree, url, options, recall=True, fast=True)
    article, status = first, ExtractionStatus.OK
    reason: str | None = None
    if len(first) < options.full_pass_below:
        second = _trafilatura(tree, url, options, recall=False, fast=False)
        # trafilatura's full algorithm decides, unless it cut the text the fast pass found.
        article = second if len(second) >= options.agree_share * len(first) else first
        shorter, longer = sorted((len(first), len(second)))
        if longer >= options.min_text_chars and shorter < options.agree_share * longer:
            status = ExtractionStatus.PARTIAL
            reason = (
                f"extraction passes disagree: {len(first)} chars (recall, fast) "
                f"vs {len(second)} (defaults); kept the longer"
            )
    meta = _metadata(tree, url, options.metadata)
    page = ExtractedPage(
        title=meta.title,
        text=article,
        published=meta.published,
        author=meta.author,
        language=_language(head),
        canonical_url=canonical,
    )
    if not article:  # trafilatura found no main text at all
        return Extraction(ExtractionStatus.TOO_SHORT, page=page, reason="no main text found")
    prose = _prose_chars(article)
    if prose < options.min_text_chars:
        return Extraction(
            ExtractionStatus.TOO_SHORT,
            page=page,
            reason=f"text {prose} chars in paragraphs < {options.min_text_chars}",
        )
    return Extraction(status, page=page, reason=reason)


def _prose_chars(text: str) -> int:
    """Characters in lines long enough to be prose: menus and headlines do not make an article.

    Recall-oriented passes keep a teaser page's navigation ("Home", "World",
    ...) around its one sentence; counting only lines of `_PROSE_LINE`
    characters or more keeps such a page `TOO_SHORT`.
    """
    return sum(len(line) for line in text.splitlines() if len(line.strip()) >= _PROSE_LINE)


@dataclass(frozen=True)
class _PageMetadata:
    """Title, day of publication and author found in a page (empty when not looked for)."""

    title: str = ""
    published: datetime | None = None
    author: str | None = None


def _trafilatura(
    tree: HtmlElement, url: str, options: ExtractOptions, *, recall: bool, fast: bool
) -> str:
    """One extraction pass's text, over a copy of `tree` (trafilatura copies a tree it is given)."""
    import trafilatura

    document = trafilatura.bare_extraction(
        tree,
        url=url,
        fast=fast,
        favor_recall=recall,
        include_comments=options.include_comments,
        include_tables=options.include_tables,
        deduplicate=False,  # trafilatura's deduplication keeps state across pages
        with_metadata=False,
    )
    if document is None:
        return ""
    if isinstance(document, dict):  # only with as_dict=True; keeps mypy honest
        raise TypeError("trafilatura returned a dict")
    return (document.text or "").strip()


def _metadata(tree: HtmlElement, url: str, mode: Metadata) -> _PageMetadata:
    """The page's title, date and author, as far as `mode` looks (see `Metadata`)."""
    if mode is Metadata.NONE:
        return _PageMetadata()
    from trafilatura.metadata import extract_metadata

    params = {
        "original_date": True,
        "extensive_search": mode is Metadata.FULL,
        "max_date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }
    found = extract_metadata(tree, url, params, mode is Metadata.FULL)
    return _PageMetadata(
        title=(found.title or "").strip(),
        published=_day(found.date),
        author=found.author or None,
    )


def warm_up() -> None:
    """Build htmldate's lazy table of month names once, in this process.

    The first date search in a fresh process spends seconds (on a busy
    machine) building the month names of every dateparser locale; the
    extraction workers' forkserver imports `watcher.extract.warm`, which
    calls this, so every worker forks with the table built, and the workers'
    initializer calls it again (a no-op then) in case they were not forked
    from that server. The extensive date search, which would also build
    dateparser's parser, is never used by the pipeline (`Metadata.FULL` is
    for measurements), so it is not warmed.
    """
    try:
        from htmldate.extractors import month_words

        month_words()
    except Exception:  # the warm-up is an optimisation, never a reason to fail a worker
        pass


def _attributes(tag: str) -> dict[str, str]:
    return {
        m.group(1).lower(): html.unescape(m.group(2) or m.group(3) or m.group(4) or "")
        for m in _ATTRIBUTE.finditer(tag)
    }


def _canonical_link(head: str, url: str) -> str | None:
    """The page's `<link rel=canonical>` made absolute; None when absent or not http(s)."""
    for tag in _LINK_TAG.findall(head):
        attributes = _attributes(tag)
        if "canonical" in attributes.get("rel", "").lower().split() and attributes.get("href"):
            return absolute_url(url, attributes["href"])
    return None


def _language(head: str) -> str | None:
    """The primary language subtag (`ja`, `en`) declared by `<html lang>` or a meta tag."""
    declared = [_attributes(tag).get("lang", "") for tag in _HTML_TAG.findall(head)[:1]]
    for tag in _META_TAG.findall(head):
        attributes = _attributes(tag)
        key = (attributes.get("http-equiv") or attributes.get("property") or "").lower()
        if key in ("content-language", "og:locale"):
            declared.append(attributes.get("content", ""))
    for label in declared:
        match = _LANGUAGE.match(label.strip().lower())
        if match:
            return match.group(1)
    return None


def _day(value: str | None) -> datetime | None:
    """trafilatura's `YYYY-MM-DD` (it finds dates to the day only) as midnight UTC."""
    if not value:
        return None
    try:
        return datetime.strptime(value[:10], "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
