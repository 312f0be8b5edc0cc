"""Slack senders against the local Slack stand-in: outcomes, threads, retries, secrets."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable
from urllib.request import Request, urlopen

import pytest

from tests.support.slackstub import Reply, SlackStub
from watcher.alerts.console import ConsoleSender
from watcher.alerts.delivery import DeliveryOutcome, SendResult, SlackPayload
from watcher.alerts.slack import SlackBotSender, SlackWebhookSender
from watcher.config import load_config
from watcher.daemon.app import make_sender
from watcher.errors import ConfigError

TOKEN = "xoxb-0000-secret-token-value"
PAYLOAD = SlackPayload(
    text="*<https://a.example/x|Headline>* fallback",
    blocks=[
        {"type": "section", "text": {"type": "mrkdwn", "text": "*<https://a.example/x|Headline>*"}}
    ],
)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """slack-sdk reads proxy variables; the stub is reached directly."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


def bot(stub: SlackStub, timeout: int = 5) -> SlackBotSender:
    return SlackBotSender(TOKEN, base_url=stub.base_url, timeout=timeout)


def send(sender: SlackBotSender | SlackWebhookSender, thread_ts: str | None = None) -> SendResult:
    return sender.send(PAYLOAD, channel="#aukus-alerts", thread_ts=thread_ts)


def test_bot_posts_and_returns_ts(slack_stub: SlackStub) -> None:
    """A post sends text, blocks, unfurling off and the token, and returns Slack's ts."""
    result = send(bot(slack_stub))
    assert result == SendResult(DeliveryOutcome.SENT, "#aukus-alerts", ts="1700000000.000001")
    (request,) = slack_stub.requests
    assert request.api_method == "chat.postMessage"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.params == {
        "channel": "#aukus-alerts",
        "text": PAYLOAD.text,
        "blocks": PAYLOAD.blocks,
        "unfurl_links": False,
        "unfurl_media": False,
    }


def test_bot_thread_reply_passes_thread_ts(slack_stub: SlackStub) -> None:
    """A reply carries the parent's ts, and ts values increase."""
    sender = bot(slack_stub)
    parent = send(sender)
    reply = send(sender, thread_ts=parent.ts)
    assert slack_stub.posts()[1]["thread_ts"] == parent.ts
    assert reply.ok
    assert reply.ts is not None
    assert parent.ts is not None
    assert reply.ts > parent.ts


def test_rate_limited_is_retry_with_retry_after(slack_stub: SlackStub) -> None:
    """429 with Retry-After gives RETRY and the wait, without sleeping or resending."""
    slack_stub.script(Reply.rate_limited(retry_after=30))
    started = time.monotonic()
    result = send(bot(slack_stub))
    assert time.monotonic() - started < 2
    assert (result.outcome, result.error, result.retry_after) == (
        DeliveryOutcome.RETRY,
        "ratelimited",
        30.0,
    )
    assert len(slack_stub.requests) == 1
    assert send(bot(slack_stub)).ok  # the stub recovers, as Slack does


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error_is_retry(slack_stub: SlackStub, status: int) -> None:
    """A 5xx (with an HTML body) gives RETRY with the status, after exactly one request."""
    slack_stub.script(Reply.server_error(status))
    result = send(bot(slack_stub))
    assert (result.outcome, result.error) == (DeliveryOutcome.RETRY, f"http_{status}")
    assert len(slack_stub.requests) == 1


def test_internal_error_is_retry(slack_stub: SlackStub) -> None:
    """`ok:false, internal_error` (may have posted) gives RETRY."""
    slack_stub.script(Reply.error("internal_error"))
    assert send(bot(slack_stub)).outcome is DeliveryOutcome.RETRY


def test_timeout_is_retry_and_not_resent(slack_stub: SlackStub) -> None:
    """A reply slower than the timeout gives RETRY; the sender does not resend by itself."""
    slack_stub.script(Reply.slow(3))
    result = send(bot(slack_stub, timeout=1))
    assert (result.outcome, result.error) == (DeliveryOutcome.RETRY, "timeout")
    assert len(slack_stub.requests) == 1
    assert len(slack_stub.delivered) == 1  # Slack did post it: the outcome was ambiguous


def test_dropped_connection_is_retry_and_not_resent(slack_stub: SlackStub) -> None:
    """A connection closed after the request gives RETRY, with no automatic resend."""
    slack_stub.script(Reply.disconnect())
    result = send(bot(slack_stub))
    assert result.outcome is DeliveryOutcome.RETRY
    assert result.error is not None
    assert result.error.startswith("connection_error")
    assert len(slack_stub.requests) == 1


