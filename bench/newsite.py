"""A fast local news site for benchmarks: RSS feeds and ~6 KB article pages on 127.0.0.1.

    with serve(SiteSpec(feeds=50, articles=20_000, grow=True)) as site:
        site.feed_urls()          # http://127.0.0.1:PORT/feed/0.xml, ...
        site.stats()              # what the site has served so far

The site runs in its own process (aiohttp), so serving pages does not take
the GIL of the process being measured. Everything is generated on demand
from a seed, so two runs (and two machines) serve the same bytes, and 20,000
articles cost no memory up front.

* Article `n` (0 <= n < `articles`) lives at `/a/{n}.html` and belongs to
  feed `n % feeds`. Its page is a news page (navigation, cookie banner,
  byline, paragraphs, "most read" box, footer) of about 6 KB: pseudo-word
  text, about one page in ten in Japanese, and one in seven carrying a
  planted paragraph about AUKUS and Japan. Some planted paragraphs satisfy
  one of the repository's rules (`rules/`), some are near misses written to
  fail them. The paragraphs were written for this benchmark.
* A *static* site (`grow=False`) lists every article of a feed in its feed.
  A *growing* site (`grow=True`) publishes `per_poll` new articles of a feed
  on each GET of that feed, until the feed's share of `articles` is out; the
  feed lists the newest `window` of them (new ones and some already seen),
  with an ETag, so a feed with nothing new answers 304.
* `/_stats` answers JSON counters (`SiteStats`).
"""

from __future__ import annotations

import contextlib
import html
import json
import random
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SEED = 20_261_121
_EPOCH = datetime(2026, 11, 1, tzinfo=UTC)

