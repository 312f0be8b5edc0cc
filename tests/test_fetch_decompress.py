"""Decoding response bodies under a cap, directly and through the fetcher."""

from __future__ import annotations

import asyncio
import gzip
import zlib

import pytest

from tests.support.httpserver import LocalSite
from watcher.ingest.decompress import BodyTooLarge, TruncatedStream, decode_body
from watcher.ingest.fetch import Fetcher, FetchSettings
from watcher.model import FetchOutcome, FetchResult

TEXT = b"<rss><channel><title>gzip</title></channel></rss>" * 20


def _raw_deflate(data: bytes) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    return comp.compress(data) + comp.flush()


@pytest.mark.parametrize(
    ("raw", "encoding"),
    [
        (TEXT, ""),
        (TEXT, "identity"),
        (gzip.compress(TEXT), "gzip"),
        (gzip.compress(TEXT), "x-gzip"),
        (gzip.compress(TEXT), "GZIP"),
        (gzip.compress(TEXT), ""),  # magic bytes, no Content-Encoding
        (zlib.compress(TEXT), "deflate"),
        (_raw_deflate(TEXT), "deflate"),
        (gzip.compress(gzip.compress(TEXT)), "gzip, gzip"),
        (gzip.compress(TEXT[:500]) + gzip.compress(TEXT[500:]), "gzip"),  # two members
        (TEXT, "gzip"),  # claims gzip but isn't: kept raw, as feedparser does
        (TEXT, "deflate"),
    ],
)
def test_decode_body(raw: bytes, encoding: str) -> None:
    """Declared, sniffed, stacked and bogus codings all decode to the original text."""
    assert decode_body(raw, encoding, cap=len(TEXT)) == TEXT


def test_decoded_size_is_capped() -> None:
    """Decompressed output past the cap raises BodyTooLarge, even when the input is tiny."""
    bomb = gzip.compress(bytes(10_000_000))
    assert len(bomb) < 20_000
    with pytest.raises(BodyTooLarge):
        decode_body(bomb, "gzip", cap=1_000_000)
    with pytest.raises(BodyTooLarge):
        decode_body(bomb, "", cap=1_000_000)
    assert len(decode_body(bomb, "gzip", cap=10_000_000)) == 10_000_000


def test_truncated_gzip_is_reported() -> None:
    """A gzip stream cut short raises TruncatedStream instead of passing on half a document."""
    with pytest.raises(TruncatedStream):
        decode_body(gzip.compress(TEXT)[:-12], "gzip", cap=10_000)


def test_truncated_gzip_body_is_a_fetch_error(local_site: LocalSite) -> None:
    """Served cut short, a gzip body is a CONNECTION_ERROR with no body, not half a document."""
    local_site.add("/cut", gzip.compress(TEXT)[:-12], headers={"Content-Encoding": "gzip"})

    async def fetch() -> FetchResult:
        async with Fetcher(FetchSettings(allow_private_addresses=True, retries=0)) as fetcher:
            return await fetcher.fetch(local_site.url("/cut"))

    fetched = asyncio.run(fetch())
    assert fetched.outcome is FetchOutcome.CONNECTION_ERROR
    assert fetched.error == "compressed body ends before its stream does"
    assert fetched.body == b""


def test_unknown_coding_is_left_alone() -> None:
    """A coding we never asked for (br) is passed through untouched."""
    assert decode_body(b"\x8b\x00\x80", "br", cap=100) == b"\x8b\x00\x80"
