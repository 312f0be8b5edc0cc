"""Route messages: digests, burst notices and ops notices (`RouteMessageRow`).

A route message goes to one route (channel) and is not one article's alert:

    digest  lists the route's held alerts (`alerts.digest_id`); they are sent with it
    burst   a rule went over its alert budget; also the budget state (`until`)
    ops     the operator hears about a source (see `watcher.store.sources`):
            `unhealthy` after N failed polls in a row, `recovered` when it answers
            again, `empty` after K polls whose document had no entries, `refilled`
            when entries come back; each is raised once per streak

They share the alerts' states, claims and outcomes (`watcher.store.outbox`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from watcher.model import OpsNotice
from watcher.store.models import (
    AlertKind,
    AlertRow,
    DeliveryState,
    HitRow,
    RouteMessageKind,
    RouteMessageRow,
    SourceRow,
)

OPS_REASONS = ("unhealthy", "recovered", "empty", "refilled")


@dataclass(frozen=True)
class RouteMessage:
    """A pending digest, burst notice or ops notice of a route."""

    id: int
    route: str
    kind: RouteMessageKind
    rule_id: str | None
    count: int
    since: datetime | None
    until: datetime | None
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class HeldRoute:
    """A route with alerts waiting for its next digest."""

    route: str
    oldest_held_at: datetime
    held: int
    last_digest_at: datetime | None


def to_route_message(row: RouteMessageRow) -> RouteMessage:
    """The read model of a route message row."""
    return RouteMessage(
        row.id, row.route, row.kind, row.rule_id, row.count, row.since, row.until,
        row.next_attempt_at,
    )  # fmt: skip


def mark_message_sent(
    session: Session, message_id: int, *, ts: str | None, channel: str | None, now: datetime
) -> int:
    """A digest or notice was posted; a digest's alerts are sent with its `ts`. Returns them."""
    row = session.get_one(RouteMessageRow, message_id)
    row.state, row.ts, row.channel, row.sent_at = DeliveryState.SENT, ts, channel, now
    row.next_attempt_at, row.last_error = None, None
    return rowcount(
        session.execute(
            update(AlertRow)
            .where(AlertRow.digest_id == message_id, AlertRow.state == DeliveryState.PENDING)
            .values(state=DeliveryState.SENT, ts=ts, channel=channel, sent_at=now, last_error=None)
        )
    )


# --- digests and the alert budget --------------------------------------------------------


def held_routes(session: Session) -> list[HeldRoute]:
    """Routes with held alerts not yet in a digest, with what decides when it is due."""
    rows = session.execute(
        select(AlertRow.route, func.min(AlertRow.held_at), func.count())
        .where(
            AlertRow.state == DeliveryState.PENDING,
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
                RouteMessageRow.route == route, RouteMessageRow.kind == RouteMessageKind.DIGEST
            )
        )
        out.append(HeldRoute(route, oldest, count, last))
    return out


def create_digest(
    session: Session, route: str, *, now: datetime, since: datetime | None, lease: timedelta
) -> RouteMessage | None:
    """A new digest (already claimed) taking every held alert of `route`; None if none is left."""
    row = RouteMessageRow(
        route=route, kind=RouteMessageKind.DIGEST, state=DeliveryState.PENDING, attempts=1,
        count=0, since=since, next_attempt_at=now + lease, created_at=now,
    )  # fmt: skip
    session.add(row)
    session.flush()
    row.count = rowcount(
        session.execute(
            update(AlertRow)
            .where(
                AlertRow.route == route,
                AlertRow.state == DeliveryState.PENDING,
                AlertRow.held_at.is_not(None),
                AlertRow.digest_id.is_(None),
            )
            .values(digest_id=row.id)
        )
    )
    if row.count == 0:  # another dispatcher took them first
        session.delete(row)
        return None
    return to_route_message(row)


def budget_usage(
    session: Session, route: str, rule_ids: Sequence[str], *, since: datetime, now: datetime
) -> tuple[dict[str, int], set[str]]:
    """Per rule: instant alerts sent on `route` since `since`, and the rules now in a burst."""
    counts = session.execute(
        select(HitRow.rule_id, func.count(func.distinct(AlertRow.id)))
        .join(HitRow, HitRow.article_id == AlertRow.article_id)
        .where(
            AlertRow.route == route,
            AlertRow.kind == AlertKind.ALERT,
            AlertRow.state == DeliveryState.SENT,
            AlertRow.digest_id.is_(None),
            AlertRow.sent_at > since,
            HitRow.rule_id.in_(list(rule_ids)),
        )
        .group_by(HitRow.rule_id)
    ).all()
    bursting = session.scalars(
        select(RouteMessageRow.rule_id).where(
            RouteMessageRow.kind == RouteMessageKind.BURST,
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
        route=route, kind=RouteMessageKind.BURST, rule_id=rule_id, state=DeliveryState.PENDING,
        attempts=0, count=count, until=until, created_at=now,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row.id


# --- ops notices -------------------------------------------------------------------------


def queue_ops_notice(
    session: Session,
    route: str,
    source_id: int,
    reason: str,
    *,
    count: int,
    since: datetime | None,
    outcome: str | None,
    error: str | None,
    now: datetime,
) -> int:
    """Queue an ops message about a source (in the caller's transaction); returns its id."""
    if reason not in OPS_REASONS:
        raise ValueError(f"unknown ops reason {reason!r}")
    row = RouteMessageRow(
        route=route, kind=RouteMessageKind.OPS, state=DeliveryState.PENDING, attempts=0,
        count=count, since=since, source_id=source_id, reason=reason, outcome=outcome,
        detail=error, created_at=now,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row.id


def ops_notice(session: Session, message_id: int) -> OpsNotice:
    """An ops message with its source's name and URL (a source gone since: its id)."""
    row = session.get_one(RouteMessageRow, message_id)
    source = session.get(SourceRow, row.source_id) if row.source_id is not None else None
    return OpsNotice(
        id=row.id,
        route=row.route,
        reason=row.reason or "unhealthy",
        source=source.name if source else f"source {row.source_id}",
        url=source.url if source else "",
        outcome=row.outcome,
        error=row.detail,
        count=row.count,
        since=row.since,
        raised_at=row.created_at,
    )


def rowcount(result: object) -> int:
    """Rows an UPDATE or DELETE touched."""
    return int(getattr(result, "rowcount", 0) or 0)
