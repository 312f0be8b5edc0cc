"""The dispatcher against the Slack stand-in, on SQLite and PostgreSQL: stories, digests, bursts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.dispatch_helpers import (
    FakeTime,
    alert_rows,
    article,
    articles_in,
    dispatcher,
    seed,
    shown,
)
from tests.support.slackstub import Reply, SlackStub
from watcher.alerts.slack import SlackBotSender, SlackWebhookSender
from watcher.settings import AlertsConfig, RouteConfig
from watcher.store.db import Database, open_database


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    yield database
    database.dispose()


def bot(stub: SlackStub) -> SlackBotSender:
    return SlackBotSender("xoxb-test", base_url=stub.base_url, timeout=2)


def test_every_alert_is_delivered_once_and_a_rerun_sends_nothing(
    db: Database, slack_stub: SlackStub
) -> None:
    """Each (article, route) row is posted once, recorded with Slack's ts, and never again."""
    seed(db, [article(n, routes=("#a", "#b")) for n in (1, 2, 3)])
    clock = FakeTime()
    report = dispatcher(db, bot(slack_stub), clock).run()
    assert (report.sent, report.waiting, report.errors) == (6, 0, [])
    assert sorted(shown(slack_stub.delivered)) == sorted(
        [("#a", [1]), ("#a", [2]), ("#a", [3]), ("#b", [1]), ("#b", [2]), ("#b", [3])]
    )
    rows = alert_rows(db)
    assert {r.state for r in rows} == {"sent"}
    assert {r.ts for r in rows} == {ts for _c, ts, _p in slack_stub.delivered}
    assert all(r.attempts == 1 and r.channel in ("#a", "#b") for r in rows)
    again = dispatcher(db, bot(slack_stub), clock).run()  # a restart: a new dispatcher
    assert again.sent == 0
    assert len(slack_stub.posts()) == 6


def test_a_later_article_of_a_story_is_a_thread_reply(db: Database, slack_stub: SlackStub) -> None:
    """The story's second article is posted in the first message's thread, "also reported by"."""
    story = seed(db, [article(1)])[0].story_id
    seed(db, [article(2)], story=story)
    dispatcher(db, bot(slack_stub), FakeTime()).run()
    first, second = slack_stub.posts("#a")
    parent_ts = slack_stub.delivered[0][1]
    assert "thread_ts" not in first
    assert second["thread_ts"] == parent_ts
    assert second["text"].startswith("Also reported by *outlet2.example*")
    assert [r.kind for r in alert_rows(db)] == ["alert", "reply"]


def test_without_ts_a_webhook_posts_the_reply_top_level(
    slack_stub: SlackStub, tmp_path: Path
) -> None:
    """Through an incoming webhook (no ts) the later article is a top-level "also reported by"."""
    db = open_database(f"sqlite:///{tmp_path / 'w.db'}")
    story = seed(db, [article(1)])[0].story_id
    seed(db, [article(2)], story=story)
    sender = SlackWebhookSender(slack_stub.webhook_url, timeout=2)
    report = dispatcher(db, sender, FakeTime(), shared_channel=True).run()
    db.dispose()
    assert report.sent == 2
    first, second = slack_stub.webhook_posts()
    assert "Also reported by" not in first["text"]
    assert second["text"].startswith("Also reported by")
    assert "thread_ts" not in second


def test_a_reply_whose_parent_is_dead_becomes_a_top_level_alert(
    db: Database, slack_stub: SlackStub
) -> None:
    """When the story's first message is refused for good, the next article is the story's alert."""
    story = seed(db, [article(1)])[0].story_id
    seed(db, [article(2)], story=story)
    slack_stub.script(Reply.error("msg_too_long"), Reply.error("msg_too_long"))  # degraded too
    report = dispatcher(db, bot(slack_stub), FakeTime()).run()
    assert (report.dead, report.sent) == (1, 1)
    posted = slack_stub.delivered[0][2]
    assert "thread_ts" not in posted
    assert articles_in(posted["text"]) == [2]
    assert posted["blocks"][0]["type"] == "header"  # a full alert, not a reply line
    dead, promoted = alert_rows(db)
    assert (dead.state, dead.last_error) == ("dead", "msg_too_long")
    assert (promoted.kind, promoted.parent_id, promoted.state) == ("alert", None, "sent")


