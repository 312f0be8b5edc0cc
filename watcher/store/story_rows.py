"""The story index's rows: fingerprints of the articles first seen since a time.

`watcher.stories_index.PersistentStories` rebuilds its near-duplicate index
from these at start; only recent articles can attract copies (see its
window), so only they are read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from watcher.store.models import ArticleRow

_BATCH = 1000  # rows fetched at a time: the whole window is never held twice


@dataclass(frozen=True)
class StoredFingerprint:
    """One stored article as the story index needs it."""

    article_id: int
    story_id: int
    first_seen_at: datetime  # aware UTC
    fingerprint: bytes  # `stories.Fingerprint.to_bytes()`


def recent_story_fingerprints(
    session: Session, *, since: datetime | None
) -> Iterator[StoredFingerprint]:
    """Articles with a fingerprint first seen at or after `since` (None: all), oldest first.

    Ordered by (first seen, id), the order in which the pipeline saw them.
    Consume the iterator while `session` is open; `since` must be aware.
    """
    query = select(
        ArticleRow.id, ArticleRow.story_id, ArticleRow.first_seen_at, ArticleRow.fingerprint
    ).where(ArticleRow.fingerprint.is_not(None))
    if since is not None:
        if since.tzinfo is None:
            raise ValueError("recent_story_fingerprints: `since` must be an aware datetime")
        query = query.where(ArticleRow.first_seen_at >= since)
    query = query.order_by(ArticleRow.first_seen_at, ArticleRow.id).execution_options(
        yield_per=_BATCH
    )
    for article_id, story_id, first_seen_at, data in session.execute(query):
        if data is not None:
            yield StoredFingerprint(article_id, story_id, first_seen_at, data)
