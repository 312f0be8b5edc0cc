"""`watcher demo`.

`watcher demo`: the whole pipeline on 127.0.0.1, no internet needed.

Serves the seed documents plus a few decoy articles (same vocabulary, not
relevant: the hard negatives the rules must ignore) as an RSS feed and HTML
pages with site boilerplate, runs one full cycle with a throwaway SQLite
database, and prints the alerts to the console.
"""

from __future__ import annotations

import asyncio
import html
import sys
import tempfile
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click

from watcher.cli.common import (
    handle_errors,
)
from watcher.model import SourceKind, SourceSpec
from watcher.settings import Config, FetchConfig, SlackConfig
from watcher.text.document import read_text_document

# Decoys written for the demo: they share words with the topics but an
# analyst would not want an alert for them.
DECOYS = (
    (
        "Yen slips as Tokyo exporters weigh tariff outlook",
        "The yen weakened against the dollar on Tuesday as exporters in Tokyo assessed the "
        "outlook for tariffs. Analysts in Japan said the central bank was unlikely to move "
        "before the spring wage talks. Shares of carmakers rose while bank stocks fell.",
    ),
    (
        "Submarine base works begin in Western Australia",
        "Construction began on new wharves at a naval base near Perth, part of the plan for "
        "Australia to operate nuclear-powered submarines from the 2030s. Local officials said "
        "hundreds of jobs would be created. The project is the first pillar of the trilateral "
        "partnership and concerns submarines only.",
    ),
    (
        "Commerce Department tightens chip export rules",
        "The US Commerce Department announced new export controls on advanced semiconductors "
        "and chipmaking tools bound for China. Companies will need licences to ship certain "
        "products. Industry groups warned that the rules could hurt sales.",
    ),
)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | Demo Daily</title>
<link rel="canonical" href="{url}"></head>
<body><header><nav><a href="/">Home</a> | <a href="/world">World</a> |
<a href="/business">Business</a> | <a href="/subscribe">Subscribe</a></nav></header>
<div class="cookie">We use cookies to improve your experience. Accept all cookies.</div>
<main><article><h1>{title}</h1><p class="byline">By Demo Staff, {date}</p>
{paragraphs}
</article></main>
<aside><h2>Most read</h2><ul><li><a href="/x">Weather turns cold</a></li>
<li><a href="/y">Local team wins cup</a></li></ul></aside>
<footer>Copyright Demo Daily. All rights reserved. Terms | Privacy</footer>
</body></html>"""


def _pages(seeds_dir: Path, base: str) -> tuple[bytes, dict[str, bytes]]:
    items: list[tuple[str, str, str]] = []
    for path in sorted(seeds_dir.glob("*.txt")):
        doc = read_text_document(path)
        items.append((doc.title or path.stem, doc.text, path.stem))
    for i, (title, text) in enumerate(DECOYS):
        items.append((title, text, f"decoy-{i}"))
    pages: dict[str, bytes] = {}
    rss_items = []
    now = datetime.now(UTC)
    for i, (title, text, slug) in enumerate(items):
        url = f"{base}/news/{slug}.html"
        paragraphs = "\n".join(
            f"<p>{html.escape(p.strip())}</p>" for p in text.split("\n") if p.strip()
        )
        date = now - timedelta(hours=i)
        pages[f"/news/{slug}.html"] = PAGE.format(
            title=html.escape(title),
            url=url,
            date=date.strftime("%d %B %Y"),
            paragraphs=paragraphs,
        ).encode("utf-8")
        rss_items.append(
            f"<item><title>{html.escape(title)}</title><link>{url}</link>"
            f"<guid>{url}</guid><pubDate>{format_datetime(date)}</pubDate>"
            f"<description>{html.escape(text[:200])}</description></item>"
        )
    feed = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Demo Daily</title><link>{base}/</link><description>demo</description>"
        + "".join(rss_items)
        + "</channel></rss>"
    ).encode("utf-8")
    return feed, pages


class _Site:
    """A tiny static site on 127.0.0.1 serving the demo feed and pages."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[str, bytes]] = {}
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = routes.get(self.path)
                if found is None:
                    self.send_error(404)
                    return
                ctype, body = found
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep the demo's output to the alerts

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Site:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def run_demo(project_root: Path | None = None) -> int:
    """Serve, run one cycle, print the alerts and a summary; returns the exit code."""
    from rich.console import Console

    from watcher import log
    from watcher.alerts.console import ConsoleSender
    from watcher.cli import render as report
    from watcher.daemon.app import build_app, run_once

    root = project_root or Path.cwd()
    seeds_dir, rules_dir = root / "seeds", root / "rules"
    if not seeds_dir.is_dir() or not rules_dir.is_dir():
        print(
            f"watcher demo: run it from the project root (no seeds/ or rules/ in {root})",
            file=sys.stderr,
        )
        return 2
    log.configure(json=False, stream=sys.stderr)
    console = Console()
    with _Site() as site, tempfile.TemporaryDirectory(prefix="watcher-demo-") as tmp:
        feed, pages = _pages(seeds_dir, site.base)
        site.routes["/feed.xml"] = ("application/rss+xml; charset=utf-8", feed)
        for path, body in pages.items():
            site.routes[path] = ("text/html; charset=utf-8", body)
        config = Config(
            database_url=f"sqlite:///{tmp}/demo.db",
            rules_dir=rules_dir,
            fetch=replace(FetchConfig(), allow_private_addresses=True, retries=0),
            slack=SlackConfig(),
            sources=(
                SourceSpec(name="Demo Daily", url=f"{site.base}/feed.xml", kind=SourceKind.RSS),
            ),
        )
        console.print(
            f"[bold]watcher demo[/bold]: {len(pages)} articles served at {site.base}"
            f" ({len(DECOYS)} are decoys); alerts follow.\n"
        )
        app = build_app(config, alert_stream=sys.stdout)
        # The demo is for people: readable alerts even when piped.
        app.dispatcher.sender = ConsoleSender(sys.stdout, json_lines=False)
        try:
            result = asyncio.run(run_once(app))
        finally:
            app.close()
    report.once_summary(console, result)
    return 0


@click.command()
@handle_errors
def demo() -> None:
    """One full cycle over the seed documents served on 127.0.0.1.

    Uses a throwaway database and prints the alerts to the console.

    \b
    Example:
      watcher demo
    """
    from watcher.cli.demo import run_demo

    sys.exit(run_demo())
