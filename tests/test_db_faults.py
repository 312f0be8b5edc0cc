"""Database faults under the real daemon: a locked SQLite, a stopped PostgreSQL.

In both, a poll cycle that cannot write aborts with no state change (no ETag
advance, no partial rows), the daemon keeps running and answering
`/healthz`, and the next cycle after the database is back catches up: every
article, hit and alert is stored, and each alert is posted exactly once.
"""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.crash_helpers import (
    FEEDS,
    RULES,
    Daemon,
    NewsSite,
    Snapshot,
    Store,
    daemon_env,
    delivered,
    etag,
    wait_until,
    write_setup,
)
from tests.support.httpserver import LocalSite
from tests.support.pg import (
    SERVER_SETTINGS,
    PostgresServer,
    RunAs,
    _clean_env,
    _parent_death_hook,
    find_bindir,
    require_bindir,
    start_server,
)
from tests.support.slackstub import SlackStub
from watcher.store.db import open_database

ROUTE_OF = {rule: route for rule, route, _yaml in RULES.values()}
LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()  # hold the lock until the test closes our stdin
conn.execute("ROLLBACK")
"""


def _listen() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def _health(listen: str) -> int:
    try:
        with urllib.request.urlopen(f"http://{listen}/healthz", timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        json.loads(exc.read())  # still the daemon's JSON answer
        return exc.code


class World:
    """The news site, the Slack stand-in, the daemon's database and its config."""

    def __init__(self, site: LocalSite, stub: SlackStub, url: str, tmp: Path, **env: str) -> None:
        open_database(url).dispose()
        self.news = NewsSite(site, random.Random(23))
        self.stub = stub
        self.store = Store(url)
        self.listen = _listen()
        self.config = write_setup(tmp, site, self.listen)
        self.env = daemon_env(url, stub, **env)
        self.log = tmp / "daemon.log"
        for feed in FEEDS:
            self.news.add_article(feed, "crash-aukus")
            self.news.add_article(feed, None)
            self.news.publish(feed)

    def expected_alerts(self) -> set[tuple[str, str]]:
        return {(ROUTE_OF[rule], url) for url, rule in self.news.expected_hits()}

    def drained(self) -> bool:
        """Every feed at its latest version, every expected alert stored and sent."""
        snap = self.store.snapshot()
        latest = {feed: etag(feed, max(self.news.versions[feed])) for feed in FEEDS}
        return (
            snap.etags == latest
            and set(snap.alerts) == self.expected_alerts()
            and all(state == "sent" for state, _a in snap.alerts.values())
        )

    def more_news(self, *, slow: float = 0.0) -> None:
        """A matching and a plain article on each feed (the first page slow), new versions."""
        for feed in FEEDS:
            self.news.add_article(feed, "crash-quantum", slow=slow)
            self.news.add_article(feed, None)
            self.news.publish(feed)

    def check_end(self, daemon: Daemon, before: Snapshot) -> None:
        """Caught up: all stored, each alert posted once, a clean stop, a sound database."""
        assert wait_until("the catch-up", self.drained, timeout=30, daemon=daemon), daemon.tail()
        assert _health(self.listen) == 200
        assert daemon.stop() == 0, daemon.tail()
        shown = delivered(self.stub)
        assert set(shown) == self.expected_alerts()
        assert set(shown.values()) == {1}, shown
        assert set(self.store.snapshot().hits) == self.news.expected_hits()
        assert self.store.integrity_problems() == []
        # The aborted cycle's feed versions were fetched again with the old validators.
        site = self.news.site
        for feed in FEEDS:
            sent = [
                r.headers.get("if-none-match") for r in site.requests if r.path == f"/{feed}.xml"
            ]
            assert before.etags[feed] in sent, (feed, sent)


def _unchanged(before: Snapshot, after: Snapshot) -> None:
    assert after.etags == before.etags
    assert after.entries == before.entries
    assert after.hits == before.hits
    assert set(after.alerts) == set(before.alerts)


def test_sqlite_locked_by_another_process_aborts_the_cycle_and_the_next_catches_up(
    local_site: LocalSite, slack_stub: SlackStub, tmp_path: Path
) -> None:
    """An exclusive lock held past the busy timeout: no state change, then everything arrives."""
    path = tmp_path / "watcher.db"
    world = World(
        local_site, slack_stub, f"sqlite:///{path}", tmp_path, WATCHER_SQLITE_BUSY_TIMEOUT_MS="300"
    )
    daemon = Daemon(world.config, world.env, world.log)
    locker: subprocess.Popen[str] | None = None
    try:
        assert wait_until("the first alerts", world.drained, timeout=30, daemon=daemon)
        before = world.store.snapshot()
        locker = subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert locker.stdout is not None
        assert locker.stdout.readline().strip() == "locked"
        failures = len(daemon.events("store_failed"))
        world.more_news()
        assert wait_until(
            "two aborted polls",
            lambda: len(daemon.events("store_failed")) >= failures + 2,
            timeout=20,
            daemon=daemon,
        ), daemon.tail()
        _unchanged(before, world.store.snapshot())  # WAL: readers still read
        assert daemon.alive()
        assert _health(world.listen) == 200  # busy, not down: reads work
        locker.communicate(timeout=10)  # releases the lock
        world.check_end(daemon, before)
    finally:
        if locker is not None and locker.poll() is None:
            locker.kill()
            locker.wait()
        daemon.kill()
        world.store.close()


