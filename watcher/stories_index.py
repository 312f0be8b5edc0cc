"""The story index kept in step with the database.

`PersistentStories` wraps the pure `stories.StoryIndex`: it is rebuilt from
stored fingerprints at start, and articles saved in a transaction become
permanent in it only when that transaction commits.
"""

from __future__ import annotations

from watcher.model import ArticleRecord
from watcher.store.articles import SavedArticle, story_fingerprints
from watcher.store.db import Database
from watcher.stories import Fingerprint, StoryIndex


class PersistentStories:
    """Near-duplicate lookup over every stored article, plus the ones being saved."""

    def __init__(self, rows: list[tuple[int, int, bytes]]) -> None:
        self._index = StoryIndex()
        self._pending: list[SavedArticle] = []
        for article_id, story_id, data in rows:
            self._index.add(article_id, story_id, Fingerprint.from_bytes(data))

    @classmethod
    def load(cls, db: Database) -> PersistentStories:
        with db.session() as session:
            return cls(story_fingerprints(session))

    def find(self, record: ArticleRecord) -> int | None:
        """The story a new article joins, or None for a new story."""
        if record.fingerprint is None:
            return None
        return self._index.find(Fingerprint.from_bytes(record.fingerprint))

    def remember(self, saved: SavedArticle) -> None:
        """Make a just-inserted article findable (until its transaction fails)."""
        if saved.fingerprint is not None:
            self._index.add(
                saved.article_id, saved.story_id, Fingerprint.from_bytes(saved.fingerprint)
            )
            self._pending.append(saved)

    def commit_pending(self) -> None:
        """The transaction committed: its articles stay findable."""
        self._pending.clear()

    def forget_pending(self) -> None:
        """The transaction rolled back: its articles were never stored, so they go.

        `remember` sees only newly inserted ids, so removing them leaves exactly
        the committed articles (what a rebuild from the database would give).
        """
        for saved in self._pending:
            self._index.remove(saved.article_id)
        self._pending.clear()
