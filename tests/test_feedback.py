"""Analysts judge alerts in Slack: the buttons, Socket Mode, idempotent judgments, the update.

Everything goes through real parts: slack-sdk's `WebClient` and its aiohttp
`SocketModeClient` talk to the local Slack stand-in (`tests.support.slackstub`),
which serves the Web API (`chat.postMessage`, `apps.connections.open`,
`chat.update`) and a Socket Mode WebSocket; the database is a real SQLite file.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement

from tests.dispatch_helpers import NAMES, NOW, FakeTime, article, dispatcher, hit, seed
from tests.feedback_helpers import (
    APP_TOKEN,
    BOT_TOKEN,
    click_payload,
    feedback_loop,
    judgments,
    post_alerts,
)
from tests.support.slackstub import Reply, SlackStub
from watcher.alerts.blocks import build_alert
from watcher.alerts.feedback import parse_interaction
from watcher.alerts.slack import SlackBotSender, SlackWebhookSender
from watcher.daemon.socket_mode import FeedbackSocket
from watcher.log import redact_secrets
from watcher.model import AlertMessage, Feedback, FeedbackAction, Verdict
from watcher.store.db import Database, open_database
from watcher.store.judgments import muted_sources

FEEDBACK_IDS = ["feedback_relevant", "feedback_not_relevant"]


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return open_database(f"sqlite:///{tmp_path / 'w.db'}")


@pytest.fixture
def sender(slack_stub: SlackStub) -> SlackBotSender:
    slack_stub.valid_tokens = {BOT_TOKEN, APP_TOKEN}
    return SlackBotSender(BOT_TOKEN, base_url=slack_stub.base_url)


def _actions(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in blocks if b["type"] == "actions"]


def _message(n: int = 1) -> AlertMessage:
    return AlertMessage(
        alert_id=n, route="#a", title=f"Story {n}", url=f"http://127.0.0.1:9/a{n}",
        outlet="outlet.example", published=NOW, hits=(hit(),), story_id=n,
    )  # fmt: skip


# --- 1. buttons ------------------------------------------------------------------------


def test_an_alert_with_feedback_ends_with_valid_buttons_carrying_the_token() -> None:
    """Relevant / Not relevant (exact action_ids) and a confirmed mute, valid for slack-sdk."""
    payload = build_alert(_message(), rule_names=NAMES, now=NOW, feedback=Feedback("tok-123"))
    last = payload.blocks[-1]
    assert last["type"] == "actions"
    ids = [e["action_id"] for e in last["elements"]]
    assert ids == [*FEEDBACK_IDS, "mute_source"]
    assert {e["value"] for e in last["elements"]} == {"tok-123"}
    mute = last["elements"][2]
    assert set(mute["confirm"]) >= {"title", "text", "confirm", "deny"}
    for block in payload.blocks:  # slack-sdk's models accept every block as it is
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()
        assert parsed.to_dict() == block
    parsed_actions = Block.parse(last)
    assert isinstance(parsed_actions, ActionsBlock)
    assert all(isinstance(e, ButtonElement) for e in parsed_actions.elements)


def test_without_feedback_the_alert_is_unchanged_and_has_no_buttons() -> None:
    plain = build_alert(_message(), rule_names=NAMES, now=NOW)
    assert _actions(plain.blocks) == []
    with_buttons = build_alert(_message(), rule_names=NAMES, now=NOW, feedback=Feedback("t"))
    assert with_buttons.blocks[:-1] == plain.blocks


def test_verdicts_show_as_a_context_line_above_the_buttons() -> None:
    feedback = Feedback("t", ((Verdict.NOT_RELEVANT, "alice"), (Verdict.RELEVANT, "<!channel>")))
    payload = build_alert(_message(), rule_names=NAMES, now=NOW, feedback=feedback)
    context = payload.blocks[-2]
    assert context["type"] == "context"
    line = context["elements"][0]["text"]
    assert line.startswith("Not relevant — @alice · Relevant — @")
    assert "<!channel>" not in line  # a name is escaped like any other text from outside
    assert "Not relevant — @alice" in payload.text


def test_a_huge_alert_keeps_its_buttons_within_the_block_budget() -> None:
    from watcher.alerts.blocks import BLOCKS_BUDGET, payload_size

    big = _message()
    many = tuple(hit(f"rule-{i}") for i in range(300))
    big = AlertMessage(**{**big.__dict__, "hits": many, "title": "T" * 5000})
    payload = build_alert(big, rule_names={}, now=NOW, feedback=Feedback("t" * 16))
    assert payload.blocks[-1]["type"] == "actions"
    assert payload_size(payload.blocks) <= BLOCKS_BUDGET
    assert len(payload.blocks) <= 50


def test_posted_alerts_carry_an_opaque_token_per_alert(
    db: Database, sender: SlackBotSender, slack_stub: SlackStub
) -> None:
    """The dispatcher posts buttons whose value is a random token stored for the alert."""
    tokens = post_alerts(db, sender, 1, 2)
    posts = slack_stub.posts()
    assert len(posts) == 2
    for post, token in zip(posts, tokens.values(), strict=True):
        blocks = json.loads(post["blocks"]) if isinstance(post["blocks"], str) else post["blocks"]
        (actions,) = _actions(blocks)
        assert [e["action_id"] for e in actions["elements"]][:2] == FEEDBACK_IDS
        assert {e["value"] for e in actions["elements"]} == {token}
    assert len(set(tokens.values())) == 2
    assert all(len(t) >= 16 and not t.isdigit() for t in tokens.values())


def test_webhook_and_thread_replies_get_no_buttons(db: Database, slack_stub: SlackStub) -> None:
    """A webhook-only setup (no app token: feedback off) posts exactly what it did before."""
    seed(db, [article(1)])
    seed(db, [article(2)], story=1)  # a later copy: a thread reply
    hook = SlackWebhookSender(slack_stub.webhook_url)
    report = dispatcher(db, hook, FakeTime(), pace=0.0, shared_channel=True).run()
    assert report.sent == 2
    for post in slack_stub.webhook_posts():
        assert _actions(post.get("blocks") or []) == []


def test_parse_interaction_reads_our_clicks_and_ignores_the_rest() -> None:
    payload = click_payload("tok", FeedbackAction.RELEVANT, action_ts="1764800000.000100")
    payload["actions"].append({"action_id": "someone_elses", "value": "x", "action_ts": "1"})
    (click,) = parse_interaction(payload, envelope_id="env-1")
    assert click.verdict is Verdict.RELEVANT
    assert (click.token, click.analyst_id, click.analyst_name) == ("tok", "U0ALICE", "alice")
    assert click.clicked_at.timestamp() == pytest.approx(1764800000.0001)
    assert click.envelope_id == "env-1"
    assert parse_interaction({"type": "view_submission"}) == []
    assert parse_interaction({"type": "block_actions", "actions": [{}]}) == []


# --- 2-4. Socket Mode, idempotent judgments, the message update --------------------------


def _run_socket(
    db: Database,
    sender: SlackBotSender,
    slack_stub: SlackStub,
    body: Callable[[FeedbackSocket], Awaitable[None]],
    *,
    ping_interval: float = 0.5,
) -> None:
    """Run `body` with a connected FeedbackSocket on a fresh event loop; always stop it."""

    async def main() -> None:
        socket = FeedbackSocket(
            APP_TOKEN,
            feedback_loop(db, sender),
            base_url=slack_stub.base_url,
            ping_interval=ping_interval,
            retry_tick=0.2,
        )
        await socket.start()
        try:
            await _until(lambda: slack_stub.socket_mode.open_connections == 1, "the connection")
            await body(socket)
        finally:
            await socket.stop()

    asyncio.run(asyncio.wait_for(main(), 60))


async def _until(check: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def test_a_click_is_stored_acknowledged_within_3_s_and_shown_on_the_message(
    db: Database, sender: SlackBotSender, slack_stub: SlackStub
) -> None:
    tokens = post_alerts(db, sender, 1)
    sm = slack_stub.socket_mode

    async def body(_socket: FeedbackSocket) -> None:
        envelope = sm.send(click_payload(tokens[1]))
        await _until(lambda: sm.acked(envelope), "the ack")
        await _until(slack_stub.updates, "chat.update")

    _run_socket(db, sender, slack_stub, body)
    opened = [r for r in slack_stub.requests if r.api_method == "apps.connections.open"]
    assert opened
    assert {r.headers["authorization"] for r in opened} == {f"Bearer {APP_TOKEN}"}
    assert judgments(db) == [(1, "U0ALICE", "not_relevant")]
    ((_envelope, seconds),) = sm.acks
    assert seconds < 3.0
    (update,) = slack_stub.updates()
    assert update["channel"] == "#a"
    ((_channel, posted_ts, _params),) = slack_stub.delivered
    assert update["ts"] == posted_ts  # the alert's own message, as Slack answered its post
    assert "Not relevant — @alice" in str(update["blocks"])
    assert "feedback_relevant" in str(update["blocks"])  # the buttons stay for a change of mind
    (update_request,) = [r for r in slack_stub.requests if r.api_method == "chat.update"]
    assert update_request.headers["authorization"] == f"Bearer {BOT_TOKEN}"


def test_a_redelivered_envelope_and_a_double_click_count_once(
    db: Database, sender: SlackBotSender, slack_stub: SlackStub
) -> None:
    """Same envelope twice, then two clicks of the same button: one judgment, one update."""
    tokens = post_alerts(db, sender, 1)
    sm = slack_stub.socket_mode

    async def body(_socket: FeedbackSocket) -> None:
        first = sm.send(click_payload(tokens[1], action_ts="1764800000.000001"))
        await _until(lambda: sm.acked(first), "the first ack")
        sm.redeliver(first)
        await _until(lambda: len(sm.acks) == 2, "the redelivery's ack")
        again = sm.send(click_payload(tokens[1], action_ts="1764800000.000002"))
        await _until(lambda: sm.acked(again), "the double click's ack")
        await asyncio.sleep(0.5)  # time for any (wrong) extra update to go out

    _run_socket(db, sender, slack_stub, body)
    assert judgments(db) == [(1, "U0ALICE", "not_relevant")]
    assert len(sm.acks) == 3
    assert len(slack_stub.updates()) == 1


def test_the_latest_verdict_wins_and_each_analyst_counts_once(
    db: Database, sender: SlackBotSender, slack_stub: SlackStub
) -> None:
    """Alice changes her mind; an older click delivered late changes nothing; Bob adds his."""
    tokens = post_alerts(db, sender, 1)
    sm = slack_stub.socket_mode

    async def body(_socket: FeedbackSocket) -> None:
        for action, ts, user in (
            (FeedbackAction.RELEVANT, "1764800000.000001", "alice"),
            (FeedbackAction.NOT_RELEVANT, "1764800000.000003", "alice"),
            (FeedbackAction.RELEVANT, "1764800000.000002", "alice"),  # late redelivery
            (FeedbackAction.RELEVANT, "1764800000.000004", "bob"),
        ):
            payload = click_payload(tokens[1], action, user=f"U0{user.upper()}", username=user)
            payload["actions"][0]["action_ts"] = ts
            envelope = sm.send(payload)
            await _until(lambda e=envelope: sm.acked(e), "an ack")  # type: ignore[misc]
        await _until(
            lambda: any("@bob" in str(u["blocks"]) for u in slack_stub.updates()), "Bob's update"
        )

    _run_socket(db, sender, slack_stub, body)
    assert judgments(db) == [(1, "U0ALICE", "not_relevant"), (1, "U0BOB", "relevant")]
    assert "Not relevant — @alice · Relevant — @bob" in str(slack_stub.updates()[-1]["blocks"])


def test_mute_source_button_mutes_the_alerts_source(
    db: Database, sender: SlackBotSender, slack_stub: SlackStub
) -> None:
    tokens = post_alerts(db, sender, 1)
    sm = slack_stub.socket_mode

    async def body(_socket: FeedbackSocket) -> None:
        envelope = sm.send(click_payload(tokens[1], FeedbackAction.MUTE_SOURCE))
        await _until(lambda: sm.acked(envelope), "the ack")

    _run_socket(db, sender, slack_stub, body)
    with db.session() as session:
        muted = muted_sources(session)
    assert list(muted) == ["Harbour Post"]
    assert muted["Harbour Post"][1] == "@alice"
    assert judgments(db) == []


def test_the_socket_dropped_and_restored_mid_run_loses_no_judgment(
    db: Database, sender: SlackBotSender, slack_stub: SlackStub
) -> None:
    """Clicks before, during and after a cut connection and a rotation are all stored."""
    tokens = post_alerts(db, sender, 1, 2, 3, 4)
    sm = slack_stub.socket_mode

    async def body(_socket: FeedbackSocket) -> None:
        before = sm.send(click_payload(tokens[1]))
        await _until(lambda: sm.acked(before), "the first ack")
        sm.drop()  # the TCP connection dies without a close frame
        during = sm.send(click_payload(tokens[2]))  # nobody to deliver it to: kept
        await _until(lambda: sm.connections >= 2, "the reconnection", timeout=20)
        await _until(lambda: sm.acked(during), "the held envelope's ack")
        after = sm.send(click_payload(tokens[3]))
        await _until(lambda: sm.acked(after), "the ack after the reconnection")
        sm.rotate()  # Slack's refresh: a disconnect message, then a new connection
        await _until(lambda: sm.connections >= 3, "the rotation", timeout=20)
        rotated = sm.send(click_payload(tokens[4]))
        await _until(lambda: sm.acked(rotated), "the ack after the rotation")

    _run_socket(db, sender, slack_stub, body)
    assert sorted(a for a, _u, _v in judgments(db)) == [1, 2, 3, 4]
    opened = [r for r in slack_stub.requests if r.api_method == "apps.connections.open"]
    assert len(opened) >= 3  # each connection asked for a fresh URL


def test_an_unstored_click_is_not_acknowledged_and_comes_again(
    db: Database, sender: SlackBotSender, slack_stub: SlackStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the write fails the envelope stays unacknowledged; its redelivery is stored."""
    tokens = post_alerts(db, sender, 1)
    sm = slack_stub.socket_mode

    async def body(socket: FeedbackSocket) -> None:
        real = socket.feedback.record
        calls = []

        def failing_once(clicks: Any) -> Any:
            calls.append(1)
            if len(calls) == 1:
                raise OSError("database away")
            return real(clicks)

        monkeypatch.setattr(socket.feedback, "record", failing_once)
        envelope = sm.send(click_payload(tokens[1]))
        await _until(lambda: calls, "the failed write")
        await asyncio.sleep(0.3)
        assert not sm.acked(envelope)
        sm.redeliver(envelope)
        await _until(lambda: sm.acked(envelope), "the redelivery's ack")

    _run_socket(db, sender, slack_stub, body)
    assert judgments(db) == [(1, "U0ALICE", "not_relevant")]


