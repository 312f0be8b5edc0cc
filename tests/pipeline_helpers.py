"""Helpers for the pipeline-level tests: configs, feed and page builders, a harness.

The harness runs the production `Pipeline` in-process against a real database
(SQLite file or PostgreSQL) and real local HTTP servers, with a controllable
clock so backoff windows can be crossed without sleeping.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from watcher.extract.pool import ExtractorPool, PoolSettings
from watcher.ingest.fetch import FetchSettings
from watcher.model import SourceKind, SourceSpec
from watcher.pipeline.cycle import CycleReport, Pipeline
from watcher.pipeline.documents import Documents
from watcher.pipeline.page_task import extract_article
from watcher.rules.active import ActiveRules
from watcher.settings import Config, FetchConfig
from watcher.store.db import open_database
from watcher.store.models import AlertRow, ArticleRow, FeedEntryRow, HitRow, SourceRow, StoryRow

E2E_RULES = Path(__file__).parent / "fixtures" / "e2e_rules"


def fast_fetch(**overrides: object) -> FetchConfig:
    """A `[fetch]` table for tests: 127.0.0.1 allowed, no retries, short deadlines."""
    values: dict[str, object] = {
        "allow_private_addresses": True,
        "retries": 0,
        "connect_timeout": 2.0,
        "total_timeout": 2.0,
        "concurrency": 64,
        "sources_at_once": 16,
        "per_host": 8,
    }
    values.update(overrides)
    return FetchConfig(**values)  # type: ignore[arg-type]


def make_config(
    database_url: str,
    sources: Sequence[SourceSpec],
    *,
    fetch: FetchConfig | None = None,
    rules_dir: Path = E2E_RULES,
) -> Config:
    """A `Config` as `load_config` would build it, without a file."""
    return Config(
        database_url=database_url,
        rules_dir=rules_dir,
        fetch=fetch or fast_fetch(),
        sources=tuple(sources),
    )


def rss_source(name: str, url: str, *, interval: timedelta = timedelta(minutes=15)) -> SourceSpec:
    return SourceSpec(name=name, url=url, kind=SourceKind.RSS, interval=interval)


@dataclass(frozen=True)
class Item:
    """One RSS `<item>`; `guid=""` leaves the element out."""

    title: str
    link: str | None
    guid: str = ""
    description: str = ""
    pub_date: str | None = "Mon, 16 Nov 2026 09:00:00 GMT"
    extra: str = ""  # raw XML appended inside the item


def rss(items: Sequence[Item], *, title: str = "Test feed", encoding: str | None = "utf-8") -> str:
    """An RSS 2.0 document (text; encode it as the test needs)."""
    parts = []
    for it in items:
        xml = f"<item><title>{html.escape(it.title)}</title>"
        if it.link is not None:
            xml += f"<link>{html.escape(it.link)}</link>"
        if it.guid:
            xml += f"<guid isPermaLink='false'>{html.escape(it.guid)}</guid>"
        if it.description:
            xml += f"<description>{html.escape(it.description)}</description>"
        if it.pub_date is not None:
            xml += f"<pubDate>{it.pub_date}</pubDate>"
        parts.append(xml + it.extra + "</item>")
    declaration = f'<?xml version="1.0" encoding="{encoding}"?>' if encoding else ""
    return (
        f'{declaration}<rss version="2.0"><channel><title>{html.escape(title)}</title>'
        "<link>http://example.invalid/</link><description>test</description>"
        + "".join(parts)
        + "</channel></rss>"
    )


PAGE = """<!doctype html><html lang="{lang}"><head>{meta}
<title>{title} - Test Gazette</title></head><body>
<header><nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a>
</nav></header>
<main><article><h1>{title}</h1><p class="byline">By Staff Reporter</p>{body}</article></main>
<footer><p>Test Gazette. All rights reserved.</p><a href="/privacy">Privacy</a></footer>
</body></html>"""


def article_html(
    title: str, paragraphs: Sequence[str], *, charset: str | None = "utf-8", lang: str = "en"
) -> str:
    """A news page with boilerplate around the article; `charset=None` omits `<meta charset>`."""
    meta = f'<meta charset="{charset}">' if charset else ""
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return PAGE.format(lang=lang, meta=meta, title=html.escape(title), body=body)


class Clock:
    """A settable clock for `Pipeline(clock=...)`; starts at the real time."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def small_pool() -> ExtractorPool:
    """An extraction pool sized for tests (two workers, short deadlines)."""
    return ExtractorPool(PoolSettings(workers=2, deadline=10.0, grace=5.0), task=extract_article)


class Harness:
    """The production pipeline on one database, plus queries to check what it stored."""

    def __init__(
        self,
        config: Config,
        extractor: ExtractorPool,
        *,
        fetch_settings: FetchSettings | None = None,
        documents: Documents | None = None,
    ) -> None:
        self.config = config
        self.clock = Clock()
        self.db = open_database(config.database_url)
        self.rules = ActiveRules(config.rules_dir, config.alerts.default_route)
        self.pipeline = Pipeline(
            config,
            self.db,
            self.rules,
            clock=self.clock,
            extractor=extractor,
            fetch_settings=fetch_settings,
            documents=documents,
        )

    def cycle(self, *, force: bool = True) -> CycleReport:
        """Run one cycle to completion."""
        return asyncio.run(self.pipeline.run_cycle(force=force))

    def close(self) -> None:
        self.pipeline.close()  # the document workers it started
        self.db.dispose()

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what was stored ---------------------------------------------------------------

    def source(self, name: str) -> SourceRow:
        with self.db.session() as session:
            row = session.scalars(select(SourceRow).where(SourceRow.name == name)).one()
            session.expunge(row)
            return row

    def articles(self, name: str | None = None) -> list[ArticleRow]:
        """Stored articles (of source `name` when given), in insertion order."""
        with self.db.session() as session:
            query = select(ArticleRow).order_by(ArticleRow.id)
            if name is not None:
                query = query.join(SourceRow, SourceRow.id == ArticleRow.source_id).where(
                    SourceRow.name == name
                )
            rows = list(session.scalars(query))
            session.expunge_all()
            return rows

    def article(self, url: str) -> ArticleRow:
        matches = [a for a in self.articles() if a.url == url]
        assert len(matches) == 1, f"{len(matches)} articles at {url}"
        return matches[0]

    def entry_count(self, name: str) -> int:
        with self.db.session() as session:
            source_id = session.scalars(select(SourceRow.id).where(SourceRow.name == name)).one()
            return len(
                list(
                    session.scalars(select(FeedEntryRow).where(FeedEntryRow.source_id == source_id))
                )
            )

    def hits(self) -> list[tuple[str, str]]:
        """(article URL, rule id) of every stored hit, sorted."""
        with self.db.session() as session:
            rows = session.execute(
                select(ArticleRow.url, HitRow.rule_id).join(
                    ArticleRow, ArticleRow.id == HitRow.article_id
                )
            )
            return sorted((str(u), str(r)) for u, r in rows)

    def alerts(self) -> list[tuple[int, int, str, str]]:
        """(article id, story id, route, kind) of every outbox row, in insertion order."""
        with self.db.session() as session:
            rows = session.execute(
                select(
                    AlertRow.article_id, AlertRow.story_id, AlertRow.route, AlertRow.kind
                ).order_by(AlertRow.id)
            )
            return [(int(a), int(s), str(r), str(k)) for a, s, r, k in rows]

    def story_count(self) -> int:
        with self.db.session() as session:
            return len(list(session.scalars(select(StoryRow.id))))
