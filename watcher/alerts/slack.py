"""Slack channels: a bot token (`chat.postMessage`) or an incoming webhook, via slack-sdk.

    sender = SlackBotSender(token, base_url=None)   # or SlackWebhookSender(url)
    result = sender.send(payload, channel="#aukus-alerts", thread_ts=None)

Both senders return a `SendResult` for every outcome of the outside world
(see `watcher.alerts.delivery`); they never sleep and never raise for 429,
5xx, timeouts or `ok:false`.

Retries are deliberately *not* done by slack-sdk (`retry_handlers=[]`):

* its default `ConnectionErrorRetryHandler` re-sends a POST after a reset or
  a dropped connection, which may come after Slack already posted the
  message; a resend must go through the outbox so the attempt is recorded
  (duplicates stay possible, but only in that recorded window);
* `RateLimitErrorRetryHandler` sleeps inside the call for `Retry-After`; the
  dispatcher must do the waiting so it keeps per-channel order, keeps other
  channels moving and stays stoppable on SIGTERM.

So 429 becomes RETRY with `retry_after`, and 5xx/timeouts/connection errors
become RETRY; the dispatcher backs off. The only retry done here is the
single text-only fallback after `invalid_blocks`/`msg_too_long`
(`send_with_fallback`).

Secrets: the token and the webhook URL (which embeds one) never appear in a
repr, a log line or a `SendResult`. slack-sdk's own logger is pinned at
WARNING because its DEBUG lines print the webhook URL and message bodies.
"""

from __future__ import annotations

import http.client
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient

from watcher.alerts.delivery import (
    DeliveryOutcome,
    SendResult,
    SlackPayload,
    classify_error,
    parse_retry_after,
    send_with_fallback,
)
from watcher.errors import ConfigError

DEFAULT_TIMEOUT = 15  # seconds per request (slack-sdk takes whole seconds)

_SDK_LOGGER = logging.getLogger("watcher.alerts.slack.sdk")
_SDK_LOGGER.setLevel(logging.WARNING)
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class SlackBotSender:
    """Posts with a bot token through `chat.postMessage`; supports threads and returns `ts`."""

    def __init__(
        self, token: str, *, base_url: str | None = None, timeout: int = DEFAULT_TIMEOUT
    ) -> None:
        if not token.strip():
            raise ConfigError("SLACK_BOT_TOKEN is empty")
        self.base_url = base_url or WebClient.BASE_URL
        self._client = WebClient(
            token=token.strip(),
            base_url=self.base_url,
            timeout=timeout,
            retry_handlers=[],  # the dispatcher retries; see the module docstring
            logger=_SDK_LOGGER,
        )

    def __repr__(self) -> str:
        return f"SlackBotSender(base_url={self.base_url!r}, token=<redacted>)"

    def send(self, payload: SlackPayload, *, channel: str, thread_ts: str | None) -> SendResult:
        """Post to `channel` (in `thread_ts`'s thread); one text-only retry on bad blocks."""
        return send_with_fallback(lambda p: self._post(p, channel, thread_ts), payload)

    def _post(self, payload: SlackPayload, channel: str, thread_ts: str | None) -> SendResult:
        response = _call(
            channel,
            lambda: self._client.chat_postMessage(
                channel=channel,
                text=payload.text,
                blocks=payload.blocks or None,
                thread_ts=thread_ts,
                unfurl_links=payload.unfurl_links,
                unfurl_media=payload.unfurl_media,
            ),
        )
        if isinstance(response, SendResult):
            return response
        ts = response.get("ts")
        reported = response.get("channel")
        return SendResult(
            DeliveryOutcome.SENT,
            channel=reported if isinstance(reported, str) and reported else channel,
            ts=ts if isinstance(ts, str) else None,
        )

    def update(self, payload: SlackPayload, *, channel: str, ts: str) -> SendResult:
        """Replace the message `ts` in `channel` (`chat.update`), e.g. to show a verdict.

        Outcomes are those of `send` (429, 5xx and timeouts are RETRY), without
        the text-only fallback: a message that was posted can be updated as is.
        """
        response = _call(
            channel,
            lambda: self._client.chat_update(
                channel=channel, ts=ts, text=payload.text, blocks=payload.blocks or None
            ),
        )
        if isinstance(response, SendResult):
            return response
        reported = response.get("ts")
        return SendResult(
            DeliveryOutcome.SENT, channel=channel, ts=reported if isinstance(reported, str) else ts
        )


