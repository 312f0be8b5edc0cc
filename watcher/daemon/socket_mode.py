"""The Socket Mode connection: Slack delivers the analysts' button clicks over a WebSocket.

    socket = FeedbackSocket(app_token, feedback_loop, base_url=None)
    await socket.start()      # returns at once; connects (and reconnects) in the background
    ...
    await socket.stop()       # at SIGTERM: closes within `STOP_TIMEOUT` seconds

slack-sdk's `SocketModeClient` (aiohttp flavour, on the daemon's loop) asks
`apps.connections.open` for a WebSocket URL with the app-level token,
through the same `base_url` as the Web API, and reconnects by itself when
Slack rotates the connection (a `disconnect` message), closes it, or stops
answering pings.

Each envelope is handled so: an `interactive` envelope's clicks are
recorded in the database first (`FeedbackLoop.record`, off the loop, given
`RECORD_TIMEOUT` seconds), then the envelope is acknowledged, well inside
Slack's 3 s. A click is therefore never acknowledged before it is stored:
if the write fails, the envelope stays unacknowledged and Slack redelivers
it (on this or the next connection), and a redelivery changes nothing once
it is stored. If the write is merely slow, the envelope is acknowledged at
the deadline anyway (the write goes on and commits). Other envelope types
are acknowledged and ignored. After a new or changed judgment the message
updates run at once; a periodic pass (`retry_tick`) retries the failed ones.

Secrets: the tokens and the WebSocket URL (its `ticket` is a credential)
never reach a log line; slack-sdk's loggers are pinned at WARNING and what
they do print goes through the project's one redaction (`watcher.log.redact_secrets`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import structlog
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from watcher.alerts.feedback import parse_interaction
from watcher.daemon.health import off_loop
from watcher.log import RedactingFilter, redact_secrets
from watcher.pipeline.feedback import FeedbackLoop, RecordReport

__all__ = ["FeedbackSocket"]

log = structlog.get_logger("watcher.daemon.socket_mode")

RECORD_TIMEOUT = 2.0  # seconds for storing an envelope's clicks; Slack wants the ack in 3
STOP_TIMEOUT = 1.5  # seconds the connection gets to close at SIGTERM
PING_INTERVAL = 5.0  # seconds between pings; no pong for 4 of them means a stale connection
RETRY_TICK = 5.0  # seconds between passes over message updates that are due again

_SDK_LOGGER = logging.getLogger("watcher.daemon.socket_mode.sdk")
_SDK_LOGGER.setLevel(logging.WARNING)
_SDK_LOGGER.addFilter(RedactingFilter())  # tokens and tickets out of slack-sdk's lines


class _Client(SocketModeClient):
    """slack-sdk's client, logging each established connection as one of our events."""

    connections = 0

    async def connect(self) -> None:
        await super().connect()  # type: ignore[no-untyped-call]
        if not self.closed:
            self.connections += 1
            log.info("socket_mode_connected", connection=self.connections)


class FeedbackSocket:
    """Hears clicks over Socket Mode, records them, acknowledges, updates the messages."""

    def __init__(
        self,
        app_token: str,
        feedback: FeedbackLoop,
        *,
        base_url: str | None = None,
        ping_interval: float = PING_INTERVAL,
        retry_tick: float = RETRY_TICK,
        record_timeout: float = RECORD_TIMEOUT,
    ) -> None:
        self._app_token = app_token
        self.feedback = feedback
        self.base_url = base_url or AsyncWebClient.BASE_URL
        self.ping_interval = ping_interval
        self.retry_tick = retry_tick
        self.record_timeout = record_timeout
        self.acknowledged = 0  # envelopes acknowledged so far
        self._client: _Client | None = None
        self._tasks: list[asyncio.Future[Any]] = []
        self._wake = asyncio.Event()

    def __repr__(self) -> str:
        return f"FeedbackSocket(base_url={self.base_url!r}, app_token=<redacted>)"

    @property
    def connected(self) -> bool:
        client = self._client
        return bool(
            client and client.current_session is not None and not client.current_session.closed
        )

    async def start(self) -> None:
        """Begin connecting in the background (retried until `stop`); returns at once."""
        web = AsyncWebClient(base_url=self.base_url, logger=_SDK_LOGGER)
        self._client = client = _Client(
            app_token=self._app_token,
            web_client=web,
            logger=_SDK_LOGGER,
            ping_interval=self.ping_interval,
        )
        client.socket_mode_request_listeners.append(self._on_request)
        self._tasks = [
            asyncio.ensure_future(client.connect()),
            asyncio.ensure_future(self._retry_updates()),
        ]
        log.info("socket_mode_starting", base_url=self.base_url)

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Close the connection and the background tasks (bounded by `timeout`)."""
        client, self._client = self._client, None
        for task in self._tasks:
            task.cancel()
        if client is not None:
            try:
                await asyncio.wait_for(client.close(), timeout)  # type: ignore[no-untyped-call]
            except (TimeoutError, Exception) as exc:  # stopping: nothing to save
                log.warning("socket_mode_close_failed", error=redact_secrets(repr(exc)))
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=0.5)
        self._tasks = []
        log.info("socket_mode_stopped", acknowledged=self.acknowledged)

    # --- envelopes -----------------------------------------------------------------------

    async def _on_request(self, client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        """Store an envelope's clicks, then acknowledge it (see the module docstring)."""
        report: RecordReport | None = None
        if req.type == "interactive":
            clicks = parse_interaction(req.payload, envelope_id=req.envelope_id)
            if clicks:
                try:
                    report = await off_loop(
                        lambda: self.feedback.record(clicks), timeout=self.record_timeout
                    )
                except TimeoutError:
                    log.warning("feedback_record_slow", envelope=req.envelope_id)
                except Exception as exc:  # not acknowledged: Slack delivers it again
                    log.error(
                        "feedback_record_failed",
                        envelope=req.envelope_id,
                        error=redact_secrets(repr(exc)),
                    )
                    return
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
        self.acknowledged += 1
        log.info("socket_mode_ack", envelope=req.envelope_id, type=req.type)
        if report is not None and (report.judgments_new or report.judgments_changed):
            self._wake.set()

    async def _retry_updates(self) -> None:
        """Run the message updates when a judgment came in, and every `retry_tick` seconds."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.retry_tick)
            self._wake.clear()
            try:
                await off_loop(self.feedback.update_messages)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: the next pass tries again
                log.error("feedback_update_pass_failed", error=redact_secrets(repr(exc)))
