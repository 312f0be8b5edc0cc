"""The SSRF guard: which addresses a fetch may connect to.

Every URL that comes from a source or an article is untrusted. A hostname can
resolve to an internal address (or be re-pointed there between two lookups),
an IP literal can be written in many forms (`2130706433`, `::ffff:127.0.0.1`),
and a public URL can redirect to a private one. So the guard runs in three
places (a check of the URL alone is bypassed by IP literals and redirects):

1. `check_url` before each request and each redirect hop: only http(s), and
   IP-literal hosts (which aiohttp never passes to a resolver) are checked
   here; numeric hosts in legacy forms are refused outright.
2. `GuardedResolver` after DNS resolution: only allowed addresses are handed
   to the connector, so a rebinding name cannot reach an internal address.
3. `guarded_socket_factory` at connect time, as a last line of defence: the
   socket is never created for a refused address.

An address is allowed when `ipaddress.ip_address(x).is_global` (not
`is_private`: 100.64/10 is neither private nor global), after unwrapping
the IPv6 forms that embed an IPv4 address (mapped, translated, compatible,
NAT64, 6to4, Teredo: see `_unwrap`), or when it lies in an operator-allowed
network, or when private addresses are allowed altogether. Host names are
compared without their trailing dot (`127.0.0.1.` is `127.0.0.1`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohappyeyeballs import AddrInfoType, SocketFactoryType
from aiohttp.abc import AbstractResolver, ResolveResult

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = frozenset({"http", "https"})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


class BlockedAddressError(OSError):
    """A connection to a refused address was attempted (raised inside aiohttp)."""


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses may be connected to.

    `allow_private` lifts the guard entirely (tests, intranet deployments);
    `allowed_networks` lets specific non-global networks through.
    """

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, allow_private: bool, allowed_networks: Sequence[str]) -> AddressPolicy:
        """Build a policy; `allowed_networks` are CIDR strings (a ValueError names a bad one)."""
        return cls(
            allow_private,
            tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks),
        )

    def allows(self, address: IPAddress | str) -> bool:
        """True when connecting to `address` is permitted."""
        if self.allow_private:
            return True
        try:
            ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        except ValueError:
            return False
        if any(ip.version == net.version and ip in net for net in self.allowed_networks):
            return True
        return is_public_address(ip)


def _unwrap(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address embeds, else itself.

    Each of these forms carries an IPv4 address that the traffic may end up at
    (through the host's stack, a translator or a tunnel), so the guard judges
    the embedded address, never the IPv6 wrapper:

    * IPv4-mapped `::ffff:a.b.c.d`, and SIIT's IPv4-translated `::ffff:0:a.b.c.d`;
    * IPv4-compatible `::a.b.c.d` (deprecated, still routed by some stacks);
    * NAT64 `64:ff9b::/96` and the local-use NAT64 `64:ff9b:1::/48`;
    * 6to4 `2002:AABB:CCDD::/16` (the address is bits 16-48);
    * Teredo `2001:0::/32` (the client's address, inverted, in the last 32 bits).
    """
    if not isinstance(ip, ipaddress.IPv6Address):
        return ip
    embedded = ip.ipv4_mapped or (ip.teredo[1] if ip.teredo else None) or ip.sixtofour
    if embedded is not None:
        return embedded
    value = int(ip)
    translated = value >> 32 == 0xFFFF0000 or ip in _NAT64 or ip in _NAT64_LOCAL
    compatible = value >> 32 == 0 and value > 1  # `::a.b.c.d`; `::` and `::1` stay themselves
    return ipaddress.IPv4Address(value & 0xFFFFFFFF) if translated or compatible else ip


def is_public_address(address: IPAddress | str) -> bool:
    """True for globally routable unicast addresses; False for anything internal."""
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        return False  # a zone id only makes sense for link-local addresses
    ip = _unwrap(ip)
    return ip.is_global and not ip.is_multicast


def _literal_address(host: str) -> IPAddress | None:
    """The address an IP-literal host names, or None for a hostname.

    A trailing dot (the DNS root, `127.0.0.1.`) is dropped first: resolvers
    and connectors treat `127.0.0.1.` as the address itself.
    """
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0].rstrip("."))
    except ValueError:
        return None


def _legacy_numeric(host: str) -> bool:
    """True for numeric hosts that inet_aton accepts but are not dotted quads (`2130706433`)."""
    parts = host.split(".")
    # Numeric but not even inet_aton-valid is refused too: it is no hostname either.
    return all(p and (p.isdigit() or p.lower().startswith("0x")) for p in parts)


def check_url(url: str, policy: AddressPolicy) -> str | None:
    """Why `url` must not be fetched, or None when it may be (before DNS)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        return f"invalid URL: {exc}"
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        return f"scheme {parts.scheme or '(none)'!r} is not http(s)"
    if not host:
        return "URL has no host"
    literal = _literal_address(host)
    if literal is not None:
        return None if policy.allows(literal) else f"address {literal} is not public"
    host = host.rstrip(".")
    if not host or _legacy_numeric(host):  # "" here was only dots: no host either
        return f"numeric host {host!r} is not a canonical IP address" if host else "URL has no host"
    return None


class GuardedResolver(AbstractResolver):
    """Resolves with an inner resolver and keeps only the addresses the policy allows."""

    def __init__(self, inner: AbstractResolver, policy: AddressPolicy) -> None:
        self._inner = inner
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if self._policy.allows(r["host"])]
        if not allowed:
            refused = ", ".join(sorted({r["host"] for r in results}))
            raise BlockedAddressError(f"{host} resolves only to non-public addresses ({refused})")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def guarded_socket_factory(policy: AddressPolicy) -> SocketFactoryType:
    """A connector `socket_factory` that refuses to create sockets for refused addresses."""

    def factory(addr_info: AddrInfoType) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        if not policy.allows(str(sockaddr[0])):
            raise BlockedAddressError(f"connect to {sockaddr[0]} refused: not a public address")
        return socket.socket(family=family, type=type_, proto=proto)

    return factory
