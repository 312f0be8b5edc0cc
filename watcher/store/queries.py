"""Read models for the CLI: stored hits, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from watcher.store.models import ArticleRow, HitRow


@dataclass(frozen=True)
class HitView:
    """A row of `watcher hits`."""

    id: int
    rule_id: str
    severity: str
    score: float
    snippet: str
    created_at: datetime
    article_id: int
    story_id: int
    url: str
    title: str
    outlet: str
    published_at: datetime | None


def list_hits(
    session: Session,
    *,
    rule: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> list[HitView]:
    """Stored hits, newest first, optionally by rule, age and count."""
    query = select(HitRow, ArticleRow).join(ArticleRow, ArticleRow.id == HitRow.article_id)
    if rule:
        query = query.where(HitRow.rule_id == rule)
    if since is not None:
        query = query.where(HitRow.created_at >= since)
    query = query.order_by(HitRow.created_at.desc(), HitRow.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return [
        HitView(
            id=hit.id,
            rule_id=hit.rule_id,
            severity=hit.severity,
            score=hit.score,
            snippet=hit.snippet,
            created_at=hit.created_at,
            article_id=article.id,
            story_id=article.story_id,
            url=article.url,
            title=article.title,
            outlet=article.outlet,
            published_at=article.published_at,
        )
        for hit, article in session.execute(query)
    ]
