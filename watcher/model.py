"""Values that cross stage boundaries.

Every stage of the pipeline (fetch -> feeds -> extract -> stories -> match ->
store -> alerts) takes and returns these frozen dataclasses. They carry no I/O
and no ORM rows; `store/` converts to and from its own tables.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta


class SourceKind(enum.StrEnum):
    """How a source's document lists its articles."""

    RSS = "rss"  # RSS 0.9x/1.0/2.0, Atom, anything feedparser reads
    HTML = "html"  # a listing page: article links matched by include/exclude patterns
    SITEMAP = "sitemap"  # a (news) sitemap


class FetchPages(enum.StrEnum):
    """Whether a source's article pages are fetched (`fetch_pages` of a source).

    AUTO     fetch a page unless its feed entry carries the article: a full content
             (`content:encoded`, Atom `<content>`, JSON Feed content) of
             `pipeline.article.FULL_CONTENT_CHARS` characters or more
    ALWAYS   fetch every page (the feed's content still guards against a cut extraction)
    NEVER    never fetch: the entry's content, else its summary, is the text
    """

    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


@dataclass(frozen=True)
class SourceSpec:
    """A source as the operator configured it (one `[[sources]]` table)."""

    name: str
    url: str
    kind: SourceKind = SourceKind.RSS
    interval: timedelta = timedelta(minutes=15)
    enabled: bool = True
    headers: tuple[tuple[str, str], ...] = ()
    include: tuple[str, ...] = ()  # regexes an article URL must match (html sources)
    exclude: tuple[str, ...] = ()  # regexes that reject an article URL (html sources)
    fetch_pages: FetchPages = FetchPages.AUTO


class FetchOutcome(enum.StrEnum):
    """The one classification of an HTTP fetch; recorded on the source."""

    OK = "ok"
    NOT_MODIFIED = "not_modified"
    HTTP_ERROR = "http_error"  # 4xx/5xx other than 429/503-with-Retry-After
    RATE_LIMITED = "rate_limited"  # 429 or 503 with Retry-After
    TIMEOUT = "timeout"  # connect timeout or the total deadline
    TOO_LARGE = "too_large"  # body (after decompression) over the cap
    BLOCKED = "blocked"  # SSRF guard: non-global address or non-http(s) scheme
    TOO_MANY_REDIRECTS = "too_many_redirects"
    CONNECTION_ERROR = "connection_error"  # DNS, refused, reset, truncated body
    NOT_A_FEED = "not_a_feed"  # fetched fine, but nothing feed-like in it
    PARSE_ERROR = "parse_error"


@dataclass(frozen=True)
class FetchResult:
    """What came back from one HTTP request (after redirects)."""

    url: str  # as requested
    outcome: FetchOutcome
    final_url: str = ""  # after redirects; "" when no response
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    body: bytes = b""  # decompressed, capped
    etag: str | None = None
    last_modified: str | None = None
    retry_after: float | None = None  # seconds, when the server asked us to wait
    error: str | None = None  # human-readable reason when outcome is not OK
    elapsed: float = 0.0  # seconds

    @property
    def ok(self) -> bool:
        return self.outcome is FetchOutcome.OK

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass(frozen=True)
class FeedEntry:
    """One item of a feed or listing, before its page is fetched."""

    key: str  # stable identity within its source: guid, else link, else content hash
    url: str | None  # the article link, absolute; None when the entry has none
    title: str
    summary: str  # plain text (HTML stripped)
    published: datetime | None  # UTC; None when missing or implausible
    guid: str | None = None
    # The entry's full content as plain text (RSS content:encoded, Atom <content>, JSON
    # Feed content_html/content_text), "" when it has none; may be the whole article.
    content: str = ""


@dataclass(frozen=True)
class ParsedFeed:
    """A feed document turned into entries; `error` says why it is not usable."""

    entries: tuple[FeedEntry, ...]
    title: str = ""
    bozo: bool = False  # the parser complained but may still have yielded entries
    bozo_reason: str | None = None
    error: FetchOutcome | None = None  # NOT_A_FEED or PARSE_ERROR when nothing usable


class ExtractionStatus(enum.StrEnum):
    """What happened when we turned an article page into text."""

    OK = "ok"  # full text extracted from the page (or the feed's full content)
    # Text kept, but the article may be cut: the extractor's passes disagreed, or the
    # feed's own content for the entry was longer than the page's text (and was kept).
    PARTIAL = "partial"
    SKIPPED = "skipped"  # not HTML (PDF, image, ...): feed title and summary kept
    TOO_SHORT = "too_short"  # page had no article-sized text
    FAILED = "failed"  # extractor error or deadline
    BLOCKED = "blocked"  # SSRF guard refused the link
    UNREACHABLE = "unreachable"  # fetch failed (HTTP error, timeout, ...)
    NO_LINK = "no_link"  # the entry had no URL to fetch


