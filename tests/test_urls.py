"""Canonical article URLs, hosts, sites and absolute links."""

from __future__ import annotations

import pytest

from watcher.text.urls import absolute_url, canonical_url, host_of, registrable_domain, same_site


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://WWW.Example.COM/News/Story", "https://www.example.com/News/Story"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com?b=2&a=1", "https://example.com/?a=1&b=2"),
        ("https://example.com/a#section-2", "https://example.com/a"),
        ("https://example.com/a?utm_source=x&utm_medium=rss&id=7", "https://example.com/a?id=7"),
        ("https://example.com/a?UTM_Campaign=x", "https://example.com/a"),
        ("https://example.com/a?fbclid=abc&gclid=def", "https://example.com/a"),
        ("https://example.com/a?mc_cid=1&mc_eid=2&igshid=3", "https://example.com/a"),
        ("https://example.com/a?ref=rss&ref_src=twsrc", "https://example.com/a"),
        ("https://example.com/a?page=2&utm_term=x&lang=en", "https://example.com/a?lang=en&page=2"),
        ("https://example.com/a?q=a+b&x=%2f", "https://example.com/a?q=a+b&x=%2F"),
        ("https://example.com/a?empty=&&flag", "https://example.com/a?empty=&flag"),
        ("https://example.com/a/", "https://example.com/a/"),
        ("https://example.com/A/b.html", "https://example.com/A/b.html"),
        ("https://example.com./a", "https://example.com/a"),
        ("  https://example.com/a  ", "https://example.com/a"),
        ("https://bücher.example/a", "https://xn--bcher-kva.example/a"),
        ("http://[::1]:80/a", "http://[::1]/a"),
        ("ftp://example.com/file", "ftp://example.com/file"),
        ("not a url", "not a url"),
        ("http://[::1/a", "http://[::1/a"),
        ("https://example.com:99999/a", "https://example.com:99999/a"),
    ],
)
def test_canonical_url_table(url: str, expected: str) -> None:
    """Case, default ports, fragments, tracking and order are normalised; junk passes."""
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    ("url", "page_canonical", "expected"),
    [
        # honoured: same host, www/m/amp variants, subdomains and the same registrable domain
        (
            "https://example.com/a?id=1&utm_source=x",
            "https://example.com/news/a",
            "https://example.com/news/a",
        ),
        ("https://m.example.com/a", "https://www.example.com/a", "https://www.example.com/a"),
        ("https://amp.example.com/a", "https://example.com/a", "https://example.com/a"),
        ("https://news.example.com/a", "https://example.com/x/a", "https://example.com/x/a"),
        (
            "https://www.bbc.co.uk/news/1",
            "https://www.bbc.com/news/1",
            "https://www.bbc.co.uk/news/1",
        ),
        (
            "https://edition.bbc.co.uk/news/1",
            "https://www.bbc.co.uk/news/1",
            "https://www.bbc.co.uk/news/1",
        ),
        ("http://example.com/a", "https://example.com/a#top", "https://example.com/a"),
        # refused: another site, the front page, not absolute http(s), unparsable
        ("https://example.com/a", "https://other.com/a", "https://example.com/a"),
        ("https://news.yahoo.com/a", "https://www.reuters.com/a", "https://news.yahoo.com/a"),
        ("https://example.co.uk/a", "https://other.co.uk/a", "https://example.co.uk/a"),
        ("https://example.com/a", "https://example.com/", "https://example.com/a"),
        ("https://example.com/a", "https://example.com", "https://example.com/a"),
        ("https://example.com/a", "/relative/a", "https://example.com/a"),
        ("https://example.com/a", "javascript:alert(1)", "https://example.com/a"),
        ("https://example.com/a", "http://[::1", "https://example.com/a"),
        ("https://10.0.0.1/a", "https://10.0.0.2/a", "https://10.0.0.1/a"),
        ("https://example.com/a", "", "https://example.com/a"),
        ("https://example.com/a", None, "https://example.com/a"),
    ],
)
def test_page_canonical_rule(url: str, page_canonical: str | None, expected: str) -> None:
    """A page's canonical is used only when absolute http(s), same site, not the front page."""
    assert canonical_url(url, page_canonical) == expected


def test_front_page_may_be_its_own_canonical() -> None:
    """The front page itself may name the front page as canonical."""
    assert canonical_url("https://example.com/?utm_source=x", "https://example.com/") == (
        "https://example.com/"
    )


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://WWW.Reuters.com:443/world", "www.reuters.com"),
        ("http://example.com./a", "example.com"),
        ("https://user:pw@example.com:8080/a", "example.com"),
        ("https://bücher.example/", "xn--bcher-kva.example"),
        ("not a url", ""),
        ("http://[::1/a", ""),
    ],
)
def test_host_of(url: str, host: str) -> None:
    """host_of gives the lower-case host without port, or "" when there is none."""
    assert host_of(url) == host


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # The case the canonical rule and listing pages used to disagree on.
        ("news.example.com", "www.example.com", True),
        ("www.example.com", "news.example.com", True),
        ("example.com", "WWW.Example.COM.", True),
        ("edition.bbc.co.uk", "www.bbc.co.uk", True),
        ("bbc.co.uk", "itv.co.uk", False),
        ("www.bbc.co.uk", "www.bbc.com", False),
        ("alice.github.io", "bob.github.io", False),  # a private suffix: two sites
        ("cdn.news.example", "www.news.example", True),  # unknown suffix: last two labels
        ("news.example", "other.example", False),
        ("10.0.0.1", "10.0.0.1", True),
        ("10.0.0.1", "10.0.0.2", False),
        ("[::1]", "::1", True),
        ("", "", False),
    ],
)
def test_same_site(a: str, b: str, expected: bool) -> None:
    """One site = one registrable domain under the Public Suffix List; IPs only themselves."""
    assert same_site(a, b) is expected
    assert same_site(b, a) is expected


@pytest.mark.parametrize(
    ("host", "domain"),
    [
        ("www.nikkei.co.jp", "nikkei.co.jp"),
        ("a.b.c.example.com", "example.com"),
        ("foo.blogspot.com", "foo.blogspot.com"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("localhost", "localhost"),
    ],
)
def test_registrable_domain(host: str, domain: str) -> None:
    """The bundled suffix list decides; unknown suffixes keep the last two labels."""
    assert registrable_domain(host) == domain


@pytest.mark.parametrize(
    ("base", "href", "expected"),
    [
        ("https://a.example/x/", "../b#frag", "https://a.example/b"),
        ("https://a.example/x/", " /news/\n2024/a ", "https://a.example/news/ 2024/a"),
        ("https://a.example/x/", "//cdn.example/p", "https://cdn.example/p"),
        ("https://a.example/x/", "", None),
        ("https://a.example/x/", "mailto:desk@a.example", None),
        ("https://a.example/x/", "javascript:void(0)", None),
        ("https://a.example/x/", "http://[::1", None),
    ],
)
def test_absolute_url(base: str, href: str, expected: str | None) -> None:
    """Links from pages and feeds: resolved, fragment dropped, http(s) only."""
    assert absolute_url(base, href) == expected
