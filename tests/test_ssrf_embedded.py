"""The SSRF guard judges IPv6 forms by the IPv4 address they embed, and ignores trailing dots.

Issue 13: `::127.0.0.1`, `::ffff:0:…`, 6to4 and the like passed as public, and
`127.0.0.1.` passed the check made before DNS. Only the pure guard functions
run here, plus one real fetch to 127.0.0.1 through a trailing-dot URL.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.support.httpserver import LocalSite
from watcher.ingest.fetch import Fetcher, FetchSettings
from watcher.ingest.ssrf import AddressPolicy, check_url, is_public_address
from watcher.model import FetchOutcome

INTERNAL_EMBEDDED = [
    "::127.0.0.1",  # IPv4-compatible
    "::10.0.0.1",
    "::169.254.169.254",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:0:7f00:1",  # IPv4-translated (SIIT)
    "::ffff:0:a9fe:a9fe",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "2002:c0a8:101::",  # 6to4 of 192.168.1.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a00:1",
    "64:ff9b:1::a00:1",  # local-use NAT64
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1 (inverted)
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
]
PUBLIC_EMBEDDED = [
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo, client 8.8.8.8
    "2606:4700:4700::1111",  # a plain public IPv6 address stays public
]


@pytest.mark.parametrize("address", INTERNAL_EMBEDDED)
def test_ipv6_forms_embedding_an_internal_ipv4_are_refused(address: str) -> None:
    assert not is_public_address(address)
    reason = check_url(f"http://[{address}]/feed", AddressPolicy())
    assert reason is not None
    assert "not public" in reason


@pytest.mark.parametrize("address", PUBLIC_EMBEDDED)
def test_ipv6_forms_embedding_a_public_ipv4_are_allowed(address: str) -> None:
    assert is_public_address(address)
    assert check_url(f"http://[{address}]/feed", AddressPolicy()) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1./feed",
        "http://127.0.0.1../feed",
        "http://169.254.169.254./latest/meta-data/",
        "http://[::1]./feed",
        "http://2130706433./feed",
        "http://0x7f.1./feed",
        "http://./feed",
    ],
)
def test_trailing_dots_do_not_hide_an_internal_host(url: str) -> None:
    assert check_url(url, AddressPolicy()) is not None


def test_a_hostname_with_a_trailing_dot_is_still_allowed_before_dns() -> None:
    assert check_url("https://example.com./feed", AddressPolicy()) is None


def test_a_trailing_dot_url_to_loopback_is_never_fetched() -> None:
    """A real server on 127.0.0.1 is not contacted through `127.0.0.1.`."""
    settings = FetchSettings(connect_timeout=2.0, total_timeout=5.0, retries=0)
    with LocalSite() as site:
        site.add("/feed", b"<rss version='2.0'><channel/></rss>")
        url = site.url("/feed").replace("127.0.0.1", "127.0.0.1.")

        async def run() -> FetchOutcome:
            async with Fetcher(settings) as fetcher:
                return (await fetcher.fetch(url)).outcome

        assert asyncio.run(run()) is FetchOutcome.BLOCKED
        assert site.hits("/feed") == 0
