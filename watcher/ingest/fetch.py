"""HTTP fetching: one request in, one classified `FetchResult` out.

`Fetcher.fetch` never raises for anything the network or a server does. Every
outcome is classified once, here, into `FetchOutcome` with a readable `error`:

    ok                  2xx, body complete and within the cap
    not_modified        304 to our conditional GET
    http_error          other 4xx/5xx (5xx retried first), 3xx without Location
    rate_limited        429, or 503 with a valid Retry-After (`retry_after` set)
    timeout             connect timeout or the total deadline (slowloris, hang)
    too_large           Content-Length or the decompressed body over the cap
    blocked             SSRF guard (see `watcher.ingest.ssrf`) or a non-http(s) URL
    too_many_redirects  more than `max_redirects` hops, or a loop
    connection_error    DNS, refused, reset, truncated body or compressed stream
    parse_error         the `decoder` could not decode the body (its deadline ran out)

Why the shape (servers that fail, trickle, bomb, loop or point inward):
* a *total* deadline per attempt (`asyncio.timeout`) bounds the whole
  exchange, so a server trickling one byte every few seconds cannot hold a
  worker; per-read timeouts never fire there;
* we decompress ourselves (`auto_decompress=False`) under the same cap as the
  body, which stops gzip bombs and lets us sniff gzip sent without
  Content-Encoding (magic bytes `1f 8b`); given a `decoder`, compressed
  bodies are decoded by it (the pipeline's runs in a worker process under a
  deadline) instead of on the event loop;
* redirects are followed by hand so every hop is SSRF-checked and loops are
  reported; the resolver and socket factory check resolved addresses too;
* no cookies, no proxies from the environment, an honest User-Agent.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from urllib.parse import urldefrag, urljoin, urlsplit

import aiohttp
from aiohttp.resolver import ThreadedResolver

from watcher import __version__
from watcher.errors import ConfigError
from watcher.ingest.decompress import (
    BodyTooLarge,
    DecodeFailed,
    TruncatedStream,
    decode_body,
    needs_decoding,
)
from watcher.ingest.ssrf import (
    AddressPolicy,
    BlockedAddressError,
    GuardedResolver,
    check_url,
    guarded_socket_factory,
)
from watcher.model import FetchOutcome, FetchResult

PROJECT_URL = "https://github.com/watcher-news/watcher"
USER_AGENT = f"watcher/{__version__} (+{PROJECT_URL})"

MAX_RETRY_AFTER = 24 * 3600.0  # Miniflux caps any server-requested wait at 24 h
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, "
    "text/html;q=0.8, application/xhtml+xml;q=0.8, */*;q=0.5"
)


@dataclass(frozen=True)
class FetchSettings:
    """Every knob of the fetcher, with the defaults trusted feed readers use.

    Timeouts are seconds. `total_timeout` bounds one attempt (all redirect hops
    and the body); with `retries` the worst case is about
    `(retries + 1) * total_timeout` plus backoff. `backoff` is the first
    retry's delay; it doubles per retry with up to 50% jitter.
    """

    connect_timeout: float = 10.0
    total_timeout: float = 25.0
    max_feed_bytes: int = 15 * 1024 * 1024  # Miniflux's cap, after decompression
    max_page_bytes: int = 20 * 1000 * 1000  # trafilatura's downloader cap
    max_redirects: int = 5
    retries: int = 2  # extra attempts for 5xx, timeouts and connection errors
    backoff: float = 1.0
    user_agent: str = USER_AGENT
    per_host: int = 4  # concurrent requests per host (politeness)
    max_connections: int = 100
    allow_private_addresses: bool = False
    allowed_networks: tuple[str, ...] = ()  # CIDRs let through even if not public


def parse_retry_after(value: str, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After value (delay-seconds or HTTP-date).

    Malformed and negative values give None (ignored); a date in the past gives
    0; anything beyond 24 h is clamped to 24 h. `now` should be aware (UTC).
    """
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return min(float(int(text)), MAX_RETRY_AFTER)
    if text[0] in "+-" or text[0].isdigit():
        return None  # "-5", "1.5", "120s": not delay-seconds
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _lower_headers(resp: aiohttp.ClientResponse) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in resp.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in chain:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    return chain


_CONNECTION_LABELS: tuple[tuple[type[BaseException], str], ...] = (
    (aiohttp.ClientPayloadError, "incomplete body"),
    (aiohttp.ClientConnectorDNSError, "DNS lookup failed"),
    (aiohttp.ClientConnectorError, "cannot connect"),
    (aiohttp.InvalidURL, "invalid URL"),
)


