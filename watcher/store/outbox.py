"""The alert outbox in the database: each route's queue, claims and outcomes.

Tables and states (all `DeliveryState`: `pending -> sent | failed | dead`):

    alerts          one row per (article, route): an alert or a thread reply
    route_messages  a route's digests, burst and ops notices (`watcher.store.route_messages`)

A pending alert is *queued* (sent on its own) or *held* (`held_at` set: it
waits for its route's next digest; `digest_id` once a digest took it).

Claims: before a send the dispatcher claims the row in its own short
transaction: `attempts + 1` and `next_attempt_at = now + lease`, only while
the row is pending and due (a conditional UPDATE, so two dispatchers never
send the same row). The outcome is committed right after the send, so a
restart never resends what was recorded as sent. A crash between claim and
outcome leaves the row claimed; when the lease runs out it is due again. A
row whose `next_attempt_at` is in the future (a claim, a backoff, a 429)
holds back the rest of its route: order per channel is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from watcher.model import AlertMessage, Hit, OpsNotice, TermMatch
from watcher.store.models import (
    AlertKind,
    AlertRow,
    ArticleRow,
    DeliveryState,
    HitRow,
    RouteMessageKind,
    RouteMessageRow,
)
from watcher.store.route_messages import (
    HeldRoute,
    RouteMessage,
    budget_usage,
    create_digest,
    held_routes,
    mark_message_sent,
    ops_notice,
    queue_ops_notice,
    rowcount,
    start_burst,
    to_route_message,
)

# Route messages live in `watcher.store.route_messages`; their names are kept here too,
# so the dispatcher sees one outbox.
__all__ = [
    "AlertKind", "DeliveryState", "HeldRoute", "OpsNotice", "OutboxItem", "ParentState",
    "RouteMessage", "RouteMessageKind", "RouteQueue", "Table",
    "alert_counts", "attempts", "backoff", "budget_usage", "claim", "create_digest",
    "digest_messages", "held_routes", "hold", "load_hits", "mark_dead", "mark_failed",
    "mark_message_sent", "mark_retry", "mark_route_dead", "mark_sent", "ops_notice",
    "parent_state", "promote_orphan_reply", "queue_ops_notice", "release", "replay_dead",
    "route_queues", "start_burst",
]  # fmt: skip

Table = Literal["alerts", "route_messages"]  # what a claim or an outcome is about
_MODELS: dict[str, type[AlertRow] | type[RouteMessageRow]] = {
    "alerts": AlertRow,
    "route_messages": RouteMessageRow,
}


@dataclass(frozen=True)
class OutboxItem:
    """A queued alert with everything needed to build its message."""

    kind: AlertKind
    parent_state: DeliveryState | None  # for replies: the parent alert's state
    message: AlertMessage
    parent_id: int | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True)
class RouteQueue:
    """What a route has to send, oldest first: its pending messages, then queued alerts."""

    route: str
    messages: tuple[RouteMessage, ...]
    alerts: tuple[OutboxItem, ...]

    def blocked_until(self, now: datetime) -> datetime | None:
        """The latest future retry time or claim on this route (None: it may send now)."""
        times = [m.next_attempt_at for m in self.messages] + [
            a.next_attempt_at for a in self.alerts
        ]
        future = [t for t in times if t is not None and t > now]
        return max(future) if future else None


@dataclass(frozen=True)
class ParentState:
    """A reply's parent as it is now: its state, Slack ts and whether it waits for a digest."""

    state: DeliveryState
    ts: str | None
    held: bool


# --- reading the queue -------------------------------------------------------------------


