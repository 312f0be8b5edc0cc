"""A stand-in for Slack's Web API and incoming webhooks on 127.0.0.1 (pytest fixture `slack_stub`).

slack-sdk reaches it through `base_url`, as slack-sdk's own tests do::

    def test_posts(slack_stub):
        client = WebClient(token="xoxb-test", base_url=slack_stub.base_url)
        client.chat_postMessage(channel="#a", text="hi")
        assert slack_stub.posts()[0]["text"] == "hi"

Addresses:
    `slack_stub.base_url`     "http://127.0.0.1:PORT/api/"  (Web API: POST /api/<method>)
    `slack_stub.webhook_url`  "http://127.0.0.1:PORT/services/T000/B000/stub-secret"

Socket Mode (`slack_stub.socket_mode`, a `SocketModeStub`: an aiohttp server on its own
port, as Slack's WebSocket host is not the Web API's):
    apps.connections.open   with an `xapp-` bearer: `{"ok": true, "url": "ws://…/link/?ticket=…"}`
                            (a bot token gets `not_allowed_token_type`)
    the WebSocket           sends `hello` on connect; `send(payload)` delivers an envelope,
                            `redeliver(id)` the same one again; unacknowledged envelopes are
                            delivered again on the next connection, as Slack does; `rotate()`
                            sends a `disconnect` (refresh_requested), `drop()` cuts every
                            connection without a close frame; `acks` records each ack
                            `(envelope_id, seconds after the last delivery)`.

Default answers:
    chat.postMessage  200 `{"ok": true, "channel": <as asked>, "ts": "<increasing>",
                      "message": {...}}`; ts values increase ("1700000000.000001", ...)
    webhook           200 `ok` (text/plain)
    any other method  200 `{"ok": true}`
    no bearer token   `{"ok": false, "error": "not_authed"}`; when `valid_tokens` is set,
                      any other token gets `invalid_auth`

Scripting (thread-safe; replies are `Reply` values):
    `script(*replies, method="chat.postMessage", channel=None)`  queue replies, one per call;
        when the queue is empty the stub recovers to its default. With `channel`, the queue
        applies to that channel only (consulted before the method-wide queue).
        Use `method="webhook"` for the webhook endpoint.
    `set_default(reply, method=..., channel=None)`  a standing answer until changed
        (`None` restores the built-in default).
    Replies: `Reply.ok()`, `Reply.error("channel_not_found")` (ok:false, HTTP 200; webhooks
        answer the code as text with a 4xx status), `Reply.rate_limited(retry_after=30)`
        (429 + Retry-After), `Reply.server_error(500)` (HTML body), `Reply.slow(seconds,
        then=Reply.ok())` (answers after a delay: the client may time out although the
        message *was* posted), `Reply.disconnect()` (reads the request, closes without
        answering), or `Reply(status=..., body=..., headers=...)` for anything else.

Recording:
    `requests`        every request as a `RecordedRequest` (method, path, lower-cased
                      headers, raw body, parsed `form`/`json`, `api_method`, `params`)
    `posts(channel)`  the parameters of every chat.postMessage call (or one channel's)
    `webhook_posts()` the JSON bodies sent to the webhook
    `delivered`       the `(channel, ts, params)` of every post answered with success,
                      i.e. what a Slack channel would now show (slow replies included)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import WSMsgType, web

WEBHOOK_PATH = "/services/T000/B000/stub-secret"
_WEBHOOK_STATUS = {  # what Slack's incoming webhooks answer for these codes
    "invalid_payload": 400,
    "invalid_blocks": 400,
    "no_text": 400,
    "invalid_token": 403,
    "action_prohibited": 403,
    "channel_not_found": 404,
    "no_service": 404,
    "channel_is_archived": 410,
}


@dataclass(frozen=True)
class Reply:
    """One scripted answer. `body=None` means the endpoint's default success."""

    status: int = 200
    body: dict[str, Any] | str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    drop: bool = False  # close the connection without answering

    @classmethod
    def ok(cls) -> Reply:
        return cls()

    @classmethod
    def error(cls, code: str, *, status: int | None = None) -> Reply:
        """`ok:false` with `code` (the webhook endpoint answers the code as text)."""
        return cls(status=status or 0, body={"ok": False, "error": code})

    @classmethod
    def rate_limited(cls, retry_after: int | str = 30) -> Reply:
        return cls(
            status=429,
            body={"ok": False, "error": "ratelimited"},
            headers=(("Retry-After", str(retry_after)),),
        )

    @classmethod
    def server_error(cls, status: int = 500) -> Reply:
        return cls(status=status, body="<html><body>Internal Server Error</body></html>")

    @classmethod
    def slow(cls, seconds: float, then: Reply | None = None) -> Reply:
        base = then or cls()
        return cls(base.status, base.body, base.headers, delay=seconds, drop=base.drop)

    @classmethod
    def disconnect(cls) -> Reply:
        return cls(drop=True)


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the stub received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    form: dict[str, str] = field(default_factory=dict)
    json: Any = None

    @property
    def api_method(self) -> str:
        """`chat.postMessage`-style name, or "webhook"."""
        if self.path.startswith("/services/"):
            return "webhook"
        return self.path.split("?")[0].removeprefix("/api/")

    @property
    def params(self) -> dict[str, Any]:
        """The call's parameters, from the JSON body or the form."""
        return dict(self.json) if isinstance(self.json, dict) else dict(self.form)


