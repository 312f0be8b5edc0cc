"""The real daemon (`python -m watcher run`) with a Slack app: buttons, clicks, stop.

It polls a local feed, posts the alert with its feedback buttons through the
Slack stand-in, opens Socket Mode with the app token, stores a click and
updates the message, survives a cut connection, and still stops within
10 s of SIGTERM with the socket open, printing neither token.
"""

from __future__ import annotations

import json
import secrets
import signal
from pathlib import Path

from tests.feedback_helpers import click_payload
from tests.support.httpserver import LocalSite
from tests.support.slackstub import SlackStub
from tests.test_daemon_helpers import (
    ARTICLES,
    RULE_AUKUS_JAPAN,
    DaemonProcess,
    base_env,
    free_port,
    http_get,
    rows,
    serve_pages,
    set_feed,
    write_atomically,
    write_config,
)
from watcher.model import FeedbackAction

A1 = next(iter(ARTICLES))


def _tokens_in(post: dict[str, object]) -> set[str]:
    blocks = post.get("blocks")
    parsed = json.loads(blocks) if isinstance(blocks, str) else blocks or []
    return {
        e["value"]
        for b in parsed
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] in ("feedback_relevant", "feedback_not_relevant")
    }


def _start(
    local_site: LocalSite, slack_stub: SlackStub, tmp_path: Path, **slack: str
) -> tuple[DaemonProcess, str, str]:
    """The daemon polling one feed with A1, alerting through the stand-in with `slack`
    variables; (the process, its listen address, its database URL)."""
    slack_stub.valid_tokens = set(slack.values())
    serve_pages(local_site)
    set_feed(local_site, "/feed.xml", [A1], "v1")
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    write_atomically(rules_dir / "aukus-japan.yaml", RULE_AUKUS_JAPAN)
    config = tmp_path / "watcher.toml"
    listen = f"127.0.0.1:{free_port()}"
    write_config(config, rules_dir, listen, [("Gazette", local_site.url("/feed.xml"))])
    database_url = f"sqlite:///{tmp_path / 'watcher.db'}"
    env = base_env(database_url)
    env.update(slack, WATCHER_SLACK_BASE_URL=slack_stub.base_url)
    return DaemonProcess(config, env, tmp_path), listen, database_url


def test_the_daemon_hears_clicks_over_socket_mode_and_stops_within_10_s(
    local_site: LocalSite, slack_stub: SlackStub, tmp_path: Path
) -> None:
    bot = "xoxb-" + secrets.token_hex(16)
    app = "xapp-1-A000-" + secrets.token_hex(16)
    daemon, listen, database_url = _start(
        local_site, slack_stub, tmp_path, SLACK_BOT_TOKEN=bot, SLACK_APP_TOKEN=app
    )
    sm = slack_stub.socket_mode

    def judged() -> list[tuple[object, ...]]:
        return rows(database_url, "SELECT alert_id, analyst_id, verdict FROM judgments")

    try:
        daemon.wait_for("the socket", lambda: sm.open_connections == 1, timeout=30)
        daemon.wait_for("the alert", slack_stub.posts, timeout=30)
        (token,) = _tokens_in(slack_stub.posts()[0])
        status, body = http_get(f"http://{listen}/healthz")
        assert status == 200, body
        assert json.loads(body)["feedback"] == "connected"

        first = sm.send(click_payload(token, FeedbackAction.NOT_RELEVANT))
        daemon.wait_for("the ack", lambda: sm.acked(first))
        daemon.wait_for("the judgment", judged)
        daemon.wait_for("the message update", slack_stub.updates)
        assert "Not relevant — @alice" in str(slack_stub.updates()[-1]["blocks"])

        sm.drop()  # cut mid-run; a click while it is down waits for the new connection
        second = sm.send(
            click_payload(token, FeedbackAction.RELEVANT, user="U0BOB", username="bob")
        )
        daemon.wait_for("the reconnection", lambda: sm.connections >= 2, timeout=30)
        daemon.wait_for("the held click's ack", lambda: sm.acked(second), timeout=15)
        daemon.wait_for("both judgments", lambda: len(judged()) == 2)
        assert sm.open_connections == 1

        code, seconds = daemon.stop(signal.SIGTERM)
        assert code == 0, daemon.tail()
        assert seconds < 10.0
    finally:
        daemon.close()
    assert sorted(judged()) == [(1, "U0ALICE", "not_relevant"), (1, "U0BOB", "relevant")]
    assert all(seconds < 3.0 for _e, seconds in sm.acks)
    assert daemon.named("socket_mode_stopped")
    output = daemon.log_path.read_text(encoding="utf-8", errors="replace")
    assert bot not in output
    assert app not in output
    assert not any(t in output for t in sm.tickets)


def test_with_a_bot_token_only_alerts_carry_no_buttons_and_no_socket_opens(
    local_site: LocalSite, slack_stub: SlackStub, tmp_path: Path
) -> None:
    bot = "xoxb-" + secrets.token_hex(16)
    daemon, _listen, _url = _start(local_site, slack_stub, tmp_path, SLACK_BOT_TOKEN=bot)
    try:
        daemon.wait_for("the alert", slack_stub.posts, timeout=30)
        code, _seconds = daemon.stop(signal.SIGTERM)
        assert code == 0, daemon.tail()
    finally:
        daemon.close()
    assert _tokens_in(slack_stub.posts()[0]) == set()
    assert "actions" not in str(slack_stub.posts()[0].get("blocks"))
    assert not [r for r in slack_stub.requests if r.api_method == "apps.connections.open"]
    assert slack_stub.socket_mode.connections == 0