def route_queues(session: Session, per_route: int = 50) -> list[RouteQueue]:
    """Every route with something pending to send on its own, routes sorted by name."""
    pending_alert = (AlertRow.state == DeliveryState.PENDING, AlertRow.held_at.is_(None))
    routes = set(session.scalars(select(AlertRow.route).where(*pending_alert).distinct()))
    routes.update(
        session.scalars(
            select(RouteMessageRow.route)
            .where(RouteMessageRow.state == DeliveryState.PENDING)
            .distinct()
        )
    )
    queues = []
    for route in sorted(routes):
        messages = session.scalars(
            select(RouteMessageRow)
            .where(RouteMessageRow.route == route, RouteMessageRow.state == DeliveryState.PENDING)
            .order_by(RouteMessageRow.id)
        )
        alerts = _items(
            session,
            _item_query().where(AlertRow.route == route, *pending_alert).limit(per_route),
        )
        queues.append(RouteQueue(route, tuple(to_route_message(m) for m in messages), alerts))
    return queues


_ItemQuery = Select[AlertRow, ArticleRow, DeliveryState | None, str | None]


def _item_query() -> _ItemQuery:
    parent = aliased(AlertRow)
    return (
        select(AlertRow, ArticleRow, parent.state, parent.ts)
        .join(ArticleRow, ArticleRow.id == AlertRow.article_id)
        .outerjoin(parent, parent.id == AlertRow.parent_id)
        .order_by(AlertRow.id)
    )


def _items(session: Session, query: _ItemQuery) -> tuple[OutboxItem, ...]:
    items = []
    for alert, article, parent_state, parent_ts in session.execute(query):
        items.append(
            OutboxItem(
                kind=alert.kind,
                parent_state=parent_state,
                parent_id=alert.parent_id,
                next_attempt_at=alert.next_attempt_at,
                message=AlertMessage(
                    alert_id=alert.id,
                    route=alert.route,
                    title=article.title,
                    url=article.url,
                    outlet=article.outlet,
                    published=article.published_at or article.first_seen_at,
                    hits=load_hits(session, article.id),
                    story_id=article.story_id,
                    thread_ts=parent_ts if alert.kind is AlertKind.REPLY else None,
                    partial=article.extraction_status == "partial",
                ),
            )
        )
    return tuple(items)


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


def parent_state(session: Session, parent_id: int) -> ParentState:
    """A reply's parent as it is now (it may have been sent earlier in the same pass)."""
    row = session.get_one(AlertRow, parent_id)
    return ParentState(row.state, row.ts, row.held_at is not None)


# --- claims and outcomes (alerts and route messages alike) -------------------------------