class SlackWebhookSender:
    """Posts to one incoming webhook: its channel is fixed, no threads, no `ts`.

    `channel` and `thread_ts` are accepted for the protocol and ignored: a
    thread reply arrives as a top-level message in the hook's channel.
    """

    def __init__(self, url: str, *, timeout: int = DEFAULT_TIMEOUT) -> None:
        if not url.strip().lower().startswith(("http://", "https://")):
            raise ConfigError("SLACK_WEBHOOK_URL must be an http(s) URL")
        self._client = WebhookClient(
            url=url.strip(), timeout=timeout, retry_handlers=[], logger=_SDK_LOGGER
        )

    def __repr__(self) -> str:
        return "SlackWebhookSender(url=<redacted>)"

    def send(self, payload: SlackPayload, *, channel: str, thread_ts: str | None) -> SendResult:
        """Post to the hook's channel; one text-only retry on bad blocks."""
        return send_with_fallback(lambda p: self._post(p, channel), payload)

    def _post(self, payload: SlackPayload, channel: str) -> SendResult:
        try:
            response = self._client.send(
                text=payload.text,
                blocks=payload.blocks or None,
                unfurl_links=payload.unfurl_links,
                unfurl_media=payload.unfurl_media,
            )
        except Exception as exc:  # transport failures are values; bugs re-raised below
            return _transport_failure(channel, exc)
        body = (response.body or "").strip()
        if response.status_code == 200 and body == "ok":
            return SendResult(DeliveryOutcome.SENT, channel=channel)
        return _failure(channel, response.status_code, body, response.headers)


def _call(channel: str, call: Callable[[], SlackResponse]) -> SlackResponse | SendResult:
    """Slack's answer to a Web API call, or the `SendResult` of its failure."""
    try:
        return call()
    except SlackApiError as exc:
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        return _failure(channel, exc.response.status_code, data.get("error"), exc.response.headers)
    except Exception as exc:  # transport failures are values; bugs re-raised below
        return _transport_failure(channel, exc)


def _failure(channel: str, status: int, error: object, headers: Mapping[str, Any]) -> SendResult:
    """A SendResult for an HTTP answer that was not a success."""
    code = error.strip().lower() if isinstance(error, str) else ""
    if not _CODE.match(code):  # e.g. an HTML error page: report the status instead
        code = "ratelimited" if status == 429 else f"http_{status}"
    outcome = classify_error(code, status=status)
    retry_after = None
    if status == 429 or code in ("ratelimited", "rate_limited"):
        retry_after = parse_retry_after(_header(headers, "retry-after"))
    return SendResult(outcome, channel=channel, error=code, retry_after=retry_after)


def _transport_failure(channel: str, exc: Exception) -> SendResult:
    """No usable HTTP answer: a timeout, a refused or reset connection, a bad URL."""
    if isinstance(exc, SlackClientError):  # e.g. "Invalid URL detected": configuration
        return SendResult(DeliveryOutcome.STOP_AUTH, channel=channel, error="invalid_base_url")
    reason: object = exc.reason if isinstance(exc, URLError) else exc
    if isinstance(reason, TimeoutError):
        return SendResult(DeliveryOutcome.RETRY, channel=channel, error="timeout")
    if isinstance(exc, OSError | http.client.HTTPException):  # URLError is an OSError
        name = type(reason).__name__ if isinstance(reason, BaseException) else type(exc).__name__
        return SendResult(DeliveryOutcome.RETRY, channel=channel, error=f"connection_error: {name}")
    raise exc  # a bug (ours or slack-sdk's), not an outcome of the network


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            first = (value[0] if value else None) if isinstance(value, list | tuple) else value
            return str(first) if first is not None else None
    return None
