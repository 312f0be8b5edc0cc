"""The SSRF guard: nothing internal is reached unless allowed.

Only 127.0.0.1 is ever contacted; every other address is checked by the pure
guard functions, which open no socket.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace

import pytest
from aiohttp.resolver import ThreadedResolver

from tests.support.httpserver import LocalSite
from watcher.ingest.fetch import Fetcher, FetchSettings
from watcher.ingest.ssrf import (
    AddressPolicy,
    BlockedAddressError,
    GuardedResolver,
    check_url,
    guarded_socket_factory,
    is_public_address,
)
from watcher.model import FetchOutcome, FetchResult

GUARDED = FetchSettings(connect_timeout=2.0, total_timeout=5.0, retries=0, backoff=0.01)
FEED = b"<rss version='2.0'><channel><title>t</title></channel></rss>"


def fetch(url: str, settings: FetchSettings = GUARDED) -> FetchResult:
    """Fetch one URL with a fresh Fetcher."""

    async def run() -> FetchResult:
        async with Fetcher(settings) as f:
            return await f.fetch(url)

    return asyncio.run(run())


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "169.254.169.254",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "100.64.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.1",
        "::1",
        "::",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::7f00:1",
        "2001:db8::1",
        "not an address",
    ],
)
def test_internal_addresses_are_not_public(address: str) -> None:
    """Loopback, private, link-local, CGNAT, unspecified and mapped addresses are refused."""
    assert not is_public_address(address)
    assert not AddressPolicy().allows(address)
    assert AddressPolicy(allow_private=True).allows(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.215.14", "2606:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    """Globally routable unicast addresses are allowed."""
    assert is_public_address(address)
    assert AddressPolicy().allows(address)


def test_allowed_networks_let_specific_ranges_through() -> None:
    """An operator-allowed network is permitted; the rest of private space is not."""
    policy = AddressPolicy.from_settings(False, ["10.1.0.0/16"])
    assert policy.allows("10.1.2.3")
    assert not policy.allows("10.2.0.1")
    with pytest.raises(ValueError, match="does not appear"):
        AddressPolicy.from_settings(False, ["ten dot one"])


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "scheme"),
        ("gopher://127.0.0.1:70/", "scheme"),
        ("ftp://example.org/feed", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("//example.org/feed", "scheme"),
        ("http:///feed", "no host"),
        ("http://127.0.0.1/", "not public"),
        ("http://[::1]:8080/", "not public"),
        ("http://[::ffff:127.0.0.1]/", "not public"),
        ("http://169.254.169.254/latest/meta-data/", "not public"),
        ("http://0.0.0.0/", "not public"),
        ("http://2130706433/", "canonical"),
        ("http://0x7f000001/", "canonical"),
        ("http://017700000001/", "canonical"),
        ("http://127.1/", "canonical"),
        ("http://[::1/", "invalid"),
    ],
)
def test_check_url_refuses(url: str, reason: str) -> None:
    """Non-http(s) schemes, internal IP literals and legacy numeric hosts are refused before DNS."""
    verdict = check_url(url, AddressPolicy())
    assert verdict is not None
    assert reason in verdict


@pytest.mark.parametrize(
    "url", ["https://www.example.org/feed.xml", "http://8.8.8.8/", "HTTPS://Example.org"]
)
def test_check_url_allows_public(url: str) -> None:
    """Public hostnames and public IP literals pass the pre-DNS check."""
    assert check_url(url, AddressPolicy()) is None


def test_resolver_drops_internal_addresses() -> None:
    """A hostname resolving only to internal addresses is refused after DNS resolution."""

    async def run() -> None:
        resolver = GuardedResolver(ThreadedResolver(), AddressPolicy())
        try:
            with pytest.raises(BlockedAddressError, match="non-public"):
                await resolver.resolve("localhost", 80, socket.AF_UNSPEC)
        finally:
            await resolver.close()
        allowing = GuardedResolver(
            ThreadedResolver(), AddressPolicy.from_settings(False, ["127.0.0.0/8"])
        )
        results = await allowing.resolve("localhost", 80, socket.AF_INET)
        assert {r["host"] for r in results} == {"127.0.0.1"}
        await allowing.close()

    asyncio.run(run())


def test_socket_factory_refuses_internal_address() -> None:
    """The connect-time socket factory creates no socket for an internal address."""
    factory = guarded_socket_factory(AddressPolicy())
    addr_info = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80))
    with pytest.raises(BlockedAddressError):
        factory(addr_info)


def test_default_fetcher_refuses_loopback_without_sending(local_site: LocalSite) -> None:
    """By default a 127.0.0.1 URL is BLOCKED and the server receives nothing."""
    local_site.add("/feed.xml", FEED)
    result = fetch(local_site.url("/feed.xml"))
    assert result.outcome is FetchOutcome.BLOCKED
    assert result.body == b""
    assert local_site.requests == []


def test_default_fetcher_refuses_name_resolving_to_loopback(local_site: LocalSite) -> None:
    """A hostname that resolves to loopback is BLOCKED at resolution, before any request."""
    local_site.add("/feed.xml", FEED)
    result = fetch(local_site.url("/feed.xml").replace("127.0.0.1", "localhost"))
    assert result.outcome is FetchOutcome.BLOCKED
    assert "localhost" in (result.error or "")
    assert local_site.requests == []


@pytest.mark.parametrize("host", ["2130706433", "[::ffff:127.0.0.1]", "127.1", "0x7f000001"])
def test_default_fetcher_refuses_disguised_loopback(local_site: LocalSite, host: str) -> None:
    """Loopback written as a decimal, mapped or short literal is BLOCKED and nothing is sent."""
    port = local_site.base_url.rsplit(":", 1)[1]
    result = fetch(f"http://{host}:{port}/")
    assert result.outcome is FetchOutcome.BLOCKED
    assert local_site.requests == []


def test_allow_private_reaches_loopback(local_site: LocalSite) -> None:
    """With allow_private_addresses the same URL is fetched."""
    local_site.add("/feed.xml", FEED)
    result = fetch(local_site.url("/feed.xml"), replace(GUARDED, allow_private_addresses=True))
    assert (result.outcome, result.body) == (FetchOutcome.OK, FEED)


def test_every_redirect_hop_is_checked(local_site: LocalSite) -> None:
    """A redirect from an allowed address to a refused one is BLOCKED at that hop."""
    port = local_site.base_url.rsplit(":", 1)[1]
    local_site.redirect("/go", f"http://[::1]:{port}/secret")
    local_site.redirect("/go-file", "file:///etc/passwd")
    only_127 = replace(GUARDED, allowed_networks=("127.0.0.1/32",))
    result = fetch(local_site.url("/go"), only_127)
    assert result.outcome is FetchOutcome.BLOCKED
    assert result.final_url == f"http://[::1]:{port}/secret"
    assert fetch(local_site.url("/go-file"), only_127).outcome is FetchOutcome.BLOCKED
    assert [r.path for r in local_site.requests] == ["/go", "/go-file"]


def test_allowed_network_reaches_host_by_name(local_site: LocalSite) -> None:
    """With 127.0.0.1/32 allowed, `localhost` resolves to it and is fetched."""
    local_site.add("/feed.xml", FEED)
    url = local_site.url("/feed.xml").replace("127.0.0.1", "localhost")
    result = fetch(url, replace(GUARDED, allowed_networks=("127.0.0.1/32",)))
    assert (result.outcome, result.body) == (FetchOutcome.OK, FEED)


@pytest.mark.parametrize("url", ["", "garbage", "http://", "http://:80/", "http://[::1"])
def test_garbage_urls_are_values_not_exceptions(url: str) -> None:
    """Malformed URLs give a classified result, never an exception."""
    result = fetch(url)
    assert result.outcome in (FetchOutcome.BLOCKED, FetchOutcome.CONNECTION_ERROR)
    assert result.error
