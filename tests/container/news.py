"""The news site the containers poll: the repository's seed articles as real HTML pages.

Each seed (`seeds/*.txt`, which the shipped rules must match) becomes a page
with navigation, a cookie banner, a byline and a footer around the article,
so a hit proves that trafilatura extracted the text inside the image; a decoy
page that no rule matches is listed too. The feed is RSS on the same site.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from email.utils import format_datetime
from pathlib import Path

from tests.support.httpserver import LocalSite
from watcher.text.document import read_text_document

ROOT = Path(__file__).resolve().parents[2]

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta property="article:published_time" content="2026-11-30T09:00:00+00:00"></head>
<body><header><nav><a href="/">Home</a> | <a href="/world">World</a> |
<a href="/subscribe">Subscribe</a></nav></header>
<div class="cookie">We use cookies to improve your experience. Accept all cookies.</div>
<main><article><h1>{title}</h1><p class="byline">By Staff, 30 November 2026</p>
{paragraphs}</article></main>
<footer>Copyright Example Gazette. All rights reserved. Terms | Privacy</footer>
</body></html>"""

DECOY_TITLE = "Harvest festival draws record crowds to the valley"
DECOY_TEXT = "\n".join(
    [
        "Thousands of visitors came to the valley at the weekend for the annual harvest "
        "festival, where farmers showed pumpkins, apples and heritage grains.",
        "Organisers said the market stalls sold out by noon and the evening concert "
        "drew the largest crowd since the festival began more than forty years ago.",
        "Local bakers won prizes for rye bread and apple cake, and a choir from the "
        "neighbouring town closed the programme with folk songs.",
    ]
)


@dataclass(frozen=True)
class Article:
    path: str
    title: str
    rules: frozenset[str]  # the shipped rules its seed names


def seed_articles() -> list[tuple[Article, str]]:
    """(article, text) for each seed, plus the decoy (no rules)."""
    out = []
    for seed in sorted((ROOT / "seeds").glob("*.txt")):
        doc = read_text_document(seed)
        header = seed.read_text(encoding="utf-8").split("\n\n", 1)[0]
        rules = next(
            line.split(":", 1)[1] for line in header.splitlines() if line.startswith("Rules:")
        )
        names = frozenset(r.strip() for r in rules.split(",") if r.strip())
        out.append((Article(f"/news/{seed.stem}.html", doc.title or seed.stem, names), doc.text))
    out.append((Article("/news/harvest.html", DECOY_TITLE, frozenset()), DECOY_TEXT))
    return out


def publish(site: LocalSite, base_url: str | None = None) -> list[Article]:
    """Serve every page and `/feed.xml` listing them (links under `base_url`, default
    the site's own address); returns the articles."""
    base = base_url or site.base_url
    items = []
    articles = []
    for article, text in seed_articles():
        paragraphs = "\n".join(
            f"<p>{html.escape(p.strip())}</p>" for p in text.split("\n") if p.strip()
        )
        site.add(article.path, PAGE.format(title=html.escape(article.title), paragraphs=paragraphs))
        url = base + article.path
        items.append(
            f"<item><title>{html.escape(article.title)}</title><link>{url}</link>"
            f"<guid>{url}</guid><pubDate>{format_datetime_now()}</pubDate>"
            f"<description>{html.escape(text[:120])}</description></item>"
        )
        articles.append(article)
    feed = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Example Gazette</title><link>{base}/</link><description>news</description>"
        + "".join(items)
        + "</channel></rss>"
    )
    site.add("/feed.xml", feed, content_type="application/rss+xml", etag='"v1"')
    return articles


def format_datetime_now() -> str:
    from datetime import UTC, datetime

    return format_datetime(datetime.now(UTC))


def config_toml(feed_url: str, *, listen: str | None = None) -> str:
    """A watcher.toml polling only `feed_url` every second (private addresses allowed:
    the site is on this machine), with the image's shipped rules."""
    web = f'[web]\nlisten = "{listen}"\n\n' if listen else ""
    return (
        "[fetch]\nallow_private_addresses = true\nretries = 0\n\n"
        '[rules]\ndir = "/app/rules"\n\n'
        f"{web}"
        f'[[sources]]\nname = "Example Gazette"\nurl = "{feed_url}"\nkind = "rss"\n'
        'interval = "1s"\n'
    )
