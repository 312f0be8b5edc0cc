"""Retention: old article text is removed, the record of what happened is kept.

After `max_age` (default 90 days, counted from when we first saw the
article) an article's `text` becomes NULL and its `summary` empty. Kept:
the article row itself (URL, title, outlet, dates, content hash,
fingerprint, story), its hits with their evidence and snippet, its alerts,
the story, and the feed entries, which are the tombstones that stop a
pruned entry from coming back as new on the next poll.

Pruning runs in batches of short transactions, so a daily run over a large
table never holds the SQLite write lock for long; it is idempotent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from watcher.store.db import Database
from watcher.store.models import ArticleRow
from watcher.store.search_index import clear_bodies

DEFAULT_MAX_AGE = timedelta(days=90)
BATCH = 500


def prune_articles(
    db: Database, *, now: datetime, max_age: timedelta = DEFAULT_MAX_AGE, batch: int = BATCH
) -> int:
    """Remove text and summary of articles first seen before `now - max_age`; returns how many."""
    if max_age <= timedelta(0):
        raise ValueError(f"retention max_age must be positive, got {max_age}")
    cutoff = now - max_age
    pruned = 0
    last_id = 0
    while True:
        with db.session() as session:
            ids = list(
                session.scalars(
                    select(ArticleRow.id)
                    .where(
                        ArticleRow.id > last_id,
                        ArticleRow.first_seen_at < cutoff,
                        or_(ArticleRow.text.is_not(None), ArticleRow.summary != ""),
                    )
                    .order_by(ArticleRow.id)
                    .limit(batch)
                )
            )
            if not ids:
                return pruned
            session.execute(
                update(ArticleRow)
                .where(ArticleRow.id.in_(ids))
                .values(text=None, summary="")
                .execution_options(synchronize_session=False)
            )
            clear_bodies(session.connection(), ids)  # the search index keeps no pruned text
        pruned += len(ids)
        last_id = ids[-1]
