"""Helpers (no tests here) for the whole-system crash and database-fault tests.

* `NewsSite`: a local news site whose feeds grow version by version (ETag
  `"<feed>-v<k>"`), with article pages generated from a seeded RNG; some
  titles match the test rules, some pages answer slowly (once) so a kill can
  land mid-fetch.
* `Daemon`: the real `python -m watcher run` in its own process group, so a
  SIGKILL takes its extraction workers with it (as `docker kill` would).
* `Store`: what the harness reads from the daemon's database (SQLite or
  PostgreSQL), the probes that tell where a transaction is, a slow trigger
  that stretches the poll transaction, and the integrity checks.
* `Deliveries`: what the Slack stand-in shows, per (channel, article URL).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text, update

from tests.support.httpserver import LocalSite, RequestHandler
from tests.support.slackstub import SlackStub
from watcher.store.models import AlertRow, RouteMessageRow

FEEDS = ("gazette", "herald")
RULES = {  # file name -> (rule id, route, YAML)
    "aukus.yaml": (
        "crash-aukus",
        "#crash-a",
        "id: crash-aukus\nname: AUKUS and Japan (crash test)\nseverity: high\n"
        'query: AUKUS AND Japan\nroute: ["#crash-a"]\n',
    ),
    "quantum.yaml": (
        "crash-quantum",
        "#crash-b",
        "id: crash-quantum\nname: Quantum sensing (crash test)\nseverity: medium\n"
        'query: \'"quantum sensing" AND Australia\'\nroute: ["#crash-b"]\n',
    ),
}
TITLES = {  # rule id (None: no rule) -> headline template
    "crash-aukus": "Report {n}: Japan and AUKUS partners review {w1} {w2}",
    "crash-quantum": "Report {n}: Australia funds quantum sensing {w1} trials",
    None: "Report {n}: {w1} {w2} market update",
}
URL_RE = re.compile(r"http://127\.0\.0\.1:\d+/(?:gazette|herald)/\d+\.html")
_SYLLABLES = ("ka", "lo", "mi", "ne", "su", "ta", "vo", "ri", "pe", "da", "gu", "ho", "ze")
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body><nav><a href="/">Home</a></nav><main><article><h1>{title}</h1>{body}</article></main>
<footer><p>Crash Test Gazette.</p></footer></body></html>"""


@dataclass
class Article:
    path: str
    title: str
    rule: str | None
    body: str
    slow: float = 0.0  # seconds the first request waits (0: answers at once)


@dataclass
class NewsSite:
    """Feeds that grow on a `LocalSite`; `versions[feed][k]` lists version k's article URLs."""

    site: LocalSite
    rng: random.Random
    articles: dict[str, Article] = field(default_factory=dict)
    feed_items: dict[str, list[str]] = field(default_factory=lambda: {f: [] for f in FEEDS})
    versions: dict[str, dict[int, list[str]]] = field(
        default_factory=lambda: {f: {} for f in FEEDS}
    )
    slow_in_flight: int = 0
    slow_started: int = 0

    def _word(self) -> str:
        return "".join(self.rng.choice(_SYLLABLES) for _ in range(self.rng.randint(2, 4)))

    def _paragraph(self) -> str:
        words = [self._word() for _ in range(self.rng.randint(28, 40))]
        return " ".join(words).capitalize() + "."

    def add_article(self, feed: str, rule: str | None, *, slow: float = 0.0) -> Article:
        n = len(self.articles) + 1
        title = TITLES[rule].format(n=n, w1=self._word(), w2=self._word())
        body = "".join(f"<p>{self._paragraph()}</p>" for _ in range(3))
        article = Article(f"/{feed}/{n}.html", title, rule, body, slow)
        self.articles[article.path] = article
        self.site.handler(article.path, self._serve)
        self.feed_items[feed].append(article.path)
        return article

    def _serve(self, h: RequestHandler) -> None:
        article = self.articles[h.path.split("?")[0]]
        if article.slow:
            delay, article.slow = article.slow, 0.0  # slow once: the redo answers at once
            self.slow_started += 1
            self.slow_in_flight += 1
            try:
                h.sleep(delay)
            finally:
                self.slow_in_flight -= 1
        h.respond(200, PAGE.format(title=article.title, body=article.body).encode())

    def publish(self, feed: str) -> int:
        """Serve a new version of `feed` listing every article added so far; its number."""
        k = len(self.versions[feed]) + 1
        paths = list(self.feed_items[feed])
        self.versions[feed][k] = [self.site.url(p) for p in paths]
        items = "".join(
            f"<item><title>{self.articles[p].title}</title><link>{self.site.url(p)}</link>"
            f"<guid>{p}</guid><description>Item {p}</description></item>"
            for p in reversed(paths)
        )
        body = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{feed}</title><link>http://example.invalid/</link>"
            f"<description>x</description>{items}</channel></rss>"
        )
        self.site.add(f"/{feed}.xml", body, content_type="application/rss+xml", etag=etag(feed, k))
        return k

    def expected_hits(self) -> set[tuple[str, str]]:
        """(article URL, rule id) for every published matching article."""
        published = {u for feed in FEEDS for v in self.versions[feed].values() for u in v}
        return {
            (self.site.url(a.path), a.rule)
            for a in self.articles.values()
            if a.rule is not None and self.site.url(a.path) in published
        }


