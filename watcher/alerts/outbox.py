"""The dispatcher: drains the alert outbox through a `Sender`.

Each pending row is built into a message, sent, and its outcome committed
right away (one short transaction per alert). Delivery is paced per channel
(`pace` seconds apart; Slack allows about one message per second per
channel). A 429 keeps the order: that channel waits `Retry-After` and later
rows for it are not sent before the earlier one. A broken channel is
dead-lettered while other channels go on; an auth failure stops all sending
and leaves the queue intact.

Duplicate window: a crash after Slack answers and before `mark_sent`
commits resends that one message on restart. There is no idempotency key in
Slack's API, so this is the best at-least-once delivery can do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from watcher import metrics
from watcher.alerts.blocks import build_alert, build_thread_reply
from watcher.alerts.delivery import DeliveryOutcome, Sender, SlackPayload
from watcher.model import AlertMessage
from watcher.store import outbox as store
from watcher.store.db import Database

log = structlog.get_logger("watcher.alerts")

MAX_ATTEMPTS = 8


@dataclass
class DispatchReport:
    """What one dispatcher run did."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    failed: int = 0
    auth_error: str | None = None  # set when sending stopped on an auth failure
    waiting: int = 0  # rows left pending for later (retry time, thread parent)
    errors: list[str] = field(default_factory=list)


class Dispatcher:
    """Sends due outbox rows; safe to call repeatedly (each call is one pass)."""

    def __init__(
        self,
        db: Database,
        sender: Sender,
        rule_names: Callable[[], Mapping[str, str]],
        *,
        pace: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.sender = sender
        self.rule_names = rule_names
        self.pace = pace
        self.clock = clock
        self.sleep = sleep
        self.monotonic = monotonic
        self._last_sent: dict[str, float] = {}
        self.auth_error: str | None = None  # sticky until `resume()`
        self.stop_requested = False  # set by the daemon on SIGTERM: stop between two messages

    def resume(self) -> None:
        """Forget a previous auth stop (after the operator fixed the token)."""
        self.auth_error = None

    def run(self, *, max_wait: float = 0.0) -> DispatchReport:
        """Send everything due; wait up to `max_wait` s for rows that come due meanwhile."""
        report = DispatchReport()
        deadline = self.monotonic() + max_wait
        while self.auth_error is None and not self.stop_requested:
            progressed = self._pass(report)
            with self.db.session() as session:
                due = store.next_due(session)
            if due is None:
                report.waiting = 0
                break
            wait = (due - self.clock()).total_seconds()
            if progressed and wait <= 0:
                continue
            remaining = deadline - self.monotonic()
            if wait <= 0 or wait > remaining:
                with self.db.session() as session:
                    report.waiting = store.alert_counts(session).get("pending", 0)
                break
            self.sleep(max(wait, 0.05))
        report.auth_error = self.auth_error
        return report

    def _pass(self, report: DispatchReport) -> bool:
        """One pass over the due rows; True when some row changed state."""
        with self.db.session() as session:
            items = store.due_alerts(session, self.clock())
        blocked: set[str] = set()  # channels waiting on a 429 or a dead route this pass
        progressed = False
        for item in items:
            msg = item.message
            if self.auth_error is not None or self.stop_requested:
                break
            if msg.route in blocked:
                continue
            if item.kind == "reply" and item.parent_state != "sent":
                if item.parent_state in ("dead", "failed"):
                    with self.db.session() as session:
                        store.promote_orphan_reply(session, msg.alert_id)
                    progressed = True
                continue  # the parent goes first
            payload = self._build(item.kind, msg)
            self._pace(msg.route)
            result = self.sender.send(payload, channel=msg.route, thread_ts=msg.thread_ts)
            metrics.record_delivery(result.outcome, result.error)
            self._last_sent[msg.route] = self.monotonic()
            now = self.clock()
            with self.db.session() as session:
                if result.outcome is DeliveryOutcome.SENT:
                    store.mark_sent(
                        session, msg.alert_id, ts=result.ts, channel=result.channel, now=now
                    )
                    report.sent += 1
                    progressed = True
                    log.info(
                        "alert_sent",
                        alert=msg.alert_id,
                        route=msg.route,
                        url=msg.url,
                        rules=[h.rule_id for h in msg.hits],
                    )
                elif result.outcome is DeliveryOutcome.RETRY:
                    blocked.add(msg.route)
                    attempts = store.backoff(report.retried)
                    wait = timedelta(seconds=result.retry_after) if result.retry_after else attempts
                    if store.mark_retry(
                        session,
                        msg.alert_id,
                        error=result.error or "retry",
                        at=now + wait,
                        max_attempts=MAX_ATTEMPTS,
                    ):
                        report.retried += 1
                    else:
                        report.failed += 1
                    log.warning(
                        "alert_retry",
                        alert=msg.alert_id,
                        route=msg.route,
                        error=result.error,
                        retry_after=result.retry_after,
                    )
                elif result.outcome is DeliveryOutcome.DEAD_ROUTE:
                    blocked.add(msg.route)
                    report.dead += store.mark_route_dead(
                        session, msg.route, error=result.error or "dead route"
                    )
                    progressed = True
                    log.error("alert_route_dead", route=msg.route, error=result.error)
                elif result.outcome is DeliveryOutcome.DEAD_MESSAGE:
                    store.mark_dead(session, msg.alert_id, error=result.error or "rejected")
                    report.dead += 1
                    progressed = True
                    log.error("alert_dead", alert=msg.alert_id, route=msg.route, error=result.error)
                else:  # STOP_AUTH: keep the row pending, stop everything
                    self.auth_error = result.error or "auth"
                    log.error("alert_delivery_stopped", error=self.auth_error)
            if result.error:
                report.errors.append(f"{msg.route}: {result.error}")
        return progressed

    def _build(self, kind: str, msg: AlertMessage) -> SlackPayload:
        names = self.rule_names()
        if kind == "reply":
            return build_thread_reply(msg, rule_names=names, now=self.clock())
        return build_alert(msg, rule_names=names, now=self.clock())

    def _pace(self, channel: str) -> None:
        last = self._last_sent.get(channel)
        if last is not None and self.pace > 0:
            gap = self.pace - (self.monotonic() - last)
            if gap > 0:
                self.sleep(gap)