_SYLLABLES = [c + v for c in "bcdfghklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
_KANA = [chr(c) for c in range(0x30A2, 0x30F3)]
_KANJI = [chr(c) for c in range(0x4E00, 0x4E00 + 3_000, 7)]
_PARTICLES = ["の", "は", "を", "に", "が", "と", "で", "も"]

# Planted paragraphs (written for this benchmark). The first of each pair is the
# rule it should fire, or None for a near miss that must not fire any rule.
TOPICS_EN: tuple[tuple[str | None, str], ...] = (
    (
        "pillar2-japan",
        "Officials in Tokyo said Japan was studying how to take part in Pillar II of the "
        "AUKUS partnership, and Japanese companies expect a first joint project on "
        "undersea drones before the end of the year.",
    ),
    (
        "pillar2-expansion",
        "Canada and New Zealand held talks on joining AUKUS Pillar II work on advanced "
        "capabilities; Canadian officials said a decision on quantum sensing could come "
        "next spring.",
    ),
    (
        "export-waivers",
        "Under the AUKUS arrangement Washington granted an ITAR exemption covering most "
        "defence trade with Australia and Britain, a reform that AUKUS officials had "
        "sought for two years.",
    ),
    (
        "security-clearance",
        "Japan's parliament approved a security clearance system for economic security "
        "information, which allies had described as a condition for sharing technology.",
    ),
    (
        None,
        "The AUKUS submarine programme faces shipyard delays, the report said, while "
        "Japan was mentioned only as a possible source of steel.",
    ),
    (
        None,
        "Tokyo markets rose on Tuesday as exporters gained; analysts expect the central "
        "bank to hold rates at its next meeting.",
    ),
)
TOPICS_JA: tuple[tuple[str | None, str], ...] = (
    (
        "pillar2-japan",
        "政府関係者によると、日本はオーカスの第2の柱への参加を検討しており、"
        "防衛省は無人潜水機の共同研究を来年にも始める方針だ。",
    ),
    (
        "security-clearance",
        "重要経済安保情報の保護に関する法律が施行され、適性評価の手続きが始まった。",
    ),
    (None, "東京株式市場は輸出関連株を中心に反発し、日経平均は三日ぶりに上昇した。"),
)


@dataclass(frozen=True)
class SiteSpec:
    """What the site serves (see the module docstring)."""

    feeds: int = 50
    articles: int = 1_000
    grow: bool = False
    per_poll: int = 20  # growing site: new articles per feed GET
    window: int = 30  # growing site: entries listed in a feed
    seed: int = SEED
    topic_every: int = 7  # one article in this many carries a planted paragraph
    japanese_every: int = 10  # one article in this many is in Japanese


@dataclass(frozen=True)
class SiteStats:
    """What the site has served so far."""

    feed_requests: int
    feed_not_modified: int
    pages: int
    published: int  # articles that have appeared in a feed
    articles: int  # articles the site will ever publish


@dataclass(frozen=True)
class Article:
    """One generated article."""

    n: int
    title: str
    lede: str
    page: bytes
    japanese: bool
    topic: str | None  # the rule its planted paragraph should fire; None: no such rule
    planted: bool


class Generator:
    """Deterministic articles and feeds of a `SiteSpec`."""

    def __init__(self, spec: SiteSpec, base_url: str) -> None:
        self.spec = spec
        self.base_url = base_url
        rng = random.Random(spec.seed)
        self.vocab = [
            "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3))))
            for _ in range(3_000)
        ]
        self.ja_vocab = [
            "".join(rng.choice(_KANA) for _ in range(rng.randint(2, 4)))
            if rng.random() < 0.5
            else "".join(rng.choice(_KANJI) for _ in range(rng.randint(2, 3)))
            for _ in range(2_000)
        ]
        self._meta: dict[int, tuple[str, str]] = {}  # n -> (title, lede), for feeds
        total = 0.0
        self.cum: list[float] = []
        for rank in range(len(self.vocab)):
            total += 1 / (rank + 1)
            self.cum.append(total)

    def feed_of(self, n: int) -> int:
        return n % self.spec.feeds

    def quota(self, feed: int) -> int:
        """How many articles feed `feed` publishes in all."""
        return len(range(feed, self.spec.articles, self.spec.feeds))

    def article_number(self, feed: int, k: int) -> int:
        """The global number of the `k`-th article of `feed`."""
        return k * self.spec.feeds + feed

    def is_japanese(self, n: int) -> bool:
        return n % self.spec.japanese_every == 3

    def url(self, n: int) -> str:
        return f"{self.base_url}/a/{n}.html"

    def article(self, n: int) -> Article:
        spec = self.spec
        rng = random.Random(spec.seed * 1_000_003 + n)
        japanese = self.is_japanese(n)
        planted = n % spec.topic_every == 0
        topics = TOPICS_JA if japanese else TOPICS_EN
        topic, paragraph = topics[(n // spec.topic_every) % len(topics)] if planted else (None, "")
        paragraphs = self._japanese(rng) if japanese else self._english(rng)
        if planted:
            paragraphs[1] = paragraph + (" " if not japanese else "") + paragraphs[1]
        if japanese:
            title = "".join(rng.sample(self.ja_vocab, 5)) + f" {n}"
        else:
            title = " ".join(rng.choices(self.vocab, cum_weights=self.cum, k=7)).capitalize()
            title += f" {n}"
        lede = paragraphs[0][:150]
        related = "".join(
            f'<li><a href="/a/{(n * 7 + i) % max(1, spec.articles)}.html">'
            f"{html.escape(rng.choice(self.vocab))} {html.escape(rng.choice(self.vocab))}</a></li>"
            for i in range(5)
        )
        page = PAGE_TEMPLATE.format(
            lang="ja" if japanese else "en",
            title=html.escape(title),
            lede=html.escape(lede),
            author=rng.choice(self.vocab).capitalize(),
            date=(_EPOCH + timedelta(minutes=n)).strftime("%d %B %Y"),
            body="".join(f"<p>{html.escape(p)}</p>\n" for p in paragraphs),
            related=related,
        )
        return Article(n, title, lede, page.encode(), japanese, topic, planted)

    def meta(self, n: int) -> tuple[str, str]:
        """(title, lede) of article `n`, cached: feeds list them again and again."""
        found = self._meta.get(n)
        if found is None:
            article = self.article(n)
            found = self._meta[n] = (article.title, article.lede)
        return found

    def _english(self, rng: random.Random) -> list[str]:
        paragraphs: list[str] = []
        size = 0
        while size < 4_300:
            sentences = []
            for _ in range(rng.randint(2, 4)):
                words = rng.choices(self.vocab, cum_weights=self.cum, k=rng.randint(8, 20))
                sentences.append(" ".join(words).capitalize() + ".")
            paragraphs.append(" ".join(sentences))
            size += len(paragraphs[-1])
        return paragraphs

    def _japanese(self, rng: random.Random) -> list[str]:
        paragraphs: list[str] = []
        size = 0
        while size < 1_700:  # about as many bytes as the English pages
            sentences = [
                "".join(w + rng.choice(_PARTICLES) for w in rng.sample(self.ja_vocab, 6)) + "。"
                for _ in range(rng.randint(2, 4))
            ]
            paragraphs.append("".join(sentences))
            size += len(paragraphs[-1])
        return paragraphs

    def feed(self, feed: int, published: int) -> bytes:
        """RSS of `feed` listing its newest entries among the first `published`."""
        first = max(0, published - self.spec.window) if self.spec.grow else 0
        items = []
        for k in reversed(range(first, published)):
            n = self.article_number(feed, k)
            title, lede = self.meta(n)
            items.append(
                f"<item><title>{html.escape(title)}</title><link>{self.url(n)}</link>"
                f'<guid isPermaLink="false">bench-article-{n}</guid>'
                f"<description>{html.escape(lede)}</description>"
                f"<pubDate>{format_datetime(_EPOCH + timedelta(minutes=n))}</pubDate></item>"
            )
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Bench Gazette feed {feed}</title><link>{self.base_url}/</link>"
            "<description>benchmark feed</description>" + "".join(items) + "</channel></rss>"
        ).encode()


PAGE_TEMPLATE = """<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<title>{title} - Bench Gazette</title>
<meta name="description" content="{lede}"></head><body>
<header><nav><a href="/">Home</a> <a href="/world">World</a> <a href="/business">Business</a>
<a href="/sport">Sport</a> <a href="/subscribe">Subscribe</a></nav></header>
<div class="cookie">This site uses cookies to improve your experience.</div>
<main><article><h1>{title}</h1><p class="byline">By {author} | {date}</p>
{body}</article></main>
<aside><h3>Most read</h3><ul>{related}</ul></aside>
<footer><p>Bench Gazette Ltd. All rights reserved.</p><a href="/privacy">Privacy</a>
<a href="/terms">Terms</a></footer></body></html>"""


def _serve(spec: SiteSpec) -> None:
    """The site's process: bind 127.0.0.1, print the port, serve until terminated."""
    from aiohttp import web

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    gen = Generator(spec, f"http://127.0.0.1:{port}")
    published = [0 if spec.grow else gen.quota(f) for f in range(spec.feeds)]
    counters = {"feed_requests": 0, "feed_not_modified": 0, "pages": 0}

    async def feed(request: web.Request) -> web.StreamResponse:
        try:
            f = int(request.match_info["feed"])
        except ValueError:
            raise web.HTTPNotFound() from None
        if not 0 <= f < spec.feeds:
            raise web.HTTPNotFound()
        counters["feed_requests"] += 1
        if spec.grow:
            published[f] = min(gen.quota(f), published[f] + spec.per_poll)
        etag = f'"feed-{f}-{published[f]}"'
        if request.headers.get("If-None-Match") == etag:
            counters["feed_not_modified"] += 1
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(
            body=gen.feed(f, published[f]),
            headers={"Content-Type": "application/rss+xml; charset=utf-8", "ETag": etag},
        )

    async def page(request: web.Request) -> web.StreamResponse:
        try:
            n = int(request.match_info["n"])
        except ValueError:
            raise web.HTTPNotFound() from None
        if not 0 <= n < spec.articles:
            raise web.HTTPNotFound()
        counters["pages"] += 1
        return web.Response(
            body=gen.article(n).page, headers={"Content-Type": "text/html; charset=utf-8"}
        )

    async def stats(_request: web.Request) -> web.StreamResponse:
        found = SiteStats(**counters, published=sum(published), articles=spec.articles)
        return web.json_response(asdict(found))

    app = web.Application()
    app.router.add_get("/feed/{feed}.xml", feed)
    app.router.add_get("/a/{n}.html", page)
    app.router.add_get("/_stats", stats)
    print(port, flush=True)  # the parent reads this line (`serve`)
    web.run_app(app, sock=sock, print=None, handle_signals=True, access_log=None)


class RunningSite:
    """A site process serving on 127.0.0.1."""

    def __init__(self, spec: SiteSpec, port: int, process: subprocess.Popen[bytes]) -> None:
        self.spec = spec
        self.port = port
        self.process = process
        self.base_url = f"http://127.0.0.1:{port}"
        self.generator = Generator(spec, self.base_url)

    @property
    def pid(self) -> int:
        return self.process.pid

    def feed_urls(self) -> list[str]:
        return [f"{self.base_url}/feed/{f}.xml" for f in range(self.spec.feeds)]

    def stats(self) -> SiteStats:
        with urllib.request.urlopen(f"{self.base_url}/_stats", timeout=10) as response:
            data: dict[str, Any] = json.load(response)
        return SiteStats(**data)

    def expected_hits(self) -> set[tuple[str, str]]:
        """(article URL, rule id) of every planted paragraph meant to fire a rule."""
        out: set[tuple[str, str]] = set()
        for n in range(0, self.spec.articles):
            if n % self.spec.topic_every:
                continue
            topic = self.generator.article(n).topic
            if topic is not None:
                out.add((self.generator.url(n), topic))
        return out


@contextlib.contextmanager
def serve(spec: SiteSpec) -> Iterator[RunningSite]:
    """Start the site in its own process (`python -m bench.newsite`); stop it on exit."""
    cmd = [sys.executable, "-m", "bench.newsite", json.dumps(asdict(spec))]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the port, once the socket is bound
        if not line.strip().isdigit():
            raise RuntimeError(f"the benchmark site did not start (exit code {process.poll()})")
        site = RunningSite(spec, int(line), process)
        _wait_ready(site)
        yield site
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        if process.stdout is not None:
            process.stdout.close()


def _wait_ready(site: RunningSite) -> None:
    for _ in range(200):
        with contextlib.suppress(OSError):
            site.stats()
            return
        time.sleep(0.05)
    raise RuntimeError("the benchmark site does not answer")


if __name__ == "__main__":
    _serve(SiteSpec(**json.loads(sys.argv[1])))
