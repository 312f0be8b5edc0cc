"""Crash safety as a property: the real daemon, killed with SIGKILL again and again.

A harness runs `python -m watcher run` against a local news site whose two
feeds grow between kills (some headlines match the two test rules, some
pages answer slowly) and the Slack stand-in, and kills the daemon's whole
process group with SIGKILL at chosen moments, then restarts it:

    fetch        a page request is in flight (a slow page)
    transaction  the poll transaction has written rows and not committed (a
                 test trigger makes each alert insert take ~0.25 s)
    commit       alert rows are committed and not yet claimed for sending
    send         Slack has posted a message and its answer is held back, so
                 the daemon has not recorded it
    random       at a random moment 0.2-3 s after the start

Before each restart the harness expires the dead process's claims (what
the 60 s claim lease would do) and checks, after every kill, that no feed's
ETag advanced past an entry that is not stored and that every stored article
has all its hits and alert rows (the poll transaction is all or nothing).
At the end a clean run drains everything, and the final invariants hold:
each matching article has exactly one hit per rule; each alert was posted at
least once, and more than once only by a kill between Slack's answer and our
record (`posts == 1 + such kills`, at most 2); the database passes its
integrity checks. Runs on SQLite and PostgreSQL. The seed is printed on
failure; `WATCHER_CRASH_SEED` replays one.
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

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
from tests.support.slackstub import Reply, SlackStub
from watcher.store.db import open_database

KINDS = ("fetch", "transaction", "commit", "send", "random")
ROUTE_OF = {rule: route for rule, route, _yaml in RULES.values()}
CONDITION_TIMEOUT = 10.0  # seconds to reach a kill point before killing anyway
SLOW_PAGE = 4.0  # seconds a slow page holds its answer
SLOW_REPLY = 2.5  # seconds Slack holds its answer (below the sender's 15 s timeout)


@dataclass
class Campaign:
    """One run of the property: the servers, the daemon's database and the bookkeeping."""

    tmp: Path
    news: NewsSite
    stub: SlackStub
    store: Store
    env: dict[str, str]
    config: Path
    rng: random.Random
    runs: int = 0
    kills: list[tuple[str, bool]] = field(default_factory=list)  # (kind, point observed)
    # Kills that landed between Slack's answer and our record, per (route, URL).
    in_flight_kills: Counter[tuple[str, str]] = field(default_factory=Counter)

    def start(self) -> Daemon:
        self.runs += 1
        return Daemon(self.config, self.env, self.tmp / f"daemon-{self.runs}.log")

    def add_news(self, kind: str) -> None:
        """One to three new articles on a random feed (kind-specific), then a new version."""
        feed = self.rng.choice(FEEDS)
        rules: list[str | None] = [self.rng.choice([None, "crash-aukus", "crash-quantum"])]
        rules += [self.rng.choice(["crash-aukus", "crash-quantum"])]
        if kind == "transaction":
            rules.append("crash-aukus")
        for i, rule in enumerate(rules):
            slow = SLOW_PAGE if kind == "fetch" and i == 0 else 0.0
            self.news.add_article(feed, rule, slow=slow)
        self.news.publish(feed)

    # --- reaching a kill point -----------------------------------------------------

    def reach(self, kind: str, daemon: Daemon) -> bool:
        """Wait until the daemon is at `kind`'s kill point; False if it never got there."""
        if kind == "random":
            time.sleep(self.rng.uniform(0.2, 3.0))
            return True
        if kind == "fetch":
            started = self.news.slow_started
            check = lambda: self.news.slow_started > started and self.news.slow_in_flight > 0  # noqa: E731
        elif kind == "transaction":
            check = self.store.in_write_transaction
        elif kind == "commit":
            known = set(self.store.snapshot().alerts)
            check = lambda: self._committed_unsent(known)  # noqa: E731
        else:
            return self._fresh_send(daemon)
        return bool(wait_until(kind, check, timeout=CONDITION_TIMEOUT, daemon=daemon))

    def _committed_unsent(self, known: set[tuple[str, str]]) -> bool:
        """A new alert row is committed and not yet claimed (so not sent)."""
        shown = delivered(self.stub)
        return any(
            key not in known and state == "pending" and attempts == 0 and not shown[key]
            for key, (state, attempts) in self.store.snapshot().alerts.items()
        )

    def _fresh_send(self, daemon: Daemon) -> bool:
        """Hold Slack's answers until one arrives for an alert never killed in flight."""
        self.stub.set_default(Reply.slow(SLOW_REPLY))
        try:
            before = delivered(self.stub)

            def fresh() -> bool:
                now = delivered(self.stub)
                return any(n > before[k] and not self.in_flight_kills[k] for k, n in now.items())

            return bool(wait_until("a send", fresh, timeout=CONDITION_TIMEOUT, daemon=daemon))
        finally:
            self.stub.set_default(None)

    # --- after each kill ------------------------------------------------------------

    def after_kill(self, kind: str, observed: bool) -> None:
        """Check the invariants that hold at any kill; account for messages in flight."""
        snap = self.store.snapshot()
        check_etags(self.news, snap)
        check_atomic(self.news, snap)
        shown = delivered(self.stub)
        landed_in_flight = False
        for key, (state, _attempts) in snap.alerts.items():
            if state != "sent" and shown[key] > self.in_flight_kills[key]:
                self.in_flight_kills[key] = shown[key]
                landed_in_flight = True
        if kind == "send":
            observed = observed and landed_in_flight
        self.kills.append((kind, observed))
        self.store.expire_claims()


