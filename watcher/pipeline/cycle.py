"""The one place that knows the stage order.

    sources -> fetch -> feed/listing parse -> article fetch -> extract
            -> canonical URL / story -> match -> store hits + outbox rows

`Pipeline.run_cycle()` polls the due sources concurrently; each source's
poll ends in one transaction (`store.articles.save_poll`) holding its new
entries, articles, hits, alert rows and the source's new ETag. Delivery of
the outbox is the dispatcher's job (`watcher.pipeline.dispatch`), never this one.

Each source has its own time (`source_timeout`, counted from when it gets
its turn among `sources_at_once`): a source that runs out of it is recorded
as failing with outcome `timeout` and the stage it was in (it counts
towards the unhealthy notice and backs off like any failure), nothing of
its poll is committed, and the other sources' polls commit as they finish.
Decoding and parsing of documents run in worker processes
(`watcher.pipeline.documents`), extraction in the extraction pool.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import structlog
from sqlalchemy.exc import SQLAlchemyError

from watcher import metrics
from watcher.extract.pool import ExtractorPool
from watcher.ingest.fetch import Fetcher, FetchSettings
from watcher.model import ArticleRecord, FetchOutcome, FetchResult
from watcher.pipeline import article as ingest
from watcher.pipeline.documents import DocumentFailed, Documents, parse_source_document
from watcher.pipeline.page_task import extract_article
from watcher.pipeline.story_index import PersistentStories
from watcher.rules.active import ActiveRules
from watcher.rules.fields import PreparedField
from watcher.settings import Config
from watcher.store.articles import SavedArticle, known_canonical_urls, known_entry_keys, save_poll
from watcher.store.db import Database
from watcher.store.sources import (
    OpsPolicy,
    SourceState,
    due_sources,
    record_failure,
    sync_sources,
)

log = structlog.get_logger("watcher.pipeline.cycle")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SourceReport:
    """How one source's poll went."""

    name: str
    outcome: FetchOutcome
    error: str | None = None
    entries: int = 0  # entries in the feed document
    new_articles: int = 0
    hits: tuple[str, ...] = ()  # rule ids, one per hit
    alerts: int = 0
    timed_out: bool = False  # ran out of `source_timeout` (outcome TIMEOUT, nothing committed)


@dataclass
class CycleReport:
    """What one cycle did: the numbers behind the end-of-run summary."""

    sources: list[SourceReport] = field(default_factory=list)
    alerts_sent: int = 0
    alerts_failed: int = 0
    alerts_pending: int = 0

    @property
    def polled(self) -> int:
        return len(self.sources)

    @property
    def failed(self) -> list[SourceReport]:
        return [
            s for s in self.sources if s.outcome not in (FetchOutcome.OK, FetchOutcome.NOT_MODIFIED)
        ]

    @property
    def articles_new(self) -> int:
        return sum(s.new_articles for s in self.sources)

    @property
    def alerts_created(self) -> int:
        return sum(s.alerts for s in self.sources)

    @property
    def hits_per_rule(self) -> dict[str, int]:
        return dict(Counter(rule for s in self.sources for rule in s.hits))


ProgressCallback = Callable[[SourceReport], None]


