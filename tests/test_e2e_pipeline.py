"""End to end: `watcher run --once` against a local news site, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.httpserver import LocalSite

RULES = Path(__file__).parent / "fixtures" / "e2e_rules"

BOILERPLATE = """<!doctype html><html><head><meta charset="utf-8">
<title>{title} - Harbour Post</title>
</head><body>
<header><nav><a href="/">Home</a> <a href="/politics">Politics</a> <a href="/sport">Sport</a>
<a href="/subscribe">Subscribe for 1 dollar a week</a></nav></header>
<div id="cookie-banner">This site uses cookies. By continuing you accept our cookie policy.</div>
<main><article><h1>{title}</h1><p class="byline">By Staff Reporter</p>{body}</article></main>
<aside><h3>Trending now</h3><ul><li><a href="/a">Ferry timetable changes</a></li>
<li><a href="/b">Ten recipes for autumn</a></li></ul></aside>
<footer><p>Harbour Post Ltd. All rights reserved.</p><a href="/privacy">Privacy</a></footer>
</body></html>"""

# Our own short articles (not taken from any corpus).
ARTICLES = {
    "/news/aukus-japan.html": (
        "Tokyo weighs role in AUKUS technology projects",
        [
            "Officials in Tokyo said on Monday that Japan was studying how it could join "
            "advanced technology projects under the AUKUS partnership between Australia, "
            "Britain and the United States.",
            "The talks would cover hypersonic missiles, undersea drones and artificial "
            "intelligence, according to two people familiar with the plans, who said no "
            "decision had been taken yet.",
            "Defence ministers from the four countries are expected to discuss the matter "
            "at a meeting later this year, where industrial cooperation will be on the agenda.",
        ],
    ),
    "/news/yen.html": (
        "Yen steadies as exporters watch rates",
        [
            "The yen held steady against the dollar on Tuesday as exporters in Japan waited "
            "for signals from the central bank about the pace of interest rate rises.",
            "Traders said volumes were thin ahead of a long weekend, and equity markets in "
            "the region were mixed, with technology shares slightly higher.",
            "Economists expect wage growth to support consumer spending into next year, "
            "although household sentiment remains fragile after months of price increases.",
        ],
    ),
    "/news/clearance.html": (
        "Cabinet approves rules for new clearance system",
        [
            "Japan's cabinet approved detailed rules for a new security clearance system on "
            "Friday, setting out how background checks on officials and company employees "
            "handling sensitive economic information will work.",
            "The government says the framework will make it easier for Japanese companies to "
            "take part in joint research with allies, which often requires vetted staff.",
            "Critics have raised concerns about privacy, and the opposition has called for "
            "independent oversight of how personal information is collected.",
        ],
    ),
}


def _feed(site: LocalSite) -> bytes:
    items = []
    for path, (title, paragraphs) in ARTICLES.items():
        items.append(
            f"<item><title>{title}</title><link>{site.url(path)}</link><guid>{path}</guid>"
            f"<description>{paragraphs[0][:80]}</description>"
            "<pubDate>Mon, 16 Nov 2026 09:00:00 GMT</pubDate></item>"
        )
    # An entry whose page is gone: its title alone must still give a hit.
    items.append(
        f"<item><title>AUKUS partners invite Japan to new consultations</title>"
        f"<link>{site.url('/news/gone.html')}</link><guid>gone</guid>"
        "<description>Short summary.</description></item>"
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Harbour Post</title><link>http://example.invalid/</link><description>x"
        "</description>" + "".join(items) + "</channel></rss>"
    ).encode()


@pytest.fixture
def news_site(local_site: LocalSite) -> LocalSite:
    local_site.add(
        "/feed.xml", _feed(local_site), content_type="application/rss+xml", etag='"feed-v1"'
    )
    for path, (title, paragraphs) in ARTICLES.items():
        body = "".join(f"<p>{p}</p>" for p in paragraphs)
        local_site.add(path, BOILERPLATE.format(title=title, body=body))
    return local_site


def _run_once(tmp_path: Path, database_url: str, feed_url: str) -> dict[str, object]:
    config = tmp_path / "watcher.toml"
    config.write_text(
        f"[fetch]\nallow_private_addresses = true\nretries = 0\n\n"
        f'[rules]\ndir = "{RULES}"\n\n'
        f'[[sources]]\nname = "Harbour Post"\nurl = "{feed_url}"\nkind = "rss"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WATCHER_"))}
    env["WATCHER_DATABASE_URL"] = database_url
    proc = subprocess.run(
        [sys.executable, "-m", "watcher", "run", "--once", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    summary = [obj for obj in lines if obj.get("event") == "cycle_done"]
    assert summary, proc.stdout
    return summary[-1]


def _rows(database_url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


def test_one_cycle_stores_articles_hits_and_alerts_and_a_rerun_adds_nothing(
    news_site: LocalSite, database_url: str, tmp_path: Path
) -> None:
    """A cycle extracts, hits exactly the matching articles, alerts once; a rerun adds nothing."""
    summary = _run_once(tmp_path, database_url, news_site.url("/feed.xml"))
    assert summary["sources_polled"] == 1
    assert summary["sources_failed"] == 0
    assert summary["articles_new"] == 4

    articles = dict(_rows(database_url, "SELECT url, text FROM articles"))
    page = articles[news_site.url("/news/aukus-japan.html")]
    assert "hypersonic missiles" in str(page)
    assert "cookie" not in str(page).lower()
    assert "Trending now" not in str(page)

    status = dict(_rows(database_url, "SELECT url, extraction_status FROM articles"))
    assert status[news_site.url("/news/gone.html")] == "unreachable"
    assert status[news_site.url("/news/yen.html")] == "ok"

    hits = sorted(
        _rows(
            database_url,
            "SELECT a.url, h.rule_id FROM hits h JOIN articles a ON a.id = h.article_id",
        )
    )
    assert hits == sorted(
        [
            (news_site.url("/news/aukus-japan.html"), "aukus-japan"),
            (news_site.url("/news/gone.html"), "aukus-japan"),
            (news_site.url("/news/clearance.html"), "clearance"),
        ]
    )
    alerts = _rows(database_url, "SELECT route, state FROM alerts ORDER BY id")
    assert sorted(alerts) == sorted(
        [
            ("#test-alerts", "sent"),
            ("#test-alerts", "sent"),
            ("#aukus-alerts", "sent"),
        ]
    )
    assert summary["alerts_sent"] == 3

    again = _run_once(tmp_path, database_url, news_site.url("/feed.xml"))
    assert again["articles_new"] == 0
    assert again["alerts_sent"] == 0
    assert len(_rows(database_url, "SELECT id FROM articles")) == 4
    assert len(_rows(database_url, "SELECT id FROM hits")) == 3
    assert len(_rows(database_url, "SELECT id FROM alerts")) == 3
    feed_requests = [r for r in news_site.requests if r.path == "/feed.xml"]
    assert feed_requests[-1].headers.get("if-none-match") == '"feed-v1"'
