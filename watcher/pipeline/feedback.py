"""The feedback loop's work: record the analysts' clicks, then show them on the message.

    loop = FeedbackLoop(db, updater, lambda: rules.current().names)
    loop.record([click, ...])        # in the Socket Mode handler, before the ack
    loop.update_messages()           # right after, and periodically: the retries

`record` stores each Relevant/Not relevant click idempotently
(`watcher.store.judgments.record_click`) and mutes a source on a
`mute_source` click, all in one transaction. A judgment that is new or
changed queues a message update: `update_messages` rebuilds the alert (as
posted, with its buttons) plus a context line of the verdicts, e.g.
"Not relevant — @alice", and sends it with `chat.update`. Updates are
delivered like alerts: claimed in a short transaction, sent, and the
outcome recorded; 429 waits `Retry-After`, 5xx and timeouts back off up to
`max_attempts`, everything else is logged and recorded as failed or dead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from watcher.alerts.blocks import build_alert
from watcher.alerts.delivery import DeliveryOutcome
from watcher.alerts.feedback import MessageUpdater
from watcher.model import Click, FeedbackAction
from watcher.store import judgments as store
from watcher.store.db import Database
from watcher.store.models import DeliveryState
from watcher.store.outbox import backoff

__all__ = ["FeedbackLoop", "RecordReport", "UpdateReport"]

log = structlog.get_logger("watcher.feedback")

MAX_ATTEMPTS = 8  # as for alerts: about 21 minutes of trying
CLAIM_LEASE = 60.0  # seconds


@dataclass
class RecordReport:
    """What one envelope's clicks did."""

    judgments_new: int = 0
    judgments_changed: int = 0  # an analyst changed their verdict
    unchanged: int = 0  # a redelivered envelope or a repeated click
    unknown: int = 0  # a token we never issued (another install's message?)
    muted: list[str] = field(default_factory=list)  # sources muted


@dataclass
class UpdateReport:
    """What one `update_messages` run did."""

    updated: int = 0
    retried: int = 0
    failed: int = 0


class FeedbackLoop:
    """Records clicks and updates the judged messages; thread-safe (calls take turns)."""

    def __init__(
        self,
        db: Database,
        updater: MessageUpdater,
        rule_names: Callable[[], Mapping[str, str]],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_attempts: int = MAX_ATTEMPTS,
        claim_lease: float = CLAIM_LEASE,
    ) -> None:
        self.db = db
        self.updater = updater
        self.rule_names = rule_names
        self.clock = clock
        self.max_attempts = max_attempts
        self.claim_lease = timedelta(seconds=claim_lease)
        self._updating = threading.Lock()

    def record(self, clicks: Sequence[Click]) -> RecordReport:
        """Store the clicks of one envelope in one transaction (before it is acknowledged)."""
        report = RecordReport()
        now = self.clock()
        with self.db.session() as session:
            for click in clicks:
                if click.action is FeedbackAction.MUTE_SOURCE:
                    name = store.mute_by_token(
                        session, click.token, by=f"@{click.analyst_name}", now=now
                    )
                    if name is None:
                        report.unknown += 1
                    else:
                        report.muted.append(name)
                    continue
                done = store.record_click(session, click, now=now)
                if done.alert_id is None:
                    report.unknown += 1
                elif done.created:
                    report.judgments_new += 1
                elif done.changed:
                    report.judgments_changed += 1
                else:
                    report.unchanged += 1
        for click in clicks:
            log.info(
                "feedback_click",
                action=click.action.value,
                analyst=click.analyst_id,
                envelope=click.envelope_id,
            )
        for name in report.muted:
            log.warning("source_muted", source=name, by="analyst")
        return report

    def update_messages(self) -> UpdateReport:
        """Send every due message update (see the module docstring)."""
        report = UpdateReport()
        with self._updating:
            while True:
                now = self.clock()
                with self.db.session() as session:
                    items = store.pending_updates(session, now=now, limit=20)
                if not items:
                    return report
                progressed = False
                for item in items:
                    progressed = self._update(item, report) or progressed
                if not progressed:
                    return report

    def _update(self, item: store.UpdateItem, report: UpdateReport) -> bool:
        alert_id = item.message.alert_id
        now = self.clock()
        with self.db.session() as session:
            if not store.claim_update(session, alert_id, now=now, lease=self.claim_lease):
                return False
            attempts = store.update_attempts(session, alert_id)
            # The verdicts as they are now (a click may have come since the list was read).
            feedback = store.feedback_for(session, alert_id)
        payload = build_alert(
            item.message, rule_names=self.rule_names(), now=item.sent_at, feedback=feedback
        )
        result = self.updater.update(payload, channel=item.channel, ts=item.ts)
        fields = {"alert": alert_id, "channel": item.channel, "error": result.error}
        with self.db.session() as session:
            if result.outcome is DeliveryOutcome.SENT:
                store.mark_update(session, alert_id, DeliveryState.SENT)
                report.updated += 1
                log.info("feedback_message_updated", alert=alert_id, channel=item.channel)
                return True
            if result.outcome is DeliveryOutcome.RETRY:
                wait = (
                    timedelta(seconds=max(1.0, result.retry_after))
                    if result.retry_after is not None
                    else backoff(attempts)
                )
                error = result.error or "retry"
                if store.retry_update(
                    session, alert_id, error=error, at=now + wait, max_attempts=self.max_attempts
                ):
                    report.retried += 1
                    log.warning("feedback_update_retry", **fields, attempts=attempts)
                else:
                    report.failed += 1
                    log.error("feedback_update_failed", **fields, attempts=attempts)
                return True
            state = DeliveryState.FAILED
            if result.outcome in (DeliveryOutcome.DEAD_MESSAGE, DeliveryOutcome.DEAD_ROUTE):
                state = DeliveryState.DEAD
            store.mark_update(session, alert_id, state, error=result.error or "failed")
            report.failed += 1
            log.error("feedback_update_failed", **fields, outcome=result.outcome.value)
            return True
