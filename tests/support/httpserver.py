"""A real HTTP server on 127.0.0.1 that serves fixtures and misbehaves on purpose.

The `local_site` fixture (function-scoped) starts a `ThreadingHTTPServer` on a
free port in a background thread and shuts it down after the test::

    def test_feed(local_site):
        local_site.add("/feed.xml", b"<rss>...</rss>", content_type="application/rss+xml",
                       etag='"v1"')
        url = local_site.url("/feed.xml")            # http://127.0.0.1:PORT/feed.xml
        ...
        assert local_site.requests[0].headers["user-agent"].startswith("watcher/")

API of `LocalSite`:

* `add(path, body, *, status=200, headers=None, content_type=..., etag=None,
  last_modified=None)` serves a static response (GET and HEAD). With `etag=` a
  request whose `If-None-Match` lists that tag gets `304`; with
  `last_modified=` a request whose `If-Modified-Since` is that value verbatim
  (or a date not earlier than it) gets `304`.
* `redirect(path, to, *, status=302)` answers with a redirect to `to`.
* `handler(path, fn)` routes `path` to `fn(request_handler)` (a `RequestHandler`,
  i.e. `BaseHTTPRequestHandler` plus `respond(status, body, ...)`), which must write a
  complete response with the `BaseHTTPRequestHandler` API.
* `url(path)` is the absolute URL of a path on this server; `base_url` the root.
* `requests` records every request as `RecordedRequest(method, path, headers)`
  (path includes the query string; header names lower-cased), in arrival order.
  `hits(path)` counts requests to a path (query string ignored).

Named misbehaviours (scrapy mock-server style) live under `/_/` and take their
parameters from the query string; a static route with the same path wins.

* `/_/status?code=500&retry_after=&ct=`: answers `code` (with `Retry-After`
  when given) and a small body.
* `/_/flaky?fails=2&code=503&path=`: fails `fails` times with `code` (counting every
  request to `/_/flaky` on this site, whatever its query), then
  serves the static route `path` (or "ok").
* `/_/slowloris?interval=1.0&count=100&length=1`: headers at once, then one
  byte every `interval` seconds, `count` bytes (`length=1` declares them).
* `/_/hang?seconds=30`: sleeps before answering 200.
* `/_/truncated?declared=10000&sent=100`: declares `declared` bytes in
  Content-Length, sends `sent` bytes of a feed prefix, closes.
* `/_/huge?size=100000000&length=1`: `size` bytes of `x`; `length=0` sends no
  Content-Length (close-delimited).
* `/_/gzip?size=1073741824&encoding=1`: gzip of `size` zero bytes (a bomb:
  1 GB inflates from about 1 MB); `encoding=0` omits `Content-Encoding`.
* `/_/redirect?codes=301,302&to=/t`: one redirect per listed code, then to `to`.
* `/_/hops?n=6&to=/t`: `n` consecutive 302 hops, then to `to`.
* `/_/loop`: two URLs redirecting to each other forever.
* `/_/type?ct=text/html&path=`: the static route `path` (or a small
  challenge-like HTML page) served with content type `ct`.
* `/_/close`: closes the connection without answering.

`refused_url()` gives a 127.0.0.1 URL where nothing listens (connect refused).

Sleeping misbehaviours wake up when the server shuts down, so a test never
waits for them at teardown.
"""

from __future__ import annotations

import socket
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

import pytest

HandlerFn = Callable[["RequestHandler"], None]

_CHUNK = 64 * 1024


