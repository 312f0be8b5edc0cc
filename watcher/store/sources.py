"""Source schedule state: what is due, what happened at the last poll, backoff, ops alerts.

The schedule lives in the database (next poll, ETag, failure count), so a
restart resumes where the last process stopped.

Ops alerts tell the operator about a source that keeps failing or whose
feed stays empty, once per streak, in the same transaction as the poll's
outcome (`OpsPolicy` says where and after how many polls):

* `unhealthy` when `unhealthy_after` polls in a row failed (a rate limit is
  not a failure); `recovered` at the next success;
* `empty` when `empty_after` successful polls in a row fetched a document
  with no entries (a 304 says nothing either way); `refilled` when entries
  come back.

No alert per retry: a streak raises its alert once, and only its end makes
the next streak able to raise another.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from watcher.model import FetchOutcome, FetchResult, SourceSpec
from watcher.store.models import ArticleRow, SourceRow
from watcher.store.route_messages import queue_ops_notice

log = structlog.get_logger("watcher.sources")

MAX_BACKOFF = timedelta(hours=24)
MIN_RETRY_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class OpsPolicy:
    """Where ops alerts go and when they are raised (`[alerts]` ops_route and thresholds)."""

    route: str = "#aukus-alerts"
    unhealthy_after: int = 5  # consecutive failed polls
    empty_after: int = 3  # consecutive successful polls with no entries


DEFAULT_OPS = OpsPolicy()


@dataclass(frozen=True)
class SourceState:
    """A source as the pipeline needs it: its spec plus conditional-GET validators."""

    id: int
    spec: SourceSpec
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class SourceStatus:
    """A row of `watcher sources`."""

    id: int
    name: str
    url: str
    kind: str
    status: str  # ok | not_polled | failing | backing_off | disabled
    failures: int
    last_outcome: str | None
    last_error: str | None
    last_poll: datetime | None
    next_poll: datetime | None
    articles: int
    # The ops alerts raised for the current streaks: "unhealthy" and/or "empty".
    ops_alerts: tuple[str, ...] = ()
    failing_since: datetime | None = None
    empty_polls: int = 0  # successful polls in a row whose document had no entries
    empty_since: datetime | None = None
    polled_by: str | None = None  # the daemon process (`host:pid`) that polled it last
    partial: int = 0  # stored articles whose text may be cut (extraction status `partial`)


def sync_sources(session: Session, specs: Sequence[SourceSpec], now: datetime) -> None:
    """Make the sources table mirror the config (by name); removed ones are disabled."""
    rows = {row.name: row for row in session.scalars(select(SourceRow))}
    for spec in specs:
        row = rows.pop(spec.name, None)
        if row is None:
            row = SourceRow(name=spec.name, created_at=now, failures=0)
            session.add(row)
        if row.url != spec.url:
            row.etag = row.last_modified = None  # validators belong to the old URL
        row.url = spec.url
        row.kind = str(spec.kind)
        row.enabled = spec.enabled
        row.interval_seconds = int(spec.interval.total_seconds())
    for row in rows.values():
        row.enabled = False


def due_sources(
    session: Session, specs: Sequence[SourceSpec], now: datetime, *, force: bool
) -> list[SourceState]:
    """Enabled sources to poll now.

    `force` (used by `run --once`) ignores the regular interval but still
    respects a Retry-After or failure backoff window.
    """
    by_name = {spec.name: spec for spec in specs if spec.enabled}
    query = select(SourceRow).where(SourceRow.enabled.is_(True))
    if force:
        query = query.where(
            or_(
                SourceRow.next_poll_at.is_(None),
                SourceRow.next_poll_at <= now,
                (SourceRow.failures == 0) & (SourceRow.last_outcome != "rate_limited"),
            )
        )
    else:
        query = query.where(or_(SourceRow.next_poll_at.is_(None), SourceRow.next_poll_at <= now))
    return [
        SourceState(row.id, by_name[row.name], row.etag, row.last_modified)
        for row in session.scalars(query.order_by(SourceRow.id))
        if row.name in by_name
    ]


def record_success(
    session: Session,
    source_id: int,
    result: FetchResult,
    now: datetime,
    *,
    entries: int | None = None,
    ops: OpsPolicy = DEFAULT_OPS,
) -> None:
    """A poll worked (200 or 304): reset failures, store validators, schedule the next poll.

    `entries` is how many entries the fetched document had (None: not
    counted); on a 200 it drives the empty-feed streak, a 304 leaves it.
    Call it in the same transaction that stores the poll's entries, so the
    ETag never advances past uncommitted entries.
    """
    row = session.get_one(SourceRow, source_id)
    if row.unhealthy_at is not None:
        _notify(
            session, row, ops, "recovered", count=row.failures, since=row.failing_since, now=now
        )
    row.failures = 0
    row.failing_since = row.unhealthy_at = None
    row.last_outcome = str(result.outcome)
    row.last_error = None
    row.last_polled_at = row.last_success_at = now
    row.next_poll_at = now + _jitter(timedelta(seconds=row.interval_seconds))
    if result.outcome is FetchOutcome.OK:
        row.etag = result.etag
        row.last_modified = result.last_modified
        if entries is not None:
            _count_entries(session, row, entries, ops, now)


def _count_entries(
    session: Session, row: SourceRow, entries: int, ops: OpsPolicy, now: datetime
) -> None:
    """Advance or end the empty-document streak; raise `empty` once when it reaches K."""
    if entries > 0:
        if row.empty_at is not None:
            _notify(
                session, row, ops, "refilled", count=row.empty_polls, since=row.empty_since, now=now
            )
        row.empty_polls, row.empty_since, row.empty_at = 0, None, None
        return
    row.empty_polls = (row.empty_polls or 0) + 1
    if row.empty_since is None:
        row.empty_since = now
    if row.empty_polls >= ops.empty_after and row.empty_at is None:
        row.empty_at = now
        _notify(session, row, ops, "empty", count=row.empty_polls, since=row.empty_since, now=now)


def record_failure(
    session: Session,
    source_id: int,
    *,
    outcome: FetchOutcome,
    error: str | None,
    retry_after: float | None,
    now: datetime,
    ops: OpsPolicy = DEFAULT_OPS,
) -> None:
    """A poll failed: count it, keep the validators, back off exponentially (capped).

    A rate limit (429/503 with Retry-After) waits what the server asked for,
    clamped to [1 min, 24 h], and is not counted as breakage. The failure
    that makes `ops.unhealthy_after` in a row raises the `unhealthy` alert.
    """
    row = session.get_one(SourceRow, source_id)
    interval = timedelta(seconds=row.interval_seconds)
    row.last_outcome = str(outcome)
    row.last_error = error
    row.last_polled_at = now
    if outcome is FetchOutcome.RATE_LIMITED:
        wait = timedelta(seconds=retry_after or 0)
        row.next_poll_at = now + min(max(wait, interval, MIN_RETRY_AFTER), MAX_BACKOFF)
        return
    row.failures += 1
    if row.failures == 1 or row.failing_since is None:
        row.failing_since = now
    if row.failures >= ops.unhealthy_after and row.unhealthy_at is None:
        row.unhealthy_at = now
        _notify(
            session, row, ops, "unhealthy", count=row.failures, since=row.failing_since, now=now
        )
    backoff = min(interval * (2 ** min(row.failures, 16)), MAX_BACKOFF)
    row.next_poll_at = now + _jitter(backoff)


def _notify(
    session: Session,
    row: SourceRow,
    ops: OpsPolicy,
    reason: str,
    *,
    count: int,
    since: datetime | None,
    now: datetime,
) -> None:
    """Queue an ops message about `row` (its last outcome and error as they are now)."""
    queue_ops_notice(
        session, ops.route, row.id, reason, count=count, since=since,
        outcome=row.last_outcome, error=row.last_error, now=now,
    )  # fmt: skip
    log.warning("source_ops_alert", source=row.name, reason=reason, polls=count, route=ops.route)


def _jitter(delay: timedelta) -> timedelta:
    """Spread polls by up to 10% so sources configured together don't stampede."""
    return delay * (1 + random.random() * 0.1)


