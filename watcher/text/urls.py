"""Canonical article URLs: one spelling per article, so it is fetched and matched once.

`canonical_url` is conservative: it only removes what never changes which
page a server returns (case of scheme and host, default ports, fragments,
tracking parameters, parameter order, an empty path). Path case, trailing
slashes and the remaining parameters are kept: servers differ on those.

A page's own `<link rel=canonical>` is honoured only when it is an absolute
http(s) URL on the *same site* as the article (same host after dropping
`www.`/`m.`/`amp.`, a subdomain of it, or the same registrable domain,
approximated as the last two labels, or three under a two-letter country
code with a generic second level such as `co.uk` or `com.au`), and only when
it does not point to the site's front page from an article. Pages do get this
wrong: CMS templates declare the home page canonical for every article, and
syndicated copies point at the publisher. Since the canonical URL is unique
in the store, trusting those would silently drop articles; syndicated copies
are instead joined to their story by `watcher.stories.cluster`.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

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
_HOST_PREFIXES = ("www.", "m.", "amp.", "mobile.")
_GENERIC_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "ac", "edu", "ne", "or", "go"})
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
    if not _same_site(own.hostname or "", claimed.hostname or ""):
        return False
    # An article pointing at the front page is a template bug, not a canonical form.
    return not (claimed.path == "/" and not claimed.query and (own.path != "/" or own.query))


def _same_site(a: str, b: str) -> bool:
    if _is_ip(a) or _is_ip(b):
        return a == b
    a, b = _site_host(a), _site_host(b)
    if a == b or a.endswith("." + b) or b.endswith("." + a):
        return True
    return _registrable(a) == _registrable(b)


def _is_ip(host: str) -> bool:
    return ":" in host or host.replace(".", "").isdigit()


def _site_host(host: str) -> str:
    for prefix in _HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            return host[len(prefix) :]
    return host


def _registrable(host: str) -> str:
    """An approximation of the registrable domain without a public-suffix list."""
    labels = host.split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _GENERIC_SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])
