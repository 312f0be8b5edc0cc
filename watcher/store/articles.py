"""Storing a poll's results: entries, articles, stories, hits and outbox rows.

`save_poll` writes everything one poll of one source produced in a single
transaction, together with the source's new ETag, so a crash either keeps
all of it or none (FAULTS.md: no feed state advances past uncommitted items).
Writes are idempotent: a rerun finds the entry keys and adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from watcher.model import ArticleRecord, FetchResult, Hit
from watcher.store.models import AlertRow, ArticleRow, FeedEntryRow, HitRow, StoryRow
from watcher.store.sources import record_success


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
    wanted = list(set(urls))
    found: set[str] = set()
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        found.update(
            session.scalars(
                select(ArticleRow.canonical_url).where(ArticleRow.canonical_url.in_(chunk))
            )
        )
    return found


def save_poll(
    session: Session,
    *,
    source_id: int,
    result: FetchResult,
    records: Sequence[ArticleRecord],
    find_story: Callable[[ArticleRecord], int | None],
    on_saved: Callable[[SavedArticle], None] | None = None,
    now: datetime,
) -> list[SavedArticle]:
    """Persist one successful poll: entries, new articles with story, hits and alerts.

    `find_story(record)` names an existing story for a near-duplicate, or
    None to start a new one; `on_saved` sees each new article right away, so
    a near-duplicate later in the same poll can join it. The caller commits
    (see `Database.session`).
    """
    saved: list[SavedArticle] = []
    for record in records:
        article_id = session.scalar(
            select(ArticleRow.id).where(ArticleRow.canonical_url == record.canonical_url)
        )
        if article_id is None:
            article = _insert_article(session, source_id, record, find_story(record), now)
            article_id = article.id
            n_alerts = _insert_hits_and_alerts(session, article, record.hits, record.routes, now)
            item = SavedArticle(
                article.id, article.story_id, article.fingerprint, len(record.hits), n_alerts
            )
            saved.append(item)
            if on_saved is not None:
                on_saved(item)
        session.add(
            FeedEntryRow(
                source_id=source_id, key=record.entry.key, article_id=article_id, first_seen_at=now
            )
        )
        session.flush()
    record_success(session, source_id, result, now)
    return saved


def _insert_article(
    session: Session, source_id: int, record: ArticleRecord, story_id: int | None, now: datetime
) -> ArticleRow:
    if story_id is None:
        story = StoryRow(title=record.title, created_at=now)
        session.add(story)
        session.flush()
        story_id = story.id
    article = ArticleRow(
        source_id=source_id,
        url=record.url,
        canonical_url=record.canonical_url,
        title=record.title,
        summary=record.summary,
        text=record.text,
        outlet=record.outlet,
        author=record.author,
        language=record.language,
        published_at=record.published,
        first_seen_at=now,
        extraction_status=str(record.extraction),
        extraction_reason=record.extraction_reason,
        content_hash=record.content_hash,
        fingerprint=record.fingerprint,
        story_id=story_id,
    )
    session.add(article)
    session.flush()
    return article


def hit_evidence(hit: Hit) -> dict[str, object]:
    """The JSON evidence stored with a hit: every matched term and the clauses."""
    return {
        "matches": [
            {"term": m.term, "field": m.field, "start": m.start, "end": m.end} for m in hit.matches
        ],
        "clauses": list(hit.clauses),
    }


def _insert_hits_and_alerts(
    session: Session,
    article: ArticleRow,
    hits: Sequence[Hit],
    routes: Sequence[str],
    now: datetime,
) -> int:
    for hit in hits:
        session.add(
            HitRow(
                article_id=article.id,
                rule_id=hit.rule_id,
                rule_version=hit.rule_version,
                severity=hit.severity,
                score=hit.score,
                evidence=hit_evidence(hit),
                snippet=hit.snippet,
                created_at=now,
            )
        )
    if not hits:
        return 0
    created = 0
    for route in dict.fromkeys(routes):
        parent = session.scalar(
            select(AlertRow)
            .where(
                AlertRow.story_id == article.story_id,
                AlertRow.route == route,
                AlertRow.kind == "alert",
            )
            .order_by(AlertRow.id)
            .limit(1)
        )
        session.add(
            AlertRow(
                article_id=article.id,
                story_id=article.story_id,
                route=route,
                kind="reply" if parent else "alert",
                parent_id=parent.id if parent else None,
                state="pending",
                attempts=0,
                created_at=now,
            )
        )
        created += 1
    return created


def story_fingerprints(session: Session) -> list[tuple[int, int, bytes]]:
    """(article id, story id, fingerprint) of every stored article that has one."""
    rows = session.execute(
        select(ArticleRow.id, ArticleRow.story_id, ArticleRow.fingerprint).where(
            ArticleRow.fingerprint.is_not(None)
        )
    )
    return [(a, s, f) for a, s, f in rows if f is not None]
