"""Read models for `watcher backtest`: stored articles and the hits they got.

Articles are read in batches by id (keyset pagination), so a replay over a
large history never holds every text in memory at once. `since` always
filters on when we first saw an article, for articles and hits alike, so
both sides of a backtest cover the same articles.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from watcher.store.models import ArticleRow, HitRow, StoryRow

BATCH = 500


@dataclass(frozen=True)
class StoredArticle:
    """An article as stored; `text` is None once retention pruned it."""

    id: int
    story_id: int
    story_title: str
    url: str
    outlet: str
    title: str
    summary: str
    text: str | None
    first_seen_at: datetime

    @property
    def pruned(self) -> bool:
        return self.text is None


@dataclass(frozen=True)
class StoredHit:
    """A stored hit of a rule on an article, with the rule's version then."""

    article_id: int
    story_id: int
    rule_id: str
    rule_version: str


_COLUMNS = (
    ArticleRow.id,
    ArticleRow.story_id,
    ArticleRow.url,
    ArticleRow.outlet,
    ArticleRow.title,
    ArticleRow.summary,
    ArticleRow.text,
    ArticleRow.first_seen_at,
)


def count_articles(session: Session, since: datetime | None = None) -> int:
    """How many articles were first seen at or after `since` (all when None)."""
    query = select(func.count()).select_from(ArticleRow)
    if since is not None:
        query = query.where(ArticleRow.first_seen_at >= since)
    return int(session.scalar(query) or 0)


def iter_articles(
    session: Session,
    since: datetime | None = None,
    batch: int = BATCH,
    *,
    ids: Collection[int] | None = None,
) -> Iterator[StoredArticle]:
    """Stored articles in id order, first seen at or after `since`; only `ids` when given."""
    last_id = 0
    wanted = sorted(ids) if ids is not None else None
    while True:
        query = (
            select(*_COLUMNS, StoryRow.title.label("story_title"))  # columns: faster than rows
            .join(StoryRow, StoryRow.id == ArticleRow.story_id)
            .where(ArticleRow.id > last_id)
            .order_by(ArticleRow.id)
            .limit(batch)
        )
        if wanted is not None:
            first = bisect_right(wanted, last_id)
            chunk = wanted[first : first + batch]
            if not chunk:
                return
            query = query.where(ArticleRow.id.in_(chunk), ArticleRow.id <= chunk[-1])
        if since is not None:
            query = query.where(ArticleRow.first_seen_at >= since)
        rows = session.execute(query).all()
        if not rows:
            if wanted is not None and chunk[-1] < wanted[-1]:
                last_id = chunk[-1]  # none of this chunk is in the window: try the next
                continue
            return
        for row in rows:
            yield StoredArticle(
                id=row.id,
                story_id=row.story_id,
                story_title=row.story_title,
                url=row.url,
                outlet=row.outlet,
                title=row.title,
                summary=row.summary,
                text=row.text,
                first_seen_at=row.first_seen_at,
            )
        last_id = rows[-1].id if wanted is None else max(rows[-1].id, chunk[-1])


def stored_hits(session: Session, since: datetime | None = None) -> list[StoredHit]:
    """The hits of articles first seen at or after `since`, by article id."""
    query = (
        select(HitRow.article_id, ArticleRow.story_id, HitRow.rule_id, HitRow.rule_version)
        .join(ArticleRow, ArticleRow.id == HitRow.article_id)
        .order_by(HitRow.article_id, HitRow.rule_id)
    )
    if since is not None:
        query = query.where(ArticleRow.first_seen_at >= since)
    return [StoredHit(a, s, r, v) for a, s, r, v in session.execute(query)]


def hit_rule_ids(session: Session) -> set[str]:
    """Every rule id that has a stored hit, at any time."""
    return set(session.scalars(select(HitRow.rule_id).distinct()))
