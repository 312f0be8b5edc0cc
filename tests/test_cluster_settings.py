"""The shared queue's settings and small parts, without a cluster (issue 17).

Which scheduler a daemon picks, the cron a tick becomes, what the database
and `watcher health` say about the processes alive; the three-process
behaviour itself is `tests/test_cluster.py`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from croniter import croniter

from watcher.cli.health import _processes
from watcher.config import daemon_settings
from watcher.daemon.app import build_app
from watcher.daemon.cluster import tick_cron, wants_shared_queue
from watcher.errors import ConfigError
from watcher.settings import Config, DaemonSettings
from watcher.store.cluster import mark_polled_by, processes_alive
from watcher.store.db import open_database
from watcher.store.sources import source_statuses, sync_sources


@pytest.mark.parametrize(
    ("seconds", "cron", "gap"),
    [
        (0.5, "* * * * * */1", 1),
        (1, "* * * * * */1", 1),
        (7, "* * * * * */6", 6),
        (30, "* * * * * */30", 30),
        (90, "*/1 * * * *", 60),
        (900, "*/15 * * * *", 900),
        (7200, "0 * * * *", 3600),
    ],
)
def test_tick_cron_fires_at_the_tick_rounded_down_to_a_divisor(
    seconds: float, cron: str, gap: int
) -> None:
    assert tick_cron(seconds) == cron
    start = datetime(2026, 1, 1, tzinfo=UTC)
    it = croniter(cron, start)
    a, b = it.get_next(float), it.get_next(float)
    assert b - a == gap


def test_scheduler_setting_from_the_environment() -> None:
    assert daemon_settings({}).scheduler == "auto"
    assert daemon_settings({"WATCHER_SCHEDULER": "embedded"}).scheduler == "embedded"
    assert daemon_settings({"WATCHER_STALLED_AFTER": "45"}).stalled_after == 45.0
    with pytest.raises(ConfigError, match="WATCHER_SCHEDULER"):
        daemon_settings({"WATCHER_SCHEDULER": "cluster"})


def test_sqlite_keeps_the_embedded_scheduler_and_refuses_a_shared_one(tmp_path: Path) -> None:
    config = Config(database_url=f"sqlite:///{tmp_path / 'w.db'}", rules_dir=tmp_path)
    app = build_app(config)
    try:
        assert wants_shared_queue(DaemonSettings(), app) is False
        assert wants_shared_queue(DaemonSettings(scheduler="embedded"), app) is False
        with pytest.raises(ConfigError, match="PostgreSQL"):
            wants_shared_queue(DaemonSettings(scheduler="shared"), app)
        assert processes_alive(app.db, within=20) is None
    finally:
        app.close()


def test_polled_by_is_recorded_and_listed(database_url: str) -> None:
    from watcher.model import SourceKind, SourceSpec

    db = open_database(database_url)
    now = datetime.now(UTC)
    specs = [
        SourceSpec(name=n, url=f"http://127.0.0.1:9/{n}.xml", kind=SourceKind.RSS) for n in "ab"
    ]
    try:
        with db.session() as session:
            sync_sources(session, specs, now)
        mark_polled_by(db, ["a"], "host-1:4242")
        with db.session() as session:
            by_name = {s.name: s.polled_by for s in source_statuses(session, now)}
        assert by_name == {"a": "host-1:4242", "b": None}
        if database_url.startswith("postgresql"):
            assert processes_alive(db, within=20) == 0  # the queue exists, nobody runs
    finally:
        db.dispose()


def test_health_cli_reads_the_process_count() -> None:
    assert _processes(b'{"status": "ok", "processes_alive": 3}') == 3
    assert _processes(b'{"status": "ok"}') is None
    assert _processes(b"not json") is None
