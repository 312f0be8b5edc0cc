"""Helpers (no tests here) for the feedback tests: a posted alert, clicks as Slack sends them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from tests.dispatch_helpers import NAMES, FakeTime, article, dispatcher, seed
from watcher.alerts.slack import SlackBotSender
from watcher.model import FeedbackAction
from watcher.pipeline.feedback import FeedbackLoop
from watcher.store.db import Database
from watcher.store.models import AlertFeedbackRow, AlertRow, JudgmentRow

BOT_TOKEN = "xoxb-feedback-test"
APP_TOKEN = "xapp-1-A000-feedback-test"
_ACTION_TS = itertools.count(1)


def post_alerts(
    db: Database, sender: SlackBotSender, *numbers: int, rules: tuple[str, ...] = ("aukus-japan",)
) -> dict[int, str]:
    """Store articles `numbers` and post them with buttons; article number -> button token."""
    seed(db, [article(n, rules=rules) for n in numbers])
    report = dispatcher(db, sender, FakeTime(), pace=0.0, feedback=True).run()
    assert report.sent == len(numbers), report
    with db.session() as session:
        rows = session.execute(
            select(AlertRow.id, AlertFeedbackRow.token)
            .join(AlertFeedbackRow, AlertFeedbackRow.alert_id == AlertRow.id)
            .order_by(AlertRow.id)
        ).all()
    assert len(rows) == len(numbers)
    return {n: token for n, (_id, token) in zip(numbers, rows, strict=True)}


def click_payload(
    token: str,
    action: FeedbackAction = FeedbackAction.NOT_RELEVANT,
    *,
    user: str = "U0ALICE",
    username: str = "alice",
    action_ts: str | None = None,
    channel: str = "#a",
) -> dict[str, Any]:
    """A `block_actions` payload as Slack sends it for a click on one of our buttons."""
    ts = action_ts or f"1764800000.{next(_ACTION_TS):06d}"
    return {
        "type": "block_actions",
        "user": {"id": user, "username": username, "name": username, "team_id": "T000"},
        "api_app_id": "A000",
        "token": "verification-token-unused",
        "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": channel},
        "trigger_id": "123.456.abc",
        "team": {"id": "T000", "domain": "example"},
        "channel": {"id": channel, "name": "a"},
        "message": {"type": "message", "ts": "1700000000.000001", "text": "…"},
        "response_url": "https://hooks.slack.invalid/actions/T000/1/x",
        "actions": [
            {
                "type": "button",
                "block_id": "watcher_feedback",
                "action_id": action.value,
                "value": token,
                "text": {"type": "plain_text", "text": "…", "emoji": True},
                "action_ts": ts,
            }
        ],
    }


def judgments(db: Database) -> list[tuple[int, str, str]]:
    """(alert id, analyst id, verdict) of every stored judgment."""
    with db.session() as session:
        return [
            (j.alert_id, j.analyst_id, j.verdict)
            for j in session.scalars(select(JudgmentRow).order_by(JudgmentRow.id))
        ]


def feedback_loop(
    db: Database, sender: SlackBotSender, clock: FakeTime | None = None
) -> FeedbackLoop:
    now = clock.now if clock else (lambda: datetime.now(UTC))
    return FeedbackLoop(db, sender, lambda: NAMES, clock=now)