class SocketModeStub:
    """Slack's Socket Mode WebSocket host (see the module docstring); thread-safe."""

    def __init__(self) -> None:
        self.acks: list[tuple[str, float]] = []
        self.connections = 0  # WebSocket connections accepted so far
        self.tickets: list[str] = []
        self._open: list[web.WebSocketResponse] = []
        self._transports: dict[web.WebSocketResponse, asyncio.BaseTransport] = {}
        self._unacked: dict[str, dict[str, Any]] = {}  # envelope id -> envelope
        self._sent_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    def start(self) -> None:
        if self._thread.is_alive():
            return
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)

    def stop(self) -> None:
        if self._runner is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()

    def new_url(self) -> str:
        """A fresh WebSocket URL, as `apps.connections.open` hands out (ticket included)."""
        ticket = uuid.uuid4().hex
        with self._lock:
            self.tickets.append(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id=A000"

    # --- driving it from a test ----------------------------------------------------------

    def send(
        self, payload: dict[str, Any], *, type: str = "interactive", envelope_id: str = ""
    ) -> str:
        """Deliver an envelope on the newest open connection (else on the next one)."""
        envelope = {
            "envelope_id": envelope_id or uuid.uuid4().hex,
            "type": type,
            "payload": payload,
            "accepts_response_payload": False,
        }
        with self._lock:
            self._unacked[envelope["envelope_id"]] = envelope
        self._call(self._deliver(envelope))
        return str(envelope["envelope_id"])

    def redeliver(self, envelope_id: str) -> None:
        """Send an envelope again, acknowledged or not (Slack's retries look like this)."""
        with self._lock:
            envelope = self._unacked.get(envelope_id) or self._acked_envelopes[envelope_id]
        self._call(self._deliver({**envelope, "retry_attempt": 1, "retry_reason": "timeout"}))

    def rotate(self) -> None:
        """Ask the client to move to a new connection, as Slack does every few hours."""
        self._call(self._broadcast({"type": "disconnect", "reason": "refresh_requested"}))

    def drop(self) -> None:
        """Cut every open connection at the TCP level (no close frame)."""
        self._call(self._drop())

    def acked(self, envelope_id: str) -> bool:
        with self._lock:
            return any(e == envelope_id for e, _ in self.acks)

    def wait(self, what: str, check: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.02)

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len([ws for ws in self._open if not ws.closed])

    # --- serving -------------------------------------------------------------------------

    _acked_envelopes: dict[str, dict[str, Any]]

    def _call(self, coro: Any) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(5)

    async def _serve(self) -> None:
        self._acked_envelopes = {}
        app = web.Application()
        app.router.add_get("/link/", self._socket)
        self._runner = web.AppRunner(app, access_log=None)  # Slack logs nothing of ours
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        with self._lock:
            self.connections += 1
            self._open.append(ws)
            if request.transport is not None:
                self._transports[ws] = request.transport
            pending = list(self._unacked.values())
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {}})
        for envelope in pending:  # Slack retries what was not acknowledged
            await self._send_to(ws, envelope)
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            with contextlib.suppress(ValueError):
                data = json.loads(msg.data)
                envelope_id = data.get("envelope_id") if isinstance(data, dict) else None
                if isinstance(envelope_id, str):
                    with self._lock:
                        sent = self._sent_at.get(envelope_id, time.monotonic())
                        self.acks.append((envelope_id, time.monotonic() - sent))
                        done = self._unacked.pop(envelope_id, None)
                        if done is not None:
                            self._acked_envelopes[envelope_id] = done
        with self._lock:
            if ws in self._open:
                self._open.remove(ws)
        return ws

    async def _deliver(self, envelope: dict[str, Any]) -> None:
        with self._lock:
            live = [ws for ws in self._open if not ws.closed]
        if live:
            await self._send_to(live[-1], envelope)

    async def _send_to(self, ws: web.WebSocketResponse, envelope: dict[str, Any]) -> None:
        with self._lock:
            self._sent_at[str(envelope["envelope_id"])] = time.monotonic()
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_json(envelope)

    async def _broadcast(self, message: dict[str, Any]) -> None:
        with self._lock:
            live = [ws for ws in self._open if not ws.closed]
        for ws in live:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_json(message)

    async def _drop(self) -> None:
        with self._lock:
            live, self._open = list(self._open), []
        for ws in live:
            transport = self._transports.pop(ws, None)
            if transport is not None:
                transport.abort()


