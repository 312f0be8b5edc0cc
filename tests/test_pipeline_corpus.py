"""Every corpus feed through the production ingest path: served over HTTP, polled, stored.

Each file of ../shared/corpora/feedparser and ../shared/corpora/real-feeds is
served by the local server (127.0.0.1) with the response headers the upstream
harness would send, and polled as a source by `Pipeline.run_cycle`. The
article links in those feeds point at the internet, so nothing may follow
them out: the SSRF guard is on (only 127.0.0.1 is allowed), and a fence
refuses every DNS lookup and connection that is not for loopback before it
happens. Those articles are stored with their feed title and summary
(`unreachable`), which is what the pipeline does for any dead link.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.pipeline_helpers import Harness, fast_fetch, make_config, rss_source, small_pool
from tests.support.httpserver import LocalSite
from tests.support.shared import SHARED, shared_path
from watcher.extract.pool import ExtractorPool
from watcher.ingest.decompress import BodyTooLarge, TruncatedStream, decode_body
from watcher.ingest.feeds import parse_feed
from watcher.model import FetchOutcome, SourceSpec
from watcher.pipeline.article import FROM_FEED_REASON, fetch_settings
from watcher.store.models import FeedEntryRow, SourceRow

CORPORA = SHARED / "corpora"
FEEDPARSER = CORPORA / "feedparser"
REAL = CORPORA / "real-feeds"
UPSTREAM_BASE = re.compile(r"^http://(?:127\.0\.0\.1|localhost):8097")
_HEADER = re.compile(r"^Header:\s*([^:]+):\s*(.*?)\s*$", re.MULTILINE)
SAMPLE_EVERY = 10  # the normal run takes every 10th feedparser file (deterministic)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _require_corpora() -> None:
    """Skip without ../shared/corpora (fail when WATCHER_REQUIRE_CORPORA=1)."""
    shared_path("corpora", "feedparser")
    shared_path("corpora", "real-feeds")


def _files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix != ".md" and not p.name.startswith("LICENSE")
    )


def _comment(raw: bytes) -> str:
    """The file's leading text, decoded well enough to read its header comment."""
    for bom, codec in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if raw.startswith(bom):
            return raw[2:].decode(codec, "ignore")
    if raw[:4] in (b"<\x00?\x00", b"<\x00!\x00"):
        return raw.decode("utf-16-le", "ignore")
    if raw[:4] in (b"\x00<\x00?", b"\x00<\x00!"):
        return raw.decode("utf-16-be", "ignore")
    return raw.decode("utf-8", "ignore")


def _serve(site: LocalSite, path: Path, root: Path, prefix: str) -> tuple[str, int, dict[str, str]]:
    """Serve `path` as the upstream harness would; returns (route, status, headers)."""
    raw = path.read_bytes()
    rel = path.relative_to(root).as_posix()
    route = f"/{prefix}/{rel}"
    status = 200
    headers: dict[str, str] = {"Content-Type": "application/xml"}  # no charset: bytes decide
    if root == FEEDPARSER and "http" in rel:
        headers = {"Content-Type": "text/xml"}
        for name, value in _HEADER.findall(_comment(raw)[:4000]):
            if name.lower() == "status":
                status = int(value)
            elif name.lower() == "location":
                headers["Location"] = UPSTREAM_BASE.sub("", value)  # point back at this server
            else:
                headers["Content-Type" if name.lower() == "content-type" else name] = value
    if path.suffix == ".gz":
        headers["Content-Encoding"] = "gzip"
    elif path.suffix == ".z":
        headers["Content-Encoding"] = "deflate"
    content_type = headers.pop("Content-Type")
    site.add(route, raw, status=status, headers=headers, content_type=content_type)
    return (
        route,
        status,
        {"content-type": content_type} | {k.lower(): v for k, v in headers.items()},
    )


