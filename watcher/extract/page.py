"""Article pages (bytes we fetched) -> `Extraction`: trafilatura plus the checks around it.

`extract_page` is the entry point. It never raises: a page that is not
HTML is `SKIPPED`, a page without article-sized text is `TOO_SHORT` (with the
little it found), a page over the size caps or one that makes trafilatura
fail is `FAILED`, each with a `reason`. It runs in the calling thread, so run
it in worker *processes* (`watcher.extract.pool.ExtractorPool`): trafilatura
is not safe in threads (lxml, trafilatura issue 840) and keeps caches.

Decoding is `watcher.text.charset.decode_html` (the same decoder listing
pages use): BOM, then a valid UTF-8 body, then the Content-Type charset, then
`<meta charset>` / the XML declaration, then chardet. trafilatura is given
text, so its own charset guessing never runs.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from watcher.model import ExtractedPage, Extraction, ExtractionStatus
from watcher.text.charset import decode_html
from watcher.text.urls import absolute_url

__all__ = [
    "DEFAULT_OPTIONS",
    "ExtractOptions",
    "extract_page",
]


@dataclass(frozen=True)
class ExtractOptions:
    """How pages are extracted; the defaults are the measured choice.

    `favor_precision` with comments off scores F1 0.964 on the ScrapingHub
    benchmark copy (defaults: 0.953) and keeps reader comments and
    "related" boxes, which cause false rule hits, out of the text.
    """

    min_text_chars: int = 150  # below this the page has no article (paywall, teaser, index)
    max_body_bytes: int = 5_000_000  # the benchmark's largest page is 1.5 MB
    max_elements: int = 60_000  # start tags; the benchmark's largest page has < 2,000
    favor_precision: bool = True
    include_comments: bool = False
    include_tables: bool = True


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

    import trafilatura

    document = trafilatura.bare_extraction(
        text,
        url=url,
        favor_precision=options.favor_precision,
        include_comments=options.include_comments,
        include_tables=options.include_tables,
        deduplicate=False,  # it keeps process-global state across pages
        with_metadata=True,
    )
    head = text[:_HEAD_CHARS]
    if document is None:  # trafilatura found no main text at all
        page = ExtractedPage(title="", text="", canonical_url=_canonical_link(head, url))
        return Extraction(ExtractionStatus.TOO_SHORT, page=page, reason="no main text found")
    if isinstance(document, dict):  # only with as_dict=True; keeps mypy honest
        raise TypeError("trafilatura returned a dict")
    page = ExtractedPage(
        title=(document.title or "").strip(),
        text=(document.text or "").strip(),
        published=_day(document.date),
        author=(document.author or None),
        language=_language(head),
        canonical_url=_canonical_link(head, url),
    )
    if len(page.text) < options.min_text_chars:
        return Extraction(
            ExtractionStatus.TOO_SHORT,
            page=page,
            reason=f"text {len(page.text)} chars < {options.min_text_chars}",
        )
    return Extraction(ExtractionStatus.OK, page=page)


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
