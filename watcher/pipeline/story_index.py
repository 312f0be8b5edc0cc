"""The story index kept in step with the database, over a sliding time window.

`PersistentStories` wraps the pure `stories.StoryIndex`: it is rebuilt from
the fingerprints of recently stored articles at start, and articles saved in
a transaction become permanent in it only when that transaction commits.

A copy joins a story only when the story's matching article was first seen
within `window` of now (`DEFAULT_WINDOW`, 7 days). Older articles are
evicted from the index, so its memory is bounded by the articles of one
window rather than growing with every article ever stored.

The clock comes from the caller: `load(db, now=...)` reads the window
ending at `now`; `advance(now)` (or `find(record, now)` /
`remember(saved, now)`) moves the window and evicts what fell out of it.
`remember` without `now` stamps the article with the latest time given.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import structlog

from watcher.model import ArticleRecord
from watcher.store.articles import SavedArticle
from watcher.store.db import Database
from watcher.store.story_rows import (
    StoredFingerprint,
    recent_story_fingerprints,
    refresh_stale_fingerprints,
)
from watcher.stories.cluster import FORMAT_VERSION, Fingerprint, StoryIndex, fingerprint

log = structlog.get_logger("watcher.pipeline.story_index")

DEFAULT_WINDOW = timedelta(days=7)
"""How long an article can attract copies after we first saw it.

Syndicated wire copies are republished within hours, and nearly all within
two or three days (overnight editions, weekend and regional outlets, Japanese
outlets translating and running an English wire a day later); 7 days also
covers weekly roundups that reprint a piece verbatim, with a margin for a
daemon that was down over a weekend. A copy arriving later starts a new story
and alerts again, which after a week is news rather than noise. Memory is
about 2.5 KB per article in the window: 3,000 articles a day hold ~50 MB.
"""

CATCH_UP_MARGIN = timedelta(minutes=5)
"""How far before its latest time `catch_up` reads: longer than a poll's commit takes."""
_CAUGHT_LIMIT = 100_000