@pytest.fixture
def no_egress(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Refuse DNS lookups and connections to anything but loopback; yields the names refused."""
    refused: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in LOOPBACK:
            refused.append(name)
            raise socket.gaierror(socket.EAI_NONAME, f"test fence: no DNS for {name}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> None:
        if self.family == socket.AF_UNIX:  # local IPC (the worker processes' forkserver)
            real_connect(self, address)
            return
        host = address[0] if isinstance(address, tuple) else ""
        if not str(host).startswith("127.") and host != "::1":
            refused.append(str(host))
            raise ConnectionRefusedError(f"test fence: no connection to {host}")
        real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return refused


@pytest.fixture(scope="module")
def extractor() -> Iterator[ExtractorPool]:
    with small_pool() as pool:
        yield pool


def _entry_counts(h: Harness) -> dict[str, int]:
    with h.db.session() as session:
        rows = session.execute(
            select(SourceRow.name, func.count(FeedEntryRow.id))
            .join(FeedEntryRow, FeedEntryRow.source_id == SourceRow.id, isouter=True)
            .group_by(SourceRow.name)
        )
        return {str(name): int(n) for name, n in rows}


def _run_corpus(
    site: LocalSite,
    tmp_path: Path,
    extractor: ExtractorPool,
    files: list[tuple[Path, Path, str]],
    refused: list[str],
) -> tuple[Harness, dict[str, FetchOutcome], dict[str, int], dict[str, int]]:
    """Poll every file as a source in one cycle; (harness, outcomes, expected, stored) entries."""
    sources: list[SourceSpec] = []
    expected: dict[str, int] = {}
    for path, root, prefix in files:
        route, status, headers = _serve(site, path, root, prefix)
        name = f"{prefix}/{path.relative_to(root).as_posix()}"
        sources.append(rss_source(name, site.url(route)))
        if status != 200:
            continue
        try:  # what the fetcher hands the parser: the body decompressed (or sniffed) under the cap
            body = decode_body(path.read_bytes(), headers.get("content-encoding", ""), 1 << 24)
        except (BodyTooLarge, TruncatedStream):
            continue
        parsed = parse_feed(body, url=site.url(route), headers=headers)
        expected[name] = len(parsed.entries) if parsed.error is None else 0
    config = make_config(
        f"sqlite:///{tmp_path}/corpus.db",
        sources,
        fetch=fast_fetch(allow_private_addresses=False, max_articles_per_source=10_000),
    )
    # The guard on, with only the test server's address let through.
    settings = replace(fetch_settings(config.fetch), allowed_networks=("127.0.0.1/32",))
    h = Harness(config, extractor, fetch_settings=settings)
    outcomes = {s.name: s.outcome for s in h.cycle().sources}
    assert len(outcomes) == len(sources)
    assert all(name.startswith(LOOPBACK) is False for name in refused)
    return h, outcomes, expected, _entry_counts(h)


def _check(
    h: Harness,
    outcomes: dict[str, FetchOutcome],
    expected: dict[str, int],
    stored: dict[str, int],
) -> None:
    """Every poll has a known outcome; OK feeds store every parsed entry; strings are clean."""
    for name, outcome in outcomes.items():
        assert isinstance(outcome, FetchOutcome)
        if outcome is FetchOutcome.OK and name in expected:
            assert stored[name] == expected[name], name
        if outcome is not FetchOutcome.OK:
            assert stored[name] == 0, name
    for article in h.articles():
        for text in (article.title, article.text or "", article.summary, article.url):
            assert isinstance(text, str)
            assert "\x00" not in text
        assert article.extraction_status in (
            "unreachable", "blocked", "no_link", "ok", "skipped", "partial",
        ), (article.url, article.extraction_status)  # fmt: skip
        # Only pages on this very server can be fetched; an entry that carries its full
        # article (fetch_pages = "auto") is stored from the feed without a fetch.
        if article.extraction_status == "ok" and article.extraction_reason != FROM_FEED_REASON:
            assert article.url.startswith("http://127.0.0.1:"), article.url


def _sample(files: list[Path], every: int) -> list[Path]:
    return files[::every]


def _corpus(every: int) -> list[tuple[Path, Path, str]]:
    feedparser_files = _sample(_files(FEEDPARSER), every)
    return [(p, FEEDPARSER, "fp") for p in feedparser_files] + [
        (p, REAL, "real") for p in _files(REAL)
    ]


def _run_and_check(
    site: LocalSite,
    tmp_path: Path,
    *,
    extractor: ExtractorPool,
    no_egress: list[str],
    every: int,
    on_done: Callable[[Harness, dict[str, FetchOutcome]], None] | None = None,
) -> None:
    files = _corpus(every)
    start = time.monotonic()
    h, outcomes, expected, stored = _run_corpus(site, tmp_path, extractor, files, no_egress)
    elapsed = time.monotonic() - start
    try:
        _check(h, outcomes, expected, stored)
        assert elapsed < max(10.0, 1.0 * len(files) / 4), f"{elapsed:.1f} s for {len(files)} files"
        if on_done is not None:
            on_done(h, outcomes)
        # Polling everything again adds nothing.
        h.clock.advance(h.config.sources[0].interval * 2)
        assert h.cycle().articles_new == 0
    finally:
        h.close()


def _real_feed_expectations(h: Harness, outcomes: dict[str, FetchOutcome]) -> None:
    """Known behaviours of the captured outlet feeds: truncation, bad types, dates, GUIDs."""
    assert outcomes["real/feed-rs/rss_2.0_invalid_1.xml"] is FetchOutcome.PARSE_ERROR  # truncated
    assert outcomes["real/node-feedparser/notafeed.html"] is FetchOutcome.NOT_A_FEED
    assert outcomes["real/node-feedparser/compressed.xml"] is FetchOutcome.OK  # magic-byte gzip
    counts = _entry_counts(h)
    assert counts["real/node-feedparser/compressed.xml"] > 0
    assert counts["real/node-feedparser/saxerror.xml"] == 3  # items around the bad `&` kept
    assert counts["real/rss-parser/guardian.rss"] == 55
    assert counts["real/rss-parser/uolNoticias.rss"] == 15  # no guid, localized dates
    assert counts["real/rss-parser/encoding.rss"] == 40  # no guid
    assert counts["real/node-feedparser/iconv.xml"] == 10  # windows-1251, no guid
    failed = {n for n, o in outcomes.items() if o is not FetchOutcome.OK and n.startswith("real/")}
    for name in failed:
        assert h.source(name).failures == 1
        assert h.source(name).etag is None


def test_corpus_sample_and_every_real_feed_through_the_pipeline(
    local_site: LocalSite, tmp_path: Path, extractor: ExtractorPool, no_egress: list[str]
) -> None:
    """Every 10th feedparser file and every real feed are polled and stored, all on 127.0.0.1."""
    _require_corpora()
    _run_and_check(
        local_site,
        tmp_path,
        extractor=extractor,
        no_egress=no_egress,
        every=SAMPLE_EVERY,
        on_done=_real_feed_expectations,
    )


@pytest.mark.slow
def test_whole_corpus_through_the_pipeline(
    local_site: LocalSite, tmp_path: Path, extractor: ExtractorPool, no_egress: list[str]
) -> None:
    """Every corpus file is polled as a source in one cycle without an exception."""
    _require_corpora()
    _run_and_check(
        local_site,
        tmp_path,
        extractor=extractor,
        no_egress=no_egress,
        every=1,
        on_done=_real_feed_expectations,
    )