def test_a_digest_route_gets_one_message_per_interval(db: Database, slack_stub: SlackStub) -> None:
    """A digest route collects its stories and posts one message listing them, grouped by rule."""
    alerts = AlertsConfig(routes=(("#d", RouteConfig("digest", timedelta(hours=1))),))
    seed(db, [article(1, routes=("#d", "#a")), article(2, rules=("clearance",), routes=("#d",))])
    clock = FakeTime()
    first = dispatcher(db, bot(slack_stub), clock, alerts=alerts).run()
    assert (first.sent, first.held, first.waiting) == (1, 2, 2)
    assert shown(slack_stub.delivered) == [("#a", [1])]
    clock.advance(3600)
    seed(db, [article(3, routes=("#d",))], now=clock.now())
    second = dispatcher(db, bot(slack_stub), clock, alerts=alerts).run()
    assert (second.digests, second.sent, second.waiting) == (1, 3, 0)
    channel, ts, params = slack_stub.delivered[-1]
    assert channel == "#d"
    assert params["text"].startswith(":newspaper: Digest: 3 stories")
    assert sorted(articles_in(params["text"])) == [1, 2, 3]
    assert params["text"].index("Security clearance law") > params["text"].index("AUKUS and Japan")
    digest_rows = [r for r in alert_rows(db) if r.route == "#d"]
    assert {(r.state, r.ts) for r in digest_rows} == {("sent", ts)}
    clock.advance(3600)
    assert dispatcher(db, bot(slack_stub), clock, alerts=alerts).run().digests == 0  # nothing new


def test_the_digest_job_can_force_a_digest_out(db: Database, slack_stub: SlackStub) -> None:
    """`digest(force=True)` posts the held stories now; `digest()` waits for the interval."""
    alerts = AlertsConfig(routes=(("#d", RouteConfig("digest", timedelta(hours=6))),))
    seed(db, [article(1, routes=("#d",))])
    clock = FakeTime()
    sender = dispatcher(db, bot(slack_stub), clock, alerts=alerts)
    assert sender.run().held == 1
    assert sender.digest().digests == 0
    assert sender.digest(force=True).digests == 1
    assert shown(slack_stub.delivered) == [("#d", [1])]


def test_a_rule_over_budget_switches_to_digest_with_one_burst_notice(
    db: Database, slack_stub: SlackStub
) -> None:
    """Past `budget` alerts in the window a rule's alerts are held, one notice is posted, and the
    budget survives a restart."""
    alerts = AlertsConfig(budget=2, budget_window=timedelta(hours=1))
    clock = FakeTime()
    seed(db, [article(n) for n in (1, 2, 3)])
    first = dispatcher(db, bot(slack_stub), clock, alerts=alerts).run()
    assert (first.sent, first.held, first.bursts) == (2, 1, 1)
    clock.advance(60)
    seed(db, [article(n) for n in (4, 5)], now=clock.now())
    second = dispatcher(db, bot(slack_stub), clock, alerts=alerts).run()  # after a restart
    assert (second.sent, second.held, second.bursts) == (0, 2, 0)
    texts = [params["text"] for _c, _ts, params in slack_stub.delivered]
    assert len(texts) == 3
    assert "*Burst:* *AUKUS and Japan*" in texts[2]
    assert "3 stories in the last 1 h" in texts[2]
    clock.advance(3600)
    third = dispatcher(db, bot(slack_stub), clock, alerts=alerts).run()
    assert (third.digests, third.sent, third.waiting) == (1, 3, 0)
    assert sorted(articles_in(slack_stub.delivered[-1][2]["text"])) == [3, 4, 5]
    seed(db, [article(6)], now=clock.now())  # the window is over: instant again
    assert dispatcher(db, bot(slack_stub), clock, alerts=alerts).run().sent == 1
    assert shown(slack_stub.delivered[-1:]) == [("#a", [6])]


def test_a_dead_route_is_dead_lettered_while_other_routes_continue(
    db: Database, slack_stub: SlackStub
) -> None:
    """`channel_not_found` dead-letters that route's alerts with the reason; replay sends them."""
    seed(db, [article(n, routes=("#gone", "#a")) for n in (1, 2)])
    slack_stub.set_default(Reply.error("channel_not_found"), channel="#gone")
    clock = FakeTime()
    report = dispatcher(db, bot(slack_stub), clock).run()
    assert (report.sent, report.dead) == (2, 2)
    assert len(slack_stub.posts("#gone")) == 1  # one refusal is enough for the route
    assert shown(slack_stub.delivered) == [("#a", [1]), ("#a", [2])]
    dead = [r for r in alert_rows(db) if r.route == "#gone"]
    assert {(r.state, r.last_error) for r in dead} == {("dead", "channel_not_found")}

    from watcher.store.outbox import replay_dead

    slack_stub.set_default(None, channel="#gone")  # the bot was invited
    with db.session() as session:
        assert replay_dead(session, "#gone") == 2
    assert dispatcher(db, bot(slack_stub), clock).run().sent == 2
    assert [c for c, _t, _p in slack_stub.delivered].count("#gone") == 2