def etag(feed: str, version: int) -> str:
    return f'"{feed}-v{version}"'


def write_setup(tmp: Path, site: LocalSite, listen: str, *, max_articles: int = 50) -> Path:
    """Rule files and a config polling both feeds every second; returns the config path."""
    rules = tmp / "rules"
    rules.mkdir(exist_ok=True)
    for name, (_rule, _route, yaml) in RULES.items():
        (rules / name).write_text(yaml, encoding="utf-8")
    parts = [
        "[fetch]\nallow_private_addresses = true\nretries = 0\n"
        f"max_articles_per_source = {max_articles}\n",
        f'[rules]\ndir = "{rules}"\n',
        f'[web]\nlisten = "{listen}"\n',
        '[alerts]\ndefault_route = ["#crash-default"]\nbudget = 10000\n',
    ]
    for feed in FEEDS:
        url = site.url(f"/{feed}.xml")
        parts.append(
            f'[[sources]]\nname = "{feed}"\nurl = "{url}"\nkind = "rss"\ninterval = "1s"\n'
        )
    config = tmp / "watcher.toml"
    config.write_text("\n".join(parts), encoding="utf-8")
    return config


def daemon_env(database_url: str, stub: SlackStub, **extra: str) -> dict[str, str]:
    """The environment without the caller's Slack/watcher settings, with fast ticks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WATCHER_"))}
    env.update(
        WATCHER_DATABASE_URL=database_url,
        WATCHER_POLL_TICK="0.5",
        WATCHER_DISPATCH_TICK="0.5",
        WATCHER_RELOAD_TICK="5",
        SLACK_BOT_TOKEN="xoxb-crash-test",
        WATCHER_SLACK_BASE_URL=stub.base_url,
    )
    env.update(extra)
    return env


class Daemon:
    """`python -m watcher run` in its own process group, logging JSON lines to `log`."""

    def __init__(self, config: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "watcher", "run", "--config", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=config.parent,
                start_new_session=True,  # its own group: killpg reaches the workers too
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the daemon and every process it started."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 12.0) -> int:
        """SIGTERM, wait for the exit code; then clean up what is left of its group."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        finally:
            self.kill()
        return code

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if name is None or event.get("event") == name:
                    out.append(event)
        return out

    def tail(self, lines: int = 30) -> str:
        text_ = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(line[:300] for line in text_.splitlines()[-lines:])


