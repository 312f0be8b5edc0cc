"""Retention: old article text goes, the record of what was seen, hit and alerted stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from watcher.store.db import Database, open_database
from watcher.store.models import AlertRow, ArticleRow, FeedEntryRow, HitRow, SourceRow, StoryRow
from watcher.store.retention import prune_articles

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def _article(db: Database, key: str, seen: datetime, *, hit: bool) -> int:
    """Store one article first seen at `seen`, its entry, and (optionally) a hit and an alert."""
    with db.session() as s:
        source = s.scalar(select(SourceRow))
        if source is None:
            source = SourceRow(
                name="s", url="http://127.0.0.1/feed", kind="rss", created_at=NOW, failures=0
            )
            s.add(source)
        story = StoryRow(title=f"story {key}", created_at=seen)
        s.add(story)
        s.flush()
        article = ArticleRow(
            source_id=source.id,
            url=f"http://127.0.0.1/{key}",
            canonical_url=f"http://127.0.0.1/{key}",
            title=f"Title {key}",
            summary=f"summary {key}",
            text=f"full text of {key}",
            first_seen_at=seen,
            extraction_status="ok",
            content_hash=f"hash-{key}",
            fingerprint=b"\x01\x02",
            story_id=story.id,
        )
        s.add(article)
        s.flush()
        s.add(FeedEntryRow(source_id=source.id, key=key, article_id=article.id, first_seen_at=seen))
        if hit:
            s.add(
                HitRow(
                    article_id=article.id,
                    rule_id="r",
                    rule_version="v1",
                    severity="high",
                    score=1.0,
                    evidence={"matches": []},
                    snippet="snip",
                    created_at=seen,
                )
            )
            s.add(
                AlertRow(
                    article_id=article.id,
                    story_id=story.id,
                    route="#a",
                    kind="alert",
                    state="sent",
                    attempts=1,
                    created_at=seen,
                )
            )
        return article.id


def test_prunes_text_and_summary_of_old_articles_only(database_url: str) -> None:
    """Articles older than the age lose text and summary; newer ones are untouched."""
    db = open_database(database_url)
    try:
        old = _article(db, "old", NOW - timedelta(days=91), hit=True)
        new = _article(db, "new", NOW - timedelta(days=89), hit=True)
        assert prune_articles(db, now=NOW, max_age=timedelta(days=90)) == 1
        with db.session() as s:
            pruned = s.get_one(ArticleRow, old)
            kept = s.get_one(ArticleRow, new)
            assert (pruned.text, pruned.summary) == (None, "")
            assert (kept.text, kept.summary) == ("full text of new", "summary new")
    finally:
        db.dispose()


def test_keeps_hits_alerts_entries_story_and_article_record(database_url: str) -> None:
    """Pruning keeps the article row, its hits, alerts, feed entry (tombstone) and story."""
    db = open_database(database_url)
    try:
        article_id = _article(db, "old", NOW - timedelta(days=200), hit=True)
        prune_articles(db, now=NOW)
        with db.session() as s:
            article = s.get_one(ArticleRow, article_id)
            assert article.title == "Title old"
            assert article.canonical_url == "http://127.0.0.1/old"
            assert article.content_hash == "hash-old"
            assert article.fingerprint == b"\x01\x02"
            assert s.get(StoryRow, article.story_id) is not None
            hits = s.scalars(select(HitRow).where(HitRow.article_id == article_id)).all()
            assert [(h.rule_id, h.snippet) for h in hits] == [("r", "snip")]
            assert s.scalar(select(func.count()).select_from(AlertRow)) == 1
            entries = s.scalars(select(FeedEntryRow.key)).all()
            assert entries == ["old"]
    finally:
        db.dispose()


def test_is_idempotent_and_works_in_batches(database_url: str) -> None:
    """Every old article is pruned across several batches; a second run prunes nothing."""
    db = open_database(database_url)
    try:
        for i in range(7):
            _article(db, f"a{i}", NOW - timedelta(days=100 + i), hit=i % 2 == 0)
        assert prune_articles(db, now=NOW, batch=3) == 7
        assert prune_articles(db, now=NOW, batch=3) == 0
        with db.session() as s:
            assert s.scalar(select(func.count()).where(ArticleRow.text.is_not(None))) == 0
    finally:
        db.dispose()


def test_rejects_a_non_positive_age(tmp_path: object) -> None:
    """A zero or negative age is a programming error, not a silent wipe of every article."""
    db = open_database(f"sqlite:///{tmp_path}/w.db")
    try:
        with pytest.raises(ValueError, match="positive"):
            prune_articles(db, now=NOW, max_age=timedelta(0))
    finally:
        db.dispose()
