"""Corpus-driven tests: every feed test file and real outlet feed parses without crashing.

Reads ../shared/corpora (feedparser's test suite and captured outlet feeds)
and skips when it is absent. Nothing from the corpora is copied here: the
assertions are about counts and properties, not about the outlets' text.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import zlib
from pathlib import Path

import pytest

from tests.support.httpserver import LocalSite
from tests.support.shared import SHARED, shared_path
from watcher.ingest.decompress import TruncatedStream, decode_body
from watcher.ingest.feeds import parse_feed
from watcher.ingest.fetch import Fetcher, FetchSettings
from watcher.model import FetchOutcome, FetchResult, ParsedFeed

CORPORA = SHARED / "corpora"
FEEDPARSER = CORPORA / "feedparser"
REAL = CORPORA / "real-feeds"
HTTP_BASE = "http://127.0.0.1:8097/tests/"
_HEADER = re.compile(r"^Header:\s*([^:]+):\s*(.*?)\s*$", re.MULTILINE)


def _require_corpora() -> None:
    """Skip without ../shared/corpora (fail when WATCHER_REQUIRE_CORPORA=1)."""
    shared_path("corpora", "feedparser")
    shared_path("corpora", "real-feeds")


def _comment_text(raw: bytes) -> str:
    """The file's leading text, decoded well enough to read its header comment."""
    for bom, codec in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if raw.startswith(bom):
            return raw[2:].decode(codec, "ignore")
    if raw[:4] in (b"<\x00?\x00", b"<\x00!\x00"):
        return raw.decode("utf-16-le", "ignore")
    if raw[:4] in (b"\x00<\x00?", b"\x00<\x00!"):
        return raw.decode("utf-16-be", "ignore")
    return raw.decode("utf-8", "ignore")


def emulated_headers(path: Path, raw: bytes) -> tuple[str, dict[str, str]]:
    """The URL and response headers the upstream harness would serve `path` with."""
    rel = path.relative_to(FEEDPARSER).as_posix()
    url = HTTP_BASE + rel
    if "http" not in rel:
        return url, {}
    headers = {"content-type": "text/xml"}
    for name, value in _HEADER.findall(_comment_text(raw)[:4000]):
        headers[name.lower()] = value
    return url, headers


def corpus_files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix != ".md" and not p.name.startswith("LICENSE")
    )


def check_value(result: ParsedFeed) -> None:
    """Every string is str without NUL; bozo results say why; errors are known outcomes."""
    assert isinstance(result, ParsedFeed)
    for entry in result.entries:
        for text in (entry.key, entry.title, entry.summary, entry.url or "", entry.guid or ""):
            assert isinstance(text, str)
            assert "\x00" not in text
        assert entry.key
    assert len({e.key for e in result.entries}) == len(result.entries)
    if result.bozo:
        assert result.bozo_reason
    assert result.error in (None, FetchOutcome.NOT_A_FEED, FetchOutcome.PARSE_ERROR)


@pytest.mark.parametrize(
    "subdir", ["wellformed", "entities", "encoding", "illformed", "http", "compression"]
)
def test_feedparser_corpus_never_crashes(subdir: str) -> None:
    """Every feedparser test file parses to a value within 1 s, with emulated HTTP headers."""
    _require_corpora()
    files = corpus_files(FEEDPARSER / subdir)
    assert files
    slow = []
    for path in files:
        raw = path.read_bytes()
        url, headers = emulated_headers(path, raw)
        if subdir == "compression":
            # A truncated stream is the fetcher's error; here we parse the raw bytes instead.
            with contextlib.suppress(TruncatedStream):
                raw = decode_body(raw, "gzip" if path.suffix == ".gz" else "deflate", 10**7)
        start = time.monotonic()
        result = parse_feed(raw, url=url, headers=headers)
        if time.monotonic() - start > 1.0:
            slow.append(path.name)
        check_value(result)
    assert slow == []


def test_real_feeds_never_crash() -> None:
    """Every captured outlet feed parses to a value within 1 s (gzip sniffed as in fetching)."""
    _require_corpora()
    files = corpus_files(REAL)
    assert files
    for path in files:
        body = decode_body(path.read_bytes(), "", 15 * 1024 * 1024)
        start = time.monotonic()
        result = parse_feed(body, url="https://outlet.example/feed", headers={})
        assert time.monotonic() - start < 1.0, path.name
        check_value(result)


