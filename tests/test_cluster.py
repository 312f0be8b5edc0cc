"""Three real `watcher run` processes on one real PostgreSQL share the work (issue 17).

* `test_three_processes_poll_each_source_once_per_interval`: eight feeds on a
  local site, each answering slowly; the site records when each feed was
  asked. No feed is ever asked twice at once or twice within its interval,
  every article page is fetched once (not once per process), the polls are
  spread over more than one process, an edit of the shared rule files is
  reloaded by all three, `/healthz` of each process (and `watcher health`)
  counts three processes alive and `watcher sources --json` names a process per source;
  SIGTERM stops all three with exit code 0 within 10 s.
* `test_sigkill_of_a_polling_process_is_taken_over` (slow, `make test-long`):
  one of three processes is killed with its whole process group while it is
  in the middle of a poll (its article pages answer slowly); another process
  polls that source within the stated bound, and the crash-safety invariants
  hold: one hit per matching article, each alert posted once, no ETag past an
  entry that was not stored, no integrity problem.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy.exc import SQLAlchemyError

from tests.crash_helpers import (
    FEEDS,
    Daemon,
    NewsSite,
    Store,
    daemon_env,
    delivered,
    wait_until,
    write_setup,
)
from tests.support.httpserver import LocalSite, RequestHandler
from tests.support.pg import PostgresServer
from tests.support.slackstub import SlackStub
from tests.test_crash_safety import ROUTE_OF, _free_listen, check_atomic, check_etags

pytestmark = pytest.mark.postgres

N_FEEDS = 8
ARTICLES_PER_FEED = 4
INTERVAL = 3.0  # seconds, each source's poll interval
FEED_DELAY = 0.3  # seconds each feed takes to answer: polls overlap if they can
TAKE_OVER_BOUND = 60.0  # seconds: the README's bound for a dead process's poll


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> object:
    url = pg_server.create_database()
    yield url
    pg_server.drop_database(url)


class Feeds:
    """`N_FEEDS` RSS feeds whose answers are timed: when each was asked, and overlaps."""

    def __init__(self, site: LocalSite) -> None:
        self.site = site
        self.lock = threading.Lock()
        self.asked: dict[str, list[float]] = defaultdict(list)
        self.in_flight: dict[str, int] = defaultdict(int)
        self.overlaps: list[str] = []
        self.pages: dict[str, int] = defaultdict(int)
        for f in range(N_FEEDS):
            name = f"feed{f}"
            items = []
            for a in range(ARTICLES_PER_FEED):
                path = f"/{name}/{a}.html"
                title = f"{name} story {a}: harbour works {random.random():.6f}"
                body = " ".join(f"Paragraph {i} about {name} and shipping." for i in range(40))
                page = f"<html><head><title>{title}</title></head><body><article><h1>{title}"
                page += f"</h1><p>{body}</p><p>{body}</p></article></body></html>"
                self.site.handler(path, self._page(path, page.encode()))
                items.append(
                    f"<item><title>{title}</title><link>{site.url(path)}</link>"
                    f"<guid>{path}</guid></item>"
                )
            xml = (
                '<?xml version="1.0"?><rss version="2.0"><channel><title>'
                f"{name}</title><link>http://example.invalid/</link><description>x"
                f"</description>{''.join(items)}</channel></rss>"
            ).encode()
            self.site.handler(f"/{name}.xml", self._feed(name, xml))

    def _feed(self, name: str, body: bytes):  # type: ignore[no-untyped-def]
        def serve(h: RequestHandler) -> None:
            with self.lock:
                self.asked[name].append(time.monotonic())
                self.in_flight[name] += 1
                if self.in_flight[name] > 1:
                    self.overlaps.append(name)
            try:
                h.sleep(FEED_DELAY)
                h.respond(200, body, headers={"Content-Type": "application/rss+xml"})
            finally:
                with self.lock:
                    self.in_flight[name] -= 1

        return serve

    def _page(self, path: str, body: bytes):  # type: ignore[no-untyped-def]
        def serve(h: RequestHandler) -> None:
            with self.lock:
                self.pages[path] += 1
            h.respond(200, body, headers={"Content-Type": "text/html; charset=utf-8"})

        return serve


def _config(tmp: Path, site: LocalSite, listen: str, *, sources_at_once: int = 2) -> Path:
    rules = tmp / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "harbour.yaml").write_text(
        'id: harbour\nname: Harbour\nseverity: low\nquery: harbour\nroute: ["#c"]\n',
        encoding="utf-8",
    )
    parts = [
        "[fetch]\nallow_private_addresses = true\nretries = 0\n"
        f"sources_at_once = {sources_at_once}\n",
        f'[rules]\ndir = "{rules}"\n',
        f'[web]\nlisten = "{listen}"\n',
        '[alerts]\ndefault_route = ["#c"]\nbudget = 10000\n',
    ]
    for f in range(N_FEEDS):
        parts.append(
            f'[[sources]]\nname = "feed{f}"\nurl = "{site.url(f"/feed{f}.xml")}"\n'
            f'kind = "rss"\ninterval = "{int(INTERVAL)}s"\n'
        )
    config = tmp / "watcher.toml"
    config.write_text("\n".join(parts), encoding="utf-8")
    return config


def _healthz(listen: str) -> dict[str, object]:
    with urllib.request.urlopen(f"http://{listen}/healthz", timeout=3) as resp:
        data: dict[str, object] = json.loads(resp.read())
    return data


def _start(
    tmp: Path, n: int, url: str, stub: SlackStub, make_config
) -> tuple[list[Daemon], list[str]]:  # type: ignore[no-untyped-def]
    daemons, listens = [], []
    for i in range(n):
        listen = _free_listen()
        d = tmp / f"p{i}"
        d.mkdir()
        config = make_config(d, listen)
        env = daemon_env(
            url, stub, WATCHER_POLL_TICK="1", WATCHER_STALLED_AFTER="10", WATCHER_LISTEN=listen
        )
        daemons.append(Daemon(config, env, d / "daemon.log"))
        listens.append(listen)
    return daemons, listens


def _stop_all(daemons: list[Daemon]) -> list[tuple[int, float]]:
    """SIGTERM every live daemon at once; (exit code, seconds) of each."""
    started = time.monotonic()
    for d in daemons:
        if d.alive():
            d.proc.send_signal(signal.SIGTERM)
    out = []
    for d in daemons:
        try:
            code = d.proc.wait(12)
        finally:
            d.kill()
        out.append((code, time.monotonic() - started))
    return out


def test_three_processes_poll_each_source_once_per_interval(tmp_path: Path, pg_url: str) -> None:
    with LocalSite() as site, SlackStub() as stub:
        feeds = Feeds(site)
        # One config file and one rules directory for all three (as in compose).
        shared = _config(tmp_path, site, "127.0.0.1:9")
        daemons, listens = _start(tmp_path, 3, pg_url, stub, lambda d, listen: shared)
        try:
            for d, listen in zip(daemons, listens, strict=True):
                assert wait_until("healthz", lambda a=listen: _try_health(a), timeout=60, daemon=d)
            alive = wait_until(
                "three alive",
                lambda: all(_try_health(a).get("processes_alive") == 3 for a in listens),
                timeout=30,
            )
            assert alive, [_try_health(a) for a in listens]
            said = _cli(shared, pg_url, "health", WATCHER_LISTEN=listens[1])
            assert said.endswith("; 3 processes alive"), said
            observed_from = time.monotonic()
            # Let each source come due about four times.
            assert wait_until(
                "four polls of every feed",
                lambda: all(len(feeds.asked[f"feed{f}"]) >= 4 for f in range(N_FEEDS)),
                timeout=60,
            ), dict(feeds.asked)
            window = time.monotonic() - observed_from
            # A rule edit reaches every process (each watches the shared files).
            (tmp_path / "rules" / "extra.yaml").write_text(
                'id: extra\nname: Extra\nseverity: low\nquery: shipping\nroute: ["#c"]\n',
                encoding="utf-8",
            )
            assert wait_until(
                "the rule edit reloaded everywhere",
                lambda: all(
                    any(e.get("rules") == 2 for e in d.events("rules_reloaded")) for d in daemons
                ),
                timeout=30,
            ), [d.events("rules_reloaded") for d in daemons]
            results = _stop_all(daemons)
        finally:
            for d in daemons:
                d.kill()
        assert len(results) == 3
        assert all(code == 0 for code, _ in results), results
        assert all(seconds < 10.0 for _, seconds in results), results
        assert not feeds.overlaps, f"two polls of one source at once: {feeds.overlaps}"
        for name, times in feeds.asked.items():
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert all(g >= INTERVAL - 0.05 for g in gaps), (name, gaps)
            # At most one poll per interval (plus the first) over the whole run.
            assert len(times) <= (times[-1] - times[0]) / INTERVAL + 1, (name, times)
        assert window > 0
        assert set(feeds.pages) == {
            f"/feed{f}/{a}.html" for f in range(N_FEEDS) for a in range(ARTICLES_PER_FEED)
        }
        assert all(n == 1 for n in feeds.pages.values()), dict(feeds.pages)
        pollers = _polled_by(shared, pg_url)
        assert set(pollers) == {f"feed{f}" for f in range(N_FEEDS)}
        pids = {str(d.proc.pid) for d in daemons}
        assert all(p and p.rsplit(":", 1)[1] in pids for p in pollers.values()), pollers
        assert len(set(pollers.values())) >= 2, f"one process did all the work: {pollers}"
        # After the stop every heartbeat row is gone: nobody counts a stopped process.
        store = Store(pg_url)
        try:
            assert store.rows("SELECT count(*) FROM procrastinate_workers") == [(0,)]
        finally:
            store.close()


def _try_health(listen: str) -> dict[str, object]:
    try:
        return _healthz(listen)
    except OSError:
        return {}


def _cli(config: Path, url: str, *args: str, **env_extra: str) -> str:
    """`watcher ARGS --config CONFIG` on the test database; its stdout, stripped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WATCHER_"))}
    env.update(WATCHER_DATABASE_URL=url, **env_extra)
    out = subprocess.run(
        [sys.executable, "-m", "watcher", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return out.stdout.strip()


def _polled_by(config: Path, url: str) -> dict[str, str]:
    rows = json.loads(_cli(config, url, "sources", "--json"))
    return {row["name"]: row["polled_by"] for row in rows}


@pytest.mark.slow
def test_sigkill_of_a_polling_process_is_taken_over(tmp_path: Path, pg_url: str) -> None:
    rng = random.Random(17)
    with LocalSite() as site, SlackStub() as stub:
        news = NewsSite(site, rng)
        for feed in FEEDS:
            news.publish(feed)
        daemons, _ = _start(
            tmp_path, 3, pg_url, stub, lambda d, listen: write_setup(d, site, listen)
        )
        store = Store(pg_url)
        try:
            # Wait until all three run and the first (empty) versions are stored.
            assert wait_until(
                "first polls",
                lambda: _first_polls_done(store),
                timeout=60,
            )
            # New articles whose pages answer slowly: the poll that finds them is long.
            for feed in FEEDS:
                for i in range(4):
                    news.add_article(
                        feed, ("crash-aukus", "crash-quantum", None, None)[i], slow=4.0
                    )
                news.publish(feed)
            victim = wait_until(
                "a process in the middle of a poll",
                lambda: next((d for d in daemons if news.slow_in_flight and _mid_poll(d)), None),
                timeout=30,
            )
            assert victim is not None, [d.tail(5) for d in daemons]
            source = _mid_poll(victim)
            killed_at = time.monotonic()
            victim.kill()
            survivors = [d for d in daemons if d is not victim]

            def taken_over() -> bool:
                return any(
                    e.get("source") == source and e.get("new_articles", 0) > 0
                    for d in survivors
                    for e in d.events("source_polled")
                )

            assert wait_until("take-over", taken_over, timeout=TAKE_OVER_BOUND + 10), [
                d.tail(10) for d in survivors
            ]
            took = time.monotonic() - killed_at
            assert took <= TAKE_OVER_BOUND, took
            # Everything published is stored, and every alert posted.
            expected = {(ROUTE_OF[r], u) for u, r in news.expected_hits()}

            def complete() -> bool:
                snap = store.snapshot()
                return (
                    all(
                        set(news.versions[f][max(news.versions[f])]) <= snap.entries[f]
                        for f in FEEDS
                    )
                    and set(delivered(stub)) >= expected
                )

            assert wait_until("all stored and sent", complete, timeout=60), store.snapshot()
            results = _stop_all(survivors)
            assert all(code == 0 for code, _ in results), results
            snap = store.snapshot()
            check_etags(news, snap)
            check_atomic(news, snap)
            assert store.integrity_problems() == []
            posts = delivered(stub)
            assert set(posts) == expected
            # The killed process was polling, not sending: nothing may be posted twice.
            assert all(n == 1 for n in posts.values()), posts
            recovered = [e for d in survivors for e in d.events("stalled_job_requeued")]
            assert recovered, "the dead process's poll job was never put back"
        finally:
            for d in daemons:
                d.kill()
            store.close()


def _first_polls_done(store: Store) -> bool:
    """Every feed has a stored ETag (False while the daemons still create the schema)."""
    try:
        return all(store.snapshot().etags.get(f) for f in FEEDS)
    except SQLAlchemyError:
        return False


def _mid_poll(d: Daemon) -> str | None:
    """The source `d` started polling (queue job) and has not finished, if any."""
    if not d.alive():
        return None
    started = [e.get("source") for e in d.events("poll_job_started")]
    finished = [e.get("source") for e in d.events("poll_job_done")]
    for source in reversed(started):
        if started.count(source) > finished.count(source):
            return str(source)
    return None
