"""Feed bytes -> `ParsedFeed`: feedparser on bytes we fetched, entries with stable keys.

`parse_feed` never raises, on truncated, mislabelled, hostile or oddly
encoded documents alike. What it guarantees:

* feedparser sees `io.BytesIO(body)` plus the response's content type and the
  final URL as content-location, never a URL or a path (feedparser's own
  fetcher has no timeout or size cap, and a str can make it read local files);
* an internal DTD subset is removed first, so entity amplification
  ("billion laughs") cannot send feedparser's loose parser into minutes of
  work; undeclared and mis-declared legacy encodings are decoded through
  chardet (without it, undeclared Shift_JIS/EUC-JP come back as mojibake);
* titles and summaries are plain text (`watcher.text.html`): the sanitizer is
  off (it dominates the parse time of big feeds) and no HTML is kept;
* entry `key` = GUID, else the absolute link, else `sha256:` of title and
  summary; keys shared by several entries of one document are all
  disambiguated by their content (so reordering keeps keys stable) and exact
  duplicates are dropped (the Miniflux rule);
* `published` is UTC, or None when missing, unparsable, before 1995 (epoch
  0 and friends) or more than a day in the future; the pipeline then uses the
  first-seen time;
* JSON Feed 1.0/1.1 (a JSON media type, or a body opening with `{`) is read
  by `parse_json_feed` under the same rules (feedparser 6 cannot read it);
* bytes that are valid UTF-8 with non-ASCII characters are read as UTF-8
  even when the header or XML declaration says ISO-8859-1/windows-1252
  (`utf8_despite_declaration`), as other feed readers do;
* an entry's full content (`content:encoded`, Atom `<content>`, JSON Feed
  `content_html`) is kept as plain text in `content`: it may be the article;
* a bozo document that still yields entries keeps them (`bozo`,
  `bozo_reason`); nothing entry-like and no feed version -> `NOT_A_FEED`;
  a feed broken by a real XML error with no entries left -> `PARSE_ERROR`
  (so a truncated document never reads as "every item was removed").
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import feedparser

from watcher.model import FeedEntry, FetchOutcome, ParsedFeed
from watcher.text.html import clean_text, html_to_text
from watcher.text.urls import absolute_url

# Complaints about labels, not structure: the document itself is fine.
_HARMLESS = (
    feedparser.CharacterEncodingOverride,
    feedparser.NonXMLContentType,
    feedparser.exceptions.UndeclaredNamespace,
)

MAX_SUMMARY_CHARS = 50_000  # a summary is a fallback for matching, not the article
MAX_CONTENT_CHARS = 500_000  # an entry's full content may be the article itself
# Longer GUIDs/links are stored as their hash: feed_entries.key holds 255 characters,
# and a shared key gets a 17-character `#suffix` (PostgreSQL refuses longer values).
MAX_KEY_CHARS = 200
# A character reference to a UTF-16 surrogate makes feedparser's loose parser raise,
# which would fail the whole feed over one item: such references become U+FFFD.
_SURROGATE_REF = re.compile(
    rb"&#(?:[xX]0*[dD][89a-fA-F][0-9a-fA-F]{2}|0*5(?:5(?:29[6-9]|[3-9]\d\d)|6\d{3}"
    rb"|7(?:[0-2]\d\d|3(?:[0-3]\d|4[0-3]))));"
)
EARLIEST = datetime(1995, 1, 1, tzinfo=UTC)  # no news feed predates RSS
FUTURE_SLACK = timedelta(days=1)  # time zones and clock skew, not "2099"

# `<!DOCTYPE name ... [ internal subset ]>`: keep the name and external id, drop the subset
# (`strip_dtd_subsets` finds them with these three linear searches, never backtracking).
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_HEAD_END = re.compile(rb"[\[>]")
_SUBSET_END = re.compile(rb"\]\s*>")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_NO_BOM = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
)


def _wide_codec(body: bytes) -> tuple[str, bytes] | None:
    """The UTF-16/32 codec and BOM of `body`, if it is in one (else None)."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return codec, bom
    for prefix, codec in _NO_BOM:
        if body.startswith(prefix):
            return codec, b""
    return None


