"""The story index's time window: only recent articles attract copies, and memory stays bounded."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from watcher.model import (
    ArticleRecord,
    ExtractionStatus,
    FeedEntry,
    FetchOutcome,
    FetchResult,
    SourceSpec,
)
from watcher.pipeline.story_index import DEFAULT_WINDOW, PersistentStories
from watcher.store.articles import SavedArticle, save_poll
from watcher.store.db import Database, open_database
from watcher.store.models import ArticleRow, SourceRow
from watcher.store.sources import sync_sources
from watcher.store.story_rows import refresh_stale_fingerprints
from watcher.stories.cluster import (
    FORMAT_VERSION,
    SAMPLE_LIMIT,
    Fingerprint,
    StoryIndex,
    fingerprint,
)
from watcher.stories.shingles import NUM_PERM

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
VOCABULARY = [f"word{n}" for n in range(400)]
SPEC = SourceSpec(name="Harbour Post", url="http://127.0.0.1:9/feed.xml")
OK = FetchResult(url=SPEC.url, outcome=FetchOutcome.OK, etag='"v1"', last_modified=None)


def article_text(seed: int) -> str:
    """A clusterable text that shares no 5-word sequence with another seed's."""
    return " ".join(random.Random(seed).sample(VOCABULARY, 120))


def fp_bytes(seed: int) -> bytes:
    return fingerprint(article_text(seed)).to_bytes()


def synthetic(seed: int) -> bytes:
    """A clusterable fingerprint with random MinHash values: fast, and unlike any other."""
    rng = np.random.default_rng(seed)
    minhash = rng.integers(0, 2**32, NUM_PERM, dtype=np.uint64).astype("<u4")
    sample = np.unique(rng.integers(0, SAMPLE_LIMIT, 100, dtype=np.uint64)).astype("<u4")
    return Fingerprint(5, 400, minhash.tobytes(), sample.tobytes(), SAMPLE_LIMIT).to_bytes()


def saved(article_id: int, story_id: int, data: bytes | None) -> SavedArticle:
    return SavedArticle(article_id, story_id, data, hits=0, alerts=0)


def copy_of(seed: int) -> ArticleRecord:
    """A new article whose text is a syndicated copy of `article_text(seed)`."""
    return record(1000 + seed, text=article_text(seed))


def record(n: int, *, text: str) -> ArticleRecord:
    url = f"http://127.0.0.1:9/a{n}"
    return ArticleRecord(
        entry=FeedEntry(key=f"k{n}", url=url, title=f"Title {n}", summary="s", published=None),
        url=url,
        canonical_url=url,
        title=f"Title {n}",
        text=text,
        summary="s",
        outlet="127.0.0.1",
        published=None,
        extraction=ExtractionStatus.OK,
        extraction_reason=None,
        content_hash=f"h{n}",
        fingerprint=fingerprint(text).to_bytes(),
    )


def record_with(n: int, data: bytes) -> ArticleRecord:
    """A new article with the given fingerprint (its text is not needed)."""
    return ArticleRecord(
        entry=FeedEntry(key=f"k{n}", url="u", title="t", summary="s", published=None),
        url="u",
        canonical_url="u",
        title="t",
        text="",
        summary="s",
        outlet="o",
        published=None,
        extraction=ExtractionStatus.OK,
        extraction_reason=None,
        content_hash="h",
        fingerprint=data,
    )


def test_an_article_older_than_the_window_attracts_no_copies_and_a_recent_one_does() -> None:
    """A copy joins an article first seen within the window, never one seen before it."""
    stories = PersistentStories(window=timedelta(days=1), now=T0)
    stories.remember(saved(1, 10, fp_bytes(1)), T0)
    stories.remember(saved(2, 20, fp_bytes(2)), T0 + timedelta(hours=23))
    stories.commit_pending()
    assert stories.find(copy_of(1), T0 + timedelta(hours=23, minutes=59)) == 10
    assert stories.find(copy_of(1), T0 + timedelta(hours=25)) is None
    assert stories.find(copy_of(2), T0 + timedelta(hours=25)) == 20
    assert stories.find(copy_of(2), T0 + timedelta(hours=47)) == 20  # exactly a window old
    assert stories.find(copy_of(2), T0 + timedelta(hours=47, seconds=1)) is None
    assert len(stories) == 0
    assert stories.index.band_rows == 0