def check_etags(news: NewsSite, snap: Snapshot) -> None:
    """No stored ETag names a feed version with an entry that is not stored."""
    for feed in FEEDS:
        stored = snap.etags.get(feed)
        if stored is None:
            continue
        version = next(k for k in news.versions[feed] if etag(feed, k) == stored)
        missing = set(news.versions[feed][version]) - snap.entries[feed]
        assert not missing, f"{feed}: ETag {stored} stored, entries missing: {sorted(missing)}"


def check_atomic(news: NewsSite, snap: Snapshot) -> None:
    """Every stored article has exactly its expected hits and alert rows, nothing else."""
    stored = set().union(*snap.entries.values())
    expected = {(u, r) for u, r in news.expected_hits() if u in stored}
    assert set(snap.hits) == expected, (set(snap.hits) ^ expected, "hits")
    assert all(n == 1 for n in snap.hits.values()), snap.hits
    alerts = {(ROUTE_OF[r], u) for u, r in expected}
    assert set(snap.alerts) == alerts, (set(snap.alerts) ^ alerts, "alert rows")


def _free_listen() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def run_campaign(
    kills: int, database_url: str, site: LocalSite, stub: SlackStub, tmp: Path
) -> None:
    seed = int(os.environ.get("WATCHER_CRASH_SEED") or random.randrange(2**32))
    try:
        _campaign(kills, seed, database_url, (site, stub), tmp)
    except BaseException:
        backend = database_url.split(":", maxsplit=1)[0]
        print(f"crash campaign failed: WATCHER_CRASH_SEED={seed} ({backend})")
        raise


