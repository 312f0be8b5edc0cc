"""The story index's rows: fingerprints of the articles first seen since a time.

`watcher.pipeline.story_index.PersistentStories` rebuilds its near-duplicate index
from these at start; only recent articles can attract copies (see its
window), so only they are read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, select, update
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
    ).where(_with_fingerprint(since))
    query = query.order_by(ArticleRow.first_seen_at, ArticleRow.id).execution_options(
        yield_per=_BATCH
    )
    for article_id, story_id, first_seen_at, data in session.execute(query):
        if data is not None:
            yield StoredFingerprint(article_id, story_id, first_seen_at, data)


def refresh_stale_fingerprints(
    session: Session,
    *,
    since: datetime | None,
    version: int,
    compute: Callable[[str], bytes],
) -> int:
    """Recompute fingerprints of another format than `version`; how many were rewritten.

    Only articles first seen at or after `since` (None: all), the ones the
    story index reads. A fingerprint's first byte is its format version, so
    after an upgrade that changes the format the stale rows are found by
    SQL and rewritten from the article's text; an article whose text was
    pruned loses its fingerprint (it can no longer be compared). The caller
    commits.
    """
    stale = and_(
        _with_fingerprint(since), func.substr(ArticleRow.fingerprint, 1, 1) != bytes([version])
    )
    ids = list(session.scalars(select(ArticleRow.id).where(stale).order_by(ArticleRow.id)))
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start : start + _BATCH]
        rows = session.execute(
            select(ArticleRow.id, ArticleRow.text).where(ArticleRow.id.in_(chunk))
        ).all()
        session.execute(
            update(ArticleRow),
            [
                {"id": article_id, "fingerprint": None if text is None else compute(text)}
                for article_id, text in rows
            ],
        )
    return len(ids)


def _with_fingerprint(since: datetime | None) -> ColumnElement[bool]:
    """Articles with a fingerprint, first seen at or after `since` (None: any time)."""
    condition: ColumnElement[bool] = ArticleRow.fingerprint.is_not(None)
    if since is not None:
        if since.tzinfo is None:
            raise ValueError("story rows: `since` must be an aware datetime")
        condition = and_(condition, ArticleRow.first_seen_at >= since)
    return condition
