"""Ops alerts about failing or empty sources: raised once per streak, stored, delivered."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import inspect, select

from tests.dispatch_helpers import FakeTime, article, dispatcher, seed
from tests.support.slackstub import SlackStub
from watcher.alerts.blocks import build_ops_notice
from watcher.alerts.console import ConsoleSender
from watcher.alerts.slack import SlackBotSender
from watcher.cli.render import source_json
from watcher.daemon.health import source_alerts
from watcher.model import FetchOutcome, FetchResult, SourceSpec
from watcher.store.db import MIGRATIONS_DIR, Database, create_db_engine, open_database
from watcher.store.models import RouteMessageRow, SourceRow
from watcher.store.route_messages import OpsNotice
from watcher.store.sources import (
    OpsPolicy,
    record_failure,
    record_success,
    source_statuses,
    sync_sources,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SPEC = SourceSpec(name="Harbour Post", url="http://127.0.0.1:9/feed.xml")
OK = FetchResult(url=SPEC.url, outcome=FetchOutcome.OK, etag='"v2"')
NOT_MODIFIED = FetchResult(url=SPEC.url, outcome=FetchOutcome.NOT_MODIFIED)
OPS = OpsPolicy(route="#ops", unhealthy_after=4, empty_after=3)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    yield database
    database.dispose()


def _source(db: Database, spec: SourceSpec = SPEC, *others: SourceSpec) -> int:
    with db.session() as session:
        sync_sources(session, [spec, *others], NOW)
    with db.session() as session:
        source_id = session.scalar(select(SourceRow.id).where(SourceRow.name == spec.name))
        assert source_id is not None
        return source_id


def _fail(db: Database, source_id: int, times: int, *, start: int = 0, **kw: object) -> None:
    outcome = kw.get("outcome", FetchOutcome.HTTP_ERROR)
    assert isinstance(outcome, FetchOutcome)
    for i in range(times):
        with db.session() as session:
            record_failure(
                session, source_id, outcome=outcome, error="HTTP 500", retry_after=None,
                now=NOW + timedelta(minutes=10 * (start + i)), ops=OPS,
            )  # fmt: skip


def _succeed(
    db: Database, source_id: int, *, entries: int | None, result: FetchResult = OK, at: int = 0
) -> None:
    with db.session() as session:
        now = NOW + timedelta(minutes=10 * at)
        record_success(session, source_id, result, now, entries=entries, ops=OPS)


def _ops(db: Database) -> list[tuple[str | None, str, int]]:
    """The ops messages stored so far: (reason, route, count), oldest first."""
    with db.session() as session:
        rows = session.scalars(
            select(RouteMessageRow)
            .where(RouteMessageRow.kind == "ops")
            .order_by(RouteMessageRow.id)
        )
        return [(r.reason, r.route, r.count) for r in rows]


# --- raising -------------------------------------------------------------------------------


def test_n_failures_raise_one_unhealthy_alert_and_more_failures_none(db: Database) -> None:
    """The N-th consecutive failure queues one ops message; N+3 failures still leave one."""
    source_id = _source(db)
    _fail(db, source_id, OPS.unhealthy_after - 1)
    assert _ops(db) == []
    _fail(db, source_id, 1, start=3)
    assert _ops(db) == [("unhealthy", "#ops", 4)]
    _fail(db, source_id, 3, start=4)
    assert _ops(db) == [("unhealthy", "#ops", 4)]
    with db.session() as session:
        row = session.scalars(select(RouteMessageRow)).one()
        assert (row.state, row.outcome, row.detail, row.since) == (
            "pending", "http_error", "HTTP 500", NOW,
        )  # fmt: skip


def test_success_ends_the_streak_and_a_new_streak_raises_again(db: Database) -> None:
    """A success resets the count (with a "recovered" message); N new failures raise again."""
    source_id = _source(db)
    _fail(db, source_id, 5)
    _succeed(db, source_id, entries=2, at=5)
    _fail(db, source_id, 3, start=6)
    assert [r for r, _route, _n in _ops(db)] == ["unhealthy", "recovered"]
    _fail(db, source_id, 1, start=9)
    assert _ops(db) == [
        ("unhealthy", "#ops", 4),
        ("recovered", "#ops", 5),
        ("unhealthy", "#ops", 4),
    ]


def test_a_success_before_n_failures_raises_nothing(db: Database) -> None:
    """Failures that never reach N in a row raise no alert and no "recovered" message."""
    source_id = _source(db)
    for round_ in range(3):
        _fail(db, source_id, 3, start=round_ * 4)
        _succeed(db, source_id, entries=1, at=round_ * 4 + 3)
    assert _ops(db) == []


def test_rate_limits_do_not_count_towards_unhealthy(db: Database) -> None:
    """A 429 with Retry-After is not breakage: any number of them raise nothing."""
    source_id = _source(db)
    _fail(db, source_id, 10, outcome=FetchOutcome.RATE_LIMITED)
    assert _ops(db) == []


def test_k_empty_documents_raise_one_empty_alert(db: Database) -> None:
    """K successful polls in a row with 0 entries queue one "empty" message, more add none."""
    source_id = _source(db)
    for at in range(6):
        _succeed(db, source_id, entries=0, at=at)
    assert _ops(db) == [("empty", "#ops", 3)]
    _succeed(db, source_id, entries=7, at=6)
    assert _ops(db) == [("empty", "#ops", 3), ("refilled", "#ops", 6)]
    with db.session() as session:
        row = session.get_one(SourceRow, source_id)
        assert (row.empty_polls, row.empty_since, row.empty_at) == (0, None, None)


def test_a_304_neither_counts_nor_resets_the_empty_streak(db: Database) -> None:
    """Not-modified polls between empty ones leave the count as it was."""
    source_id = _source(db)
    _succeed(db, source_id, entries=0, at=0)
    _succeed(db, source_id, entries=0, at=1)
    for at in range(2, 6):  # entries=0 on a 304 is what the pipeline passes: ignored
        _succeed(db, source_id, entries=0, result=NOT_MODIFIED, at=at)
    assert _ops(db) == []
    _succeed(db, source_id, entries=0, at=6)
    assert _ops(db) == [("empty", "#ops", 3)]


def test_entries_reset_the_empty_streak_and_unknown_counts_leave_it(db: Database) -> None:
    """A document with entries restarts the count; `entries=None` (not counted) leaves it."""
    source_id = _source(db)
    _succeed(db, source_id, entries=0, at=0)
    _succeed(db, source_id, entries=0, at=1)
    _succeed(db, source_id, entries=None, at=2)
    _succeed(db, source_id, entries=3, at=3)
    _succeed(db, source_id, entries=0, at=4)
    _succeed(db, source_id, entries=0, at=5)
    assert _ops(db) == []
    with db.session() as session:
        assert session.get_one(SourceRow, source_id).empty_polls == 2


def test_the_defaults_keep_the_old_calls_working(db: Database) -> None:
    """Without `entries` and a policy, a poll counts no emptiness and 5 failures alert."""
    source_id = _source(db)
    with db.session() as session:
        for _ in range(4):
            record_success(session, source_id, OK, NOW)
    for i in range(5):
        with db.session() as session:
            record_failure(
                session, source_id, outcome=FetchOutcome.TIMEOUT, error="timed out",
                retry_after=None, now=NOW + timedelta(minutes=i),
            )  # fmt: skip
    assert _ops(db) == [("unhealthy", "#aukus-alerts", 5)]


def test_sources_show_which_ops_alerts_are_raised(db: Database) -> None:
    """`watcher sources` and the health details say which sources are unhealthy or empty."""
    quiet_spec = SourceSpec(name="Quiet Gazette", url="http://127.0.0.1:9/q.xml")
    failing = _source(db, SPEC, quiet_spec)
    empty = _source(db, quiet_spec, SPEC)
    _fail(db, failing, 4)
    for at in range(3):
        _succeed(db, empty, entries=0, at=at)
    with db.session() as session:
        statuses = {s.name: s for s in source_statuses(session, NOW)}
    sick, quiet = statuses["Harbour Post"], statuses["Quiet Gazette"]
    assert (sick.status, sick.ops_alerts, sick.failing_since) == (
        "backing_off",
        ("unhealthy",),
        NOW,
    )
    assert (quiet.status, quiet.ops_alerts, quiet.empty_polls) == ("ok", ("empty",), 3)
    assert source_alerts(db) == {"unhealthy": ["Harbour Post"], "empty": ["Quiet Gazette"]}
    data = source_json(quiet)
    assert data["ops_alerts"] == ["empty"]
    assert (data["empty_polls"], data["empty_since"]) == (3, "2026-11-20T12:00:00Z")


# --- delivery ------------------------------------------------------------------------------


def test_the_dispatcher_posts_an_ops_alert_once_on_the_ops_route(
    db: Database, slack_stub: SlackStub
) -> None:
    """The unhealthy notice goes to the ops route through Slack, once; a rerun sends nothing."""
    seed(db, [article(1, routes=("#a",))])
    source_id = _source(db, SourceSpec(name="Feed <!channel> & Co", url="http://127.0.0.1:9/x"))
    _fail(db, source_id, 6)
    clock = FakeTime(NOW + timedelta(hours=1))
    sender = SlackBotSender("xoxb-test", base_url=slack_stub.base_url, timeout=2)
    report = dispatcher(db, sender, clock).run()
    assert report.errors == []
    (posted,) = slack_stub.posts("#ops")
    assert posted["text"].startswith(":warning: *Feed unhealthy:* *Feed &amp; Co* failed 4 polls")
    assert "<!channel>" not in json.dumps(posted)
    assert "HTTP 500" in posted["text"]
    assert [c for c, _ts, _p in slack_stub.delivered] == ["#a", "#ops"]
    with db.session() as session:
        row = session.scalars(select(RouteMessageRow).where(RouteMessageRow.kind == "ops")).one()
        assert (row.state, row.attempts, row.channel) == ("sent", 1, "#ops")
    dispatcher(db, sender, clock).run()
    assert len(slack_stub.posts("#ops")) == 1


def test_ops_alerts_print_readably_on_the_console(db: Database) -> None:
    """Without Slack the ops notice is printed as plain text with its source and URL."""
    source_id = _source(db)
    for at in range(3):
        _succeed(db, source_id, entries=0, at=at)
    out = io.StringIO()
    dispatcher(db, ConsoleSender(out, color=False, json_lines=False), FakeTime(NOW)).run()
    text = out.getvalue()
    assert "Feed empty:** **Harbour Post** had no entries in 3 polls in a row" in text
    assert "http://127.0.0.1:9/feed.xml" in text
    assert ":warning:" not in text


# --- the message ---------------------------------------------------------------------------

_NOTICE = OpsNotice(
    id=12, route="#ops", reason="unhealthy", source="Example <Wire> & Co",
    url="https://news.example.org/feed.xml", outcome="http_error", error="HTTP 503 <html>",
    count=5, since=NOW - timedelta(hours=2, minutes=30), raised_at=NOW,
)  # fmt: skip


@pytest.mark.parametrize(
    ("reason", "start"),
    [
        ("unhealthy", ":warning: *Feed unhealthy:* *Example &lt;Wire&gt; &amp; Co* failed 5 polls"),
        ("recovered", ":white_check_mark: *Feed recovered:* *Example &lt;Wire&gt; &amp; Co* ans"),
        ("empty", ":warning: *Feed empty:* *Example &lt;Wire&gt; &amp; Co* had no entries in 5"),
        ("refilled", ":white_check_mark: *Feed has entries again:* *Example &lt;Wire&gt; &amp; "),
    ],
)
def test_each_ops_reason_reads_as_intended(reason: str, start: str) -> None:
    """Every reason names the escaped source first and says what happened."""
    payload = build_ops_notice(_replace(reason), now=NOW)
    assert payload.text.startswith(start)
    assert payload.blocks[0]["text"]["text"].startswith(start)
    assert "https://news.example.org/feed.xml" in payload.text


def _replace(reason: str) -> OpsNotice:
    from dataclasses import replace

    return replace(_NOTICE, reason=reason)


# --- migration -----------------------------------------------------------------------------


def _alembic(url: str, revision: str, *, down: bool = False) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = create_db_engine(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)
    engine.dispose()


def test_migration_0003_keeps_sources_and_their_entries_and_goes_back_down(
    database_url: str,
) -> None:
    """Upgrading a 0002 database keeps sources and entries (no cascade); downgrading works."""
    _alembic(database_url, "0002")
    old = create_db_engine(database_url)
    with old.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO sources (id, name, url, kind, enabled, interval_seconds, failures,"
            " created_at) VALUES (1, 'a', 'http://127.0.0.1:9/', 'rss', true, 900, 2,"
            " '2026-01-01 00:00:00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO feed_entries (source_id, key, first_seen_at)"
            " VALUES (1, 'k', '2026-01-01 00:00:00')"
        )
    old.dispose()
    database = open_database(database_url)
    with database.session() as session:
        row = session.get_one(SourceRow, 1)
        assert (row.failures, row.empty_polls, row.unhealthy_at) == (2, 0, None)
    database.dispose()
    _alembic(database_url, "0002", down=True)
    engine = create_db_engine(database_url)
    columns = {c["name"] for c in inspect(engine).get_columns("sources")}
    assert "empty_polls" not in columns
    assert "reason" not in {c["name"] for c in inspect(engine).get_columns("route_messages")}
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM feed_entries").scalar() == 1
    engine.dispose()
