"""Outbox storage and policies: migration 0002, claims, replay, budget, digest timing, routes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tests.dispatch_helpers import NOW, alert_rows, article, seed
from watcher.alerts.budget import BudgetDecision, decide
from watcher.alerts.digest import digest_due_at, digest_since
from watcher.config import load_config
from watcher.errors import ConfigError
from watcher.settings import RouteConfig
from watcher.store import outbox as store
from watcher.store.db import Database, create_db_engine, open_database
from watcher.store.models import (
    AlertKind,
    Base,
    DeliveryState,
    RouteMessageKind,
    RouteMessageRow,
)
from watcher.store.schema import described

LEASE = timedelta(seconds=60)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    yield database
    database.dispose()


def _alembic(engine_url: str, revision: str, *, down: bool = False) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig

    from watcher.store.db import MIGRATIONS_DIR

    engine = create_db_engine(engine_url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)
    engine.dispose()


def test_migration_0002_keeps_existing_alerts_and_matches_the_models(database_url: str) -> None:
    """Upgrading a 0001 database with alerts keeps them; the schema then equals the models."""
    _alembic(database_url, "0001")
    old = create_db_engine(database_url)
    with old.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO stories (id, title, created_at) VALUES (1, 't', '2026-01-01 00:00:00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO articles (id, url, canonical_url, title, summary, outlet, first_seen_at,"
            " extraction_status, content_hash, story_id) VALUES (1, 'u', 'u', 't', '', 'o',"
            " '2026-01-01 00:00:00', 'ok', 'h', 1)"
        )
        conn.exec_driver_sql(
            "INSERT INTO alerts (id, article_id, story_id, route, kind, state, attempts,"
            " created_at) VALUES (1, 1, 1, '#a', 'alert', 'pending', 0, '2026-01-01 00:00:00')"
        )
    old.dispose()
    database = open_database(database_url)
    rows = alert_rows(database)
    assert [(r.route, r.state, r.held_at, r.digest_id) for r in rows] == [
        ("#a", "pending", None, None)
    ]
    assert "route_messages" in inspect(database.engine).get_table_names()
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": described})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    database.dispose()
    _alembic(database_url, "0001", down=True)  # and back down cleanly
    engine = create_db_engine(database_url)
    assert "route_messages" not in inspect(engine).get_table_names()
    assert "digest_id" not in {c["name"] for c in inspect(engine).get_columns("alerts")}
    engine.dispose()


def test_delivery_enums_are_stored_as_their_plain_strings(db: Database) -> None:
    """Alerts and route messages share `DeliveryState`; the columns hold the old strings.

    So rows written before the enums existed read back as members, and other
    tools reading the table see "pending"/"sent" as before.
    """
    seed(db, [article(1), article(2, rules=("aukus-japan",), routes=("#a", "#b"))])
    first, *_ = alert_rows(db)
    with db.session() as session:
        store.mark_sent(session, first.id, ts="1.0", channel="C1", now=NOW)
        burst = store.start_burst(session, "#a", "aukus-japan", count=3, now=NOW, until=NOW)
    with db.engine.connect() as conn:
        alerts = conn.exec_driver_sql("SELECT kind, state FROM alerts ORDER BY id").all()
        messages = conn.exec_driver_sql("SELECT kind, state FROM route_messages").all()
    assert [tuple(r) for r in alerts] == [
        ("alert", "sent"),
        ("alert", "pending"),
        ("alert", "pending"),
    ]
    assert [tuple(r) for r in messages] == [("burst", "pending")]
    rows = alert_rows(db)
    assert rows[0].state is DeliveryState.SENT
    assert rows[1].state is DeliveryState.PENDING
    assert {r.kind for r in rows} == {AlertKind.ALERT}
    with db.session() as session:
        message = session.get_one(RouteMessageRow, burst)
        assert (message.kind, message.state) == (RouteMessageKind.BURST, DeliveryState.PENDING)
        assert store.alert_counts(session) == {"sent": 1, "pending": 2}


def test_a_claim_is_exclusive_until_its_lease_runs_out(db: Database) -> None:
    """Only one claim on a pending row succeeds; after the lease it can be claimed again."""
    seed(db, [article(1)])
    alert_id = alert_rows(db)[0].id
    with db.session() as session:
        assert store.claim(session, "alerts", alert_id, now=NOW, lease=LEASE)
    with db.session() as session:
        assert not store.claim(session, "alerts", alert_id, now=NOW, lease=LEASE)
    later = NOW + LEASE
    with db.session() as session:
        assert store.claim(session, "alerts", alert_id, now=later, lease=LEASE)
        assert store.attempts(session, "alerts", alert_id) == 2
        store.mark_sent(session, alert_id, ts="1.0", channel="C1", now=later)
    with db.session() as session:
        assert not store.claim(session, "alerts", alert_id, now=later + LEASE, lease=LEASE)


def test_replay_puts_dead_and_failed_alerts_back_undecided(db: Database) -> None:
    """Replaying a route re-queues its dead and failed alerts (held and digest marks cleared)."""
    seed(db, [article(1, routes=("#a", "#b")), article(2, routes=("#a",))])
    with db.session() as session:
        store.hold(session, alert_rows(db)[0].id, now=NOW)
        store.mark_route_dead(session, "#a", error="channel_not_found")
    with db.session() as session:
        assert store.replay_dead(session, "#b") == 0
        assert store.replay_dead(session, "#a") == 2
    rows = [r for r in alert_rows(db) if r.route == "#a"]
    assert {(r.state, r.attempts, r.held_at, r.digest_id) for r in rows} == {
        ("pending", 0, None, None)
    }


def test_budget_usage_counts_instant_alerts_per_rule_and_route(db: Database) -> None:
    """Only instant top-level alerts sent on the route within the window count for each rule."""
    seed(db, [article(1, rules=("aukus-japan", "clearance")), article(2), article(3)])
    rows = alert_rows(db)
    with db.session() as session:
        for row, at in zip(rows, (NOW, NOW + timedelta(minutes=30), NOW), strict=True):
            if row.id != rows[2].id:
                store.mark_sent(session, row.id, ts="1", channel="#a", now=at)
        store.start_burst(
            session, "#a", "clearance", count=3, now=NOW, until=NOW + timedelta(hours=1)
        )
    with db.session() as session:
        sent, bursting = store.budget_usage(
            session, "#a", ["aukus-japan", "clearance"], since=NOW, now=NOW + timedelta(hours=1)
        )
    assert sent == {"aukus-japan": 1}  # the alert at NOW is outside (since, now]
    assert bursting == set()  # the burst ended at NOW + 1 h
    with db.session() as session:
        sent, bursting = store.budget_usage(
            session, "#a", ["clearance"], since=NOW - timedelta(seconds=1), now=NOW
        )
    assert (sent, bursting) == ({"clearance": 1}, {"clearance"})


@pytest.mark.parametrize(
    ("rules", "sent", "bursting", "expected"),
    [
        ((), {}, set(), BudgetDecision(True)),
        (("a",), {"a": 1}, set(), BudgetDecision(True)),
        (("a",), {"a": 2}, set(), BudgetDecision(False, ("a",))),
        (("a",), {"a": 0}, {"a"}, BudgetDecision(False, ())),
        (("a", "b"), {"a": 5, "b": 0}, {"a"}, BudgetDecision(True)),
        (("a", "b"), {"a": 5, "b": 2}, {"a"}, BudgetDecision(False, ("b",))),
        (("b", "a", "a"), {"a": 2, "b": 2}, set(), BudgetDecision(False, ("a", "b"))),
    ],
)
def test_budget_decision(
    rules: tuple[str, ...], sent: dict[str, int], bursting: set[str], expected: BudgetDecision
) -> None:
    """With budget 2: an alert is instant while any of its rules has budget left."""
    assert decide(rules, sent=sent, bursting=bursting, budget=2) == expected


def at(minutes: int) -> datetime:
    return NOW + timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("oldest", "last", "due", "since"),
    [
        (0, None, 60, 0),  # first digest: one interval after the first held story
        (30, 0, 60, 0),  # regular cadence after the last digest
        (130, 0, 180, 0),  # a quiet route keeps the cadence: no story waits over an interval
        (60, 0, 120, 0),  # a story exactly on the slot waits for the next one
        (-5, 0, 60, 0),  # a story older than the last digest (replayed): the next slot
    ],
)
def test_digest_timing(oldest: int, last: int | None, due: int, since: int) -> None:
    """Digests keep a cadence from the last one; the first comes one interval after its story."""
    last_at = None if last is None else at(last)
    hour = timedelta(minutes=60)
    assert digest_due_at(interval=hour, oldest_held=at(oldest), last_digest=last_at) == at(due)
    assert digest_since(oldest_held=at(oldest), last_digest=last_at) == at(since)


def test_route_settings_are_read_with_defaults(tmp_path: Path) -> None:
    """`[alerts.routes."#chan"]` gives each route a mode and interval; others are instant."""
    path = tmp_path / "w.toml"
    path.write_text(
        '[alerts]\nbudget_window = "30m"\n'
        '[alerts.routes."#digest"]\nmode = "digest"\ninterval = "6h"\n'
        '[alerts.routes."#quiet"]\nmode = "digest"\n'
    )
    alerts = load_config(path, {}).alerts
    assert alerts.route("#digest") == RouteConfig("digest", timedelta(hours=6))
    assert alerts.route("#quiet") == RouteConfig("digest", timedelta(minutes=30))
    assert alerts.route("#other") == RouteConfig("instant", timedelta(minutes=30))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[alerts.routes."#a"]\nmode = "daily"\n', "mode must be instant or digest, got 'daily'"),
        ('[alerts.routes."#a"]\ninterval = "soon"\n', "interval: expected a duration"),
        ('[alerts.routes."#a"]\nmode = "digest"\nevery = "1h"\n', "unknown key 'every'"),
        ('[alerts]\nroutes = "#a"\n', "[alerts.routes] must be tables"),
        ('[alerts.routes]\n"#a" = "digest"\n', "must be a table with mode and interval"),
    ],
)
def test_bad_route_settings_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    """A mistake in a route's settings names the file, the route and the problem."""
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert str(path) in str(info.value)
    assert message in str(info.value)