def test_a_failed_message_update_is_retried_like_a_delivery(
    db: Database, sender: SlackBotSender, slack_stub: SlackStub
) -> None:
    """chat.update answering 503, then a 429, then ok: backoff, Retry-After, then updated."""
    tokens = post_alerts(db, sender, 1)
    clock = FakeTime()
    loop = feedback_loop(db, sender, clock)
    (click,) = parse_interaction(click_payload(tokens[1]))
    assert loop.record([click]).judgments_new == 1
    slack_stub.script(Reply.server_error(503), Reply.rate_limited(7), method="chat.update")
    first = loop.update_messages()
    assert (first.updated, first.retried) == (0, 1)
    assert loop.update_messages().retried == 0  # not due yet: backing off
    clock.advance(6)
    assert loop.update_messages().retried == 1  # the 429
    clock.advance(6)
    assert loop.update_messages().updated == 0  # Retry-After 7 s not over
    clock.advance(2)
    assert loop.update_messages().updated == 1
    assert len(slack_stub.updates()) == 3
    assert loop.update_messages().updated == 0  # nothing left


def test_the_tokens_never_reach_the_logs(
    db: Database, sender: SlackBotSender, slack_stub: SlackStub, caplog: pytest.LogCaptureFixture
) -> None:
    """slack-sdk's own warnings go through the redaction; our events name no token."""
    caplog.set_level(logging.DEBUG)
    tokens = post_alerts(db, sender, 1)
    sm = slack_stub.socket_mode

    async def body(socket: FeedbackSocket) -> None:
        envelope = sm.send(click_payload(tokens[1]))
        await _until(lambda: sm.acked(envelope), "the ack")
        sm.drop()
        await _until(lambda: sm.connections >= 2, "the reconnection", timeout=20)
        assert "xapp" not in repr(socket)

    _run_socket(db, sender, slack_stub, body)
    text = caplog.text
    assert APP_TOKEN not in text
    assert BOT_TOKEN not in text
    assert not any(t in text for t in sm.tickets)
    line = f"connect to wss://x/link/?ticket=abc123&app_id=A with {APP_TOKEN} and {BOT_TOKEN}"
    assert redact_secrets(line) == ("connect to wss://x/link/?ticket=***&app_id=A with *** and ***")


def test_the_app_token_is_read_checked_and_never_shown(tmp_path: Path) -> None:
    """`SLACK_APP_TOKEN` turns feedback on only beside a bot token; a wrong kind is refused."""
    from watcher.config import load_config
    from watcher.errors import ConfigError

    path = tmp_path / "w.toml"
    path.write_text("", encoding="utf-8")
    both = load_config(path, {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": f" {APP_TOKEN} "})
    assert both.slack.app_token == APP_TOKEN
    assert both.slack.interactive
    assert APP_TOKEN not in repr(both)
    assert not load_config(path, {"SLACK_APP_TOKEN": APP_TOKEN}).slack.interactive
    assert not load_config(path, {"SLACK_BOT_TOKEN": BOT_TOKEN}).slack.interactive
    assert load_config(path, {"SLACK_APP_TOKEN": "  "}).slack.app_token is None
    with pytest.raises(ConfigError, match="xapp-") as refused:
        load_config(path, {"SLACK_APP_TOKEN": BOT_TOKEN})
    assert BOT_TOKEN not in str(refused.value)
