"""The peer: the monitoring script people write first, deliberately naive.

    python -m bench.naive_pipeline --rules rules --out hits.json URL [URL ...]

For each feed in turn, `feedparser.parse(url)` downloads and parses it
(feedparser's own urllib downloader); for each entry not seen before in this
run, `trafilatura.fetch_url` downloads the page (trafilatura's own urllib3
downloader) and `trafilatura.extract` takes the text with its default
options; then every rule is tested on its own with regular expressions (the
default rules from `rules/`, one regex per term, each rule's Boolean tree
walked separately, the same rule semantics as watcher's matcher:
`bench.naive.NaiveMatcher`). Everything is sequential, in
one process; nothing is stored but a JSON list of the hits.

What it leaves out, as such scripts do: no conditional requests, no
concurrency, no worker processes or extraction deadlines, no database, no
canonical URLs or near-duplicate stories, no alerts.

Both downloaders may only ever reach 127.0.0.1: every feed and page URL is
checked before it is fetched (`LocalOnly`), and trafilatura's SSRF guard,
which would refuse a loopback address, is switched off for this reason only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ALLOWED_HOST = "127.0.0.1"


class LocalOnly(ValueError):
    """A URL that is not on 127.0.0.1: the benchmark never fetches it."""


def check_local(url: str) -> str:
    """`url` if it is an http URL on 127.0.0.1; raises `LocalOnly` otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != ALLOWED_HOST:
        raise LocalOnly(f"refusing to fetch {url!r}: the naive pipeline only reaches 127.0.0.1")
    return url


@dataclass(frozen=True)
class NaiveRun:
    """What the naive pipeline found."""

    feeds: int
    articles: int  # entries whose page was fetched
    extracted: int  # pages trafilatura returned text for
    hits: tuple[tuple[str, str], ...]  # (article URL, rule id)


def run_naive(feed_urls: Sequence[str], rules_dir: Path) -> NaiveRun:
    """Poll every feed, fetch and extract every entry, test every rule: sequentially."""
    import feedparser
    import trafilatura
    from trafilatura.settings import use_config

    from bench.naive import NaiveMatcher
    from watcher.model import Document
    from watcher.rules.load import load_rules

    config = use_config()
    config.set("DEFAULT", "SSRF_PROTECTION", "off")  # the site is on 127.0.0.1 (checked below)
    matcher = NaiveMatcher(load_rules(rules_dir))
    seen: set[str] = set()
    hits: list[tuple[str, str]] = []
    articles = extracted = 0
    for feed_url in feed_urls:
        feed = feedparser.parse(check_local(feed_url))
        for entry in feed.entries:
            link = str(entry.get("link") or "")
            if not link or link in seen:
                continue
            seen.add(link)
            articles += 1
            page = trafilatura.fetch_url(check_local(link), config=config)
            text = trafilatura.extract(page, config=config) if page else None
            extracted += text is not None
            doc = Document(
                title=str(entry.get("title") or ""),
                text=text or str(entry.get("summary") or ""),
                source=urlsplit(link).hostname or "",
                url=link,
            )
            hits += [(link, rule_id) for rule_id in matcher.match(doc)]
    return NaiveRun(len(feed_urls), articles, extracted, tuple(hits))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.naive_pipeline")
    parser.add_argument("--rules", type=Path, required=True, help="the rules directory")
    parser.add_argument("--out", type=Path, required=True, help="where to write the hits (JSON)")
    parser.add_argument("urls", nargs="+", help="feed URLs on 127.0.0.1")
    args = parser.parse_args(argv)
    try:
        for url in args.urls:
            check_local(url)
    except LocalOnly as exc:
        parser.error(str(exc))
    run = run_naive(args.urls, args.rules)
    args.out.write_text(
        json.dumps(
            {
                "feeds": run.feeds,
                "articles": run.articles,
                "extracted": run.extracted,
                "hits": [list(h) for h in run.hits],
            }
        ),
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
