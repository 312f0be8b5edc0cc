"""Assembling the parts from a `Config`: database, rules, pipeline, sender, dispatcher,
and the analysts' feedback loop when Slack is set up for it (bot and app tokens).

The CLI and the daemon both build their objects here, so the wiring exists
in one place.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

from watcher.alerts.delivery import Sender
from watcher.pipeline.cycle import CycleReport, Pipeline, ProgressCallback
from watcher.pipeline.dispatch import Dispatcher, DispatchReport
from watcher.pipeline.feedback import FeedbackLoop
from watcher.rules.active import ActiveRules
from watcher.settings import Config
from watcher.store.db import Database, open_database


def make_sender(config: Config, *, stream: TextIO | None = None) -> Sender:
    """Slack bot (token wins), Slack webhook, or the console when nothing is set."""
    from watcher.alerts.console import ConsoleSender

    slack = config.slack
    if slack.mode == "bot":
        from watcher.alerts.slack import SlackBotSender

        assert slack.bot_token is not None
        return SlackBotSender(slack.bot_token, base_url=slack.base_url)
    if slack.mode == "webhook":
        from watcher.alerts.slack import SlackWebhookSender

        assert slack.webhook_url is not None
        return SlackWebhookSender(slack.webhook_url)
    return ConsoleSender(stream or sys.stdout)


@dataclass
class App:
    """The assembled objects one process uses."""

    config: Config
    db: Database
    rules: ActiveRules
    pipeline: Pipeline
    dispatcher: Dispatcher
    # With SLACK_BOT_TOKEN and SLACK_APP_TOKEN: records clicks and updates messages
    # (the daemon connects it to Slack with `watcher.daemon.socket_mode`).
    feedback: FeedbackLoop | None = None

    def close(self) -> None:
        self.pipeline.close()
        self.db.dispose()


def connect(config: Config) -> Database:
    """Open the configured database and apply pending migrations."""
    return open_database(config.database_url, busy_timeout_ms=config.sqlite_busy_timeout_ms)


def build_app(
    config: Config, *, alert_stream: TextIO | None = None, db: Database | None = None
) -> App:
    """Open (and migrate) the database unless `db` is given, load the rules, build
    pipeline and dispatcher."""
    rules = ActiveRules(config.rules_dir, config.alerts.default_route)
    db = db or connect(config)
    sender = make_sender(config, stream=alert_stream)
    interactive = config.slack.interactive
    feedback = None
    if interactive:
        from watcher.alerts.slack import SlackBotSender

        assert isinstance(sender, SlackBotSender)
        feedback = FeedbackLoop(db, sender, lambda: rules.current().names)
    pace = 1.0 if config.slack.mode != "console" else 0.0  # Slack: ~1 message/s per channel
    dispatcher = Dispatcher(
        db,
        sender,
        lambda: rules.current().names,
        pace=pace,
        alerts=config.alerts,
        # An incoming webhook posts every route to its one channel: pace them together.
        shared_channel=config.slack.mode == "webhook",
        feedback=interactive,
    )
    return App(config, db, rules, Pipeline(config, db, rules), dispatcher, feedback)


@dataclass(frozen=True)
class OnceResult:
    """A whole `run --once`: the cycle and the delivery that followed."""

    cycle: CycleReport
    dispatch: DispatchReport


async def run_once(app: App, *, on_source: ProgressCallback | None = None) -> OnceResult:
    """One full cycle then the outbox: every source not backing off, forced."""
    import asyncio

    cycle = await app.pipeline.run_cycle(force=True, on_source=on_source)
    dispatch = await asyncio.to_thread(app.dispatcher.run, max_wait=60.0)
    cycle.alerts_sent = dispatch.sent
    cycle.alerts_failed = dispatch.dead + dispatch.failed
    cycle.alerts_pending = dispatch.waiting
    return OnceResult(cycle, dispatch)