def wait_until(
    what: str, check: Callable[[], Any], *, timeout: float, daemon: Daemon | None = None
) -> Any:
    """Poll `check` every 20 ms until truthy; None on timeout (fails if the daemon died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if daemon is not None and not daemon.alive():
            raise AssertionError(f"daemon exited while waiting for {what}:\n{daemon.tail()}")
        time.sleep(0.02)
    return None


@dataclass(frozen=True)
class Snapshot:
    """The committed state the invariants are about."""

    etags: dict[str, str | None]  # source name -> stored ETag
    entries: dict[str, set[str]]  # source name -> URLs of its stored entries
    hits: Counter[tuple[str, str]]  # (article URL, rule id) -> rows
    alerts: dict[tuple[str, str], tuple[str, int]]  # (route, URL) -> (state, attempts)


class Store:
    """The harness's view of the daemon's database (never used while it must be quiet)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")
        self.engine: Engine = create_engine(url)

    def close(self) -> None:
        self.engine.dispose()

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]

    def snapshot(self) -> Snapshot:
        etags: dict[str, str | None] = {
            n: e for n, e in self.rows("SELECT name, etag FROM sources")
        }
        entries: dict[str, set[str]] = {name: set() for name in etags}
        for name, url in self.rows(
            "SELECT s.name, a.url FROM feed_entries e JOIN sources s ON s.id = e.source_id "
            "JOIN articles a ON a.id = e.article_id"
        ):
            entries[name].add(url)
        hits: Counter[tuple[str, str]] = Counter(
            (u, r)
            for u, r in self.rows(
                "SELECT a.url, h.rule_id FROM hits h JOIN articles a ON a.id = h.article_id"
            )
        )
        alerts = {
            (route, url): (state, attempts)
            for route, url, state, attempts in self.rows(
                "SELECT al.route, a.url, al.state, al.attempts FROM alerts al "
                "JOIN articles a ON a.id = al.article_id"
            )
        }
        return Snapshot(etags, entries, hits, alerts)

    # --- a transaction stretched so a kill can land inside it ------------------------

    def install_slowdown(self) -> None:
        """A trigger on alert inserts that takes ~0.25 s: the poll transaction runs long."""
        with self.engine.begin() as conn:
            if self.sqlite:
                conn.execute(text("CREATE TABLE crash_slow (x INTEGER)"))
                conn.execute(
                    text("INSERT INTO crash_slow (x) VALUES (:x)"), [{"x": i} for i in range(2200)]
                )
                conn.execute(
                    text(
                        "CREATE TRIGGER crash_slow_alerts AFTER INSERT ON alerts BEGIN "
                        "SELECT sum(a.x * b.x) FROM crash_slow a, crash_slow b; END"
                    )
                )
            else:
                conn.execute(
                    text(
                        "CREATE FUNCTION crash_slow() RETURNS trigger LANGUAGE plpgsql AS "
                        "$$ BEGIN PERFORM pg_sleep(0.25); RETURN NEW; END $$"
                    )
                )
                conn.execute(
                    text(
                        "CREATE TRIGGER crash_slow_alerts AFTER INSERT ON alerts "
                        "FOR EACH ROW EXECUTE FUNCTION crash_slow()"
                    )
                )

    def remove_slowdown(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text("DROP TRIGGER crash_slow_alerts" + ("" if self.sqlite else " ON alerts"))
            )
            conn.execute(
                text("DROP TABLE crash_slow" if self.sqlite else "DROP FUNCTION crash_slow")
            )

    def in_write_transaction(self) -> bool:
        """True while another connection holds an open write transaction.

        PostgreSQL: a backend sleeping in the slow trigger (rows already
        written, nothing committed). SQLite: the write lock is held on two
        probes 40 ms apart (the claim/record transactions take milliseconds).
        """
        if not self.sqlite:
            return bool(
                self.rows(
                    "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND wait_event = 'PgSleep'"
                )
            )
        if not self._sqlite_locked():
            return False
        time.sleep(0.04)
        return self._sqlite_locked()

    def _sqlite_locked(self) -> bool:
        path = self.url.removeprefix("sqlite:///")
        conn = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return True
        else:
            conn.execute("ROLLBACK")
            return False
        finally:
            conn.close()

    def expire_claims(self) -> None:
        """What the 60 s claim lease would do for a dead process's claims, now."""
        past = datetime(2000, 1, 1, tzinfo=UTC)
        with self.engine.begin() as conn:
            for model in (AlertRow, RouteMessageRow):
                conn.execute(
                    update(model)
                    .where(model.state == "pending", model.next_attempt_at.is_not(None))
                    .values(next_attempt_at=past)
                )

    def integrity_problems(self) -> list[str]:
        """Corruption, dangling references or duplicate keys, as readable lines."""
        problems: list[str] = []
        if self.sqlite:
            [(verdict,)] = self.rows("PRAGMA integrity_check")
            if verdict != "ok":
                problems.append(f"integrity_check: {verdict}")
            problems += [f"foreign key: {row}" for row in self.rows("PRAGMA foreign_key_check")]
        checks = {
            "hit without article": "SELECT h.id FROM hits h LEFT JOIN articles a "
            "ON a.id = h.article_id WHERE a.id IS NULL",
            "alert without article": "SELECT al.id FROM alerts al LEFT JOIN articles a "
            "ON a.id = al.article_id WHERE a.id IS NULL",
            "alert without story": "SELECT al.id FROM alerts al LEFT JOIN stories s "
            "ON s.id = al.story_id WHERE s.id IS NULL",
            "entry without source": "SELECT e.id FROM feed_entries e LEFT JOIN sources s "
            "ON s.id = e.source_id WHERE s.id IS NULL",
            "article without story": "SELECT a.id FROM articles a LEFT JOIN stories s "
            "ON s.id = a.story_id WHERE s.id IS NULL",
            "duplicate canonical URL": "SELECT canonical_url FROM articles "
            "GROUP BY canonical_url HAVING count(*) > 1",
            "duplicate hit": "SELECT article_id, rule_id FROM hits "
            "GROUP BY article_id, rule_id HAVING count(*) > 1",
            "duplicate entry": "SELECT source_id, key FROM feed_entries "
            "GROUP BY source_id, key HAVING count(*) > 1",
            "sent alert without ts": "SELECT id FROM alerts WHERE state = 'sent' AND ts IS NULL",
        }
        for name, sql in checks.items():
            problems += [f"{name}: {row}" for row in self.rows(sql)]
        if not self.sqlite:
            problems += [
                f"invalid index: {row}"
                for row in self.rows(
                    "SELECT indexrelid::regclass FROM pg_index WHERE NOT indisvalid"
                )
            ]
        return problems


def delivered(stub: SlackStub) -> Counter[tuple[str, str]]:
    """How often Slack showed each (channel, article URL)."""
    found: Counter[tuple[str, str]] = Counter()
    for channel, _ts, params in list(stub.delivered):
        for url in set(URL_RE.findall(str(params.get("text", "")))):
            found[(channel, url)] += 1
    return found
