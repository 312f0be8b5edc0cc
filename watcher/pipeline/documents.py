"""Source documents off the event loop: decoding and parsing in worker processes.

A source document (feed, listing page, sitemap) is untrusted input, and
turning it into entries is CPU work in third-party C code (feedparser's
loose parser, lxml, zlib). The pipeline runs both steps in a
`watcher.extract.budget.BudgetPool`, so a hostile document costs at most
the pool's deadline in one worker process and never blocks the event loop:

* `Documents.decoder` is the fetcher's `decoder` (compressed bodies of
  feeds and article pages alike), and
* `Documents.parse` turns a fetched document into entries by its kind.

Past the deadline the worker is killed and replaced and the document is
reported with the reason (`DocumentFailed`, `DecodeFailed` for the fetcher).
Kept small: every worker process imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence

from watcher.extract.budget import BudgetExceeded, BudgetPool, BudgetSettings, WorkerLost
from watcher.ingest.decompress import DecodeFailed, decode_body
from watcher.model import FetchResult, ParsedFeed, SourceKind

# What the forkserver imports once, for these workers and the extraction workers alike
# (one forkserver serves both pools; see `BudgetSettings.preload`).
PRELOAD = (
    "watcher.pipeline.documents",
    "watcher.ingest.feeds",
    "watcher.ingest.listing",
    "watcher.extract.worker",
    "watcher.pipeline.page_task",
    "trafilatura",
)


class DocumentFailed(Exception):
    """A source document could not be parsed in its worker; the message says why."""


def parse_source_document(
    kind: SourceKind, result: FetchResult, include: Sequence[str], exclude: Sequence[str]
) -> ParsedFeed:
    """Turn a fetched source document into entries, by the source's kind."""
    from watcher.ingest.feeds import parse_feed
    from watcher.ingest.listing import discover_links, parse_sitemap

    url = result.final_url or result.url
    if kind is SourceKind.HTML:
        return discover_links(
            result.body,
            base_url=url,
            include=include,
            exclude=exclude,
            content_type=result.headers.get("content-type", ""),
        )
    if kind is SourceKind.SITEMAP:
        return parse_sitemap(result.body, url=url)
    return parse_feed(result.body, url=url, headers=result.headers)


class Documents:
    """The pipeline's document workers: decode and parse, each call under the deadline."""

    def __init__(self, pool: BudgetPool | None = None) -> None:
        self._own = pool is None
        self.pool = pool or BudgetPool(BudgetSettings(preload=PRELOAD))

    async def decoder(self, raw: bytes, content_encoding: str, cap: int) -> bytes:
        """`decode_body` in a worker; BodyTooLarge/TruncatedStream pass through."""
        try:
            return await self.pool.run(decode_body, raw, content_encoding, cap)
        except (BudgetExceeded, WorkerLost) as exc:
            raise DecodeFailed(str(exc)) from None

    async def parse(
        self, kind: SourceKind, result: FetchResult, include: Sequence[str], exclude: Sequence[str]
    ) -> ParsedFeed:
        """`parse_source_document` in a worker; DocumentFailed past the deadline or on a crash."""
        try:
            return await self.pool.run(parse_source_document, kind, result, include, exclude)
        except (BudgetExceeded, WorkerLost) as exc:
            raise DocumentFailed(f"parsing: {exc}") from None
        except Exception as exc:  # the parsers never raise; a failure is this document's
            raise DocumentFailed(f"parsing: {exc!r}"[:500]) from None

    def close(self) -> None:
        """Stop the workers this object started (a pool passed in is the caller's)."""
        if self._own:
            self.pool.close()
