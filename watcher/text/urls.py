"""Canonical article URLs: one spelling per article, so it is fetched and matched once.

`canonical_url` is conservative: it only removes what never changes which
page a server returns (case of scheme and host, default ports, fragments,
tracking parameters, parameter order, an empty path). Path case, trailing
slashes and the remaining parameters are kept: servers differ on those.

A page's own `<link rel=canonical>` is honoured only when it is an absolute
http(s) URL on the same site as the article (`same_site`), and only when it
does not point to the site's front page from an article. Pages do get this
wrong: CMS templates declare the home page canonical for every article, and
syndicated copies point at the publisher. Since the canonical URL is unique
in the store, trusting those would silently drop articles; syndicated copies
are instead joined to their story by `watcher.stories.cluster`.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from urllib.parse import SplitResult, unquote, urldefrag, urljoin, urlsplit, urlunsplit

from tld import get_fld
from tld.utils import MozillaTLDSourceParser

from watcher.text.html import clean_text

# Query parameters that only say where a click came from. Prefixes end in "_".
TRACKING_PARAMETERS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "igshid",
        "igsh",
        "mc_cid",
        "mc_eid",
        "mkt_tok",
        "ref",
        "ref_src",
        "ref_url",
        "_hsenc",
        "_hsmi",
        "__twitter_impression",
        "ocid",
        "ncid",
        "cmpid",
        "smid",
        "sr_share",
        "spm",
        "soc_src",
        "soc_trk",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hmb_", "at_", "oly_")

_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_CANONICAL_CHARS = 2000  # articles.canonical_url; longer URLs are cut and hashed
MAX_HOST_CHARS = 253  # the longest DNS name (articles.outlet holds 255)
_PERCENT_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")


def canonical_url(url: str, page_canonical: str | None = None) -> str:
    """The one spelling of an article's URL; never raises.

    `page_canonical` is the page's `<link rel=canonical>`, used instead of
    `url` when it passes the same-site rule in the module docstring. A URL
    that cannot be parsed, or is not http(s), comes back stripped but
    otherwise unchanged.
    """
    own = _normalise(url.strip())
    if page_canonical:
        claimed = _normalise(page_canonical.strip())
        if claimed is not None and own is not None and _acceptable(own, claimed):
            return _bounded(urlunsplit(claimed))
    return _bounded(urlunsplit(own) if own is not None else url.strip())


def _bounded(url: str) -> str:
    """`url`, or its first part plus a hash when longer than the column that stores it."""
    if len(url) <= MAX_CANONICAL_CHARS:
        return url
    digest = hashlib.sha256(url.encode("utf-8", errors="replace")).hexdigest()
    return f"{url[: MAX_CANONICAL_CHARS - 80]}#sha256={digest}"


def host_of(url: str) -> str:
    """The lower-case host of a URL without port or trailing dot; "" when there is none."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    host = _host(host)
    return host if len(host) <= MAX_HOST_CHARS else ""  # not a DNS name; fits the column


def _normalise(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a bad port or an unbalanced IPv6 bracket
        return None
    scheme = parts.scheme.lower()
    host = _host(parts.hostname or "")
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if "@" in parts.netloc:
        netloc = f"{parts.netloc.rsplit('@', 1)[0]}@{netloc}"
    path = _upper_escapes(parts.path) or "/"
    return SplitResult(scheme, netloc, path, _query(parts.query), "")


def _host(host: str) -> str:
    host = host.lower().rstrip(".")
    try:  # one spelling for internationalised names: the ASCII (punycode) form
        return host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return host


def _query(query: str) -> str:
    """Drop tracking parameters and sort the rest, keeping each pair's spelling."""
    kept = []
    for pair in query.split("&"):
        if not pair:
            continue
        key = unquote(pair.split("=", 1)[0].replace("+", " ")).strip().lower()
        if key in TRACKING_PARAMETERS or key.startswith(TRACKING_PREFIXES):
            continue
        kept.append(_upper_escapes(pair))
    return "&".join(sorted(kept))


def _upper_escapes(text: str) -> str:
    # %2f and %2F are the same octet (RFC 3986 section 6.2.2.1).
    return _PERCENT_ESCAPE.sub(lambda m: m.group(0).upper(), text)


def _acceptable(own: SplitResult, claimed: SplitResult) -> bool:
    """Whether a page may name `claimed` as the canonical form of `own`."""
    if not same_site(own.hostname or "", claimed.hostname or ""):
        return False
    # An article pointing at the front page is a template bug, not a canonical form.
    return not (claimed.path == "/" and not claimed.query and (own.path != "/" or own.query))


def absolute_url(base: str, href: str) -> str | None:
    """`href` (as written in a page or feed) resolved against `base`, without fragment.

    Whitespace inside the reference is collapsed first. None when `href` is
    empty (it names the page itself), cannot be parsed, or is not http(s).
    """
    if not href.strip():
        return None
    try:
        url = urldefrag(urljoin(base, clean_text(href))).url
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


def same_site(a: str, b: str) -> bool:
    """Whether hosts `a` and `b` belong to one site: the same registrable domain.

    `news.example.com`, `www.example.com` and `example.com` are one site;
    `bbc.co.uk` and `itv.co.uk` are two, and so are `a.github.io` and
    `b.github.io` (see `registrable_domain`). IP addresses are a site only
    of themselves. Hosts are compared case- and trailing-dot-insensitively.
    """
    a, b = _host(a.strip("[]")), _host(b.strip("[]"))
    if not a or not b:
        return False
    if _is_ip(a) or _is_ip(b):
        return a == b
    return registrable_domain(a) == registrable_domain(b)


class _BundledSuffixes(MozillaTLDSourceParser):
    """The Public Suffix List snapshot shipped inside the `tld` package, never refreshed.

    `tld` downloads the list from publicsuffix.org when its file cannot be
    read; the service must not reach the internet for this, so that path is
    disabled here.
    """

    uid = "watcher-bundled"

    @classmethod
    def update_tld_names(cls, fail_silently: bool = False) -> bool:
        return False


@functools.lru_cache(maxsize=4096)
def registrable_domain(host: str) -> str:
    """The part of a (lower-case, ASCII) host name one registrant controls.

    The Public Suffix List decides (`www.bbc.co.uk` -> `bbc.co.uk`,
    `foo.blogspot.com` -> `foo.blogspot.com`), from the snapshot bundled with
    `tld`, offline. A name under a suffix the list does not know (`.example`,
    `.internal`, `localhost`) follows the list's default rule: the last label
    is the suffix, so the last two labels are the registrable domain.
    """
    found = get_fld(host, fix_protocol=True, fail_silently=True, parser_class=_BundledSuffixes)
    if isinstance(found, str) and found:
        return found
    return ".".join(host.split(".")[-2:])


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
