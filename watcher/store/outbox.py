"""The alert outbox in the database: each route's queue, claims, outcomes, digests, bursts.

Tables and states (all `pending -> sent | failed | dead`):

    alerts          one row per (article, route): an alert or a thread reply
    route_messages  a route's digests and burst notices (see `RouteMessageRow`)

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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from watcher.model import AlertMessage, Hit, TermMatch
from watcher.store.models import AlertRow, ArticleRow, HitRow, RouteMessageRow

Table = Literal["alerts", "route_messages"]  # what a claim or an outcome is about
_MODELS: dict[str, type[AlertRow] | type[RouteMessageRow]] = {
    "alerts": AlertRow,
    "route_messages": RouteMessageRow,
}


@dataclass(frozen=True)
class OutboxItem:
    """A queued alert with everything needed to build its message."""

    kind: str  # "alert" or "reply"
    parent_state: str | None  # for replies: the parent alert's state
    message: AlertMessage
    parent_id: int | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True)
class RouteMessage:
    """A pending digest or burst notice of a route."""

    id: int
    route: str
    kind: str  # "digest" | "burst"
    rule_id: str | None
    count: int
    since: datetime | None
    until: datetime | None
    next_attempt_at: datetime | None


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

    state: str
    ts: str | None
    held: bool


@dataclass(frozen=True)
class HeldRoute:
    """A route with alerts waiting for its next digest."""

    route: str
    oldest_held_at: datetime
    held: int
    last_digest_at: datetime | None


# --- reading the queue -------------------------------------------------------------------


def route_queues(session: Session, per_route: int = 50) -> list[RouteQueue]:
    """Every route with something pending to send on its own, routes sorted by name."""
    pending_alert = (AlertRow.state == "pending", AlertRow.held_at.is_(None))
    routes = set(session.scalars(select(AlertRow.route).where(*pending_alert).distinct()))
    routes.update(
        session.scalars(
            select(RouteMessageRow.route).where(RouteMessageRow.state == "pending").distinct()
        )
    )
    queues = []
    for route in sorted(routes):
        messages = session.scalars(
            select(RouteMessageRow)
            .where(RouteMessageRow.route == route, RouteMessageRow.state == "pending")
            .order_by(RouteMessageRow.id)
        )
        alerts = _items(
            session,
            _item_query().where(AlertRow.route == route, *pending_alert).limit(per_route),
        )
        queues.append(RouteQueue(route, tuple(_route_message(m) for m in messages), alerts))
    return queues


_ItemQuery = Select[AlertRow, ArticleRow, str, str | None]


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
                    thread_ts=parent_ts if alert.kind == "reply" else None,
                ),
            )
        )
    return tuple(items)


def _route_message(row: RouteMessageRow) -> RouteMessage:
    return RouteMessage(
        row.id, row.route, row.kind, row.rule_id, row.count, row.since, row.until,
        row.next_attempt_at,
    )  # fmt: skip


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
            model.state == "pending",
            or_(model.next_attempt_at.is_(None), model.next_attempt_at <= now),
        )
        .values(attempts=model.attempts + 1, next_attempt_at=now + lease)
        .execution_options(synchronize_session=False)
    )
    return _count(result) == 1


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
    row.state, row.ts, row.channel, row.sent_at = "sent", ts, channel, now
    row.next_attempt_at, row.last_error = None, None


def mark_message_sent(
    session: Session, message_id: int, *, ts: str | None, channel: str | None, now: datetime
) -> int:
    """A digest or notice was posted; a digest's alerts are sent with its `ts`. Returns them."""
    row = session.get_one(RouteMessageRow, message_id)
    row.state, row.ts, row.channel, row.sent_at = "sent", ts, channel, now
    row.next_attempt_at, row.last_error = None, None
    return _count(
        session.execute(
            update(AlertRow)
            .where(AlertRow.digest_id == message_id, AlertRow.state == "pending")
            .values(state="sent", ts=ts, channel=channel, sent_at=now, last_error=None)
        )
    )


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
        _finish(session, table, row_id, "failed", f"gave up after {row.attempts} attempts: {error}")
        return False
    row.next_attempt_at = at
    return True


def mark_dead(session: Session, table: Table, row_id: int, *, error: str) -> None:
    """This message can never be delivered (Slack refused it, even degraded): dead letter."""
    _finish(session, table, row_id, "dead", error)


def mark_failed(session: Session, table: Table, row_id: int, *, error: str) -> None:
    """Give up on this message (attempts used up): `failed`, kept for replay."""
    _finish(session, table, row_id, "failed", error)


def _finish(session: Session, table: Table, row_id: int, state: str, error: str) -> None:
    row = _row(session, table, row_id)
    row.state, row.last_error, row.next_attempt_at = state, error, None
    if table == "route_messages":  # a digest's alerts share its fate (and can be replayed)
        session.execute(
            update(AlertRow)
            .where(AlertRow.digest_id == row_id, AlertRow.state == "pending")
            .values(state=state, last_error=error)
        )


