"""The real daemon reports itself unhealthy (503 with a reason) and keeps running, then recovers."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.httpserver import LocalSite
from tests.support.pg import PostgresServer
from tests.support.slackstub import SlackStub
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

A1 = next(iter(ARTICLES))


def _setup(tmp_path: Path, site: LocalSite | None) -> tuple[Path, str]:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    write_atomically(rules_dir / "aukus-japan.yaml", RULE_AUKUS_JAPAN)
    listen = f"127.0.0.1:{free_port()}"
    sources = []
    if site is not None:
        serve_pages(site)
        set_feed(site, "/feed.xml", [A1], "v1")
        sources.append(("Gazette", site.url("/feed.xml")))
    config = tmp_path / "watcher.toml"
    write_config(config, rules_dir, listen, sources)
    return config, listen


def _health(listen: str) -> tuple[int, dict[str, object]]:
    status, body = http_get(f"http://{listen}/healthz")
    return status, json.loads(body)


def test_invalid_auth_makes_healthz_503_keeps_alerts_and_sighup_resumes(
    local_site: LocalSite, slack_stub: SlackStub, tmp_path: Path
) -> None:
    """invalid_auth: 503, `watcher health` exits 1; after the fix SIGHUP sends the kept alert."""
    database_url = f"sqlite:///{tmp_path / 'watcher.db'}"
    config, listen = _setup(tmp_path, local_site)
    slack_stub.valid_tokens = {"xoxb-good"}
    env = base_env(database_url)
    env.update(SLACK_BOT_TOKEN="xoxb-revoked", WATCHER_SLACK_BASE_URL=slack_stub.base_url)
    daemon = DaemonProcess(config, env, tmp_path)
    try:
        daemon.wait_for("the auth stop", lambda: daemon.named("alert_delivery_stopped"))
        status, body = _health(listen)
        assert status == 503
        assert body["status"] == "unhealthy"
        assert "invalid_auth" in str(body["reason"])
        probe = subprocess.run(
            [sys.executable, "-m", "watcher", "health"],
            env={**env, "WATCHER_LISTEN": listen},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            cwd=tmp_path,
        )
        assert probe.returncode == 1
        assert "invalid_auth" in probe.stderr
        _status, metrics = http_get(f"http://{listen}/metrics")
        assert "watcher_delivery_stopped 1.0" in metrics.splitlines()
        assert 'watcher_delivery_errors_total{code="invalid_auth"}' in metrics
        assert rows(database_url, "SELECT state FROM alerts") == [("pending",)]

        slack_stub.valid_tokens = {"xoxb-good", "xoxb-revoked"}  # the operator fixed the app
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for("the resumed delivery", lambda: slack_stub.delivered)
        daemon.wait_for("healthy again", lambda: _health(listen)[0] == 200)

        code, seconds = daemon.stop(signal.SIGINT)
        assert code == 0, daemon.tail()
        assert seconds < 10
    finally:
        daemon.close()
    assert rows(database_url, "SELECT state FROM alerts") == [("sent",)]
    assert len(slack_stub.delivered) == 1


@pytest.mark.postgres
def test_lost_database_makes_healthz_503_and_sigterm_still_exits_0(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    """With its database gone the daemon answers 503 naming it, keeps running, and exits 0."""
    database_url = pg_server.create_database()
    config, listen = _setup(tmp_path, None)
    daemon = DaemonProcess(config, base_env(database_url), tmp_path)
    try:
        daemon.wait_for(
            "healthy", lambda: daemon.named("daemon_started") and _health(listen)[0] == 200
        )
        pg_server.drop_database(database_url)  # closes the daemon's connections too
        status, body = _health(listen)
        assert status == 503
        assert str(body["reason"]).startswith("database: ")
        assert daemon.proc.poll() is None
        code, seconds = daemon.stop(signal.SIGTERM)
        assert code == 0, daemon.tail()
        assert seconds < 10
    finally:
        daemon.close()