def test_remember_without_a_time_uses_the_latest_time_given() -> None:
    """The pipeline's `remember(saved)` stamps the article with the clock of `advance`."""
    stories = PersistentStories(window=timedelta(hours=1), now=T0)
    stories.advance(T0 + timedelta(minutes=30))
    stories.remember(saved(1, 10, fp_bytes(1)))
    stories.commit_pending()
    stories.advance(T0 + timedelta(minutes=89))
    assert stories.find(copy_of(1)) == 10
    stories.advance(T0 + timedelta(minutes=91))
    assert stories.find(copy_of(1)) is None


def test_the_default_window_is_seven_days() -> None:
    """Without a window argument an article attracts copies for 7 days."""
    assert timedelta(days=7) == DEFAULT_WINDOW
    stories = PersistentStories(now=T0)
    stories.remember(saved(1, 10, fp_bytes(1)), T0)
    assert stories.find(copy_of(1), T0 + timedelta(days=6, hours=23)) == 10
    assert stories.find(copy_of(1), T0 + timedelta(days=7, minutes=1)) is None


def test_eviction_keeps_the_index_bounded_over_a_long_stream() -> None:
    """One article a minute for 3,000 minutes with a 1-hour window never indexes more than 61."""
    window = timedelta(hours=1)
    stories = PersistentStories(window=window, now=T0)
    unbounded = PersistentStories(window=None, now=T0)
    most = 0
    for i in range(3000):
        now = T0 + timedelta(minutes=i)
        data = synthetic(i)
        for index in (stories, unbounded):
            assert index.find(record_with(i, data), now) is None
            index.remember(saved(i + 1, i + 1, data), now)
            index.commit_pending()
        most = max(most, len(stories))
        assert stories.index.band_rows == len(stories)
        assert stories.index.band_capacity <= 256
    assert most == 61  # the window's 60 minutes, both ends included
    assert len(stories) == 61
    assert len(unbounded) == unbounded.index.band_rows == 3000
    assert unbounded.index.band_capacity >= 3000


def test_remove_gives_the_band_table_back() -> None:
    """Removing every article empties the entries and shrinks the band table to its minimum."""
    index = StoryIndex()
    for i in range(1000):
        index.add(i, i, Fingerprint.from_bytes(synthetic(i)))
    assert index.band_rows == 1000
    assert index.band_capacity == 1024
    for i in range(0, 1000, 2):
        index.remove(i)
    assert index.band_rows == len(index) == 500
    for i in range(1, 1000, 2):
        assert index.find(Fingerprint.from_bytes(synthetic(i))) == i
        index.remove(i)
    assert len(index) == index.band_rows == 0
    assert index.band_capacity == 64
    index.add(7, 70, Fingerprint.from_bytes(synthetic(7)))
    assert index.find(Fingerprint.from_bytes(synthetic(7))) == 70


def test_a_rollback_undoes_exactly_the_pending_articles() -> None:
    """`forget_pending` removes the rolled-back articles and their eviction entries, no others."""
    stories = PersistentStories(window=timedelta(hours=1), now=T0)
    stories.remember(saved(1, 10, fp_bytes(1)), T0)
    stories.remember(saved(2, 20, fp_bytes(2)), T0)
    stories.commit_pending()
    stories.remember(saved(3, 30, fp_bytes(3)), T0 + timedelta(minutes=10))
    stories.remember(saved(4, 40, fp_bytes(4)), T0 + timedelta(minutes=10))
    assert stories.find(copy_of(3)) == 30
    stories.forget_pending()
    assert [stories.find(copy_of(n)) for n in (1, 2, 3, 4)] == [10, 20, None, None]
    assert len(stories) == 2
    # The database reuses the rolled-back id 3 for a later article: it lives a full window.
    stories.remember(saved(3, 50, fp_bytes(5)), T0 + timedelta(minutes=50))
    stories.commit_pending()
    stories.advance(T0 + timedelta(minutes=75))
    assert [stories.find(copy_of(n)) for n in (1, 2, 5)] == [None, None, 50]
    assert len(stories) == 1


def test_texts_too_short_to_cluster_take_no_room() -> None:
    """Headline-only articles are neither indexed nor tracked for eviction."""
    stories = PersistentStories(window=timedelta(hours=1), now=T0)
    stories.remember(saved(1, 10, fingerprint("a headline only").to_bytes()), T0)
    stories.remember(saved(2, 20, None), T0)
    stories.commit_pending()
    assert len(stories) == 0
    stories.advance(T0 + timedelta(hours=2))  # nothing to evict, nothing breaks


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"window": timedelta(0)}, "positive"), ({"now": datetime(2026, 1, 1)}, "aware")],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    """A window that is not positive or a naive time raises ValueError."""
    with pytest.raises(ValueError, match=message):
        PersistentStories(**kwargs)  # type: ignore[arg-type]


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    yield database
    database.dispose()