def strip_dtd_subsets(body: bytes) -> bytes:
    """`body` with every `<!DOCTYPE head [ subset ]>` turned into `<!DOCTYPE head>`.

    The head runs from `<!DOCTYPE` to the first `[` (it may hold no `>`;
    trailing whitespace is dropped) and the subset to the first `]` followed
    by optional whitespace and `>`. One pass, linear in `len(body)`: each
    search starts where the previous one ended, and a search that finds
    nothing ends the scan, because no later DOCTYPE could close either. (The
    regex this replaces retried from every `<!DOCTYPE` to the end of the
    document: a feed of 16,000 unclosed `<!DOCTYPE x [` took about a minute.)
    """
    out: list[bytes] = []
    pos = 0
    while (start := _DOCTYPE.search(body, pos)) is not None:
        head_end = _HEAD_END.search(body, start.end())
        if head_end is None:
            break
        if head_end.group() == b">":  # a DOCTYPE without a subset: keep it as it is
            out.append(body[pos : head_end.end()])
            pos = head_end.end()
            continue
        close = _SUBSET_END.search(body, head_end.end())
        if close is None:
            break
        out += (body[pos : head_end.start()].rstrip(), b">")
        pos = close.end()
    if not out:
        return body
    out.append(body[pos:])
    return b"".join(out)


def strip_internal_dtd(body: bytes) -> bytes:
    """`body` without internal DTD subsets (entity declarations), in its own encoding."""
    wide = _wide_codec(body)
    if wide is None:
        return strip_dtd_subsets(body) if b"<!" in body else body
    codec, bom = wide
    text = body[len(bom) :].decode(codec, errors="replace")
    if "<!" not in text:
        return body
    stripped = strip_dtd_subsets(text.encode("utf-8", errors="replace"))
    return bom + stripped.decode("utf-8").encode(codec)


def _get(entry: Mapping[str, Any], key: str) -> Any:
    """A stored value, bypassing FeedParserDict's key aliases.

    Its aliases emit DeprecationWarnings (e.g. `updated_parsed` falling back to
    `published_parsed`) and blur which element a value came from.
    """
    return dict.get(entry, key) if isinstance(entry, dict) else entry.get(key)


def _text(entry: Mapping[str, Any], name: str) -> str:
    """Plain text of a feedparser text construct, honouring its declared type."""
    value = _get(entry, name)
    if not isinstance(value, str) or not value:
        return ""
    detail = _get(entry, f"{name}_detail")
    kind = _get(detail, "type") if isinstance(detail, Mapping) else ""
    return clean_text(value) if kind == "text/plain" else html_to_text(value)


def _summary(entry: Mapping[str, Any]) -> str:
    text = _text(entry, "summary")
    if not text:
        content = _get(entry, "content")
        if isinstance(content, list) and content and isinstance(content[0], Mapping):
            text = _text(content[0], "value")
    return text[:MAX_SUMMARY_CHARS]


def _content(entry: Mapping[str, Any]) -> str:
    """The entry's full content (RSS `content:encoded`, Atom `<content>`) as plain text."""
    content = _get(entry, "content")
    if not (isinstance(content, list) and content and isinstance(content[0], Mapping)):
        return ""
    return max((_text(part, "value") for part in content if isinstance(part, Mapping)), key=len)[
        :MAX_CONTENT_CHARS
    ]


def _link(entry: Mapping[str, Any], base: str) -> str | None:
    """The entry's absolute http(s) link, without fragment; None when it has none."""
    raw = _get(entry, "link")
    return absolute_url(base, raw) if isinstance(raw, str) else None


