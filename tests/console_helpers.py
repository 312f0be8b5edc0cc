"""Helpers for the console tests: a seeded history and the real server in a thread.

`seed(db, rules_dir)` stores, through the pipeline's own `save_poll` (so
the search index is written as in production), a small history: a story
with two copies, stories for each rule spread over days, an article whose
title carries markup, a Japanese article, one hit older than the chart's
window; two sources, one failing with secrets in its URL and error (and an
ops notice about it). `serve(deps)` runs the real aiohttp application on a
free 127.0.0.1 port in a background thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from watcher.daemon.console import ConsoleDeps
from watcher.daemon.web import create_web_app, start_web
from watcher.metrics import Metrics
from watcher.model import (
    ArticleRecord,
    Document,
    ExtractionStatus,
    FeedEntry,
    FetchOutcome,
    FetchResult,
    Hit,
    SourceSpec,
)
from watcher.rules.active import build_snapshot
from watcher.rules.load import load_rules
from watcher.rules.match import compile_rules, match
from watcher.store.articles import save_poll
from watcher.store.db import Database
from watcher.store.models import SourceRow
from watcher.store.sources import OpsPolicy, record_failure, sync_sources

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TOKEN = "console-test-token-5f2a"
SECRET_KEY = "SEKRET-api-key-81"
SECRET_BEARER = "bearer-secret-value-77"
GOOD = SourceSpec(name="Harbour Post", url="http://127.0.0.1:9/feed.xml")
BAD = SourceSpec(
    name="Locked Wire",
    url=f"https://reader:pa55word@wire.example/rss?api_key={SECRET_KEY}",
)
RULES = {
    "aukus-japan": "AUKUS AND Japan",
    "clearance": '"security clearance"',
}
XSS_TITLE = "<script>window.__pwned = 1</script> AUKUS <b>and</b> Japan"


@dataclass(frozen=True)
class Item:
    key: str
    title: str
    text: str
    story: str  # articles sharing a story key form one story
    seen: datetime
    outlet: str = "harbour.example"


ITEMS = [
    Item("a1", "Tokyo joins AUKUS talks", "AUKUS partners met Japan on Pillar II work.", "s1",
         NOW - timedelta(days=1)),
    Item("a2", "Japan at the AUKUS table", "Japan and AUKUS agreed on hypersonics trials.", "s1",
         NOW - timedelta(days=1) + timedelta(hours=2), "wire.example"),
    Item("a3", "Clearance law passes", "The security clearance bill passed the Diet.", "s3",
         NOW - timedelta(days=3)),
    Item("a4", "Seoul eyes AUKUS", "AUKUS may work with Korea on autonomy.", "s4",
         NOW - timedelta(days=2)),
    Item("a5", XSS_TITLE, "AUKUS and Japan <img src=x onerror=alert(1)> in the text.", "s5",
         NOW - timedelta(days=5)),
    Item("a6", "日本のAUKUS参加", "日本政府はAUKUSの第2の柱への参加を検討している。", "s6",
         NOW - timedelta(days=4), "nikkei.example"),
    Item("a7", "Old talks in Tokyo", "AUKUS and Japan discussed undersea drones.", "s7",
         NOW - timedelta(days=40)),
    Item("a8", "Clearance rules widen", "A wider security clearance regime for industry.", "s8",
         NOW - timedelta(days=10)),
    # Full-width letters and a zero-width space: the matcher folds them, the index must too.
    Item("a9", "\uff21\uff35\u200b\uff2b\uff35\uff33 courts \uff2a\uff21\uff30\uff21\uff2e",
         "Talks continue.", "s9", NOW - timedelta(days=6)),  # full-width, ZWSP inside
]  # fmt: skip


def write_rules(directory: Path, queries: dict[str, str] = RULES) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for rule_id, query in queries.items():
        (directory / f"{rule_id}.yaml").write_text(
            f"id: {rule_id}\nname: {rule_id} rule\nseverity: high\nquery: '{query}'\n",
            encoding="utf-8",
        )
    return directory


def _record(item: Item, hits: tuple[Hit, ...]) -> ArticleRecord:
    url = f"http://{item.outlet}/{item.key}"
    return ArticleRecord(
        entry=FeedEntry(key=item.key, url=url, title=item.title, summary="", published=None),
        url=url,
        canonical_url=url,
        title=item.title,
        text=item.text,
        summary="",
        outlet=item.outlet,
        published=None,
        extraction=ExtractionStatus.OK,
        extraction_reason=None,
        content_hash=item.key,
        hits=hits,
        routes=("#a",) if hits else (),
    )


def seed(db: Database, rules_dir: Path) -> dict[str, int]:
    """Store ITEMS with the hits RULES give them; returns story key -> story id."""
    matcher = compile_rules(load_rules(rules_dir))
    with db.session() as session:
        sync_sources(session, [GOOD, BAD], NOW - timedelta(days=60))
    with db.session() as session:
        ids = {row.name: row.id for row in session.scalars(select(SourceRow))}
    stories: dict[str, int] = {}
    for item in ITEMS:
        doc = Document(title=item.title, text=item.text, source=item.outlet)
        hits = tuple(match(matcher, doc))
        with db.session() as session:
            saved = save_poll(
                session,
                source_id=ids[GOOD.name],
                result=FetchResult(url=GOOD.url, outcome=FetchOutcome.OK),
                records=[_record(item, hits)],
                find_story=lambda _r, story=item.story: stories.get(story),
                now=item.seen,
            )
        stories.setdefault(item.story, saved[0].story_id)
    with db.session() as session:
        record_failure(
            session,
            ids[BAD.name],
            outcome=FetchOutcome.HTTP_ERROR,
            error=f"HTTP 401 from {BAD.url} (Authorization: Bearer {SECRET_BEARER})",
            retry_after=None,
            now=NOW - timedelta(hours=1),
            ops=OpsPolicy(route="#ops", unhealthy_after=1),
        )
    return stories


@contextlib.contextmanager
def seeded_database(url: str, tmp_path: Path) -> Iterator[tuple[Database, Path, dict[str, int]]]:
    """A database at `url` holding the seeded history: (db, rules dir, story ids by key)."""
    from watcher.store.db import open_database

    db = open_database(url)
    rules = write_rules(tmp_path / "rules")
    try:
        yield db, rules, seed(db, rules)
    finally:
        db.dispose()


def deps_for(
    db: Database, rules_dir: Path, token: str | None = None, **extra: object
) -> ConsoleDeps:
    """The console's dependencies over `db` and the rules of `rules_dir`, at NOW."""
    snapshot = build_snapshot(load_rules(rules_dir), ["#a"])
    return ConsoleDeps(
        db=db,
        rules=lambda: snapshot,
        rules_dir=rules_dir,
        token=token,
        secrets=(SECRET_BEARER,) if token is None else (SECRET_BEARER, token),
        clock=lambda: NOW,
        **extra,  # type: ignore[arg-type]
    )


def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], str]:
    """One HTTP request, redirects not followed: (status, headers, body text)."""
    import http.client
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=30)
    body = urllib.parse.urlencode(form).encode() if form is not None else None
    sent = dict(headers or {})
    if body is not None:
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body, sent)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _healthy() -> object:
    from watcher.daemon.health import assess

    return assess(scheduler_running=True, database_error=None, delivery_error=None)


@contextlib.contextmanager
def serve(deps: ConsoleDeps | None) -> Iterator[str]:
    """The real web application (health, metrics, console) on 127.0.0.1; yields its base URL."""
    listen = f"127.0.0.1:{free_port()}"
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()
    failure: list[BaseException] = []

    async def main() -> None:
        try:
            runner = await start_web(create_web_app(_healthy, Metrics(), deps), listen)  # type: ignore[arg-type]
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            return
        ready.set()
        await stop.wait()
        await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(10)
    if failure:
        raise failure[0]
    try:
        yield f"http://{listen}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