def mark_route_dead(session: Session, route: str, *, error: str) -> int:
    """The route is broken (channel_not_found ...): dead-letter all it has pending."""
    session.execute(
        update(RouteMessageRow)
        .where(RouteMessageRow.route == route, RouteMessageRow.state == "pending")
        .values(state="dead", last_error=error, next_attempt_at=None)
    )
    return _count(
        session.execute(
            update(AlertRow)
            .where(AlertRow.route == route, AlertRow.state == "pending")
            .values(state="dead", last_error=error, next_attempt_at=None)
        )
    )


def replay_dead(session: Session, route: str | None = None) -> int:
    """Put dead-lettered and failed alerts back in the queue (after the route was fixed).

    They are decided afresh (digest or instant, budget), so a replayed
    digest's alerts go into the route's next digest.
    """
    query = update(AlertRow).where(AlertRow.state.in_(("dead", "failed")))
    if route is not None:
        query = query.where(AlertRow.route == route)
    values = {"state": "pending", "next_attempt_at": None, "attempts": 0}
    result = session.execute(query.values(**values, held_at=None, digest_id=None))
    return _count(result)


def promote_orphan_reply(session: Session, alert_id: int) -> None:
    """A reply whose parent can never be sent becomes the story's top-level alert.

    The story's other pending replies to the same dead parent follow the new one.
    """
    row = session.get_one(AlertRow, alert_id)
    old_parent = row.parent_id
    row.kind, row.parent_id = "alert", None
    if old_parent is not None:
        session.execute(
            update(AlertRow)
            .where(
                AlertRow.parent_id == old_parent,
                AlertRow.state == "pending",
                AlertRow.id != alert_id,
            )
            .values(parent_id=alert_id)
        )


# --- digests and the alert budget --------------------------------------------------------


def hold(session: Session, alert_id: int, *, now: datetime) -> None:
    """Divert a queued alert into its route's next digest."""
    row = session.get_one(AlertRow, alert_id)
    row.held_at, row.next_attempt_at = now, None


def held_routes(session: Session) -> list[HeldRoute]:
    """Routes with held alerts not yet in a digest, with what decides when it is due."""
    rows = session.execute(
        select(AlertRow.route, func.min(AlertRow.held_at), func.count())
        .where(
            AlertRow.state == "pending",
            AlertRow.held_at.is_not(None),
            AlertRow.digest_id.is_(None),
        )
        .group_by(AlertRow.route)
        .order_by(AlertRow.route)
    ).all()
    out = []
    for route, oldest, count in rows:
        if oldest is None:  # not possible: held_at is not null in every counted row
            continue
        last = session.scalar(
            select(func.max(RouteMessageRow.created_at)).where(
                RouteMessageRow.route == route, RouteMessageRow.kind == "digest"
            )
        )
        out.append(HeldRoute(route, oldest, count, last))
    return out


def create_digest(
    session: Session, route: str, *, now: datetime, since: datetime | None, lease: timedelta
) -> RouteMessage | None:
    """A new digest (already claimed) taking every held alert of `route`; None if none is left."""
    row = RouteMessageRow(
        route=route, kind="digest", state="pending", attempts=1, count=0, since=since,
        next_attempt_at=now + lease, created_at=now,
    )  # fmt: skip
    session.add(row)
    session.flush()
    row.count = _count(
        session.execute(
            update(AlertRow)
            .where(
                AlertRow.route == route,
                AlertRow.state == "pending",
                AlertRow.held_at.is_not(None),
                AlertRow.digest_id.is_(None),
            )
            .values(digest_id=row.id)
        )
    )
    if row.count == 0:  # another dispatcher took them first
        session.delete(row)
        return None
    return _route_message(row)


def digest_messages(session: Session, digest_id: int) -> list[AlertMessage]:
    """The alerts a digest lists."""
    items = _items(session, _item_query().where(AlertRow.digest_id == digest_id))
    return [item.message for item in items]


def budget_usage(
    session: Session, route: str, rule_ids: Sequence[str], *, since: datetime, now: datetime
) -> tuple[dict[str, int], set[str]]:
    """Per rule: instant alerts sent on `route` since `since`, and the rules now in a burst."""
    counts = session.execute(
        select(HitRow.rule_id, func.count(func.distinct(AlertRow.id)))
        .join(HitRow, HitRow.article_id == AlertRow.article_id)
        .where(
            AlertRow.route == route,
            AlertRow.kind == "alert",
            AlertRow.state == "sent",
            AlertRow.digest_id.is_(None),
            AlertRow.sent_at > since,
            HitRow.rule_id.in_(list(rule_ids)),
        )
        .group_by(HitRow.rule_id)
    ).all()
    bursting = session.scalars(
        select(RouteMessageRow.rule_id).where(
            RouteMessageRow.kind == "burst",
            RouteMessageRow.route == route,
            RouteMessageRow.rule_id.in_(list(rule_ids)),
            RouteMessageRow.until > now,
        )
    )
    return {rule: int(n) for rule, n in counts}, {r for r in bursting if r is not None}


def start_burst(
    session: Session, route: str, rule_id: str, *, count: int, now: datetime, until: datetime
) -> int:
    """Record that `rule_id` went over its budget on `route` (its notice is queued with it)."""
    row = RouteMessageRow(
        route=route, kind="burst", rule_id=rule_id, state="pending", attempts=0, count=count,
        until=until, created_at=now,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row.id


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


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