def source_statuses(session: Session, now: datetime) -> list[SourceStatus]:
    """Every source with its status and the number of articles stored from it."""
    counts = dict(
        session.execute(
            select(ArticleRow.source_id, func.count()).group_by(ArticleRow.source_id)
        ).all()
    )
    partial = dict(
        session.execute(
            select(ArticleRow.source_id, func.count())
            .where(ArticleRow.extraction_status == "partial")
            .group_by(ArticleRow.source_id)
        ).all()
    )
    statuses = []
    for row in session.scalars(select(SourceRow).order_by(SourceRow.id)):
        if not row.enabled:
            status = "disabled"
        elif row.last_polled_at is None:
            status = "not_polled"
        elif row.failures > 0:
            status = "failing" if row.failures < 3 else "backing_off"
        elif row.last_outcome == "rate_limited" and row.next_poll_at and row.next_poll_at > now:
            status = "backing_off"
        else:
            status = "ok"
        statuses.append(
            SourceStatus(
                id=row.id,
                name=row.name,
                url=row.url,
                kind=row.kind,
                status=status,
                failures=row.failures,
                last_outcome=row.last_outcome,
                last_error=row.last_error,
                last_poll=row.last_polled_at,
                next_poll=row.next_poll_at,
                articles=counts.get(row.id, 0),
                ops_alerts=tuple(
                    name
                    for name, at in (("unhealthy", row.unhealthy_at), ("empty", row.empty_at))
                    if at is not None
                ),
                failing_since=row.failing_since,
                empty_polls=row.empty_polls or 0,
                empty_since=row.empty_since,
                polled_by=row.polled_by,
                partial=partial.get(row.id, 0),
            )
        )
    return statuses
