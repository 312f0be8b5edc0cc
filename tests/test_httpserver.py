"""The local misbehaving HTTP server that every I/O test talks to."""

from __future__ import annotations

import gzip
import http.client
import socket
import time
import urllib.error
import urllib.request
import zlib
from urllib.parse import urlsplit

import pytest

from tests.support.httpserver import LocalSite, gzip_of_zeros, refused_url


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET without following redirects; returns status, lower-cased headers, body."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_serves_static_route_and_records_request(local_site: LocalSite) -> None:
    """A static route is served with its content type and the request is recorded."""
    local_site.add("/feed.xml", "<rss/>", content_type="application/rss+xml")
    status, headers, body = _get(local_site.url("/feed.xml"), {"User-Agent": "probe/1"})
    assert (status, body) == (200, b"<rss/>")
    assert headers["content-type"] == "application/rss+xml"
    [req] = local_site.requests
    assert (req.method, req.path) == ("GET", "/feed.xml")
    assert req.headers["user-agent"] == "probe/1"
    assert local_site.hits("/feed.xml") == 1


def test_unknown_path_is_404(local_site: LocalSite) -> None:
    """A path with no route answers 404."""
    assert _get(local_site.url("/nope"))[0] == 404


@pytest.mark.parametrize(
    ("request_headers", "expected"),
    [
        ({}, 200),
        ({"If-None-Match": '"v1"'}, 304),
        ({"If-None-Match": '"v0", "v1"'}, 304),
        ({"If-None-Match": '"v2"'}, 200),
        ({"If-Modified-Since": "Tue, 01 Oct 2024 10:00:00 GMT"}, 304),
        ({"If-Modified-Since": "Wed, 02 Oct 2024 10:00:00 GMT"}, 304),
        ({"If-Modified-Since": "Mon, 30 Sep 2024 10:00:00 GMT"}, 200),
    ],
)
def test_conditional_get(
    local_site: LocalSite, request_headers: dict[str, str], expected: int
) -> None:
    """A static route with validators answers 304 exactly when they match."""
    local_site.add("/c", "body", etag='"v1"', last_modified="Tue, 01 Oct 2024 10:00:00 GMT")
    status, headers, _ = _get(local_site.url("/c"), request_headers)
    assert status == expected
    assert headers["etag"] == '"v1"'


def test_custom_handler(local_site: LocalSite) -> None:
    """A custom handler writes its own response."""
    local_site.handler("/h", lambda h: h.respond(201, b"made"))
    assert _get(local_site.url("/h"))[0::2] == (201, b"made")


def test_status_with_retry_after(local_site: LocalSite) -> None:
    """The status misbehaviour answers the code and Retry-After it is given."""
    status, headers, _ = _get(local_site.url("/_/status?code=429&retry_after=120"))
    assert status == 429
    assert headers["retry-after"] == "120"


def test_flaky_fails_then_serves(local_site: LocalSite) -> None:
    """The flaky route fails the given number of times, then serves the static route."""
    local_site.add("/f", "fine")
    url = local_site.url("/_/flaky?fails=2&code=502&path=/f")
    assert [_get(url)[0] for _ in range(3)] == [502, 502, 200]


def test_redirect_chain(local_site: LocalSite) -> None:
    """The redirect chain answers each listed code in turn, then points at the target."""
    status1, h1, _ = _get(local_site.url("/_/redirect?codes=301,302&to=/t"))
    status2, h2, _ = _get(local_site.url(h1["location"]))
    assert (status1, status2, h2["location"]) == (301, 302, "/t")


def test_loop_and_hops(local_site: LocalSite) -> None:
    """The loop alternates between two URLs and hops counts down to its target."""
    _, h, _ = _get(local_site.url("/_/loop"))
    _, h2, _ = _get(local_site.url(h["location"]))
    assert h2["location"] == "/_/loop?hop=a"
    _, h3, _ = _get(local_site.url("/_/hops?n=2&to=/end"))
    _, h4, _ = _get(local_site.url(h3["location"]))
    assert h4["location"] == "/end"


def test_gzip_bomb_is_small_on_the_wire(local_site: LocalSite) -> None:
    """The gzip route sends a small body that inflates to the requested size."""
    size = 8 * 1024 * 1024
    status, headers, body = _get(local_site.url(f"/_/gzip?size={size}"))
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert len(body) < size // 100
    assert len(gzip.decompress(body)) == size
    assert gzip_of_zeros(size) == body
    _, headers2, _ = _get(local_site.url(f"/_/gzip?size={size}&encoding=0"))
    assert "content-encoding" not in headers2


def test_truncated_body_is_short(local_site: LocalSite) -> None:
    """The truncated route declares more bytes than it sends."""
    with pytest.raises(http.client.IncompleteRead):
        _get(local_site.url("/_/truncated?declared=500&sent=50"))


def test_wrong_type_serves_route_body(local_site: LocalSite) -> None:
    """The type route serves a static body under another content type."""
    local_site.add("/feed", "<rss/>")
    _, headers, body = _get(local_site.url("/_/type?ct=text/plain&path=/feed"))
    assert (headers["content-type"], body) == ("text/plain", b"<rss/>")


def test_huge_without_length_is_close_delimited(local_site: LocalSite) -> None:
    """The huge route without length streams the body and closes the connection."""
    _, headers, body = _get(local_site.url("/_/huge?size=300000&length=0"))
    assert "content-length" not in headers
    assert len(body) == 300000


def test_slowloris_trickles(local_site: LocalSite) -> None:
    """The slowloris route sends headers at once, then the body a byte at a time."""
    start = time.monotonic()
    _, _, body = _get(local_site.url("/_/slowloris?interval=0.05&count=4"))
    assert body == b"    "
    assert time.monotonic() - start >= 0.15


def test_close_and_refused() -> None:
    """The close route drops the connection and refused_url refuses connections."""
    with LocalSite() as site, pytest.raises(http.client.RemoteDisconnected):
        _get(site.url("/_/close"))
    with pytest.raises(urllib.error.URLError) as info:
        urllib.request.urlopen(refused_url(), timeout=5)
    assert isinstance(info.value.reason, ConnectionRefusedError)


def test_shutdown_wakes_hanging_handler() -> None:
    """Closing the site does not wait for a hanging handler to finish."""
    site = LocalSite()
    sock = socket.create_connection(("127.0.0.1", int(site.base_url.rsplit(":", 1)[1])))
    sock.sendall(b"GET /_/hang?seconds=30 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.1)
    start = time.monotonic()
    site.close()
    sock.close()
    assert time.monotonic() - start < 2


def test_deflate_helper_roundtrip() -> None:
    """gzip_of_zeros builds a real gzip container."""
    assert zlib.decompress(gzip_of_zeros(10), 31) == bytes(10)
