"""Pacing, timeouts and concurrent dispatchers against the Slack stand-in (SQLite)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dispatch_helpers import NAMES, FakeTime, Recorder, alert_rows, article, dispatcher, seed
from tests.support.slackstub import Reply, SlackStub
from watcher.alerts.slack import SlackBotSender, SlackWebhookSender
from watcher.pipeline.dispatch import Dispatcher
from watcher.store.db import Database, open_database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'watcher.db'}")
    yield database
    database.dispose()


def bot(stub: SlackStub, timeout: int = 2) -> SlackBotSender:
    return SlackBotSender("xoxb-test", base_url=stub.base_url, timeout=timeout)


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 3) for a, b in itertools.pairwise(times)]


def test_sends_are_paced_one_per_second_per_channel(db: Database, slack_stub: SlackStub) -> None:
    """Each channel gets at most one message per second, and channels do not wait for each other."""
    seed(db, [article(n, routes=("#a", "#b")) for n in (1, 2, 3)])
    clock = FakeTime()
    sender = Recorder(bot(slack_stub), clock.monotonic)
    assert dispatcher(db, sender, clock).run().sent == 6
    for channel in ("#a", "#b"):
        times = [t for c, t, _ in sender.calls if c == channel]
        assert gaps(times) == [1.0, 1.0]
    assert clock.elapsed == pytest.approx(2.0)  # interleaved: 2 s for 3 per channel, not 5


def test_a_webhook_paces_all_routes_together(db: Database, slack_stub: SlackStub) -> None:
    """An incoming webhook posts every route to one channel, so all its sends are 1 s apart."""
    seed(db, [article(n, routes=("#a", "#b")) for n in (1, 2)])
    clock = FakeTime()
    sender = Recorder(SlackWebhookSender(slack_stub.webhook_url, timeout=2), clock.monotonic)
    assert dispatcher(db, sender, clock, shared_channel=True).run().sent == 4
    assert gaps([t for _c, t, _ in sender.calls]) == [1.0, 1.0, 1.0]


def test_pacing_holds_in_real_time(db: Database, slack_stub: SlackStub) -> None:
    """With the real clock, consecutive sends to one channel are at least `pace` apart."""
    seed(db, [article(n) for n in (1, 2, 3)])
    sender = Recorder(bot(slack_stub), time.monotonic)
    report = Dispatcher(db, sender, lambda: NAMES, pace=0.2).run()
    assert report.sent == 3
    assert len(sender.calls) == 3
    assert all(gap >= 0.19 for gap in gaps([t for _c, t, _ in sender.calls]))


def test_a_timeout_is_retried_and_may_duplicate_only_that_message(
    db: Database, slack_stub: SlackStub
) -> None:
    """A send that times out is retried with backoff; Slack may then show it twice, never more."""
    seed(db, [article(1), article(2)])
    slack_stub.script(Reply.slow(1.5))  # posted, but answered after the client gave up
    clock = FakeTime()
    report = dispatcher(db, bot(slack_stub, timeout=1), clock).run(max_wait=60)
    assert (report.sent, report.retried) == (2, 1)
    assert report.errors == ["#a: timeout"]
    urls = [p["text"] for _c, _t, p in slack_stub.delivered]
    assert len(urls) == 3  # article 1 twice (the timeout's ambiguity), article 2 once
    assert clock.sleeps[:1] == [pytest.approx(5.0)]
    assert [r.state for r in alert_rows(db)] == ["sent", "sent"]


def test_two_dispatchers_on_one_outbox_never_post_an_alert_twice(
    tmp_path: Path, slack_stub: SlackStub
) -> None:
    """Claims are exclusive: two dispatchers draining the same database post each alert once."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    setup = open_database(url)
    seed(setup, [article(n, routes=("#a", "#b", "#c")) for n in range(1, 9)])
    setup.dispose()
    databases = [open_database(url) for _ in range(2)]
    reports = []

    def drain(database: Database) -> None:
        reports.append(Dispatcher(database, bot(slack_stub), lambda: NAMES, pace=0.0).run())

    threads = [threading.Thread(target=drain, args=(d,)) for d in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for database in databases:
        database.dispose()
    assert sum(r.sent for r in reports) == 24
    posted = [(c, p["text"]) for c, _t, p in slack_stub.delivered]
    assert len(posted) == 24
    assert len(set(posted)) == 24