def _campaign(
    kills: int, seed: int, database_url: str, servers: tuple[LocalSite, SlackStub], tmp: Path
) -> None:
    site, stub = servers
    rng = random.Random(seed)
    open_database(database_url).dispose()  # the schema, so the slow trigger can go in
    store = Store(database_url)
    config = write_setup(tmp, site, _free_listen())
    news = NewsSite(site, random.Random(rng.random()))
    # On PostgreSQL the daemon polls through the shared queue, where a killed process's
    # poll stays locked until its heartbeat is WATCHER_STALLED_AFTER old: a short one
    # lets the restarted daemon reach the next kill point within CONDITION_TIMEOUT.
    env = daemon_env(database_url, stub, WATCHER_STALLED_AFTER="6")
    c = Campaign(tmp, news, stub, store, env, config, rng)
    plan = list(KINDS) * (kills // len(KINDS)) + list(rng.sample(KINDS[:4], kills % len(KINDS)))
    rng.shuffle(plan)
    for feed in FEEDS:
        news.add_article(feed, "crash-aukus")
        news.publish(feed)
    try:
        store.install_slowdown()
        for kind in plan:
            c.add_news(kind)
            daemon = c.start()
            try:
                observed = c.reach(kind, daemon)
            finally:
                daemon.kill()
            c.after_kill(kind, observed)
        assert len(c.kills) == kills == len(plan)
        store.remove_slowdown()
        _final_run(c)
    finally:
        store.close()


def _final_run(c: Campaign) -> None:
    """A clean run drains everything; then every invariant holds."""
    news, store = c.news, c.store
    expected = news.expected_hits()
    alerts = {(ROUTE_OF[r], u) for u, r in expected}
    latest = {feed: etag(feed, max(news.versions[feed])) for feed in FEEDS}

    def drained() -> bool:
        snap = store.snapshot()
        return (
            snap.etags == latest
            and set(snap.alerts) == alerts
            and all(state == "sent" for state, _a in snap.alerts.values())
        )

    daemon = c.start()
    try:
        done = wait_until("the final drain", drained, timeout=60, daemon=daemon)
        assert done, f"not drained: {store.snapshot()}\n{daemon.tail()}"
        code = daemon.stop()
        assert code == 0, daemon.tail()
    finally:
        daemon.kill()
    snap = store.snapshot()
    check_etags(news, snap)
    check_atomic(news, snap)
    assert set(snap.hits) == expected
    assert all(n == 1 for n in snap.hits.values())
    shown = delivered(c.stub)
    for key in alerts:
        assert shown[key] == 1 + c.in_flight_kills[key], (key, shown[key], c.in_flight_kills)
        assert 1 <= shown[key] <= 2 or c.in_flight_kills[key] > 1, (key, shown[key])
    assert set(shown) == alerts, set(shown) ^ alerts
    assert store.integrity_problems() == []
    print(f"kills: {c.kills}; posted in flight: {dict(c.in_flight_kills)}; runs: {c.runs}")
    # Every campaign of five kills or more plans each kind at least once, and each
    # kind's kill point must really have been reached at least once.
    assert {kind for kind, _observed in c.kills} == set(KINDS), c.kills
    seen = Counter(kind for kind, observed in c.kills if observed)
    assert [kind for kind in KINDS if not seen[kind]] == [], c.kills


def test_kill_9_at_every_stage_loses_nothing_short(
    database_url: str, local_site: LocalSite, slack_stub: SlackStub, tmp_path: Path
) -> None:
    """Six SIGKILLs over fetch, transaction, commit and send: nothing lost, no stray duplicate."""
    run_campaign(6, database_url, local_site, slack_stub, tmp_path)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_kill_9_thirty_times_loses_nothing(
    database_url: str, local_site: LocalSite, slack_stub: SlackStub, tmp_path: Path
) -> None:
    """Thirty SIGKILLs at random and chosen points: every invariant holds after a clean run."""
    run_campaign(30, database_url, local_site, slack_stub, tmp_path)


def test_a_capped_poll_does_not_store_the_etag_past_entries_it_left(
    database_url: str, local_site: LocalSite
) -> None:
    """With more new entries than one poll takes, the ETag waits until all are stored."""
    from tests.pipeline_helpers import (
        Harness,
        Item,
        fast_fetch,
        make_config,
        rss,
        rss_source,
        small_pool,
    )

    items = [Item(f"Story {n}", local_site.url(f"/p/{n}.html"), guid=f"g{n}") for n in range(5)]
    local_site.add("/feed.xml", rss(items), content_type="application/rss+xml", etag='"v1"')
    config = make_config(
        database_url,
        [rss_source("Capped", local_site.url("/feed.xml"))],
        fetch=fast_fetch(max_articles_per_source=2),
    )
    with small_pool() as pool, Harness(config, pool) as h:
        stored = []
        for _ in range(4):
            h.cycle(force=True)
            stored.append(h.entry_count("Capped"))
            if h.source("Capped").etag == '"v1"':
                break
        assert stored == [2, 4, 5]
        assert h.source("Capped").etag == '"v1"'
        h.cycle(force=True)  # now a 304: nothing new, nothing lost
        assert h.entry_count("Capped") == 5
        assert local_site.requests[-1].headers.get("if-none-match") == '"v1"'
