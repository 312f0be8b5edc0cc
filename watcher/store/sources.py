"""Source schedule state: what is due, what happened at the last poll, backoff.

The schedule lives in the database (next poll, ETag, failure count), so a
restart resumes where the last process stopped.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from watcher.model import FetchOutcome, FetchResult, SourceSpec
from watcher.store.models import ArticleRow, SourceRow

MAX_BACKOFF = timedelta(hours=24)
MIN_RETRY_AFTER = timedelta(seconds=60)


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


def record_success(session: Session, source_id: int, result: FetchResult, now: datetime) -> None:
    """A poll worked (200 or 304): reset failures, store validators, schedule the next poll.

    Call it in the same transaction that stores the poll's entries, so the
    ETag never advances past uncommitted entries.
    """
    row = session.get_one(SourceRow, source_id)
    if result.outcome is FetchOutcome.OK:
        row.etag = result.etag
        row.last_modified = result.last_modified
    row.failures = 0
    row.last_outcome = str(result.outcome)
    row.last_error = None
    row.last_polled_at = row.last_success_at = now
    row.next_poll_at = now + _jitter(timedelta(seconds=row.interval_seconds))


def record_failure(
    session: Session,
    source_id: int,
    *,
    outcome: FetchOutcome,
    error: str | None,
    retry_after: float | None,
    now: datetime,
) -> None:
    """A poll failed: count it, keep the validators, back off exponentially (capped).

    A rate limit (429/503 with Retry-After) waits what the server asked for,
    clamped to [1 min, 24 h], and is not counted as breakage.
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
    backoff = min(interval * (2 ** min(row.failures, 16)), MAX_BACKOFF)
    row.next_poll_at = now + _jitter(backoff)


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
            )
        )
    return statuses