def test_an_auth_failure_stops_sending_keeps_the_queue_and_retries_once_after_restart(
    db: Database, slack_stub: SlackStub
) -> None:
    """`invalid_auth` stops all sending with the queue intact; a restart tries once more."""
    seed(db, [article(n, routes=("#a", "#b")) for n in (1, 2)])
    slack_stub.valid_tokens = {"xoxb-good"}
    clock = FakeTime()
    stopped = dispatcher(db, bot(slack_stub), clock)
    report = stopped.run()
    assert (report.auth_error, report.sent, report.waiting) == ("invalid_auth", 0, 4)
    assert stopped.auth_error == "invalid_auth"
    assert len(slack_stub.requests) == 1
    assert stopped.run().auth_error == "invalid_auth"
    assert len(slack_stub.requests) == 1  # stays stopped: no loop against Slack
    rows = alert_rows(db)
    assert {(r.state, r.attempts) for r in rows} == {("pending", 0)}
    assert rows[0].last_error == "invalid_auth"
    assert dispatcher(db, bot(slack_stub), clock).run().auth_error == "invalid_auth"
    assert len(slack_stub.requests) == 2  # the restarted dispatcher tried exactly once
    slack_stub.valid_tokens = None  # the operator fixed the token
    stopped.resume()
    assert stopped.run().sent == 4


def test_a_rate_limit_waits_retry_after_and_keeps_the_channel_order(
    db: Database, slack_stub: SlackStub
) -> None:
    """A 429 on one channel delays that channel by Retry-After without reordering it; others go."""
    seed(db, [article(n, routes=("#a",)) for n in (1, 2, 3)])
    seed(db, [article(n, routes=("#b",)) for n in (4, 5)])
    slack_stub.script(Reply.rate_limited(30), channel="#a")
    clock = FakeTime()
    report = dispatcher(db, bot(slack_stub), clock).run(max_wait=120)
    assert (report.sent, report.retried, report.waiting) == (5, 1, 0)
    assert [n for c, ns in shown(slack_stub.delivered) if c == "#a" for n in ns] == [1, 2, 3]
    assert [n for c, ns in shown(slack_stub.delivered) if c == "#b" for n in ns] == [4, 5]
    assert max(clock.sleeps) >= 29.0
    assert 30.0 <= clock.elapsed < 40.0
    assert alert_rows(db)[0].attempts == 1  # the 429 did not count as a failed attempt


def test_server_errors_back_off_by_the_rows_own_attempts(
    db: Database, slack_stub: SlackStub
) -> None:
    """5xx answers are retried 5 s then 10 s later (the row's own attempts), then delivered once."""
    seed(db, [article(1)])
    slack_stub.script(Reply.server_error(503), Reply.server_error(500))
    clock = FakeTime()
    report = dispatcher(db, bot(slack_stub), clock).run(max_wait=60)
    assert (report.sent, report.retried) == (1, 2)
    assert [round(s) for s in clock.sleeps] == [5, 10]
    assert len(slack_stub.delivered) == 1
    assert alert_rows(db)[0].attempts == 3


def test_retries_stop_at_the_cap_with_the_last_error(db: Database, slack_stub: SlackStub) -> None:
    """A message that keeps failing ends `failed` with its last error after `max_attempts`."""
    seed(db, [article(1)])
    slack_stub.set_default(Reply.server_error(503))
    report = dispatcher(db, bot(slack_stub), FakeTime(), max_attempts=4).run(max_wait=10_000)
    assert (report.failed, report.retried, report.waiting) == (1, 3, 0)
    assert len(slack_stub.requests) == 4
    row = alert_rows(db)[0]
    assert (row.state, row.last_error) == ("failed", "gave up after 4 attempts: http_503")


def test_a_storys_later_article_joins_the_same_digest(db: Database, slack_stub: SlackStub) -> None:
    """On a digest route a story appears once, its later article counted as another report."""
    alerts = AlertsConfig(routes=(("#d", RouteConfig("digest", timedelta(hours=1))),))
    story = seed(db, [article(1, routes=("#d",))])[0].story_id
    seed(db, [article(2, routes=("#d",))], story=story)
    clock = FakeTime()
    dispatcher_ = dispatcher(db, bot(slack_stub), clock, alerts=alerts)
    assert dispatcher_.run().held == 2
    assert dispatcher_.digest(force=True).sent == 2
    (text,) = [params["text"] for _c, _ts, params in slack_stub.delivered]
    assert text.startswith(":newspaper: Digest: 1 story")
    assert "(+1 more report)" in text