def claim(session: Session, table: Table, row_id: int, *, now: datetime, lease: timedelta) -> bool:
    """Take a due pending row for one send; False when another dispatcher has it or it is done."""
    model = _MODELS[table]
    result = session.execute(
        update(model)
        .where(
            model.id == row_id,
            model.state == DeliveryState.PENDING,
            or_(model.next_attempt_at.is_(None), model.next_attempt_at <= now),
        )
        .values(attempts=model.attempts + 1, next_attempt_at=now + lease)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def attempts(session: Session, table: Table, row_id: int) -> int:
    """Attempts recorded so far (the current claim included)."""
    return _row(session, table, row_id).attempts


def release(
    session: Session, table: Table, row_id: int, *, error: str, at: datetime | None = None
) -> None:
    """Undo a claim without counting the attempt (auth stop, 429): due again at `at`."""
    row = _row(session, table, row_id)
    row.attempts = max(0, row.attempts - 1)
    row.next_attempt_at, row.last_error = at, error


def mark_sent(
    session: Session, alert_id: int, *, ts: str | None, channel: str | None, now: datetime
) -> None:
    """The alert was posted (its `ts` is the thread parent for the story's later replies)."""
    row = session.get_one(AlertRow, alert_id)
    row.state, row.ts, row.channel, row.sent_at = DeliveryState.SENT, ts, channel, now
    row.next_attempt_at, row.last_error = None, None


def mark_retry(
    session: Session,
    table: Table,
    row_id: int,
    *,
    error: str,
    at: datetime,
    max_attempts: int,
) -> bool:
    """A transient failure: due again at `at`; False (and `failed`) when attempts are used up."""
    row = _row(session, table, row_id)
    row.last_error = error
    if row.attempts >= max_attempts:
        error = f"gave up after {row.attempts} attempts: {error}"
        _finish(session, table, row_id, DeliveryState.FAILED, error)
        return False
    row.next_attempt_at = at
    return True


def mark_dead(session: Session, table: Table, row_id: int, *, error: str) -> None:
    """This message can never be delivered (Slack refused it, even degraded): dead letter."""
    _finish(session, table, row_id, DeliveryState.DEAD, error)


def mark_failed(session: Session, table: Table, row_id: int, *, error: str) -> None:
    """Give up on this message (attempts used up): `failed`, kept for replay."""
    _finish(session, table, row_id, DeliveryState.FAILED, error)


def _finish(session: Session, table: Table, row_id: int, state: DeliveryState, error: str) -> None:
    row = _row(session, table, row_id)
    row.state, row.last_error, row.next_attempt_at = state, error, None
    if table == "route_messages":  # a digest's alerts share its fate (and can be replayed)
        session.execute(
            update(AlertRow)
            .where(AlertRow.digest_id == row_id, AlertRow.state == DeliveryState.PENDING)
            .values(state=state, last_error=error)
        )


def mark_route_dead(session: Session, route: str, *, error: str) -> int:
    """The route is broken (channel_not_found ...): dead-letter all it has pending."""
    session.execute(
        update(RouteMessageRow)
        .where(RouteMessageRow.route == route, RouteMessageRow.state == DeliveryState.PENDING)
        .values(state=DeliveryState.DEAD, last_error=error, next_attempt_at=None)
    )
    return rowcount(
        session.execute(
            update(AlertRow)
            .where(AlertRow.route == route, AlertRow.state == DeliveryState.PENDING)
            .values(state=DeliveryState.DEAD, last_error=error, next_attempt_at=None)
        )
    )


def replay_dead(session: Session, route: str | None = None) -> int:
    """Put dead-lettered and failed alerts back in the queue (after the route was fixed).

    They are decided afresh (digest or instant, budget), so a replayed
    digest's alerts go into the route's next digest.
    """
    query = update(AlertRow).where(AlertRow.state.in_((DeliveryState.DEAD, DeliveryState.FAILED)))
    if route is not None:
        query = query.where(AlertRow.route == route)
    values = {"state": DeliveryState.PENDING, "next_attempt_at": None, "attempts": 0}
    result = session.execute(query.values(**values, held_at=None, digest_id=None))
    return rowcount(result)


def promote_orphan_reply(session: Session, alert_id: int) -> None:
    """A reply whose parent can never be sent becomes the story's top-level alert.

    The story's other pending replies to the same dead parent follow the new one.
    """
    row = session.get_one(AlertRow, alert_id)
    old_parent = row.parent_id
    row.kind, row.parent_id = AlertKind.ALERT, None
    if old_parent is not None:
        session.execute(
            update(AlertRow)
            .where(
                AlertRow.parent_id == old_parent,
                AlertRow.state == DeliveryState.PENDING,
                AlertRow.id != alert_id,
            )
            .values(parent_id=alert_id)
        )


# --- digests ---------------------------------------------------------------------------


def hold(session: Session, alert_id: int, *, now: datetime) -> None:
    """Divert a queued alert into its route's next digest."""
    row = session.get_one(AlertRow, alert_id)
    row.held_at, row.next_attempt_at = now, None


def digest_messages(session: Session, digest_id: int) -> list[AlertMessage]:
    """The alerts a digest lists."""
    items = _items(session, _item_query().where(AlertRow.digest_id == digest_id))
    return [item.message for item in items]


# --- summaries ---------------------------------------------------------------------------


def alert_counts(session: Session) -> dict[str, int]:
    """Number of alerts by state."""
    return dict(
        session.execute(select(AlertRow.state, func.count()).group_by(AlertRow.state)).all()
    )


def backoff(attempts: int, base: float = 5.0, cap: float = 900.0) -> timedelta:
    """Retry delay after the `attempts`-th failed attempt: 5 s, 10 s, 20 s ... 15 min."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


def _row(session: Session, table: Table, row_id: int) -> AlertRow | RouteMessageRow:
    if table == "alerts":
        return session.get_one(AlertRow, row_id)
    return session.get_one(RouteMessageRow, row_id)