def classify_exception(exc: BaseException) -> tuple[FetchOutcome, str]:
    """The outcome and message for an exception raised while fetching."""
    chain = _causes(exc)
    blocked = next((e for e in chain if isinstance(e, BlockedAddressError)), None)
    if blocked is not None:
        return FetchOutcome.BLOCKED, str(blocked)
    if any(isinstance(e, TimeoutError) for e in chain):
        return FetchOutcome.TIMEOUT, f"timed out: {exc}" if str(exc) else "timed out"
    label = next((lbl for kind, lbl in _CONNECTION_LABELS if isinstance(exc, kind)), None)
    return FetchOutcome.CONNECTION_ERROR, f"{label or type(exc).__name__}: {exc}"


def _retryable(result: FetchResult) -> bool:
    if result.outcome in (FetchOutcome.TIMEOUT, FetchOutcome.CONNECTION_ERROR):
        return True
    return result.outcome is FetchOutcome.HTTP_ERROR and (result.status or 0) >= 500


# Decodes a raw body: (raw, Content-Encoding, cap) -> body, as `decode_body` does, raising
# `DecodeFailed` when it cannot finish. The pipeline's runs in a worker process under a
# deadline, so a hostile compressed body never holds the event loop.
Decoder = Callable[[bytes, str, int], Awaitable[bytes]]


def _body_failure(exc: Exception, cap: int) -> tuple[FetchOutcome, str]:
    """The outcome and error of a body that could not be read or decoded."""
    if isinstance(exc, BodyTooLarge):
        return FetchOutcome.TOO_LARGE, f"body over {cap} bytes"
    if isinstance(exc, TruncatedStream):
        return FetchOutcome.CONNECTION_ERROR, "compressed body ends before its stream does"
    # DecodeFailed: not retried, the same body would fail the same way.
    return FetchOutcome.PARSE_ERROR, f"decoding: {exc}"


@dataclass(frozen=True)
class _Request:
    url: str
    headers: dict[str, str]
    cap: int
    etag: str | None
    last_modified: str | None