def store(db: Database, n: int, when: datetime) -> SavedArticle:
    """Save article `n` (text `article_text(n)`) as first seen at `when`, in its own story."""
    with db.session() as session:
        source_id = session.scalar(select(SourceRow.id).where(SourceRow.name == SPEC.name))
        assert source_id is not None
        [item] = save_poll(
            session,
            source_id=source_id,
            result=OK,
            records=[record(n, text=article_text(n))],
            find_story=lambda _: None,
            now=when,
        )
    return item


def test_loading_reads_only_the_articles_of_the_window(db: Database) -> None:
    """At start only articles first seen within the window are loaded, and they age out later."""
    with db.session() as session:
        sync_sources(session, [SPEC], T0)
    old = store(db, 1, T0 - timedelta(days=10))
    week = store(db, 2, T0 - timedelta(days=3))
    hour = store(db, 3, T0 - timedelta(hours=1))
    stories = PersistentStories.load(db, now=T0, window=timedelta(days=7))
    assert len(stories) == 2
    assert old.article_id not in stories.index
    assert [stories.find(copy_of(n)) for n in (1, 2, 3)] == [None, week.story_id, hour.story_id]
    stories.advance(T0 + timedelta(days=5))
    assert [stories.find(copy_of(n)) for n in (2, 3)] == [None, hour.story_id]
    everything = PersistentStories.load(db, now=T0, window=None)
    assert len(everything) == 3
    assert everything.find(copy_of(1)) == old.story_id


def test_fingerprints_of_an_older_format_are_recomputed_when_the_index_loads(
    db: Database,
) -> None:
    """After an upgrade that changed the fingerprint format, stored articles still attract copies.

    Articles in the window get their fingerprint recomputed from their text and saved; older
    ones are left alone; an article whose text was pruned loses its fingerprint.
    """
    with db.session() as session:
        sync_sources(session, [SPEC], T0)
    old = store(db, 1, T0 - timedelta(days=10))
    recent = store(db, 2, T0 - timedelta(days=1))
    pruned = store(db, 3, T0 - timedelta(hours=2))
    current = store(db, 4, T0 - timedelta(hours=1))
    earlier_format = b"\x01" + b"\x00" * 600  # not readable by this version
    with db.session() as session:
        for item in (old, recent, pruned):
            row = session.get(ArticleRow, item.article_id)
            assert row is not None
            row.fingerprint = earlier_format
            if item is pruned:
                row.text = None

    stories = PersistentStories.load(db, now=T0, window=timedelta(days=7))

    assert [stories.find(copy_of(n)) for n in (2, 3, 4)] == [
        recent.story_id,
        None,
        current.story_id,
    ]
    with db.session() as session:
        stored = {
            item.article_id: session.scalar(
                select(ArticleRow.fingerprint).where(ArticleRow.id == item.article_id)
            )
            for item in (old, recent, pruned, current)
        }
    assert stored[recent.article_id] == fp_bytes(2)
    assert stored[current.article_id] == fp_bytes(4)
    assert stored[pruned.article_id] is None
    assert stored[old.article_id] == earlier_format  # outside the window: never read
    with db.session() as session:
        again = refresh_stale_fingerprints(
            session, since=T0 - timedelta(days=7), version=FORMAT_VERSION, compute=lambda t: b""
        )
    assert again == 0  # a second start finds nothing to do


def test_catch_up_adds_what_another_process_stored(db: Database) -> None:
    """Two daemons' indexes on one database: a copy joins the story the other one stored."""
    with db.session() as session:
        sync_sources(session, [SPEC], T0)
    mine = PersistentStories.load(db, now=T0)
    other = store(db, 7, T0 + timedelta(seconds=5))  # saved by another process
    assert mine.find(copy_of(7)) is None
    mine.advance(T0 + timedelta(seconds=10))
    assert mine.catch_up(db) == 1
    assert mine.find(copy_of(7)) == other.story_id
    assert mine.catch_up(db) == 0  # nothing new: nothing read twice
    fresh = PersistentStories.load(db, now=T0 + timedelta(seconds=10))
    assert fresh.catch_up(db) == 0  # what the load read is not added again
