"""Recording one send: what each `DeliveryOutcome` does to the outbox, and the run's report.

    SENT          the row is sent with Slack's ts and channel (a digest: its alerts too)
    RETRY         429: due again after `Retry-After`, not counted as an attempt;
                  5xx/timeouts: exponential backoff from the row's own attempts; once
                  they reach `max_attempts` the row is `failed` with its last error
    DEAD_ROUTE    every pending row of the route is dead-lettered with the reason
                  (`store.outbox.replay_dead` puts the alerts back); other routes go on
    DEAD_MESSAGE  this message is dead-lettered (Slack refused it, degraded form too)
    STOP_AUTH     the claim is released without counting; the dispatcher stops sending

The returned `Step` tells the dispatcher how the route goes on in this pass.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from watcher.alerts.delivery import DeliveryOutcome, SendResult
from watcher.model import AlertMessage
from watcher.store import outbox as store

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = structlog.get_logger("watcher.alerts")

MIN_RETRY_AFTER = 1.0  # seconds; a `Retry-After: 0` must not become a hot loop


@dataclass
class DispatchReport:
    """What one dispatcher run did."""

    sent: int = 0  # alerts recorded as sent, on their own or in a digest
    retried: int = 0
    dead: int = 0
    failed: int = 0
    held: int = 0  # alerts put aside for their route's next digest
    digests: int = 0  # digest messages posted
    bursts: int = 0  # burst notices posted
    ops: int = 0  # ops notices posted (a source unhealthy, empty, recovered)
    auth_error: str | None = None  # set when sending stopped on an auth failure
    waiting: int = 0  # alerts still pending (retry time, thread parent, next digest)
    errors: list[str] = field(default_factory=list)


class Step(enum.Enum):
    """What one unit of a route's work did, which says how the route goes on in this pass."""

    DONE = "done"  # state changed; go on with the route
    WAIT = "wait"  # nothing changed (parent first, or another dispatcher has it): next pass
    REPLAN = "replan"  # state changed in a way that reorders the route (bursts): next pass
    BLOCK = "block"  # retrying or dead route: nothing more on this route now
    STOP = "stop"  # authentication failed: nothing more anywhere


@dataclass(frozen=True)
class Attempt:
    """The row one send was for: an alert or reply, a digest, a burst or an ops notice."""

    table: store.Table
    row_id: int
    route: str
    kind: store.AlertKind | store.RouteMessageKind
    alert: AlertMessage | None = None  # for alerts and replies: what was posted (for logs)


def record(
    session: Session,
    attempt: Attempt,
    result: SendResult,
    *,
    now: datetime,
    report: DispatchReport,
    max_attempts: int,
) -> Step:
    """Commit the outcome of one send (see the module docstring) and count it in `report`."""
    error = result.error or result.outcome.value
    if result.error:
        report.errors.append(f"{attempt.route}: {result.error}")
    fields = {"id": attempt.row_id, "kind": attempt.kind, "route": attempt.route}
    if result.outcome is DeliveryOutcome.SENT:
        _sent(session, attempt, result, now, report)
        return Step.DONE
    if result.outcome is DeliveryOutcome.RETRY:
        _retry(session, attempt, result, now=now, report=report, max_attempts=max_attempts)
        return Step.BLOCK
    if result.outcome is DeliveryOutcome.DEAD_ROUTE:
        report.dead += store.mark_route_dead(session, attempt.route, error=error)
        log.error("alert_route_dead", **fields, error=error)
        return Step.BLOCK
    if result.outcome is DeliveryOutcome.DEAD_MESSAGE:
        store.mark_dead(session, attempt.table, attempt.row_id, error=error)
        report.dead += 1
        log.error("alert_dead", **fields, error=error, degraded=result.degraded)
        return Step.DONE
    store.release(session, attempt.table, attempt.row_id, error=error)  # STOP_AUTH
    log.error("alert_delivery_stopped", **fields, error=error)
    return Step.STOP


def _sent(
    session: Session, attempt: Attempt, result: SendResult, now: datetime, report: DispatchReport
) -> None:
    where = {"id": attempt.row_id, "route": attempt.route, "channel": result.channel}
    if attempt.table == "alerts":
        store.mark_sent(session, attempt.row_id, ts=result.ts, channel=result.channel, now=now)
        report.sent += 1
        alert = attempt.alert
        rules = [h.rule_id for h in alert.hits] if alert else []
        log.info("alert_sent", **where, kind=attempt.kind, url=alert and alert.url, rules=rules)
        return
    count = store.mark_message_sent(
        session, attempt.row_id, ts=result.ts, channel=result.channel, now=now
    )
    if attempt.kind is store.RouteMessageKind.DIGEST:
        report.sent += count
        report.digests += 1
        log.info("alert_digest_sent", **where, alerts=count)
    elif attempt.kind is store.RouteMessageKind.OPS:
        report.ops += 1
        log.info("ops_notice_sent", **where)
    else:
        report.bursts += 1
        log.info("alert_burst_notice_sent", **where)


def _retry(
    session: Session,
    attempt: Attempt,
    result: SendResult,
    *,
    now: datetime,
    report: DispatchReport,
    max_attempts: int,
) -> None:
    table, row_id = attempt.table, attempt.row_id
    error = result.error or "retry"
    fields = {"id": row_id, "kind": attempt.kind, "route": attempt.route, "error": error}
    if result.retry_after is not None:  # rate limited: Slack says when; not a failure
        wait = timedelta(seconds=max(result.retry_after, MIN_RETRY_AFTER))
        store.release(session, table, row_id, error=error, at=now + wait)
        report.retried += 1
        log.warning("alert_rate_limited", **fields, retry_after=wait.total_seconds())
        return
    attempts = store.attempts(session, table, row_id)
    at = now + store.backoff(attempts)
    if store.mark_retry(session, table, row_id, error=error, at=at, max_attempts=max_attempts):
        report.retried += 1
        log.warning("alert_retry", **fields, attempts=attempts, at=at.isoformat())
    else:
        report.failed += 1
        log.error("alert_failed", **fields, attempts=attempts)