class Fetcher:
    """A pooled HTTP client; use as `async with Fetcher(settings) as f: await f.fetch(url)`.

    Raises `ConfigError` for an invalid `allowed_networks` entry; `fetch` itself never raises
    for anything a server or the network does.
    """

    def __init__(
        self, settings: FetchSettings | None = None, *, decoder: Decoder | None = None
    ) -> None:
        self.settings = settings or FetchSettings()
        self._decoder = decoder  # None: decode in this process (CLI tools, tests)
        try:
            self._policy = AddressPolicy.from_settings(
                self.settings.allow_private_addresses, self.settings.allowed_networks
            )
        except ValueError as exc:
            raise ConfigError(f"fetch.allowed_networks: {exc}") from exc
        self._session: aiohttp.ClientSession | None = None
        self._slots: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> Fetcher:
        s = self.settings
        guarded = not self._policy.allow_private
        connector = aiohttp.TCPConnector(
            limit=s.max_connections,
            limit_per_host=s.per_host,
            resolver=GuardedResolver(ThreadedResolver(), self._policy) if guarded else None,
            socket_factory=guarded_socket_factory(self._policy) if guarded else None,
            ttl_dns_cache=60,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=s.connect_timeout),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            headers={
                "User-Agent": s.user_agent,
                "Accept": _ACCEPT,
                "Accept-Encoding": "gzip, deflate",
            },
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
        max_bytes: int | None = None,
    ) -> FetchResult:
        """GET `url` (conditionally when validators are given) and classify the outcome.

        `etag`/`last_modified` are sent back verbatim as If-None-Match /
        If-Modified-Since. `headers` are extra request headers (a source's own).
        `max_bytes` caps the decoded body (default: `max_feed_bytes`).
        """
        start = time.monotonic()
        request_headers = dict(headers)
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified
        request = _Request(
            url, request_headers, max_bytes or self.settings.max_feed_bytes, etag, last_modified
        )
        attempt = 0
        while True:
            result = await self._attempt(request)
            if attempt >= self.settings.retries or not _retryable(result):
                break
            delay = self.settings.backoff * 2**attempt
            await asyncio.sleep(delay * (1 + random.random() / 2))
            attempt += 1
        return replace(result, elapsed=time.monotonic() - start)

    async def _attempt(self, request: _Request) -> FetchResult:
        """One attempt under the total deadline; every exception becomes an outcome."""
        try:
            return await self._follow(request)
        except TimeoutError:
            return FetchResult(
                request.url,
                FetchOutcome.TIMEOUT,
                error=f"no complete response within {self.settings.total_timeout:g} s",
            )
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            outcome, error = classify_exception(exc)
            return FetchResult(request.url, outcome, error=error)

    def _slot(self, url: str) -> asyncio.Semaphore:
        host = (urlsplit(url).hostname or "").lower()
        if host not in self._slots:
            self._slots[host] = asyncio.Semaphore(self.settings.per_host)
        return self._slots[host]

    async def _follow(self, request: _Request) -> FetchResult:
        """Follow redirects by hand, checking every hop with the SSRF guard."""
        if self._session is None:
            raise RuntimeError("Fetcher used outside `async with`")
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        current, seen = request.url, {request.url}
        for hop in range(self.settings.max_redirects + 1):
            reason = check_url(current, self._policy)
            if reason is not None:
                return FetchResult(
                    request.url, FetchOutcome.BLOCKED, final_url=current, error=reason
                )
            async with self._slot(current):
                # The clock starts once we hold a slot: waiting behind other requests to
                # the same host is politeness, not the server's slowness.
                if deadline is None:
                    deadline = loop.time() + self.settings.total_timeout
                async with asyncio.timeout_at(deadline):
                    step = await self._hop(request, current)
            if isinstance(step, FetchResult):
                return step
            target = step
            if target in seen:
                return self._redirect_failure(request, target, f"redirect loop at {target}")
            if hop == self.settings.max_redirects:
                break
            seen.add(target)
            current = target
        return self._redirect_failure(
            request, current, f"more than {self.settings.max_redirects} redirects"
        )

    async def _hop(self, request: _Request, current: str) -> FetchResult | str:
        """One request: a final result, or the absolute URL a redirect points to."""
        assert self._session is not None
        async with self._session.get(
            current, headers=request.headers, allow_redirects=False
        ) as resp:
            if resp.status not in _REDIRECTS:
                return await self._finish(request, current, resp)
            location = resp.headers.get("Location")
            if not location:
                return FetchResult(
                    request.url,
                    FetchOutcome.HTTP_ERROR,
                    final_url=current,
                    status=resp.status,
                    headers=_lower_headers(resp),
                    error=f"HTTP {resp.status} without Location",
                )
        return urldefrag(urljoin(current, location.strip())).url

    @staticmethod
    def _redirect_failure(request: _Request, at: str, error: str) -> FetchResult:
        return FetchResult(request.url, FetchOutcome.TOO_MANY_REDIRECTS, final_url=at, error=error)

    async def _finish(
        self, request: _Request, final_url: str, resp: aiohttp.ClientResponse
    ) -> FetchResult:
        """Classify a non-redirect response and read its body under the cap."""
        headers = _lower_headers(resp)
        base = FetchResult(request.url, FetchOutcome.OK, final_url, resp.status, headers)
        status = resp.status
        if status == 304:
            return replace(
                base,
                outcome=FetchOutcome.NOT_MODIFIED,
                etag=headers.get("etag", request.etag),
                last_modified=headers.get("last-modified", request.last_modified),
            )
        if status in (429, 503):
            wait = parse_retry_after(headers.get("retry-after", ""), datetime.now(UTC))
            if status == 429 or wait is not None:
                return replace(
                    base,
                    outcome=FetchOutcome.RATE_LIMITED,
                    retry_after=wait,
                    error=f"HTTP {status}" + (f", retry after {wait:g} s" if wait else ""),
                )
        if not 200 <= status < 300:
            return replace(base, outcome=FetchOutcome.HTTP_ERROR, error=f"HTTP {status}")
        try:
            body = await self._read_body(resp, headers, request.cap)
        except (BodyTooLarge, TruncatedStream, DecodeFailed) as exc:
            outcome, error = _body_failure(exc, request.cap)
            return replace(base, outcome=outcome, error=error)
        return replace(
            base, body=body, etag=headers.get("etag"), last_modified=headers.get("last-modified")
        )

    async def _read_body(
        self, resp: aiohttp.ClientResponse, headers: dict[str, str], cap: int
    ) -> bytes:
        """Stream the raw body (aborting past the cap), then decode it under the cap."""
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise BodyTooLarge  # reject early, before reading anything
        raw = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK):
            raw += chunk
            if len(raw) > cap:
                raise BodyTooLarge
        body, encoding = bytes(raw), headers.get("content-encoding", "")
        if self._decoder is None or not needs_decoding(body, encoding):
            return decode_body(body, encoding, cap)
        return await self._decoder(body, encoding, cap)