class PersistentStories:
    """Near-duplicate lookup over the stored articles of the window, plus the ones being saved.

    `rows` come oldest first (as `recent_story_fingerprints` gives them);
    `window=None` keeps every article (no eviction: memory grows forever).
    """

    def __init__(
        self,
        rows: Iterable[StoredFingerprint] = (),
        *,
        window: timedelta | None = DEFAULT_WINDOW,
        now: datetime | None = None,
    ) -> None:
        if window is not None and window <= timedelta(0):
            raise ValueError(f"story window must be positive, got {window}")
        self._index = StoryIndex()
        self._window = window
        self._pending: list[SavedArticle] = []
        # (first seen as a POSIX timestamp, article id) of every indexed article, oldest
        # first: articles are saved in time order, so eviction pops from the left.
        self._seen: deque[tuple[float, int]] = deque()
        self._now: float | None = None
        self._caught: set[int] = set()  # article ids `catch_up` already looked at
        for row in rows:
            self._add(row.article_id, row.story_id, row.fingerprint, _stamp(row.first_seen_at))
        if now is not None:
            self.advance(now)

    @classmethod
    def load(
        cls,
        db: Database,
        *,
        now: datetime | None = None,
        window: timedelta | None = DEFAULT_WINDOW,
    ) -> PersistentStories:
        """The articles first seen within `window` before `now` (default: the wall clock).

        Stored fingerprints of an older format are recomputed first (and saved).
        """
        now = datetime.now(UTC) if now is None else now
        since = None  # no window, or one reaching before year 1: read everything
        if window is not None and window < now - datetime.min.replace(tzinfo=UTC):
            since = now - window
        with db.session() as session:  # after an upgrade that changed the fingerprint format
            refreshed = refresh_stale_fingerprints(
                session, since=since, version=FORMAT_VERSION, compute=_fingerprint_bytes
            )
        if refreshed:
            log.info("fingerprints_recomputed", articles=refreshed, format=FORMAT_VERSION)
        with db.session() as session:
            return cls(recent_story_fingerprints(session, since=since), window=window, now=now)

    @property
    def window(self) -> timedelta | None:
        """How long an article can attract copies; None: forever."""
        return self._window

    @property
    def index(self) -> StoryIndex:
        """The underlying index (read it, don't change it: for sizes and checks)."""
        return self._index

    def __len__(self) -> int:
        """Articles currently indexed (in the window and clusterable)."""
        return len(self._index)

    def advance(self, now: datetime) -> None:
        """Move the clock to `now` and forget articles first seen before `now - window`.

        A clock that goes back is ignored for eviction (nothing comes back).
        """
        stamp = _stamp(now)
        if self._now is None or stamp > self._now:
            self._now = stamp
        if self._window is None:
            return
        cutoff = self._now - self._window.total_seconds()
        seen = self._seen
        while seen and seen[0][0] < cutoff:
            self._index.remove(seen.popleft()[1])

    def find(self, record: ArticleRecord, now: datetime | None = None) -> int | None:
        """The story a new article joins, or None for a new story; `now` moves the window first."""
        if now is not None:
            self.advance(now)
        if record.fingerprint is None:
            return None
        return self._index.find(Fingerprint.from_bytes(record.fingerprint))

    def remember(self, saved: SavedArticle, now: datetime | None = None) -> None:
        """Make a just-inserted article findable (until its transaction fails or it ages out).

        `now` is when it was first seen (`save_poll`'s `now`); without it, the
        latest time given to this index (the wall clock if none ever was).
        """
        if now is not None:
            self.advance(now)
        if saved.fingerprint is not None:
            stamp = self._now if self._now is not None else _stamp(datetime.now(UTC))
            self._add(saved.article_id, saved.story_id, saved.fingerprint, stamp)
            self._pending.append(saved)

    def catch_up(self, db: Database, *, margin: timedelta = CATCH_UP_MARGIN) -> int:
        """Add the articles another process stored since this index last looked; how many.

        Several daemons on one database each keep an index: before a poll, each
        reads the fingerprints first seen since its latest time minus `margin`
        (a poll stamps its articles just before its commit, so a late commit is
        still read) and adds those it does not hold. A copy fetched by one
        process then joins the story another process stored. Two copies stored
        at the same moment by two processes can still start two stories.
        """
        if self._now is None:
            return 0
        since = datetime.fromtimestamp(self._now, UTC) - margin
        added = 0
        with db.session() as session:
            for row in recent_story_fingerprints(session, since=since):
                if row.article_id in self._index or row.article_id in self._caught:
                    continue
                self._caught.add(row.article_id)
                self._add(row.article_id, row.story_id, row.fingerprint, _stamp(row.first_seen_at))
                added += 1
        if len(self._caught) > _CAUGHT_LIMIT:
            self._caught.clear()  # only a memo against re-reading unclusterable articles
        return added

    def commit_pending(self) -> None:
        """The transaction committed: its articles stay findable."""
        self._pending.clear()

    def forget_pending(self) -> None:
        """The transaction rolled back: its articles were never stored, so they go.

        `remember` sees only newly inserted ids, so removing them leaves exactly
        the committed articles (what a rebuild from the database would give).
        Their eviction entries go too: the database may reuse a rolled-back id.
        """
        ids = {saved.article_id for saved in self._pending}
        for article_id in ids:
            self._index.remove(article_id)
        # Pending articles were the last ones remembered, so they sit at the right end.
        while self._seen and self._seen[-1][1] in ids:
            self._seen.pop()
        self._pending.clear()

    def _add(self, article_id: int, story_id: int, data: bytes, stamp: float) -> None:
        self._index.add(article_id, story_id, Fingerprint.from_bytes(data))
        if article_id in self._index:  # texts too short to cluster are not indexed
            self._seen.append((stamp, article_id))


def _fingerprint_bytes(text: str) -> bytes:
    return fingerprint(text).to_bytes()


def _stamp(moment: datetime) -> float:
    if moment.tzinfo is None:
        raise ValueError("story index times must be aware datetimes")
    return moment.timestamp()