def plausible_date(parsed: object, now: datetime) -> datetime | None:
    """A feedparser UTC `struct_time` as an aware datetime, or None when implausible."""
    if not isinstance(parsed, time.struct_time):
        return None
    try:
        when = datetime(*parsed[:6], tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None
    if when < EARLIEST or when > now + FUTURE_SLACK:
        return None
    return when


def _sha256(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode("utf-8", errors="replace")).hexdigest()


def _bounded(key: str) -> str:
    return key if len(key) <= MAX_KEY_CHARS else f"sha256:{_sha256(key)}"


def _base_key(guid: str | None, url: str | None, title: str, summary: str) -> str:
    if guid:
        return _bounded(guid)
    if url:
        return _bounded(url)
    return f"sha256:{_sha256(title, summary)}"


def assign_keys(entries: list[FeedEntry]) -> tuple[FeedEntry, ...]:
    """Entries with keys unique in the document: shared keys get a content suffix.

    Every entry whose base key is shared gets `key#<hash of link, title,
    summary>` (independent of position); exact duplicates are dropped.
    """
    counts = Counter(e.key for e in entries)
    seen: set[str] = set()
    unique: list[FeedEntry] = []
    for entry in entries:
        key = _bounded(entry.key)  # listings and sitemaps use the URL itself
        if counts[entry.key] > 1:
            key = f"{key}#{_sha256(entry.url or '', entry.title, entry.summary)[:16]}"
        if key in seen:
            continue  # the same item twice in one document
        seen.add(key)
        unique.append(replace(entry, key=key))
    return tuple(unique)


def _entry(raw: Mapping[str, Any], base: str, now: datetime) -> FeedEntry | None:
    guid_raw = _get(raw, "id")
    guid = clean_text(guid_raw) if isinstance(guid_raw, str) else ""
    url = _link(raw, base)
    title = _text(raw, "title")
    summary = _summary(raw)
    published = plausible_date(_get(raw, "published_parsed"), now) or plausible_date(
        _get(raw, "updated_parsed"), now
    )
    return _feed_entry(guid, url, title, summary, published=published, content=_content(raw))


def _feed_entry(
    guid: str,
    url: str | None,
    title: str,
    summary: str,
    *,
    published: datetime | None,
    content: str,
) -> FeedEntry | None:
    """The entry of either feed format, keyed; None when it has nothing to identify or match."""
    if not (guid or url or title or summary):
        return None
    return FeedEntry(
        key=_base_key(guid or None, url, title, summary),
        url=url,
        title=title,
        summary=summary,
        published=published,
        guid=guid or None,
        content=content,
    )


def _response_headers(url: str, headers: Mapping[str, str]) -> dict[str, str]:
    """The headers feedparser needs: content type (with charset) and the document's URL."""
    lower = {k.lower(): v for k, v in headers.items()}
    out = {
        "content-location": urljoin(url, lower.get("content-location", "")),
        # Without a type feedparser flags every document; application/xml lets it
        # follow the XML declaration and sniffing (text/xml would imply us-ascii).
        "content-type": lower.get("content-type") or "application/xml",
    }
    if lower.get("content-language"):
        out["content-language"] = lower["content-language"]
    return out


def parse_feed(
    body: bytes, *, url: str, headers: Mapping[str, str], now: datetime | None = None
) -> ParsedFeed:
    """Parse a fetched feed document; see the module docstring. Never raises.

    `url` is the final URL (relative links resolve against it), `headers` the
    response headers, `now` the clock used to reject future dates.
    """
    now = now or datetime.now(UTC)
    if is_json_feed(body, headers):
        return parse_json_feed(body, url=url, now=now)
    body, headers = utf8_despite_declaration(body, headers)
    try:
        result = feedparser.parse(
            io.BytesIO(_SURROGATE_REF.sub(b"&#xFFFD;", strip_internal_dtd(body))),
            response_headers=_response_headers(url, headers),
            sanitize_html=False,
            resolve_relative_uris=False,
        )
        base = url
        raw_entries = [e for e in _get(result, "entries") or [] if isinstance(e, Mapping)]
        entries = [e for e in (_entry(r, base, now) for r in raw_entries) if e is not None]
        feed = _get(result, "feed") or {}
        title = _text(feed, "title") if isinstance(feed, Mapping) else ""
    except Exception as exc:  # a third-party parser on internet input must never crash us
        return ParsedFeed((), bozo=True, bozo_reason=_reason(exc), error=FetchOutcome.PARSE_ERROR)
    bozo = bool(_get(result, "bozo"))
    complaint = _get(result, "bozo_exception")
    reason = _reason(complaint) if bozo else None
    if not entries and not _get(result, "version"):
        return ParsedFeed((), title, bozo, reason or "no feed found", FetchOutcome.NOT_A_FEED)
    if not entries and bozo and not isinstance(complaint, _HARMLESS):
        # A broken document (e.g. cut off mid-XML) with no items: a failure, never "all removed".
        return ParsedFeed((), title, bozo, reason, FetchOutcome.PARSE_ERROR)
    return ParsedFeed(assign_keys(entries), title, bozo, reason)


# -- JSON Feed 1.0 / 1.1 (https://www.jsonfeed.org/version/1.1/) -----------------------

_JSON_TYPES = ("application/feed+json", "application/json")


def is_json_feed(body: bytes, headers: Mapping[str, str]) -> bool:
    """Whether `body` is meant as a JSON Feed: a JSON media type, or a document opening with `{`.

    feedparser 6 cannot read JSON Feed; XML never starts with `{`.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    media_type = lower.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type in _JSON_TYPES or body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


def parse_json_feed(body: bytes, *, url: str, now: datetime) -> ParsedFeed:
    """A JSON Feed (version 1 or 1.1) as entries, by the rules `parse_feed` applies to XML.

    Item `id` (a string; 1.0 feeds may use numbers) is the GUID, `url` the
    link (resolved against the feed's URL), `summary` (else the content) the
    summary, `content_text` or `content_html` the content, `date_published`
    (else `date_modified`, RFC 3339) the date. A document that is not a JSON
    object with an `items` list is `NOT_A_FEED`; invalid JSON is `PARSE_ERROR`.
    """
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        return ParsedFeed((), bozo=True, bozo_reason=_reason(exc), error=FetchOutcome.PARSE_ERROR)
    items = document.get("items") if isinstance(document, dict) else None
    if not isinstance(items, list):
        reason = "JSON without an items list"
        return ParsedFeed((), bozo=True, bozo_reason=reason, error=FetchOutcome.NOT_A_FEED)
    title = document.get("title")
    entries = [e for e in (_json_entry(i, url, now) for i in items if isinstance(i, dict)) if e]
    return ParsedFeed(assign_keys(entries), clean_text(title) if isinstance(title, str) else "")


def _json_entry(item: Mapping[str, Any], base: str, now: datetime) -> FeedEntry | None:
    """One JSON Feed item; None when it has nothing to identify or match."""

    def string(name: str) -> str:
        value = item.get(name)
        return value if isinstance(value, str) else ""

    raw_id = item.get("id")
    guid = clean_text(str(raw_id)) if isinstance(raw_id, str | int) else ""
    url = _link({"link": string("url") or string("external_url")}, base)
    title = clean_text(string("title"))
    content = clean_text(string("content_text")) or html_to_text(string("content_html"))
    summary = (clean_text(string("summary")) or content)[:MAX_SUMMARY_CHARS]
    published = iso_date(string("date_published"), now) or iso_date(string("date_modified"), now)
    return _feed_entry(
        guid, url, title, summary, published=published, content=content[:MAX_CONTENT_CHARS]
    )


def iso_date(value: str, now: datetime) -> datetime | None:
    """An ISO 8601 / RFC 3339 date (JSON Feed, sitemaps' W3C datetimes) as aware UTC,
    or None when missing, unparsable or implausible; a date without a zone is UTC."""
    text = value.strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    return when if EARLIEST <= when <= now + FUTURE_SLACK else None


# -- UTF-8 declared as a Latin-1 family encoding ---------------------------------------

_LATIN1_LABELS = frozenset(
    {
        "iso-8859-1",
        "iso8859-1",
        "latin1",
        "latin-1",
        "l1",
        "windows-1252",
        "cp1252",
        "us-ascii",
        "ascii",
        "iso-8859-15",
        "latin-9",
    }
)
_XML_ENCODING = re.compile(rb"(<\?xml[^>]*?encoding\s*=\s*[\"'])([\w.:-]+)([\"'])", re.IGNORECASE)
_CHARSET_PARAM = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)[\"']?", re.IGNORECASE)


def utf8_despite_declaration(
    body: bytes, headers: Mapping[str, str]
) -> tuple[bytes, Mapping[str, str]]:
    """`body` and `headers` relabelled as UTF-8 when a Latin-1 label is wrong about them.

    Bytes with non-ASCII characters that are valid UTF-8 are practically never
    Latin-1 or windows-1252 text (`Café` in windows-1252 is not valid UTF-8),
    so when the Content-Type charset or the XML declaration says one of those,
    the declaration is the mistake: decoding by it would give `CafÃ©`, as
    other feed readers do not. Any other declaration, and bytes that are
    ASCII or not valid UTF-8, are left as they are.
    """
    if body.isascii():
        return body, headers
    header_label = ""
    for name, value in headers.items():
        if name.lower() == "content-type":
            match = _CHARSET_PARAM.search(value)
            header_label = match.group(1).lower() if match else ""
    xml = _XML_ENCODING.search(body[:1024])
    xml_label = xml.group(2).decode("ascii", errors="replace").lower() if xml else ""
    if not ({header_label, xml_label} & _LATIN1_LABELS):
        return body, headers
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return body, headers
    if xml:
        body = body[: xml.start(2)] + b"utf-8" + body[xml.end(2) :]
    relabelled = {
        name: _CHARSET_PARAM.sub("charset=utf-8", value)
        if name.lower() == "content-type"
        else value
        for name, value in headers.items()
    }
    return body, relabelled


def _reason(exc: object) -> str:
    if isinstance(exc, BaseException):
        message = clean_text(str(exc))
        return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return "unknown parser complaint"