class SlackStub:
    """The stand-in server; see the module docstring for its API.

    `host` binds another address than 127.0.0.1 (the container tests use "0.0.0.0");
    `port` is the port it listens on.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._requests: list[RecordedRequest] = []
        self.delivered: list[tuple[str, str, dict[str, Any]]] = []
        self.valid_tokens: set[str] | None = None
        self._queues: dict[tuple[str, str | None], deque[Reply]] = {}
        self._defaults: dict[tuple[str, str | None], Reply] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ts = itertools.count(1)
        self.socket_mode = SocketModeStub()
        self._server = ThreadingHTTPServer((host, 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.port = port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{port}/api/"
        self.webhook_url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"

    def __enter__(self) -> SlackStub:
        self._thread.start()
        self.socket_mode.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.socket_mode.stop()
        self._stop.set()  # releases handlers waiting in a scripted delay
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- scripting ---------------------------------------------------------------------

    def script(
        self, *replies: Reply, method: str = "chat.postMessage", channel: str | None = None
    ) -> None:
        """Queue `replies` for the next calls of `method` (to `channel`, if given)."""
        with self._lock:
            self._queues.setdefault((method, channel), deque()).extend(replies)

    def set_default(
        self, reply: Reply | None, *, method: str = "chat.postMessage", channel: str | None = None
    ) -> None:
        """Answer every call of `method` (to `channel`) with `reply` until changed."""
        with self._lock:
            if reply is None:
                self._defaults.pop((method, channel), None)
            else:
                self._defaults[(method, channel)] = reply

    # --- recording ---------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def posts(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Parameters of every chat.postMessage call, optionally for one channel."""
        return [
            r.params
            for r in self.requests
            if r.api_method == "chat.postMessage"
            and (channel is None or r.params.get("channel") == channel)
        ]

    def updates(self) -> list[dict[str, Any]]:
        """Parameters of every chat.update call."""
        return [r.params for r in self.requests if r.api_method == "chat.update"]

    def webhook_posts(self) -> list[dict[str, Any]]:
        return [r.params for r in self.requests if r.api_method == "webhook"]

    # --- serving -----------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _choose(self, method: str, channel: str | None) -> Reply | None:
        """Channel queue, method queue, channel default, method default: the first that has one."""
        keys = ((method, channel), (method, None))
        with self._lock:
            for key in keys:
                queue = self._queues.get(key)
                if queue:
                    return queue.popleft()
            for key in keys:
                if key in self._defaults:
                    return self._defaults[key]
        return None

    def _answer(self, request: RecordedRequest) -> tuple[Reply, int, bytes, str]:
        """The reply chosen for `request` and the status, body and content type to send."""
        method = request.api_method
        params = request.params
        channel = params.get("channel")
        channel = channel if isinstance(channel, str) else None
        reply = self._choose(method, channel) or Reply()
        if method != "webhook" and reply.body is None:
            auth = request.headers.get("authorization", "")
            token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
            if not token:
                reply = Reply(body={"ok": False, "error": "not_authed"}, delay=reply.delay)
            elif self.valid_tokens is not None and token not in self.valid_tokens:
                reply = Reply(body={"ok": False, "error": "invalid_auth"}, delay=reply.delay)
        if method == "webhook":
            return self._webhook_answer(reply, params)
        body = reply.body
        if body is None:
            body = {"ok": True}
            if method == "chat.postMessage":
                body = self._posted(channel or "", params)
            elif method == "apps.connections.open":
                body = self._connections_open(request)
            elif method == "chat.update":
                body = {"ok": True, "channel": channel, "ts": params.get("ts")}
        status = reply.status or 200
        if isinstance(body, dict):
            return reply, status, json.dumps(body).encode(), "application/json; charset=utf-8"
        return reply, status, body.encode(), "text/html; charset=utf-8"

    def _webhook_answer(
        self, reply: Reply, params: dict[str, Any]
    ) -> tuple[Reply, int, bytes, str]:
        body = reply.body
        if body is None:
            self._posted("webhook", params)
            return reply, reply.status or 200, b"ok", "text/plain"
        if isinstance(body, dict):  # Reply.error(...): webhooks answer the code as text
            code = str(body.get("error", "invalid_payload"))
            status = reply.status or _WEBHOOK_STATUS.get(code, 400)
            return reply, status, code.encode(), "text/plain"
        return reply, reply.status or 200, body.encode(), "text/html; charset=utf-8"

    def _connections_open(self, request: RecordedRequest) -> dict[str, Any]:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        return {"ok": True, "url": self.socket_mode.new_url()}

    def _posted(self, channel: str, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            ts = f"1700000000.{next(self._ts):06d}"
            self.delivered.append((channel, ts, params))
        message: dict[str, Any] = {"type": "message", "text": params.get("text", ""), "ts": ts}
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        return {"ok": True, "channel": channel, "ts": ts, "message": message}


def _handler_for(stub: SlackStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            form: dict[str, str] = {}
            body_json: Any = None
            ctype = headers.get("content-type", "")
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                if "json" in ctype:
                    body_json = json.loads(raw.decode("utf-8"))
                elif raw:
                    form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8")).items()}
            request = RecordedRequest(self.command, self.path, headers, raw, form, body_json)
            stub._record(request)
            reply, status, body, content_type = stub._answer(request)
            if reply.delay and stub._stop.wait(reply.delay):
                return
            if reply.drop:
                self.close_connection = True
                return
            with contextlib.suppress(OSError):  # the client may have timed out meanwhile
                self.send_response(status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        do_GET = do_POST

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read `stub.requests` instead."""

    return Handler


@pytest.fixture
def slack_stub() -> Iterator[SlackStub]:
    """A running Slack stand-in on 127.0.0.1, stopped after the test."""
    with SlackStub() as stub:
        yield stub
