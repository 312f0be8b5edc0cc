"""The alert outbox in the database: what is due, and recording each outcome.

States: pending -> sent | failed (gave up after retries) | dead (the route is
permanently broken, with the reason). Each outcome is committed on its own
right after the send, so a restart never resends what was recorded as sent;
the only duplicate window is between Slack's answer and that commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, aliased

from watcher.model import AlertMessage, Hit, TermMatch
from watcher.store.models import AlertRow, ArticleRow, HitRow


@dataclass(frozen=True)
class OutboxItem:
    """A pending alert with everything needed to build its message."""

    kind: str  # "alert" or "reply"
    parent_state: str | None  # for replies: the parent alert's state
    message: AlertMessage


def due_alerts(session: Session, now: datetime, limit: int = 100) -> list[OutboxItem]:
    """Pending alerts whose retry time has come, oldest first."""
    parent = aliased(AlertRow)
    rows = session.execute(
        select(AlertRow, ArticleRow, parent.state, parent.ts)
        .join(ArticleRow, ArticleRow.id == AlertRow.article_id)
        .outerjoin(parent, parent.id == AlertRow.parent_id)
        .where(
            AlertRow.state == "pending",
            or_(AlertRow.next_attempt_at.is_(None), AlertRow.next_attempt_at <= now),
        )
        .order_by(AlertRow.id)
        .limit(limit)
    )
    items = []
    for alert, article, parent_state, parent_ts in rows:
        hits = load_hits(session, article.id)
        items.append(
            OutboxItem(
                kind=alert.kind,
                parent_state=parent_state,
                message=AlertMessage(
                    alert_id=alert.id,
                    route=alert.route,
                    title=article.title,
                    url=article.url,
                    outlet=article.outlet,
                    published=article.published_at or article.first_seen_at,
                    hits=hits,
                    story_id=article.story_id,
                    thread_ts=parent_ts if alert.kind == "reply" else None,
                ),
            )
        )
    return items


def load_hits(session: Session, article_id: int) -> tuple[Hit, ...]:
    """An article's stored hits as `Hit` values, strongest first."""
    rows = session.scalars(
        select(HitRow).where(HitRow.article_id == article_id).order_by(HitRow.score.desc())
    )
    return tuple(
        Hit(
            rule_id=row.rule_id,
            rule_version=row.rule_version,
            severity=row.severity,
            score=row.score,
            matches=tuple(
                TermMatch(m["term"], m["field"], m["start"], m["end"])
                for m in row.evidence.get("matches", [])
            ),
            clauses=tuple(row.evidence.get("clauses", [])),
            snippet=row.snippet,
        )
        for row in rows
    )


def mark_sent(
    session: Session, alert_id: int, *, ts: str | None, channel: str | None, now: datetime
) -> None:
    row = session.get_one(AlertRow, alert_id)
    row.state, row.ts, row.channel, row.sent_at = "sent", ts, channel, now
    row.attempts += 1
    row.last_error = None


def mark_retry(
    session: Session, alert_id: int, *, error: str, at: datetime, max_attempts: int
) -> bool:
    """Count a failed attempt; returns False (and marks it failed) when retries are used up."""
    row = session.get_one(AlertRow, alert_id)
    row.attempts += 1
    row.last_error = error
    if row.attempts >= max_attempts:
        row.state = "failed"
        return False
    row.next_attempt_at = at
    return True


def mark_dead(session: Session, alert_id: int, *, error: str) -> None:
    """This message can never be delivered (e.g. Slack rejects it even degraded)."""
    row = session.get_one(AlertRow, alert_id)
    row.attempts += 1
    row.state, row.last_error = "dead", error


def mark_route_dead(session: Session, route: str, *, error: str) -> int:
    """The route itself is broken (channel_not_found ...): dead-letter all its pending alerts."""
    result = session.execute(
        update(AlertRow)
        .where(AlertRow.route == route, AlertRow.state == "pending")
        .values(state="dead", last_error=error)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def replay_dead(session: Session, route: str | None = None) -> int:
    """Put dead-lettered alerts back in the queue (after the route was fixed)."""
    query = update(AlertRow).where(AlertRow.state.in_(("dead", "failed")))
    if route is not None:
        query = query.where(AlertRow.route == route)
    result = session.execute(query.values(state="pending", next_attempt_at=None, attempts=0))
    return int(getattr(result, "rowcount", 0) or 0)


def promote_orphan_reply(session: Session, alert_id: int) -> None:
    """A reply whose parent can never be sent becomes a top-level alert."""
    row = session.get_one(AlertRow, alert_id)
    row.kind, row.parent_id = "alert", None


def alert_counts(session: Session) -> dict[str, int]:
    """Number of alerts by state."""
    return dict(
        session.execute(select(AlertRow.state, func.count()).group_by(AlertRow.state)).all()
    )


def next_due(session: Session) -> datetime | None:
    """When the earliest pending alert may be tried again (None: nothing pending)."""
    return session.scalar(
        select(func.min(func.coalesce(AlertRow.next_attempt_at, AlertRow.created_at))).where(
            AlertRow.state == "pending"
        )
    )


def backoff(attempts: int, base: float = 5.0, cap: float = 900.0) -> timedelta:
    """Exponential retry delay for transient delivery failures."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts)))