class Pipeline:
    """Polls sources and stores what they bring; reusable across cycles."""

    def __init__(
        self,
        config: Config,
        db: Database,
        rules: ActiveRules,
        *,
        clock: Clock = utcnow,
        extractor: ExtractorPool | None = None,
        fetch_settings: FetchSettings | None = None,
        documents: Documents | None = None,
        source_timeout: float | None = None,
    ) -> None:
        self.config = config
        # None: from `config.fetch`. Tests and benchmarks pass settings the config file
        # cannot express (e.g. `allowed_networks` to reach 127.0.0.1 with the guard on).
        self._fetch_settings = fetch_settings
        self.db = db
        self.rules = rules
        self.clock = clock
        self._extractor = extractor
        self._owns_extractor = False
        self._documents = documents
        self._owns_documents = False
        # Seconds one source's poll may take (None: no limit); the daemon sets it from
        # WATCHER_CYCLE_TIMEOUT.
        self.source_timeout = source_timeout
        self._stories: PersistentStories | None = None

    async def run_cycle(
        self,
        *,
        force: bool = False,
        on_source: ProgressCallback | None = None,
        only: Sequence[str] | None = None,
        sync: bool = True,
    ) -> CycleReport:
        """Poll every due source once (`force`: ignore intervals, not backoff).

        `sync=False` skips mirroring the config into the sources table: the
        shared queue's scheduler does that once per tick for all processes.
        """
        now = self.clock()
        if sync:
            with self.db.session() as session:
                sync_sources(session, self.config.sources, now)
        with self.db.session() as session:
            states = due_sources(session, self.config.sources, now, force=force)
        if only is not None:
            states = [s for s in states if s.spec.name in only]
        if self._stories is None or self._stories.window != self.config.story_window:
            # At start, and when a reload changed the window: the index holds the window.
            self._stories = PersistentStories.load(
                self.db, now=now, window=self.config.story_window
            )
        report = CycleReport()
        if not states:
            return report
        if self._extractor is None:
            # One pool for the pipeline's life: starting workers costs more than a
            # quiet cycle, and the pool replaces them itself (on their measured memory).
            self._extractor = ExtractorPool(task=extract_article)
            self._owns_extractor = True
        extractor = self._extractor
        if self._documents is None:
            self._documents = Documents()
            self._owns_documents = True
        documents = self._documents
        settings = self._fetch_settings or ingest.fetch_settings(self.config.fetch)
        async with Fetcher(settings, decoder=documents.decoder) as fetcher:
            limit = asyncio.Semaphore(self.config.fetch.sources_at_once)

            async def one(state: SourceState) -> None:
                async with limit:
                    result = await self._poll_in_time(state, fetcher, extractor, documents)
                report.sources.append(result)
                if on_source is not None:
                    on_source(result)

            await asyncio.gather(*(one(s) for s in states))
        return report

    @property
    def _ops(self) -> OpsPolicy:
        """When a source's trouble becomes an ops notice, from the current config."""
        alerts = self.config.alerts
        return OpsPolicy(
            route=alerts.ops_route,
            unhealthy_after=alerts.unhealthy_after,
            empty_after=alerts.empty_after,
        )

    def catch_up_stories(self) -> int:
        """Index the articles other processes stored lately (shared queue); how many.

        Called before each poll job by `watcher.daemon.cluster`; a no-op until
        the first cycle has loaded the story index.
        """
        if self._stories is None:
            return 0
        return self._stories.catch_up(self.db)

    def close(self) -> None:
        """Stop the worker processes this pipeline started (idempotent)."""
        if self._owns_extractor and self._extractor is not None:
            self._extractor.close()
            self._extractor = None
            self._owns_extractor = False
        if self._owns_documents and self._documents is not None:
            self._documents.close()
            self._documents = None
            self._owns_documents = False

    async def _poll_in_time(
        self,
        state: SourceState,
        fetcher: Fetcher,
        extractor: ExtractorPool,
        documents: Documents,
    ) -> SourceReport:
        """`_poll` within `source_timeout`; past it the source fails: `timeout`, with the stage."""
        stage = _Stage()
        try:
            try:
                async with asyncio.timeout(self.source_timeout):
                    return await self._poll(state, fetcher, extractor, documents, stage)
            except TimeoutError:
                error = f"no result within {self.source_timeout:g} s (while {stage.doing})"
                report = self._fail(state, FetchOutcome.TIMEOUT, error, None)
                return replace(report, timed_out=True)
        except SQLAlchemyError as exc:
            # The database went away during this source's poll (outside its final store,
            # which `_store` handles): nothing of it is committed, the other sources go on.
            log.error("store_failed", source=state.spec.name, error=exc.__class__.__name__)
            return SourceReport(state.spec.name, FetchOutcome.PARSE_ERROR, f"database: {exc}")

    async def _poll(
        self,
        state: SourceState,
        fetcher: Fetcher,
        extractor: ExtractorPool,
        documents: Documents,
        stage: _Stage,
    ) -> SourceReport:
        spec = state.spec
        cap = self.config.fetch.max_feed_bytes
        stage.doing = "fetching the source document"
        result = await fetcher.fetch(
            spec.url,
            etag=state.etag,
            last_modified=state.last_modified,
            headers=spec.headers,
            max_bytes=cap,
        )
        metrics.record_fetch(result)
        if result.outcome is FetchOutcome.NOT_MODIFIED:
            return self._store(state, result, [], entries=None)
        if not result.ok:
            return self._fail(state, result.outcome, result.error, result.retry_after)
        stage.doing = "parsing the source document"
        try:
            parsed = await documents.parse(spec.kind, result, spec.include, spec.exclude)
        except DocumentFailed as exc:
            return self._fail(state, FetchOutcome.PARSE_ERROR, str(exc), None)
        if parsed.error is not None:
            return self._fail(state, parsed.error, parsed.bozo_reason or str(parsed.error), None)
        if parsed.bozo:
            log.warning("feed_bozo", source=spec.name, reason=parsed.bozo_reason)
        with self.db.session() as session:
            seen = known_entry_keys(session, state.id, (e.key for e in parsed.entries))
        fresh = [e for e in parsed.entries if e.key not in seen]
        if len(fresh) > self.config.fetch.max_articles_per_source:
            fresh = fresh[: self.config.fetch.max_articles_per_source]
            # The entries left for later must not hide behind a 304: store no validators,
            # so the next poll fetches the document again (no feed state may advance past
            # entries that were not stored).
            result = replace(result, etag=None, last_modified=None)
        with self.db.session() as session:
            stored = known_canonical_urls(
                session, (ingest.entry_canonical(e) for e in fresh if e.url)
            )
        matcher = self.rules.current()
        stage.doing = f"fetching and extracting {len(fresh)} articles"
        records = await asyncio.gather(
            *(
                metrics.timed_article(
                    ingest.process_entry(
                        e,
                        fetcher=fetcher,
                        extractor=extractor,
                        rules=matcher,
                        cfg=self.config.fetch,
                        stored=stored,
                        fetch_pages=spec.fetch_pages,
                    )
                )
                for e in fresh
            )
        )
        return self._store(state, result, list(records), entries=len(parsed.entries))

    def _store(
        self,
        state: SourceState,
        result: FetchResult,
        records: list[ArticleRecord],
        *,
        entries: int | None,
    ) -> SourceReport:
        now = self.clock()
        stories = self._stories
        assert stories is not None
        stories.advance(now)  # articles first seen before the window stop attracting copies
        try:
            with self.db.session() as session:
                saved: list[SavedArticle] = save_poll(
                    session,
                    source_id=state.id,
                    result=result,
                    records=records,
                    find_story=stories.find,
                    on_saved=stories.remember,
                    now=now,
                    entries=entries,
                    ops=self._ops,
                    skeleton=_skeleton,
                )
        except SQLAlchemyError as exc:
            stories.forget_pending()
            log.error("store_failed", source=state.spec.name, error=str(exc.__class__.__name__))
            return SourceReport(state.spec.name, FetchOutcome.PARSE_ERROR, f"database: {exc}")
        stories.commit_pending()
        new = [r for r in records if not r.existing]
        hits = tuple(h.rule_id for r in new for h in r.hits)
        metrics.record_stored(len(saved), hits)
        report = SourceReport(
            state.spec.name,
            result.outcome,
            None,
            entries or 0,
            len(saved),
            hits,
            sum(s.alerts for s in saved),
        )
        log.info(
            "source_polled",
            source=state.spec.name,
            outcome=str(result.outcome),
            entries=entries,
            new_articles=report.new_articles,
            hits=len(hits),
        )
        return report

    def _fail(
        self,
        state: SourceState,
        outcome: FetchOutcome,
        error: str | None,
        retry_after: float | None,
    ) -> SourceReport:
        now = self.clock()
        with self.db.session() as session:
            record_failure(
                session,
                state.id,
                outcome=outcome,
                error=error,
                retry_after=retry_after,
                now=now,
                ops=self._ops,
            )
        log.warning(
            "fetch_failed",
            source=state.spec.name,
            url=state.spec.url,
            kind=str(outcome),
            error=error,
        )
        return SourceReport(state.spec.name, outcome, error)


class _Stage:
    """What a source's poll is doing, for the reason recorded when its time runs out."""

    doing = "waiting"


def _skeleton(text: str) -> str:
    """`skeleton_of(text)` by the matcher's fast field preparation (the search index's)."""
    return PreparedField(text).skeleton


__all__ = ["CycleReport", "Pipeline", "SourceReport", "parse_source_document"]
