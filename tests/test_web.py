"""The daemon's web server: /healthz and /metrics served by aiohttp on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy.orm import sessionmaker

from watcher.daemon.health import HealthReport, assess, database_error_async
from watcher.daemon.scrape import attach_database
from watcher.daemon.web import create_web_app, start_web
from watcher.errors import ConfigError
from watcher.metrics import Metrics, record_cycle, record_delivery, record_fetch, record_stored
from watcher.model import FetchOutcome, FetchResult
from watcher.store.db import Database, create_db_engine, open_database
from watcher.store.models import AlertRow, ArticleRow, SourceRow, StoryRow

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _refusing_database() -> Database:
    """A PostgreSQL URL on a 127.0.0.1 port where nothing listens."""
    url = f"postgresql+psycopg://watcher@127.0.0.1:{_free_port()}/none"
    engine = create_db_engine(url)
    return Database(engine, sessionmaker(engine, expire_on_commit=False))


def _health_of(
    db: Database, delivery_error: str | None = None
) -> Callable[[], Awaitable[HealthReport]]:
    async def health() -> HealthReport:
        return assess(
            scheduler_running=True,
            database_error=await database_error_async(db, timeout=5.0),
            delivery_error=delivery_error,
        )

    return health


async def _get(
    health: Callable[[], Awaitable[HealthReport]], metrics: Metrics, path: str
) -> tuple[int, str, str]:
    """Serve the app on a free 127.0.0.1 port, GET `path`, stop; (status, content type, body)."""
    listen = f"127.0.0.1:{_free_port()}"
    runner = await start_web(create_web_app(health, metrics), listen)
    try:
        async with (
            aiohttp.ClientSession() as client,
            client.get(f"http://{listen}{path}") as resp,
        ):
            return resp.status, resp.headers["Content-Type"], await resp.text()
    finally:
        await runner.cleanup()


def _seed(db: Database) -> None:
    """One source (due), one story, one article and three alerts in different states."""
    with db.session() as s:
        source = SourceRow(
            name="s",
            url="http://127.0.0.1/feed",
            kind="rss",
            created_at=NOW,
            failures=0,
            next_poll_at=NOW - timedelta(minutes=1),
        )
        story = StoryRow(title="t", created_at=NOW)
        s.add_all([source, story])
        s.flush()
        article = ArticleRow(
            source_id=source.id,
            url="http://127.0.0.1/a",
            canonical_url="http://127.0.0.1/a",
            title="t",
            summary="",
            text="x",
            first_seen_at=NOW,
            extraction_status="ok",
            content_hash="h",
            story_id=story.id,
        )
        s.add(article)
        s.flush()
        for route, state in (("#a", "pending"), ("#b", "sent"), ("#c", "dead")):
            s.add(
                AlertRow(
                    article_id=article.id,
                    story_id=story.id,
                    route=route,
                    kind="alert",
                    state=state,
                    attempts=0,
                    created_at=NOW,
                )
            )


def test_healthz_is_200_json_when_healthy(database_url: str) -> None:
    """With a working database and delivery, /healthz answers 200 `{"status": "ok"}`."""
    db = open_database(database_url)
    try:
        status, ctype, body = asyncio.run(_get(_health_of(db), Metrics(), "/healthz"))
    finally:
        db.dispose()
    assert status == 200
    assert ctype.startswith("application/json")
    assert json.loads(body)["status"] == "ok"


def test_healthz_is_503_with_a_reason_when_the_database_is_unreachable() -> None:
    """An unreachable database makes /healthz answer 503 with a JSON reason naming it."""
    db = _refusing_database()
    try:
        status, _ctype, body = asyncio.run(_get(_health_of(db), Metrics(), "/healthz"))
    finally:
        db.dispose()
    data = json.loads(body)
    assert status == 503
    assert data["status"] == "unhealthy"
    assert data["reason"].startswith("database: ")


def test_healthz_is_503_when_delivery_is_stopped_by_an_auth_error(tmp_path: Any) -> None:
    """An auth stop of alert delivery makes /healthz answer 503 naming the Slack error."""
    db = open_database(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        status, _ctype, body = asyncio.run(
            _get(_health_of(db, "invalid_auth"), Metrics(), "/healthz")
        )
    finally:
        db.dispose()
    assert status == 503
    assert json.loads(body)["reason"] == "alert delivery stopped: invalid_auth"


def test_metrics_serves_recorded_values_and_stored_state(database_url: str) -> None:
    """/metrics is Prometheus text with the recorded counters and gauges read from the database."""
    metrics = Metrics()
    db = open_database(database_url)
    try:
        _seed(db)
        attach_database(metrics, db)
        record_fetch(FetchResult("u", FetchOutcome.OK, elapsed=0.2), metrics)
        record_fetch(FetchResult("u", FetchOutcome.NOT_MODIFIED, elapsed=0.01), metrics)
        record_fetch(FetchResult("u", FetchOutcome.NOT_MODIFIED, elapsed=0.01), metrics)
        record_stored(2, ["aukus-japan", "aukus-japan", "clearance"], metrics)
        record_delivery("retry", "ratelimited", metrics)
        record_delivery("sent", None, metrics)
        record_cycle("ok", 1.5, metrics)
        status, ctype, body = asyncio.run(_get(_health_of(db), metrics, "/metrics"))
    finally:
        db.dispose()
    assert status == 200
    assert ctype.startswith("text/plain")
    lines = set(body.splitlines())
    for line in (
        'watcher_fetches_total{outcome="ok"} 1.0',
        'watcher_fetches_total{outcome="not_modified"} 2.0',
        "watcher_fetch_seconds_count 3.0",
        "watcher_articles_stored_total 2.0",
        'watcher_hits_total{rule="aukus-japan"} 2.0',
        'watcher_hits_total{rule="clearance"} 1.0',
        'watcher_deliveries_total{outcome="sent"} 1.0',
        'watcher_delivery_errors_total{code="ratelimited"} 1.0',
        'watcher_cycles_total{result="ok"} 1.0',
        "watcher_database_up 1.0",
        'watcher_alerts{state="pending"} 1.0',
        'watcher_alerts{state="sent"} 1.0',
        'watcher_alerts{state="dead"} 1.0',
        'watcher_alerts{state="failed"} 0.0',
        "watcher_sources_due 1.0",
    ):
        assert line in lines, line
    last = [ln for ln in lines if ln.startswith("watcher_last_successful_cycle_timestamp_seconds ")]
    assert float(last[0].split()[1]) > NOW.timestamp() - 10 * 365 * 86400


def test_metrics_reports_an_unreachable_database_as_down() -> None:
    """When the database is unreachable /metrics still answers, with `watcher_database_up 0`."""
    metrics = Metrics()
    db = _refusing_database()
    try:
        attach_database(metrics, db)
        status, _ctype, body = asyncio.run(_get(_health_of(db), metrics, "/metrics"))
    finally:
        db.dispose()
    assert status == 200
    assert "watcher_database_up 0.0" in body.splitlines()
    assert "watcher_alerts{" not in body


def test_start_web_refuses_a_port_in_use_with_a_clear_error() -> None:
    """Listening on a port another socket holds is a ConfigError naming web.listen."""

    async def scenario() -> None:
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            port = holder.getsockname()[1]
            app = create_web_app(_health_of(_refusing_database()), Metrics())
            with pytest.raises(ConfigError, match=r"web\.listen 127\.0\.0\.1:\d+: .*in use"):
                await start_web(app, f"127.0.0.1:{port}")

    asyncio.run(scenario())
