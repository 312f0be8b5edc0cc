"""Read models for the CLI: stored hits, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from watcher.store.models import AlertRow, ArticleRow, DeliveryState, HitRow, SourceRow


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
    extraction: str = "ok"  # the article's extraction status; `partial`: its text may be cut


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
            extraction=article.extraction_status,
        )
        for hit, article in session.execute(query)
    ]


@dataclass(frozen=True)
class OutboxSummary:
    """The alert outbox at a glance: counts by state and the pending rows' last errors."""

    counts: dict[str, int]
    pending_errors: tuple[str, ...]  # distinct last errors of pending alerts, newest first


def outbox_summary(session: Session) -> OutboxSummary:
    """Counts by state plus why pending alerts last failed (e.g. `invalid_auth`)."""
    rows = session.execute(select(AlertRow.state, func.count()).group_by(AlertRow.state))
    counts = {str(state): int(n) for state, n in rows}
    errors = session.scalars(
        select(AlertRow.last_error)
        .where(AlertRow.state == DeliveryState.PENDING, AlertRow.last_error.is_not(None))
        .order_by(AlertRow.id.desc())
        .limit(200)
    )
    return OutboxSummary(counts, tuple(dict.fromkeys(e for e in errors if e)))


def sources_with_ops_alerts(session: Session) -> dict[str, list[str]]:
    """Enabled sources with a raised ops alert: `{"unhealthy": [names], "empty": [names]}`."""
    rows = session.execute(
        select(SourceRow.name, SourceRow.unhealthy_at, SourceRow.empty_at)
        .where(SourceRow.enabled.is_(True))
        .order_by(SourceRow.name)
    ).all()
    return {
        "unhealthy": [name for name, unhealthy, _empty in rows if unhealthy is not None],
        "empty": [name for name, _unhealthy, empty in rows if empty is not None],
    }


@dataclass(frozen=True)
class StoredState:
    """What `/metrics` reports of the database: alerts by state, sources due now."""

    alerts_by_state: dict[str, int]
    sources_due: int


def stored_state(session: Session, now: datetime) -> StoredState:
    """Count alerts by state and the enabled sources whose next poll has come by `now`."""
    alerts = {
        str(state): int(n)
        for state, n in session.execute(
            select(AlertRow.state, func.count()).group_by(AlertRow.state)
        )
    }
    due = session.scalar(
        select(func.count())
        .select_from(SourceRow)
        .where(
            SourceRow.enabled.is_(True),
            or_(SourceRow.next_poll_at.is_(None), SourceRow.next_poll_at <= now),
        )
    )
    return StoredState(alerts, int(due or 0))