def test_refused_connection_is_retry() -> None:
    """Nothing listening on the port gives RETRY."""
    with SlackStub() as stub:
        url = stub.base_url
    result = send(SlackBotSender(TOKEN, base_url=url, timeout=2))
    assert result.outcome is DeliveryOutcome.RETRY
    assert result.error is not None
    assert result.error.startswith("connection_error")


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        ("channel_not_found", DeliveryOutcome.DEAD_ROUTE),
        ("not_in_channel", DeliveryOutcome.DEAD_ROUTE),
        ("is_archived", DeliveryOutcome.DEAD_ROUTE),
        ("invalid_auth", DeliveryOutcome.STOP_AUTH),
        ("token_revoked", DeliveryOutcome.STOP_AUTH),
        ("account_inactive", DeliveryOutcome.STOP_AUTH),
    ],
)
def test_permanent_errors(slack_stub: SlackStub, error: str, outcome: DeliveryOutcome) -> None:
    """Route and auth errors are classified after a single request."""
    slack_stub.script(Reply.error(error))
    result = send(bot(slack_stub))
    assert (result.outcome, result.error) == (outcome, error)
    assert len(slack_stub.requests) == 1


def test_dead_channel_does_not_affect_others(slack_stub: SlackStub) -> None:
    """A channel scripted as archived fails while another channel still gets its posts."""
    slack_stub.set_default(Reply.error("is_archived"), channel="#old")
    sender = bot(slack_stub)
    assert (
        sender.send(PAYLOAD, channel="#old", thread_ts=None).outcome is DeliveryOutcome.DEAD_ROUTE
    )
    assert sender.send(PAYLOAD, channel="#new", thread_ts=None).ok
    assert [c for c, _, _ in slack_stub.delivered] == ["#new"]


def test_channel_script_then_recovery(slack_stub: SlackStub) -> None:
    """A reply scripted for one channel hits only that channel's next call, then Slack recovers."""
    slack_stub.script(Reply.rate_limited(2), Reply.server_error(), channel="#busy")
    sender = bot(slack_stub)
    outcomes = [
        sender.send(PAYLOAD, channel=channel, thread_ts=None).outcome
        for channel in ("#quiet", "#busy", "#busy", "#busy")
    ]
    assert outcomes == [
        DeliveryOutcome.SENT,
        DeliveryOutcome.RETRY,
        DeliveryOutcome.RETRY,
        DeliveryOutcome.SENT,
    ]
    assert [c for c, _, _ in slack_stub.delivered] == ["#quiet", "#busy"]


def test_wrong_token_against_stub(slack_stub: SlackStub) -> None:
    """The stub answers invalid_auth for a token it does not know, which stops delivery."""
    slack_stub.valid_tokens = {"xoxb-the-right-one"}
    assert send(bot(slack_stub)).outcome is DeliveryOutcome.STOP_AUTH


@pytest.mark.parametrize("error", ["invalid_blocks", "msg_too_long", "msg_blocks_too_long"])
def test_bad_blocks_retry_once_as_text(slack_stub: SlackStub, error: str) -> None:
    """After invalid_blocks/msg_too_long the sender posts once more, text-only, and says so."""
    slack_stub.script(Reply.error(error))
    result = send(bot(slack_stub))
    assert result.ok
    assert result.degraded
    first, second = slack_stub.posts()
    assert "blocks" in first
    assert "blocks" not in second
    assert second["text"] == PAYLOAD.text


def test_degraded_refused_again_is_dead_message(slack_stub: SlackStub) -> None:
    """A message refused in both forms is DEAD_MESSAGE after two requests."""
    slack_stub.script(Reply.error("msg_too_long"), Reply.error("msg_too_long"))
    result = send(bot(slack_stub))
    assert (result.outcome, result.degraded) == (DeliveryOutcome.DEAD_MESSAGE, True)
    assert len(slack_stub.requests) == 2


def test_token_never_in_repr_logs_or_results(
    slack_stub: SlackStub, caplog: pytest.LogCaptureFixture
) -> None:
    """The token appears in no repr, log record or SendResult, whatever happens."""
    caplog.set_level(logging.DEBUG)
    sender = bot(slack_stub, timeout=1)
    slack_stub.script(
        Reply.error("invalid_auth"), Reply.server_error(), Reply.slow(2), Reply.rate_limited(5)
    )
    results = [send(sender) for _ in range(5)]
    seen = repr(sender) + str(sender) + repr(results) + caplog.text
    assert "<redacted>" in repr(sender)
    assert TOKEN not in seen
    assert "secret-token" not in seen