@dataclass(frozen=True)
class ExtractedPage:
    """The article content trafilatura found in a page."""

    title: str
    text: str
    published: datetime | None = None
    author: str | None = None
    language: str | None = None
    canonical_url: str | None = None
    # `stories.Fingerprint.to_bytes()` of `text`, when the worker that extracted
    # the page computed it (both are CPU work, so both happen off the main process).
    fingerprint: bytes | None = None


@dataclass(frozen=True)
class Extraction:
    """An extraction outcome: a page, or the reason there is none."""

    status: ExtractionStatus
    page: ExtractedPage | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Document:
    """What rules are matched against: an article's fields, plain text."""

    title: str
    text: str
    source: str = ""  # the outlet's host (for `source:` scopes), e.g. "www.reuters.com"
    url: str = ""


@dataclass(frozen=True)
class TermMatch:
    """One occurrence of a query term: offsets into the field's original text."""

    term: str  # the term as written in the query
    field: str  # "title" or "text"
    start: int
    end: int


@dataclass(frozen=True)
class Hit:
    """A rule matched a document, with the evidence."""

    rule_id: str
    rule_version: str  # hash of the rule's normalised definition
    severity: str
    score: float
    matches: tuple[TermMatch, ...]
    clauses: tuple[str, ...] = ()  # the top-level clauses of the query that fired
    snippet: str = ""  # text around the strongest evidence


# What names a route, in rules' `route` and in the configuration: a Slack channel name
# or id, optionally with its `#`/`@` ("#aukus-alerts", "C0123ABC"), or "console".
ROUTE_NAME = re.compile(r"[#@]?[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class AlertMessage:
    """One message to deliver: an article of a story, with every rule it hit."""

    alert_id: int
    route: str  # a Slack channel or "console"
    title: str
    url: str
    outlet: str
    published: datetime | None
    hits: tuple[Hit, ...]
    story_id: int
    thread_ts: str | None = None  # set when this is a reply in the story's thread
    # The article's text may be cut (extraction status `partial`): the alert says so.
    partial: bool = False


@dataclass(frozen=True)
class ArticleRecord:
    """An entry after fetch, extraction and matching: what the store persists.

    `existing` is set when the canonical URL was already stored (the same
    article reached through another source): only the entry is recorded.
    """

    entry: FeedEntry
    url: str  # the URL we fetched (after redirects), or the entry's link
    canonical_url: str
    title: str
    text: str  # extracted text; the feed summary when extraction failed
    summary: str
    outlet: str  # the article's host
    published: datetime | None
    extraction: ExtractionStatus
    extraction_reason: str | None
    content_hash: str
    fingerprint: bytes | None = None
    author: str | None = None
    language: str | None = None
    hits: tuple[Hit, ...] = ()
    routes: tuple[str, ...] = ()  # the union of the hit rules' routes
    existing: bool = False


@dataclass(frozen=True)
class OpsNotice:
    """What an ops message says about a source, as it was when the message was raised.

    `count` is the failed polls (unhealthy, recovered) or the empty polls
    (empty, refilled) of the streak, which began at `since`. `outcome` and
    `error` are the last failed poll's (for `recovered`: the last failure
    before it recovered).
    """

    id: int
    route: str
    reason: str  # unhealthy, recovered, empty or refilled (`store.route_messages.OPS_REASONS`)
    source: str  # the source's configured name
    url: str
    outcome: str | None
    error: str | None
    count: int
    since: datetime | None
    raised_at: datetime


class FeedbackAction(enum.StrEnum):
    """What an analyst's button click on an instant alert says (the buttons' `action_id`s)."""

    RELEVANT = "feedback_relevant"
    NOT_RELEVANT = "feedback_not_relevant"
    MUTE_SOURCE = "mute_source"  # hold the alert's source's alerts for the digest


class Verdict(enum.StrEnum):
    """An analyst's judgment of one alert, as stored: the latest click wins."""

    RELEVANT = "relevant"
    NOT_RELEVANT = "not_relevant"


@dataclass(frozen=True)
class Click:
    """One button click from Slack, as the Socket Mode envelope delivered it.

    `token` is the button's `value`: the alert's opaque feedback token (never a
    database id). `clicked_at` is Slack's `action_ts`: a redelivered envelope
    carries the same one, which is how a redelivery is told from a new click.
    """

    action: FeedbackAction
    token: str
    analyst_id: str  # Slack user id, e.g. U0123ABC
    analyst_name: str  # the Slack username shown as "@name"
    clicked_at: datetime
    envelope_id: str = ""
    channel: str | None = None  # where the clicked message is
    message_ts: str | None = None

    @property
    def verdict(self) -> Verdict | None:
        """The judgment this click records (None for `mute_source`)."""
        if self.action is FeedbackAction.RELEVANT:
            return Verdict.RELEVANT
        if self.action is FeedbackAction.NOT_RELEVANT:
            return Verdict.NOT_RELEVANT
        return None


@dataclass(frozen=True)
class Feedback:
    """What an instant alert shows of the feedback loop: its buttons' token and the verdicts.

    `verdicts` are (verdict, analyst name) in the order they were first given;
    empty until someone clicks.
    """

    token: str
    verdicts: tuple[tuple[Verdict, str], ...] = ()
    mute_button: bool = True
