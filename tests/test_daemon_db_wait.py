"""The daemon waits for a PostgreSQL server that starts after it (compose, reboots).

Real parts: `python -m watcher run` against a real PostgreSQL server from the
test fixtures' binaries, started only once the daemon has been refused a few
times. While waiting, the daemon logs each refusal and `/healthz` answers 503
with the reason; once the server is up it migrates, starts, alerts, and
answers 200. A wait that runs out exits 2 as before; SIGTERM while waiting
exits 0 at once.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.support.httpserver import LocalSite
from tests.support.pg import SUPERUSER, find_bindir, require_bindir, start_server
from tests.test_daemon_helpers import (
    ARTICLES,
    RULE_AUKUS_JAPAN,
    DaemonProcess,
    base_env,
    free_port,
    http_get,
    rows,
    serve_pages,
    set_feed,
    write_atomically,
    write_config,
)
from watcher.config import daemon_settings
from watcher.daemon.startup import backoff_delays
from watcher.errors import ConfigError

pytestmark = pytest.mark.postgres

A1 = next(iter(ARTICLES))


def _setup(tmp_path: Path, site: LocalSite) -> tuple[Path, str]:
    serve_pages(site)
    set_feed(site, "/feed.xml", [A1], "v1")
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    write_atomically(rules_dir / "aukus-japan.yaml", RULE_AUKUS_JAPAN)
    listen = f"127.0.0.1:{free_port()}"
    config = tmp_path / "watcher.toml"
    write_config(config, rules_dir, listen, [("Gazette", site.url("/feed.xml"))])
    return config, listen


def test_daemon_waits_for_a_postgres_started_late_then_runs(
    local_site: LocalSite, tmp_path: Path
) -> None:
    """Refused at start: logs each retry, /healthz 503 'waiting'; PostgreSQL comes up: it
    migrates, polls, alerts and /healthz answers 200, without a restart."""
    bindir = require_bindir(find_bindir())
    config, listen = _setup(tmp_path, local_site)
    port = free_port()  # nothing listens there yet
    url = f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/postgres"
    env = base_env(url)
    env["WATCHER_DATABASE_WAIT"] = "120"
    daemon = DaemonProcess(config, env, tmp_path)
    server = None
    try:
        daemon.wait_for(
            "two refused attempts", lambda: len(daemon.named("database_unavailable")) >= 2
        )
        status, body = daemon.wait_for(
            "/healthz while waiting", lambda: _get(f"http://{listen}/healthz")
        )
        assert status == 503
        health = json.loads(body)
        assert health["waiting_for_database"] is True
        assert "waiting for the database" in health["reason"]
        assert "Connection refused" in health["reason"] or "connect" in health["reason"]
        first = daemon.named("database_unavailable")[0]
        assert first["attempt"] == 1
        assert first["retry_in"] == 0.5
        assert first["wait_limit"] == 120
        assert daemon.proc.poll() is None

        server = start_server(bindir, port=port)
        started = time.monotonic()
        ready = daemon.wait_for("database_ready", lambda: daemon.named("database_ready"), 30)
        # Backoff is capped at 10 s between attempts (plus one attempt's duration).
        assert time.monotonic() - started < 15
        assert ready[0]["attempts"] >= 3
        daemon.wait_for("daemon_started", lambda: daemon.named("daemon_started"))
        daemon.wait_for(
            "the alert",
            lambda: rows(url, "SELECT state FROM alerts WHERE state = 'sent'"),
            timeout=30,
        )
        status, body = daemon.wait_for(
            "/healthz 200", lambda: (r := _get(f"http://{listen}/healthz")) and r[0] == 200 and r
        )
        assert json.loads(body)["status"] == "ok"
        assert rows(url, "SELECT count(*) FROM hits")[0][0] >= 1
        code, seconds = daemon.stop(signal.SIGTERM)
        assert code == 0, daemon.tail()
        assert seconds < 10
    finally:
        daemon.close()
        if server is not None:
            server.stop()


def test_daemon_gives_up_after_the_wait_with_exit_2(local_site: LocalSite, tmp_path: Path) -> None:
    """With WATCHER_DATABASE_WAIT=2 and no server, it retries for ~2 s, then exits 2."""
    config, _listen = _setup(tmp_path, local_site)
    env = base_env(f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{free_port()}/postgres")
    env["WATCHER_DATABASE_WAIT"] = "2"
    daemon = DaemonProcess(config, env, tmp_path)
    started = time.monotonic()
    try:
        code = daemon.proc.wait(30)
    finally:
        daemon.close()
    assert code == 2, daemon.tail()
    assert 2 <= time.monotonic() - started < 20
    assert len(daemon.named("database_unavailable")) >= 2
    assert daemon.named("database_wait_exhausted")
    assert "cannot use database" in daemon.tail()


def test_sigterm_while_waiting_exits_0_at_once(local_site: LocalSite, tmp_path: Path) -> None:
    """SIGTERM during the wait ends it: exit 0 within a second or two."""
    config, listen = _setup(tmp_path, local_site)
    env = base_env(f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{free_port()}/postgres")
    daemon = DaemonProcess(config, env, tmp_path)
    try:
        daemon.wait_for("a refused attempt", lambda: daemon.named("database_unavailable"))
        daemon.wait_for("/healthz while waiting", lambda: _get(f"http://{listen}/healthz"))
        code, seconds = daemon.stop(signal.SIGTERM)
    finally:
        daemon.close()
    assert code == 0, daemon.tail()
    assert seconds < 3


def test_database_wait_setting_and_backoff() -> None:
    """WATCHER_DATABASE_WAIT: default 120 s, 0 allowed (no retry), negatives, NaN, inf and
    more than the longest duration refused, as for the ticks; the pauses double from 0.5 s
    and stop growing at 10 s."""
    assert daemon_settings({}).database_wait == 120
    assert daemon_settings({"WATCHER_DATABASE_WAIT": "0"}).database_wait == 0
    assert daemon_settings({"WATCHER_DATABASE_WAIT": "5m"}).database_wait == 300
    with pytest.raises(ConfigError, match="WATCHER_DATABASE_WAIT"):
        daemon_settings({"WATCHER_DATABASE_WAIT": "-1"})
    for bad in ("nan", "inf", "1e12"):
        with pytest.raises(ConfigError, match="WATCHER_DATABASE_WAIT"):
            daemon_settings({"WATCHER_DATABASE_WAIT": bad})
    delay = backoff_delays()
    assert [delay() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def _get(url: str) -> tuple[int, str] | None:
    try:
        return http_get(url, timeout=2)
    except OSError:
        return None
