"""Storage on SQLite and PostgreSQL: migrations, idempotent polls, schedule state."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from watcher.model import (
    ArticleRecord,
    ExtractionStatus,
    FeedEntry,
    FetchOutcome,
    FetchResult,
    Hit,
    SourceSpec,
    TermMatch,
)
from watcher.store.articles import known_entry_keys, save_poll
from watcher.store.db import Database, open_database
from watcher.store.models import AlertRow, ArticleRow, HitRow, SourceRow
from watcher.store.sources import due_sources, record_failure, source_statuses, sync_sources

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SPEC = SourceSpec(name="Harbour Post", url="http://127.0.0.1:9/feed.xml")


@pytest.fixture
def db(database_url: str) -> Database:
    database = open_database(database_url)
    yield database
    database.dispose()


def _source(db: Database) -> int:
    with db.session() as session:
        sync_sources(session, [SPEC], NOW)
    with db.session() as session:
        return session.scalar(select(SourceRow.id).where(SourceRow.name == SPEC.name)) or 0


def _record(n: int, *, hit: bool, story_text: str = "") -> ArticleRecord:
    hits = (
        (
            Hit(
                "aukus-japan",
                "v1",
                "high",
                2.0,
                (TermMatch("AUKUS", "text", 0, 5),),
                ("AUKUS",),
                "AUKUS and Japan",
            ),
        )
        if hit
        else ()
    )
    return ArticleRecord(
        entry=FeedEntry(
            key=f"k{n}",
            url=f"http://127.0.0.1:9/a{n}",
            title=f"Title {n}",
            summary="s",
            published=None,
        ),
        url=f"http://127.0.0.1:9/a{n}",
        canonical_url=f"http://127.0.0.1:9/a{n}",
        title=f"Title {n}",
        text=story_text or f"text {n}",
        summary="s",
        outlet="127.0.0.1",
        published=None,
        extraction=ExtractionStatus.OK,
        extraction_reason=None,
        content_hash=f"h{n}",
        hits=hits,
        routes=("#a", "#b") if hit else (),
    )


OK = FetchResult(url=SPEC.url, outcome=FetchOutcome.OK, etag='"v2"', last_modified="x")


def test_migrations_are_idempotent(database_url: str) -> None:
    """Opening the database twice applies the schema once and leaves every table in place."""
    open_database(database_url).dispose()
    database = open_database(database_url)
    tables = set(inspect(database.engine).get_table_names())
    database.dispose()
    assert {"sources", "feed_entries", "articles", "stories", "hits", "alerts"} <= tables


def test_save_poll_writes_everything_and_the_etag_together(db: Database) -> None:
    """A poll stores articles, hits, one alert per route and the new ETag in one transaction."""
    source_id = _source(db)
    with db.session() as session:
        saved = save_poll(
            session,
            source_id=source_id,
            result=OK,
            records=[_record(1, hit=True), _record(2, hit=False)],
            find_story=lambda _r: None,
            now=NOW,
        )
    assert [s.hits for s in saved] == [1, 0]
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(ArticleRow)) == 2
        assert session.scalar(select(func.count()).select_from(HitRow)) == 1
        routes = sorted(session.scalars(select(AlertRow.route)))
        assert routes == ["#a", "#b"]
        source = session.get_one(SourceRow, source_id)
        assert source.etag == '"v2"'
        assert source.failures == 0
        assert known_entry_keys(session, source_id, ["k1", "k2", "k3"]) == {"k1", "k2"}


def test_a_failed_transaction_leaves_no_trace_and_keeps_the_etag(db: Database) -> None:
    """When storing fails midway, nothing of the poll is kept, the ETag included."""
    source_id = _source(db)
    duplicate = [_record(1, hit=True), _record(1, hit=True)]  # same entry key twice
    with pytest.raises(IntegrityError, match="feed_entries"), db.session() as session:
        save_poll(
            session,
            source_id=source_id,
            result=OK,
            records=duplicate,
            find_story=lambda _r: None,
            now=NOW,
        )
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(ArticleRow)) == 0
        assert session.get_one(SourceRow, source_id).etag is None


def test_a_later_article_of_a_story_becomes_a_thread_reply(db: Database) -> None:
    """An article joining an alerted story gets a reply row whose parent is the first alert."""
    source_id = _source(db)
    with db.session() as session:
        first = save_poll(
            session,
            source_id=source_id,
            result=OK,
            records=[_record(1, hit=True)],
            find_story=lambda _r: None,
            now=NOW,
        )
    story = first[0].story_id
    with db.session() as session:
        save_poll(
            session,
            source_id=source_id,
            result=OK,
            records=[_record(2, hit=True)],
            find_story=lambda _r: story,
            now=NOW,
        )
    with db.session() as session:
        rows = session.scalars(select(AlertRow).order_by(AlertRow.id)).all()
        kinds = [(r.route, r.kind, r.parent_id is not None) for r in rows]
    assert kinds == [
        ("#a", "alert", False),
        ("#b", "alert", False),
        ("#a", "reply", True),
        ("#b", "reply", True),
    ]


def test_failures_back_off_exponentially_and_a_success_resets(db: Database) -> None:
    """Each failure doubles the wait (capped at 24 h); `--once` skips a backing-off source."""
    source_id = _source(db)
    waits = []
    for _ in range(3):
        with db.session() as session:
            record_failure(
                session,
                source_id,
                outcome=FetchOutcome.HTTP_ERROR,
                error="HTTP 500",
                retry_after=None,
                now=NOW,
            )
            row = session.get_one(SourceRow, source_id)
            assert row.next_poll_at is not None
            waits.append(row.next_poll_at - NOW)
    assert waits[0] < waits[1] < waits[2] <= timedelta(hours=24) * 1.1
    with db.session() as session:
        assert due_sources(session, [SPEC], NOW, force=True) == []
        status = source_statuses(session, NOW)[0]
        assert (status.status, status.failures, status.last_error) == ("backing_off", 3, "HTTP 500")
    with db.session() as session:
        save_poll(
            session, source_id=source_id, result=OK, records=[], find_story=lambda _r: None, now=NOW
        )
        assert source_statuses(session, NOW)[0].status == "ok"


def test_retry_after_is_honoured_without_counting_as_breakage(db: Database) -> None:
    """A 429 with Retry-After schedules the next poll after the wait and keeps failures at 0."""
    source_id = _source(db)
    with db.session() as session:
        record_failure(
            session,
            source_id,
            outcome=FetchOutcome.RATE_LIMITED,
            error="HTTP 429",
            retry_after=7200.0,
            now=NOW,
        )
        row = session.get_one(SourceRow, source_id)
        assert row.failures == 0
        assert row.next_poll_at == NOW + timedelta(hours=2)
        assert due_sources(session, [SPEC], NOW, force=True) == []
        assert source_statuses(session, NOW)[0].status == "backing_off"


def test_timestamps_come_back_as_aware_utc(db: Database) -> None:
    """Every stored timestamp is returned timezone-aware in UTC on both backends."""
    source_id = _source(db)
    with db.session() as session:
        created = session.get_one(SourceRow, source_id).created_at
    assert created == NOW
    assert created.tzinfo is not None


def test_two_processes_migrating_at_once_both_succeed(database_url: str, tmp_path: Path) -> None:
    """Two processes starting on an empty database at the same moment both end migrated."""
    script = (
        "import sys; from watcher.store.db import open_database; "
        "open_database(sys.argv[1]).dispose(); print('ok')"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, database_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    database = open_database(database_url, migrate=False)
    with database.session() as session:
        versions = session.execute(text("SELECT version_num FROM alembic_version")).all()
    database.dispose()
    assert len(versions) == 1