def _real(name: str) -> ParsedFeed:
    _require_corpora()
    path = next(REAL.rglob(name))
    body = decode_body(path.read_bytes(), "", 15 * 1024 * 1024)
    return parse_feed(body, url="https://outlet.example/feed", headers={})


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("guardian.rss", 55),
        ("tpm.atom", 20),
        ("wapowellness.xml", 29),
        ("encoding.rss", 40),
        ("uolNoticias.rss", 15),
        ("iconv.xml", 10),
        ("compressed.xml", 10),
        ("saxerror.xml", 3),
        ("guid-dupes.xml", 1),
    ],
)
def test_real_feed_item_counts(name: str, count: int) -> None:
    """Real feeds yield all their items, including bozo ones and ones without GUIDs."""
    result = _real(name)
    assert len(result.entries) == count
    assert result.error is None


def test_feeds_without_guids_are_keyed_by_link() -> None:
    """Items with no GUID and localized dates get link keys and no publication date."""
    result = _real("uolNoticias.rss")
    assert len(result.entries) == 15
    assert all(e.guid is None and e.key == e.url for e in result.entries)
    assert all(e.published is None for e in result.entries)


def test_windows_1251_feed_decodes() -> None:
    """A declared windows-1251 feed comes out as Cyrillic text without replacement characters."""
    result = _real("iconv.xml")
    text = " ".join(e.title + e.summary for e in result.entries)
    assert re.search("[\u0400-\u04ff]{5}", text)
    assert "\ufffd" not in text


def test_truncated_outlet_feed_is_a_parse_error() -> None:
    """The feed a server cut off mid-document is PARSE_ERROR, not an empty feed."""
    result = _real("rss_2.0_invalid_1.xml")
    assert result.error is FetchOutcome.PARSE_ERROR
    assert result.bozo
    assert result.title


def test_html_page_is_not_a_feed() -> None:
    """An HTML page served where a feed was expected is NOT_A_FEED."""
    assert _real("notafeed.html").error is FetchOutcome.NOT_A_FEED


def _fetch(url: str) -> FetchResult:
    async def run() -> FetchResult:
        async with Fetcher(FetchSettings(allow_private_addresses=True, retries=0)) as f:
            return await f.fetch(url)

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("name", "encoding", "outcome", "title"),
    [
        ("gzip.gz", "gzip", None, None),
        ("deflate.z", "deflate", None, None),
        ("deflate-no-headers.z", "deflate", None, None),
        ("gzip-not-compressed.gz", "gzip", None, "gzip"),
        ("deflate-not-compressed.z", "deflate", None, "deflate"),
    ],
)
def test_compressed_bodies_through_fetch_and_parse(
    local_site: LocalSite, name: str, encoding: str, outcome: FetchOutcome | None, title: str | None
) -> None:
    """Compressed test bodies served with Content-Encoding fetch and parse as upstream expects."""
    _require_corpora()
    local_site.add(
        "/f",
        (FEEDPARSER / "compression" / name).read_bytes(),
        headers={"Content-Encoding": encoding},
    )
    fetched = _fetch(local_site.url("/f"))
    assert fetched.ok
    result = parse_feed(fetched.body, url=fetched.final_url, headers=fetched.headers)
    assert result.error is outcome
    if title is not None:
        assert result.title == title


def test_gzip_body_with_a_bad_check_is_kept_raw_and_is_not_a_feed(local_site: LocalSite) -> None:
    """A gzip body failing its CRC check is kept raw (as feedparser does): NOT_A_FEED, no entries.

    (A gzip stream cut short is a fetch error instead; see test_fetch_decompress.)
    """
    _require_corpora()
    raw = (FEEDPARSER / "compression" / "gzip-struct-error.gz").read_bytes()
    with pytest.raises(zlib.error, match="incorrect data check"):
        zlib.decompressobj(31).decompress(raw)  # the file is what its test needs
    local_site.add("/f", raw, headers={"Content-Encoding": "gzip"})
    fetched = _fetch(local_site.url("/f"))
    assert fetched.outcome is FetchOutcome.OK
    assert fetched.body == raw
    result = parse_feed(fetched.body, url=fetched.final_url, headers=fetched.headers)
    check_value(result)
    assert (result.error, result.entries) == (FetchOutcome.NOT_A_FEED, ())


def test_gzip_without_encoding_through_fetch_and_parse(local_site: LocalSite) -> None:
    """A gzip feed served with no Content-Encoding is sniffed, decoded and parsed."""
    _require_corpora()
    local_site.add(
        "/c.xml", next(REAL.rglob("compressed.xml")).read_bytes(), content_type="text/xml"
    )
    fetched = _fetch(local_site.url("/c.xml"))
    result = parse_feed(fetched.body, url=fetched.final_url, headers=fetched.headers)
    assert len(result.entries) == 10
