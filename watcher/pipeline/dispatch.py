"""The dispatcher: drains the alert outbox through a `Sender`, route by route.

    dispatcher = Dispatcher(db, sender, lambda: rules.current().names, alerts=config.alerts)
    report = dispatcher.run(max_wait=0.0)     # the daemon's dispatch job, every few seconds
    report = dispatcher.digest()              # the daemon's digest job (run() also sends them)

What happens to a pending alert (`watcher.store.outbox` has the states):

* on a `mode = "digest"` route it is *held* for the route's next digest, one
  message listing the stories since the last one, grouped by rule
  (`watcher.alerts.digest` says when); its alerts are marked sent with the
  digest's `ts`;
* a thread reply goes under its parent's `ts` once the parent is sent (with
  an incoming webhook there is no `ts`: it is posted top-level, "also
  reported by"); a reply whose parent is dead or failed becomes the story's
  alert; a reply whose parent is held joins the same digest;
* an alert whose rules are all over budget is held and its rules' burst
  notices are queued (`watcher.alerts.budget`); so is an alert from a source
  the operator or an analyst muted (`watcher sources mute`); otherwise it is
  posted, with the analysts' feedback buttons when `feedback` is on (a Slack
  app with Socket Mode: `watcher.pipeline.feedback` hears the clicks).

Route messages (digests, burst notices, and ops notices about sources that
are unhealthy or empty, queued by `watcher.store.sources` on the ops route)
go before a route's alerts, with the same claims, pacing and outcomes.

Delivery, per route (channel): sends are paced `pace` seconds apart per
channel (Slack allows about one per second), and routes that are ready go
first, so a slow channel does not hold up the others. Each send is claimed,
sent and recorded in two short transactions around the HTTP call; what
each outcome does is in `watcher.pipeline.outcomes`: 429 waits `Retry-After`,
5xx and timeouts back off from the row's own attempts up to `max_attempts`
(then `failed`, logged), a broken channel is dead-lettered while other
routes go on, and an auth failure stops all sending with the queue kept and
`auth_error` set. That stop lasts until `resume()`; a new Dispatcher (a
restart) tries once more and stops again if the token is still refused.

A retrying row holds back the rest of its route, so the order per channel
is kept (a 429 delays the channel, never reorders it).

Duplicate window: a crash after Slack answers and before the outcome
commits leaves the row claimed; when the claim's lease (`claim_lease`)
runs out it is sent again. Slack's API has no idempotency key, so this one
message is the price of at-least-once delivery. A crash between the claim
and the send loses nothing: the row is sent when the lease runs out.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

import structlog

from watcher.alerts.blocks import (
    build_alert,
    build_burst_notice,
    build_digest,
    build_ops_notice,
    build_thread_reply,
)
from watcher.alerts.budget import decide
from watcher.alerts.delivery import Sender, SendResult, SlackPayload
from watcher.alerts.digest import digest_due_at, digest_since
from watcher.metrics import record_delivery
from watcher.model import AlertMessage, Feedback, OpsNotice
from watcher.pipeline.outcomes import Attempt, DispatchReport, Step, record
from watcher.settings import AlertsConfig
from watcher.store import judgments
from watcher.store import outbox as store
from watcher.store.db import Database

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["DispatchReport", "Dispatcher"]

log = structlog.get_logger("watcher.alerts")

MAX_ATTEMPTS = 8  # 5 s, 10 s, ... 640 s apart: about 21 minutes of trying
CLAIM_LEASE = 60.0  # seconds; longer than a send can take (15 s timeout, one degraded resend)
SHARED = "*"  # the pacing key when every route posts to one channel (incoming webhook)


_Task = Callable[[DispatchReport], Step]  # one unit of a route's work in a pass


class Dispatcher:
    """Sends due outbox rows; safe to call repeatedly (each call drains what is due).

    `run` and `digest` may be called from different threads; they take turns.
    """

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
        alerts: AlertsConfig | None = None,
        shared_channel: bool = False,
        claim_lease: float = CLAIM_LEASE,
        max_attempts: int = MAX_ATTEMPTS,
        feedback: bool = False,
    ) -> None:
        self.db = db
        self.feedback = feedback  # instant alerts carry Relevant / Not relevant buttons
        self.sender = sender
        self.rule_names = rule_names
        self.pace = pace
        self.clock = clock
        self.sleep = sleep
        self.monotonic = monotonic
        self.alerts = alerts or AlertsConfig()
        self.shared_channel = shared_channel  # an incoming webhook: one channel for all routes
        self.claim_lease = timedelta(seconds=claim_lease)
        self.max_attempts = max_attempts
        self.auth_error: str | None = None  # sticky until `resume()` (or a restart)
        self._last_sent: dict[str, float] = {}
        self._lock = threading.Lock()

    def resume(self) -> None:
        """Forget a previous auth stop (after the operator fixed the token)."""
        self.auth_error = None

    def run(self, *, max_wait: float = 0.0) -> DispatchReport:
        """Send everything due (due digests too); wait up to `max_wait` s for what comes due."""
        return self._drive(max_wait, alerts=True, force_digests=False)

    def digest(self, *, force: bool = False) -> DispatchReport:
        """Post the digests that are due (with `force`: every route's held alerts now)."""
        return self._drive(0.0, alerts=False, force_digests=force)

    # --- the loop --------------------------------------------------------------------

    def _drive(self, max_wait: float, *, alerts: bool, force_digests: bool) -> DispatchReport:
        with self._lock:
            report = DispatchReport()
            deadline = self.monotonic() + max_wait
            work, _wake = self._plan(alerts=alerts, force_digests=force_digests)
            while self.auth_error is None:
                tried = bool(work)
                progressed = self._execute(work, report)
                # Forced digests are forced once; later passes follow the schedule.
                work, wake = self._plan(alerts=alerts, force_digests=False)
                if wake is None:
                    break
                wait = (wake - self.clock()).total_seconds()
                if wait <= 0:
                    # A pass with nothing to try (every route blocked by a claim or a
                    # retry time, which ran out since) says nothing: plan again.
                    if progressed or not tried:
                        continue
                    break  # due but not actionable (a reply waiting on its parent)
                if self.monotonic() + wait > deadline:
                    break
                self.sleep(wait)
                work, _wake = self._plan(alerts=alerts, force_digests=False)
            report.auth_error = self.auth_error
            with self.db.session() as session:
                report.waiting = store.alert_counts(session).get(store.DeliveryState.PENDING, 0)
            return report

    def _plan(
        self, *, alerts: bool, force_digests: bool
    ) -> tuple[dict[str, deque[_Task]], datetime | None]:
        """Each route's work for one pass, in order, and when something next comes due."""
        now = self.clock()
        with self.db.session() as session:
            queues = store.route_queues(session)
            held = {h.route: h for h in store.held_routes(session)}
        work: dict[str, deque[_Task]] = {}
        wake: list[datetime] = []
        blocked: set[str] = set()
        for queue in queues:
            until = queue.blocked_until(now)
            if until is not None:
                blocked.add(queue.route)
                wake.append(until)
                continue
            tasks: deque[_Task] = deque(partial(self._message, m) for m in queue.messages)
            if alerts:
                tasks.extend(partial(self._alert, a) for a in queue.alerts)
            if tasks:
                work[queue.route] = tasks
                wake.append(now)
        for route, waiting in held.items():
            if route in blocked:
                continue
            due = digest_due_at(
                interval=self.alerts.route(route).interval,
                oldest_held=waiting.oldest_held_at,
                last_digest=waiting.last_digest_at,
            )
            if force_digests or due <= now:
                # Last in the route's work: it takes the alerts held in this pass too.
                work.setdefault(route, deque()).append(partial(self._new_digest, waiting))
                wake.append(now)
            else:
                wake.append(due)
        return work, min(wake, default=None)

    def _execute(self, work: dict[str, deque[_Task]], report: DispatchReport) -> bool:
        """Run the pass: always the route that may send soonest; True if anything changed."""
        order = {route: i for i, route in enumerate(work)}
        progressed = False
        while work:
            route = min(work, key=lambda r: (self._ready_at(r), order[r]))
            step = work[route].popleft()(report)
            progressed = progressed or step is not Step.WAIT
            if step is Step.STOP:
                break
            if step is not Step.DONE or not work[route]:
                del work[route]
        return progressed

    # --- units of work ---------------------------------------------------------------

    def _alert(self, item: store.OutboxItem, report: DispatchReport) -> Step:
        """Decide what a queued alert becomes (held, reply, alert), then claim and send it."""
        msg = item.message
        now = self.clock()
        with self.db.session() as session:
            decided = self._decide(session, item, now, report)
            if isinstance(decided, Step):
                return decided
            kind, thread_ts = decided
            if not store.claim(session, "alerts", msg.alert_id, now=now, lease=self.claim_lease):
                return Step.WAIT
            attempts = store.attempts(session, "alerts", msg.alert_id)
            feedback = None
            if self.feedback and kind is store.AlertKind.ALERT:
                feedback = Feedback(judgments.alert_token(session, msg.alert_id, now=now))
        # Crash window (a): claimed, not sent yet. Nothing is lost: the lease runs out.
        if attempts > self.max_attempts:  # it was in flight when the process died, repeatedly
            return self._give_up("alerts", msg.alert_id, msg.route, report)
        names = self.rule_names()
        if kind is store.AlertKind.REPLY:
            payload = build_thread_reply(msg, rule_names=names, now=now)
        else:
            payload = build_alert(msg, rule_names=names, now=now, feedback=feedback)
        result = self._send(msg.route, payload, thread_ts=thread_ts)
        # Crash window (b): sent, not recorded yet. This message is sent again after restart.
        attempt = Attempt("alerts", msg.alert_id, msg.route, kind, msg)
        return self._record(attempt, result, report)

    def _decide(
        self, session: Session, item: store.OutboxItem, now: datetime, report: DispatchReport
    ) -> Step | tuple[store.AlertKind, str | None]:
        """Hold, wait or promote the alert; else the kind to post and the thread to post in."""
        msg, kind, thread_ts = item.message, item.kind, None
        if self.alerts.route(msg.route).mode == "digest":
            return self._hold(session, msg, now, report)
        if kind is store.AlertKind.REPLY and item.parent_id is not None:
            parent = store.parent_state(session, item.parent_id)
            if parent.state in (store.DeliveryState.DEAD, store.DeliveryState.FAILED):
                store.promote_orphan_reply(session, msg.alert_id)
                kind = store.AlertKind.ALERT
                log.info("alert_reply_promoted", alert=msg.alert_id, route=msg.route)
            elif parent.state is store.DeliveryState.PENDING:
                # the parent goes first, or into the digest
                return self._hold(session, msg, now, report) if parent.held else Step.WAIT
            else:
                thread_ts = parent.ts  # None for webhooks: a top-level "also reported by"
        if kind is store.AlertKind.ALERT:
            if judgments.muted_alert(session, msg.alert_id):  # its source was muted
                return self._hold(session, msg, now, report)
            step = self._apply_budget(session, msg, now, report)
            if step is not None:
                return step
        return kind, thread_ts

    def _apply_budget(
        self, session: Session, msg: AlertMessage, now: datetime, report: DispatchReport
    ) -> Step | None:
        """Hold the alert (and start bursts) when its rules are over budget; None: send it."""
        window = self.alerts.budget_window
        rules = sorted({hit.rule_id for hit in msg.hits})
        sent, bursting = store.budget_usage(session, msg.route, rules, since=now - window, now=now)
        decision = decide(rules, sent=sent, bursting=bursting, budget=self.alerts.budget)
        if decision.instant:
            return None
        for rule in decision.new_bursts:
            count = sent.get(rule, 0) + 1
            store.start_burst(session, msg.route, rule, count=count, now=now, until=now + window)
            log.warning("alert_burst", rule=rule, route=msg.route, alerts=count, until=now + window)
        step = self._hold(session, msg, now, report)
        return Step.REPLAN if decision.new_bursts else step

    def _hold(
        self, session: Session, msg: AlertMessage, now: datetime, report: DispatchReport
    ) -> Step:
        store.hold(session, msg.alert_id, now=now)
        report.held += 1
        return Step.DONE

    def _message(self, message: store.RouteMessage, report: DispatchReport) -> Step:
        """Send a pending burst or ops notice, or resend a digest claimed or retrying."""
        now = self.clock()
        notice: OpsNotice | None = None
        with self.db.session() as session:
            if not store.claim(
                session, "route_messages", message.id, now=now, lease=self.claim_lease
            ):
                return Step.WAIT
            attempts = store.attempts(session, "route_messages", message.id)
            items = (
                store.digest_messages(session, message.id)
                if message.kind is store.RouteMessageKind.DIGEST
                else []
            )
            if message.kind is store.RouteMessageKind.OPS:
                notice = store.ops_notice(session, message.id)
        if attempts > self.max_attempts:
            return self._give_up("route_messages", message.id, message.route, report)
        return self._send_message(message, items, now, report, notice=notice)

    def _new_digest(self, waiting: store.HeldRoute, report: DispatchReport) -> Step:
        """Gather a route's held alerts into a new digest and send it."""
        now = self.clock()
        since = digest_since(oldest_held=waiting.oldest_held_at, last_digest=waiting.last_digest_at)
        with self.db.session() as session:
            message = store.create_digest(
                session, waiting.route, now=now, since=since, lease=self.claim_lease
            )
            if message is None:
                return Step.WAIT
            items = store.digest_messages(session, message.id)
        return self._send_message(message, items, now, report)

    def _send_message(
        self,
        message: store.RouteMessage,
        items: list[AlertMessage],
        now: datetime,
        report: DispatchReport,
        *,
        notice: OpsNotice | None = None,
    ) -> Step:
        names = self.rule_names()
        if notice is not None:
            payload = build_ops_notice(notice, now=now)
        elif message.kind is store.RouteMessageKind.BURST:
            rule = message.rule_id or "?"
            payload = build_burst_notice(
                rule, message.count, self.alerts.budget_window, rule_names=names
            )
        elif items:
            payload = build_digest(items, rule_names=names, now=now, since=message.since)
        else:  # its alerts were deleted meanwhile (retention): nothing to say
            with self.db.session() as session:
                store.mark_failed(session, "route_messages", message.id, error="empty digest")
            return Step.DONE
        result = self._send(message.route, payload, thread_ts=None)
        attempt = Attempt("route_messages", message.id, message.route, message.kind)
        return self._record(attempt, result, report)

    def _give_up(self, table: store.Table, row_id: int, route: str, report: DispatchReport) -> Step:
        error = f"gave up after {self.max_attempts} attempts (in flight when the process stopped)"
        with self.db.session() as session:
            store.mark_failed(session, table, row_id, error=error)
        report.failed += 1
        log.error("alert_failed", id=row_id, table=table, route=route, error=error)
        return Step.DONE

    # --- sending and recording -------------------------------------------------------

    def _send(self, route: str, payload: SlackPayload, *, thread_ts: str | None) -> SendResult:
        """One paced send: at most one message per `pace` seconds per channel."""
        key = SHARED if self.shared_channel else route
        gap = self._ready_at(route) - self.monotonic()
        if gap > 0:
            self.sleep(gap)
        try:
            result = self.sender.send(payload, channel=route, thread_ts=thread_ts)
        finally:
            self._last_sent[key] = self.monotonic()
        record_delivery(result.outcome, result.error)
        return result

    def _ready_at(self, route: str) -> float:
        """The monotonic time from which `route` may be sent to again."""
        last = self._last_sent.get(SHARED if self.shared_channel else route)
        return float("-inf") if last is None or self.pace <= 0 else last + self.pace

    def _record(self, attempt: Attempt, result: SendResult, report: DispatchReport) -> Step:
        with self.db.session() as session:
            step = record(
                session, attempt, result, now=self.clock(), report=report,
                max_attempts=self.max_attempts,
            )  # fmt: skip
        if step is Step.STOP:
            self.auth_error = result.error or result.outcome.value
        return step