@pytest.fixture
def own_pg() -> Iterator[tuple[PostgresServer, Path]]:
    """A PostgreSQL server of this test's own (it is stopped and restarted mid-test)."""
    bindir = require_bindir(find_bindir())
    server = start_server(bindir)
    try:
        yield server, bindir
    finally:
        server.stop()


def _stop_pg(server: PostgresServer) -> None:
    server.process.send_signal(signal.SIGINT)  # fast shutdown: sessions are cut off
    server.process.wait(30)


def _restart_pg(server: PostgresServer, bindir: Path) -> None:
    """Start the same cluster again on the same port."""
    settings = {
        **SERVER_SETTINGS,
        "port": str(server.port),
        "unix_socket_directories": str(server.base),
    }
    with (server.base / "server.log").open("ab") as out:
        server.process = subprocess.Popen(
            [
                str(bindir / "postgres"),
                *("-D", str(server.base / "data")),
                *[arg for k, v in settings.items() for arg in ("-c", f"{k}={v}")],
            ],
            cwd=server.base,
            env=_clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_parent_death_hook(),  # noqa: PLW1509 (one async-signal-safe libc call)
            **RunAs.for_current_user().popen_kwargs(),
        )

    def ready() -> bool:
        try:
            psycopg.connect(server.conninfo("postgres"), connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    assert wait_until("postgres to restart", ready, timeout=30)


@pytest.mark.postgres
def test_postgres_stopped_mid_cycle_aborts_it_and_the_next_cycle_catches_up(
    own_pg: tuple[PostgresServer, Path],
    local_site: LocalSite,
    slack_stub: SlackStub,
    tmp_path: Path,
) -> None:
    """PostgreSQL goes down mid-fetch: 503 while down, no state change, 200 and catch-up after."""
    server, bindir = own_pg
    world = World(local_site, slack_stub, server.create_database(), tmp_path)
    daemon = Daemon(world.config, world.env, world.log)
    try:
        assert wait_until("the first alerts", world.drained, timeout=30, daemon=daemon)
        before = world.store.snapshot()
        world.store.close()
        world.more_news(slow=2.0)
        assert wait_until(
            "a slow page", lambda: world.news.slow_in_flight, timeout=20, daemon=daemon
        )
        _stop_pg(server)
        assert wait_until(
            "the aborted poll", lambda: daemon.events("store_failed"), timeout=20, daemon=daemon
        ), daemon.tail()
        assert wait_until("503", lambda: _health(world.listen) == 503, timeout=10)
        assert daemon.alive()
        daemon.proc.send_signal(signal.SIGSTOP)  # look at the database before it catches up
        try:
            _restart_pg(server, bindir)
            _unchanged(before, world.store.snapshot())
        finally:
            daemon.proc.send_signal(signal.SIGCONT)
        world.check_end(daemon, before)
    finally:
        daemon.kill()
        world.store.close()


def test_items_the_database_would_refuse_do_not_sink_their_feed(
    database_url: str, local_site: LocalSite
) -> None:
    """Over-long links, hosts and GUIDs and surrogate references are stored, with their feed."""
    from tests.pipeline_helpers import (
        Harness,
        Item,
        fast_fetch,
        make_config,
        rss,
        rss_source,
        small_pool,
    )

    long_link = local_site.url("/p/" + "x" * 2100 + ".html")
    items = [
        Item("Plain story", local_site.url("/p/plain.html"), guid="g-plain"),
        Item("Long link", long_link, guid="g-long"),
        Item("Long guid", local_site.url("/p/guid.html"), guid="g" * 300),
        Item("Long host", "http://" + "h" * 300 + ".invalid/x", guid="g-host"),
        Item(
            "Surrogate", local_site.url("/p/s.html"), guid="g-s", extra="<author>&#xD800;</author>"
        ),
    ]
    body = rss(items).replace("Surrogate", "Surrogate &#xD800; &#56320;")
    local_site.add("/feed.xml", body, content_type="application/rss+xml", etag='"v1"')
    config = make_config(
        database_url,
        [rss_source("Hostile", local_site.url("/feed.xml"))],
        fetch=fast_fetch(connect_timeout=1.0, total_timeout=1.0),
    )
    with small_pool() as pool, Harness(config, pool) as h:
        h.cycle(force=True)
        assert h.entry_count("Hostile") == 5
        assert h.source("Hostile").etag == '"v1"'
        titles = sorted(a.title for a in h.articles("Hostile"))
        assert titles[:4] == ["Long guid", "Long host", "Long link", "Plain story"]
        assert titles[4].startswith("Surrogate")
