"""Storing a poll's results: entries, articles, stories, hits and outbox rows.

`save_poll` writes everything one poll of one source produced in a single
transaction, together with the source's new ETag, so a crash either keeps
all of it or none: no feed state (ETag, seen keys) advances past items that
were not committed.
Writes are idempotent: a rerun finds the entry keys and adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Table, insert, select
from sqlalchemy.orm import Session

from watcher.model import ArticleRecord, FetchResult, Hit
from watcher.store.models import (
    AlertKind,
    AlertRow,
    ArticleRow,
    DeliveryState,
    FeedEntryRow,
    HitRow,
    StoryRow,
)
from watcher.store.search_index import Skeleton, index_rows
from watcher.store.sources import DEFAULT_OPS, OpsPolicy, record_success
from watcher.text.normalize import skeleton_of

_STORIES = cast(Table, StoryRow.__table__)
_ARTICLES = cast(Table, ArticleRow.__table__)
_ENTRIES = cast(Table, FeedEntryRow.__table__)
_HITS = cast(Table, HitRow.__table__)
_ALERTS = cast(Table, AlertRow.__table__)


@dataclass(frozen=True)
class SavedArticle:
    """What a new article became in the database."""

    article_id: int
    story_id: int
    fingerprint: bytes | None
    hits: int
    alerts: int


def known_entry_keys(session: Session, source_id: int, keys: Iterable[str]) -> set[str]:
    """The subset of `keys` already recorded for this source (tombstones included)."""
    wanted = list(set(keys))
    found: set[str] = set()
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        found.update(
            session.scalars(
                select(FeedEntryRow.key).where(
                    FeedEntryRow.source_id == source_id, FeedEntryRow.key.in_(chunk)
                )
            )
        )
    return found


def known_canonical_urls(session: Session, urls: Iterable[str]) -> set[str]:
    """The subset of canonical URLs already stored as articles."""
    return set(_article_ids(session, urls))


def save_poll(
    session: Session,
    *,
    source_id: int,
    result: FetchResult,
    records: Sequence[ArticleRecord],
    find_story: Callable[[ArticleRecord], int | None],
    on_saved: Callable[[SavedArticle], None] | None = None,
    now: datetime,
    entries: int | None = None,
    ops: OpsPolicy = DEFAULT_OPS,
    skeleton: Skeleton = skeleton_of,
) -> list[SavedArticle]:
    """Persist one successful poll: entries, new articles with story, hits and alerts.

    `find_story(record)` names an existing story for a near-duplicate, or
    None to start a new one; `on_saved` sees each new article right away, so
    a near-duplicate later in the same poll can join it. `entries` is how
    many entries the fetched document had (None for a 304), which `ops`
    turns into an ops notice when a feed stays empty. New articles are added
    to the console's search index (`store.search_index`); `skeleton` is
    `skeleton_of` or an equivalent (the pipeline passes the matcher's faster
    one). The caller commits (see `Database.session`).

    Core `INSERT ... RETURNING` statements, not ORM objects: a poll stores up
    to `max_articles_per_source` articles and the unit of work's bookkeeping
    cost more than the writes themselves.
    """
    article_ids = _article_ids(session, (r.canonical_url for r in records))
    # The connection, not the session: ORM-enabled INSERTs cost twice as much per row.
    conn = session.connection()
    writer = _AlertWriter(conn, now)
    saved: list[SavedArticle] = []
    entry_rows: list[dict[str, object]] = []
    indexed: list[tuple[int, str, str]] = []
    for record in records:
        article_id = article_ids.get(record.canonical_url)
        if article_id is None:
            story_id = find_story(record)
            if story_id is None:
                story_id = conn.scalar(
                    insert(_STORIES).returning(_STORIES.c.id),
                    {"title": record.title, "created_at": now},
                )
                assert story_id is not None
                writer.new_story(story_id)
            article_id = conn.scalar(
                insert(_ARTICLES).returning(_ARTICLES.c.id),
                _article_values(source_id, record, story_id, now),
            )
            assert article_id is not None
            article_ids[record.canonical_url] = article_id
            indexed.append((article_id, record.title, record.text))
            n_alerts = writer.add(article_id, story_id, record.hits, record.routes)
            item = SavedArticle(
                article_id, story_id, record.fingerprint, len(record.hits), n_alerts
            )
            saved.append(item)
            if on_saved is not None:
                on_saved(item)
        entry_rows.append(
            {
                "source_id": source_id,
                "key": record.entry.key,
                "article_id": article_id,
                "first_seen_at": now,
            }
        )
    if entry_rows:
        conn.execute(insert(_ENTRIES), entry_rows)
    index_rows(conn, indexed, skeleton=skeleton)
    record_success(session, source_id, result, now, entries=entries, ops=ops)
    return saved


def _article_ids(session: Session, urls: Iterable[str]) -> dict[str, int]:
    """Canonical URL -> id of the articles already stored, for `urls`."""
    wanted = list(set(urls))
    found: dict[str, int] = {}
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        rows = session.execute(
            select(ArticleRow.canonical_url, ArticleRow.id).where(
                ArticleRow.canonical_url.in_(chunk)
            )
        )
        found.update({url: article_id for url, article_id in rows})
    return found


def _article_values(
    source_id: int, record: ArticleRecord, story_id: int, now: datetime
) -> dict[str, object]:
    return {
        "source_id": source_id,
        "url": record.url,
        "canonical_url": record.canonical_url,
        "title": record.title,
        "summary": record.summary,
        "text": record.text,
        "outlet": record.outlet,
        "author": record.author,
        "language": record.language,
        "published_at": record.published,
        "first_seen_at": now,
        "extraction_status": str(record.extraction),
        "extraction_reason": record.extraction_reason,
        "content_hash": record.content_hash,
        "fingerprint": record.fingerprint,
        "story_id": story_id,
    }


def hit_evidence(hit: Hit) -> dict[str, object]:
    """The JSON evidence stored with a hit: every matched term and the clauses."""
    return {
        "matches": [
            {"term": m.term, "field": m.field, "start": m.start, "end": m.end} for m in hit.matches
        ],
        "clauses": list(hit.clauses),
    }


class _AlertWriter:
    """Hit rows and outbox rows of one poll's new articles.

    The first alert of a story on a route is a top-level `alert`; later ones
    are `reply` rows threaded under it. Stories started in this poll have no
    earlier alert, so only joined stories are looked up in the database.
    """

    def __init__(self, conn: Connection, now: datetime) -> None:
        self._conn = conn
        self._now = now
        self._new_stories: set[int] = set()
        self._parents: dict[tuple[int, str], int | None] = {}  # (story, route) -> alert id

    def new_story(self, story_id: int) -> None:
        self._new_stories.add(story_id)

    def add(
        self, article_id: int, story_id: int, hits: Sequence[Hit], routes: Sequence[str]
    ) -> int:
        """Insert the article's hits and one outbox row per route; how many outbox rows."""
        if not hits:
            return 0
        self._conn.execute(
            insert(_HITS),
            [
                {
                    "article_id": article_id,
                    "rule_id": hit.rule_id,
                    "rule_version": hit.rule_version,
                    "severity": hit.severity,
                    "score": hit.score,
                    "evidence": hit_evidence(hit),
                    "snippet": hit.snippet,
                    "created_at": self._now,
                }
                for hit in hits
            ],
        )
        created = 0
        for route in dict.fromkeys(routes):
            parent = self._parent(story_id, route)
            alert_id = self._conn.scalar(
                insert(_ALERTS).returning(_ALERTS.c.id),
                {
                    "article_id": article_id,
                    "story_id": story_id,
                    "route": route,
                    "kind": AlertKind.REPLY if parent else AlertKind.ALERT,
                    "parent_id": parent,
                    "state": DeliveryState.PENDING,
                    "attempts": 0,
                    "created_at": self._now,
                },
            )
            if parent is None:
                self._parents[(story_id, route)] = alert_id
            created += 1
        return created

    def _parent(self, story_id: int, route: str) -> int | None:
        key = (story_id, route)
        if key not in self._parents:
            self._parents[key] = (
                None
                if story_id in self._new_stories
                else self._conn.scalar(
                    select(_ALERTS.c.id)
                    .where(
                        _ALERTS.c.story_id == story_id,
                        _ALERTS.c.route == route,
                        _ALERTS.c.kind == AlertKind.ALERT,
                    )
                    .order_by(_ALERTS.c.id)
                    .limit(1)
                )
            )
        return self._parents[key]
