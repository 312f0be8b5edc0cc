"""Two or three dispatchers racing for one outbox on the real PostgreSQL: each alert posted once.

Claims are a conditional UPDATE (`watcher.store.outbox.claim`); on PostgreSQL
two transactions updating the same row serialise on its row lock, and the
loser re-checks the condition after the winner commits. This runs that race
for real: two or three `Dispatcher`s on separate engines, released together by a
barrier, drain a queue of many alerts on several routes through the Slack
stand-in.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.dispatch_helpers import NAMES, alert_rows, article, articles_in, seed
from tests.support.pg import PostgresServer
from tests.support.slackstub import SlackStub
from watcher.alerts.delivery import SendResult, SlackPayload
from watcher.alerts.slack import SlackBotSender
from watcher.config import AlertsConfig
from watcher.pipeline.dispatch import Dispatcher, DispatchReport
from watcher.store.db import Database, open_database

ROUTES = ("#a", "#b", "#c", "#d")
ARTICLES = 30  # 120 alerts: long enough a race that both dispatchers take part


class TaggedSender:
    """Sends through the Slack stand-in and notes which dispatcher sent what (thread-safe)."""

    def __init__(
        self,
        inner: SlackBotSender,
        name: str,
        log: list[tuple[str, str, str]],
        lock: threading.Lock,
    ) -> None:
        self.inner = inner
        self.name = name
        self.log = log
        self.lock = lock

    def send(self, payload: SlackPayload, *, channel: str, thread_ts: str | None) -> SendResult:
        result = self.inner.send(payload, channel=channel, thread_ts=thread_ts)
        with self.lock:
            self.log.append((self.name, channel, payload.text))
        return result


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    url = pg_server.create_database()
    yield url
    pg_server.drop_database(url)


@pytest.mark.postgres
@pytest.mark.parametrize("count", [2, 3], ids=["two", "three"])
def test_dispatchers_on_postgres_post_every_alert_exactly_once(
    pg_url: str, slack_stub: SlackStub, count: int
) -> None:
    """Started together on one queue (as by two or three daemons), they send all 120 alerts
    between them, each once."""
    names = ("one", "two", "three")[:count]
    setup = open_database(pg_url)
    seed(setup, [article(n, routes=ROUTES) for n in range(1, ARTICLES + 1)])
    setup.dispose()
    expected = {(route, n) for route in ROUTES for n in range(1, ARTICLES + 1)}

    sent_by: list[tuple[str, str, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(count, timeout=30)
    reports: dict[str, DispatchReport] = {}
    errors: list[BaseException] = []
    alerts = AlertsConfig(default_route=ROUTES, budget=10_000)  # no digest in the way

    def drain(name: str, database: Database) -> None:
        try:
            slack = SlackBotSender("xoxb-test", base_url=slack_stub.base_url, timeout=5)
            sender = TaggedSender(slack, name, sent_by, lock)
            dispatcher = Dispatcher(database, sender, lambda: NAMES, pace=0.0, alerts=alerts)
            barrier.wait()
            reports[name] = dispatcher.run()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    databases = {name: open_database(pg_url) for name in names}
    threads = [threading.Thread(target=drain, args=item) for item in databases.items()]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "a dispatcher did not finish in 60 s"
    finally:
        for database in databases.values():
            database.dispose()
    assert errors == []

    # What Slack shows: every alert, each exactly once.
    shown = Counter(
        (channel, n) for channel, _ts, p in slack_stub.delivered for n in articles_in(p["text"])
    )
    assert set(shown) == expected, set(shown) ^ expected
    assert [key for key, count in shown.items() if count != 1] == []
    assert len(slack_stub.delivered) == len(expected)
    # What the dispatchers did: all took part, and none sent what another did.
    assert sum(r.sent for r in reports.values()) == len(expected)
    by_name = Counter(name for name, _channel, _text in sent_by)
    assert set(by_name) == set(names), by_name
    assert sorted(reports) == sorted(names)
    assert [r.errors for r in reports.values()] == [[]] * count
    # What the database recorded: every row sent, claimed exactly once, with its own ts.
    check = open_database(pg_url)
    try:
        rows = alert_rows(check)
    finally:
        check.dispose()
    assert len(rows) == len(expected)
    assert {(r.state, r.attempts) for r in rows} == {("sent", 1)}
    assert len({r.ts for r in rows}) == len(rows)