class RecordedRequest(NamedTuple):
    """One request the server received (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass(frozen=True)
class _Static:
    body: bytes
    status: int
    headers: dict[str, str]
    etag: str | None
    last_modified: str | None


@dataclass
class _State:
    statics: dict[str, _Static] = field(default_factory=dict)
    handlers: dict[str, HandlerFn] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: threading.Event = field(default_factory=threading.Event)


_BOMBS: dict[int, bytes] = {}
_BOMB_LOCK = threading.Lock()


def gzip_of_zeros(size: int) -> bytes:
    """A gzip stream that inflates to `size` zero bytes (cached; built chunk by chunk)."""
    with _BOMB_LOCK:
        if size not in _BOMBS:
            comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip container
            zeros = bytes(1024 * 1024)
            parts: list[bytes] = []
            left = size
            while left > 0:
                n = min(left, len(zeros))
                parts.append(comp.compress(zeros[:n]))
                left -= n
            parts.append(comp.flush())
            _BOMBS[size] = b"".join(parts)
        return _BOMBS[size]


def _not_modified(route: _Static, inm: str | None, ims: str | None) -> bool:
    if route.etag is not None and inm is not None:
        tags = [t.strip() for t in inm.split(",")]
        return route.etag in tags or "*" in tags
    if route.last_modified is not None and ims is not None:
        if ims == route.last_modified:
            return True
        try:
            return parsedate_to_datetime(ims) >= parsedate_to_datetime(route.last_modified)
        except (TypeError, ValueError):
            return False
    return False


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._dispatch()

    # -- plumbing ---------------------------------------------------------

    @property
    def _state(self) -> _State:
        return self.server.state

    def _dispatch(self) -> None:
        state = self._state
        headers = {k.lower(): v for k, v in self.headers.items()}
        split = urlsplit(self.path)
        with state.lock:
            state.requests.append(RecordedRequest(self.command, self.path, headers))
            state.counters[split.path] = state.counters.get(split.path, 0) + 1
        params = {k: v[-1] for k, v in parse_qs(split.query).items()}
        try:
            if split.path in state.handlers:
                state.handlers[split.path](self)
            elif split.path in state.statics:
                self._serve_static(state.statics[split.path])
            elif split.path.startswith("/_/") and split.path[3:] in _MISBEHAVIOURS:
                _MISBEHAVIOURS[split.path[3:]](self, params)
            else:
                self.respond(404, b"not found\n", content_type="text/plain")
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (deadline, size cap): exactly what tests provoke.
            self.close_connection = True

    def respond(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Write a complete response with a Content-Length."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _serve_static(self, route: _Static) -> None:
        validators: dict[str, str] = {}
        if route.etag is not None:
            validators["ETag"] = route.etag
        if route.last_modified is not None:
            validators["Last-Modified"] = route.last_modified
        if _not_modified(
            route, self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
        ):
            self.send_response(304)
            for name, value in validators.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        headers = dict(route.headers)
        content_type = headers.pop("Content-Type", "text/html; charset=utf-8")
        self.respond(
            route.status, route.body, content_type=content_type, headers=validators | headers
        )

    def sleep(self, seconds: float) -> bool:
        """Sleep unless the server is shutting down; False when it is."""
        return not self._state.closing.wait(seconds)


# -- misbehaviours --------------------------------------------------------------


def _status(h: RequestHandler, p: dict[str, str]) -> None:
    code = int(p.get("code", "500"))
    headers = {"Retry-After": p["retry_after"]} if "retry_after" in p else {}
    body = f"status {code}\n".encode()
    h.respond(code, body, content_type=p.get("ct", "text/plain"), headers=headers)


def _flaky(h: RequestHandler, p: dict[str, str]) -> None:
    count = h._state.counters.get("/_/flaky", 0)
    if count <= int(p.get("fails", "2")):
        _status(h, {"code": p.get("code", "503")})
        return
    route = h._state.statics.get(p.get("path", ""))
    if route is None:
        h.respond(200, b"ok\n", content_type="text/plain")
    else:
        h._serve_static(route)


def _slowloris(h: RequestHandler, p: dict[str, str]) -> None:
    interval = float(p.get("interval", "1.0"))
    count = int(p.get("count", "100"))
    h.send_response(200)
    h.send_header("Content-Type", "application/rss+xml")
    if p.get("length", "1") == "1":
        h.send_header("Content-Length", str(count))
    h.send_header("Connection", "close")
    h.end_headers()
    h.wfile.flush()
    h.close_connection = True
    for _ in range(count):
        if not h.sleep(interval):
            return
        h.wfile.write(b" ")
        h.wfile.flush()


def _hang(h: RequestHandler, p: dict[str, str]) -> None:
    if h.sleep(float(p.get("seconds", "30"))):
        h.respond(200, b"late\n", content_type="text/plain")
    else:
        h.close_connection = True


def _truncated(h: RequestHandler, p: dict[str, str]) -> None:
    declared = int(p.get("declared", "10000"))
    sent = int(p.get("sent", "100"))
    prefix = b'<?xml version="1.0"?><rss version="2.0"><channel><title>cut</title><item><title>'
    body = (prefix + b"a" * max(0, sent - len(prefix)))[:sent]
    h.send_response(200)
    h.send_header("Content-Type", "application/rss+xml")
    h.send_header("Content-Length", str(declared))
    h.send_header("Connection", "close")
    h.end_headers()
    h.wfile.write(body)
    h.wfile.flush()
    h.close_connection = True


def _huge(h: RequestHandler, p: dict[str, str]) -> None:
    size = int(p.get("size", str(100 * 1000 * 1000)))
    h.send_response(200)
    h.send_header("Content-Type", "application/rss+xml")
    if p.get("length", "1") == "1":
        h.send_header("Content-Length", str(size))
    h.send_header("Connection", "close")
    h.end_headers()
    h.close_connection = True
    chunk = b"x" * _CHUNK
    left = size
    while left > 0 and not h._state.closing.is_set():
        n = min(left, _CHUNK)
        h.wfile.write(chunk[:n])
        left -= n


def _gzip(h: RequestHandler, p: dict[str, str]) -> None:
    body = gzip_of_zeros(int(p.get("size", str(1024**3))))
    headers = {"Content-Encoding": "gzip"} if p.get("encoding", "1") == "1" else {}
    h.respond(200, body, content_type="application/rss+xml", headers=headers)


def _redirect(h: RequestHandler, p: dict[str, str]) -> None:
    codes = [c for c in p.get("codes", "302").split(",") if c]
    to = p.get("to", "/")
    rest = ",".join(codes[1:])
    location = f"/_/redirect?codes={rest}&to={to}" if rest else to
    h.respond(int(codes[0]), b"", content_type="text/plain", headers={"Location": location})


def _hops(h: RequestHandler, p: dict[str, str]) -> None:
    n = int(p.get("n", "6"))
    to = p.get("to", "/")
    location = f"/_/hops?n={n - 1}&to={to}" if n > 1 else to
    h.respond(302, b"", content_type="text/plain", headers={"Location": location})


def _loop(h: RequestHandler, p: dict[str, str]) -> None:
    other = "b" if p.get("hop", "a") == "a" else "a"
    h.respond(302, b"", content_type="text/plain", headers={"Location": f"/_/loop?hop={other}"})


def _type(h: RequestHandler, p: dict[str, str]) -> None:
    route = h._state.statics.get(p.get("path", ""))
    body = route.body if route else b"<html><body><p>Just a moment...</p></body></html>"
    h.respond(200, body, content_type=p.get("ct", "text/html"))


def _close(h: RequestHandler, p: dict[str, str]) -> None:
    h.close_connection = True


_MISBEHAVIOURS: dict[str, Callable[[RequestHandler, dict[str, str]], None]] = {
    "status": _status,
    "flaky": _flaky,
    "slowloris": _slowloris,
    "hang": _hang,
    "truncated": _truncated,
    "huge": _huge,
    "gzip": _gzip,
    "redirect": _redirect,
    "hops": _hops,
    "loop": _loop,
    "type": _type,
    "close": _close,
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hung handler never blocks teardown

    def __init__(self, state: _State, host: str = "127.0.0.1") -> None:
        self.state = state
        super().__init__((host, 0), RequestHandler)

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up (the fetcher closing a kept-alive connection) is no error.

        socketserver prints a traceback to stderr for it, and a test that
        captures the CLI's output (click's CliRunner swaps sys.stderr) reads
        that traceback as the command's output.
        """
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class LocalSite:
    """A running server on 127.0.0.1; see the module docstring for the API.

    `host` binds another address instead (the container tests use "0.0.0.0" so
    that containers on a bridge network reach it through the host's gateway).
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._state = _State()
        self._server = _Server(self._state, host)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        """The absolute URL of `path` (which starts with `/`)."""
        return self.base_url + path

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._state.lock:
            return list(self._state.requests)

    def hits(self, path: str) -> int:
        """How many requests reached `path` (query string ignored)."""
        with self._state.lock:
            return self._state.counters.get(path, 0)

    def add(
        self,
        path: str,
        body: bytes | str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        content_type: str = "text/html; charset=utf-8",
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> None:
        """Serve `body` at `path`; `etag`/`last_modified` enable 304 answers."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        merged = {"Content-Type": content_type} | dict(headers or {})
        self._state.statics[path] = _Static(data, status, merged, etag, last_modified)

    def redirect(self, path: str, to: str, *, status: int = 302) -> None:
        """Answer requests for `path` with a redirect to `to`."""
        self.add(path, b"", status=status, headers={"Location": to}, content_type="text/plain")

    def handler(self, path: str, fn: HandlerFn) -> None:
        """Route `path` to `fn`, which writes the whole response itself."""
        self._state.handlers[path] = fn

    def close(self) -> None:
        """Stop serving and wake every sleeping misbehaviour."""
        self._state.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LocalSite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def refused_url() -> str:
    """A 127.0.0.1 URL on which nothing listens, so connecting is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Bound but never listening, then closed: the port is free and refuses connections.
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def local_site() -> Iterator[LocalSite]:
    """A `LocalSite` on a free 127.0.0.1 port, shut down after the test."""
    with LocalSite() as site:
        yield site