def test_webhook_posts_and_ignores_thread(slack_stub: SlackStub) -> None:
    """The webhook sender posts JSON to its URL and returns SENT without ts."""
    sender = SlackWebhookSender(slack_stub.webhook_url, timeout=5)
    result = send(sender, thread_ts="1.000001")
    assert result == SendResult(DeliveryOutcome.SENT, "#aukus-alerts")
    (body,) = slack_stub.webhook_posts()
    assert body == {
        "text": PAYLOAD.text,
        "blocks": PAYLOAD.blocks,
        "unfurl_links": False,
        "unfurl_media": False,
    }


@pytest.mark.parametrize(
    ("reply", "outcome", "error"),
    [
        (Reply.error("channel_not_found"), DeliveryOutcome.DEAD_ROUTE, "channel_not_found"),
        (Reply.error("channel_is_archived"), DeliveryOutcome.DEAD_ROUTE, "channel_is_archived"),
        (Reply.error("no_service"), DeliveryOutcome.STOP_AUTH, "no_service"),
        (Reply.error("invalid_token"), DeliveryOutcome.STOP_AUTH, "invalid_token"),
        (Reply.rate_limited(7), DeliveryOutcome.RETRY, "ratelimited"),
        (Reply.server_error(503), DeliveryOutcome.RETRY, "http_503"),
    ],
)
def test_webhook_errors(
    slack_stub: SlackStub, reply: Reply, outcome: DeliveryOutcome, error: str
) -> None:
    """Webhook error answers (plain-text codes, 429, 5xx) are classified like the Web API's."""
    slack_stub.script(reply, method="webhook")
    result = send(SlackWebhookSender(slack_stub.webhook_url, timeout=5))
    assert (result.outcome, result.error) == (outcome, error)
    assert result.retry_after == (7.0 if error == "ratelimited" else None)


def test_webhook_invalid_blocks_degrades(slack_stub: SlackStub) -> None:
    """A webhook refusing the blocks gets the text-only form once."""
    slack_stub.script(Reply.error("invalid_blocks"), method="webhook")
    result = send(SlackWebhookSender(slack_stub.webhook_url, timeout=5))
    assert result.ok
    assert result.degraded
    assert "blocks" not in slack_stub.webhook_posts()[1]


def test_webhook_url_never_in_repr_or_logs(
    slack_stub: SlackStub, caplog: pytest.LogCaptureFixture
) -> None:
    """The webhook URL (a secret) is in no repr or log record."""
    caplog.set_level(logging.DEBUG)
    sender = SlackWebhookSender(slack_stub.webhook_url, timeout=1)
    slack_stub.script(Reply.server_error(), Reply.slow(2), method="webhook")
    results = [send(sender) for _ in range(3)]
    seen = repr(sender) + repr(results) + caplog.text
    assert "stub-secret" not in seen


def test_the_config_picks_the_sender(slack_stub: SlackStub) -> None:
    """Bot token beats webhook URL; WATCHER_SLACK_BASE_URL sets the base; blank values
    count as unset; nothing set means the console. One factory: `make_sender`."""
    both = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_WEBHOOK_URL": slack_stub.webhook_url}
    config = load_config(None, {**both, "WATCHER_SLACK_BASE_URL": slack_stub.base_url})
    sender = make_sender(config)
    assert isinstance(sender, SlackBotSender)
    assert sender.base_url == slack_stub.base_url
    assert sender.send(PAYLOAD, channel="#a", thread_ts=None).ok
    blank = {"SLACK_BOT_TOKEN": " ", "SLACK_WEBHOOK_URL": slack_stub.webhook_url}
    assert isinstance(make_sender(load_config(None, blank)), SlackWebhookSender)
    stream = io.StringIO()
    console = make_sender(load_config(None, {}), stream=stream)
    assert isinstance(console, ConsoleSender)
    assert console.stream is stream


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SlackBotSender("  "), "SLACK_BOT_TOKEN"),
        (lambda: SlackWebhookSender("hooks.slack.com/x"), "SLACK_WEBHOOK_URL"),
    ],
)
def test_bad_settings_raise_config_error(make: Callable[[], object], message: str) -> None:
    """An empty token or a non-http webhook URL is a configuration error."""
    with pytest.raises(ConfigError, match=message):
        make()


def test_stub_records_forms_and_other_methods(slack_stub: SlackStub) -> None:
    """The stub parses form bodies and answers a call without a token with not_authed."""
    request = Request(slack_stub.base_url + "auth.test", data=b"a=1&b=two", method="POST")
    with urlopen(request, timeout=5) as response:
        assert json.loads(response.read()) == {"ok": False, "error": "not_authed"}
    recorded = slack_stub.requests[-1]
    assert (recorded.api_method, recorded.form) == ("auth.test", {"a": "1", "b": "two"})
