"""Secrets are redacted everywhere (issue 13, item 4), by one function: `redact_secrets`.

Its cases, then every place output leaves the program: structlog and stdlib
log lines, the Slack ops notice, metric labels, the CLI's errors and
`watcher sources --json`, and a real daemon's whole log while it polls a
source whose URL carries a user-info password and an `api_key`.
"""

from __future__ import annotations

import io
import json
import logging
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from slack_sdk.models.blocks import Block

from tests.support.httpserver import LocalSite
from tests.test_daemon_helpers import (
    RULE_AUKUS_JAPAN,
    DaemonProcess,
    base_env,
    free_port,
    http_get,
    write_atomically,
    write_config,
)
from watcher.alerts.blocks import build_ops_notice
from watcher.log import configure, redact_secrets
from watcher.metrics import Metrics, record_cycle
from watcher.model import OpsNotice

SECRETS = ("pa55word", "SECRETKEY123", "xoxb-1111-2222-abcdef", "hunter2")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:pa55word@example.com/f", "https://user:***@example.com/f"),
        ("https://tok3n@github.com/x", "https://***@github.com/x"),
        ("https://e.com/f?api_key=SECRETKEY123&page=2", "https://e.com/f?api_key=***&page=2"),
        ("https://e.com/f?apikey=a&access_token=b", "https://e.com/f?apikey=***&access_token=***"),
        ("https://s3/x?X-Amz-Signature=ab&X-Amz-Credential=cd", "https://s3/x?X-Amz-Signature=***&X-Amz-Credential=***"),
        ("https://e.com/?sig=1&design=2", "https://e.com/?sig=***&design=2"),
        ("https://e.com/?client_secret=1&password=2", "https://e.com/?client_secret=***&password=***"),
        ("postgresql://watcher:hunter2@db:5432/w", "postgresql://watcher:***@db:5432/w"),
        ("token xoxb-1111-2222-abcdef here", "token *** here"),
        ("app xapp-1-A0-123-abc, user xoxp-9-8", "app ***, user ***"),
        ("https://hooks.slack.com/services/T0/B0/XYZ", "https://hooks.slack.com/services/***"),
        ("https://example.com/a@b?page=1", "https://example.com/a@b?page=1"),
        ("nothing secret = here", "nothing secret = here"),
    ],
)  # fmt: skip
def test_redact_secrets(text: str, expected: str) -> None:
    assert redact_secrets(text) == expected


def test_structlog_lines_and_tracebacks_are_redacted() -> None:
    stream = io.StringIO()
    configure(json=True, stream=stream)
    log = structlog.get_logger("test")
    try:
        raise ValueError("cannot reach https://u:pa55word@e.com/?api_key=SECRETKEY123")
    except ValueError:
        log.exception(
            "boom", url="https://u:pa55word@e.com/", nested={"t": ["xoxb-1111-2222-abcdef"]}
        )
    configure(json=True, stream=sys.stdout)
    out = stream.getvalue()
    assert "boom" in out
    assert "***" in out
    assert not [s for s in SECRETS if s in out], out


def test_stdlib_log_records_are_redacted() -> None:
    stream = io.StringIO()
    configure(json=True, stream=stream)
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    for existing in root.handlers:
        for f in existing.filters:
            handler.addFilter(f)
    root.addHandler(handler)
    try:
        logging.getLogger("aiohttp.client").warning(
            "GET %s failed", "http://u:hunter2@h/?token=SECRETKEY123"
        )
    finally:
        root.removeHandler(handler)
    out = stream.getvalue()
    assert "GET http://u:***@h/?token=***" in out
    assert not [s for s in SECRETS if s in out]


def test_the_slack_ops_notice_never_shows_a_credential() -> None:
    notice = OpsNotice(
        id=1,
        route="#ops",
        reason="unhealthy",
        source="Feed",
        url="https://user:pa55word@e.com/feed?api_key=SECRETKEY123",
        outcome="http_error",
        error="HTTP 401 for https://user:pa55word@e.com/feed?api_key=SECRETKEY123",
        count=5,
        since=datetime(2026, 1, 1, tzinfo=UTC),
        raised_at=datetime(2026, 1, 2, tzinfo=UTC),
    )
    payload = build_ops_notice(notice, now=datetime(2026, 1, 2, tzinfo=UTC))
    text = json.dumps(payload.blocks) + payload.text
    assert "e.com/feed?api_key=***" in text
    assert not [s for s in SECRETS if s in text]
    for block in payload.blocks:
        Block.parse(block).validate_json()


def test_metric_labels_are_redacted() -> None:
    metrics = Metrics()
    record_cycle("https://u:pa55word@x/", None, metrics)
    from prometheus_client import generate_latest

    exposed = generate_latest(metrics.registry).decode()
    assert "u:***@x" in exposed
    assert "pa55word" not in exposed


def test_the_database_password_never_reaches_the_cli_error(tmp_path: Path) -> None:
    for url in ("postgresql://u:hunter2@host:notaport/db", "mysql://u:hunter2@h/db"):
        proc = subprocess.run(
            [sys.executable, "-m", "watcher", "db", "upgrade"],
            check=False,
            env=base_env(url),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "hunter2" not in proc.stderr + proc.stdout
        assert "u:***@" in proc.stderr


def test_a_real_daemon_never_logs_or_prints_a_source_credential(
    local_site: LocalSite, tmp_path: Path
) -> None:
    """Polls a failing source whose URL has a password and an api_key; the whole log, the
    console ops notice, /metrics and `watcher sources --json` hold neither."""
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    write_atomically(rules_dir / "r.yaml", RULE_AUKUS_JAPAN)
    listen = f"127.0.0.1:{free_port()}"
    secret_url = local_site.base_url.replace("http://", "http://user:pa55word@") + (
        "/missing.xml?api_key=SECRETKEY123"
    )
    config = tmp_path / "watcher.toml"
    write_config(config, rules_dir, listen, [("Secret", secret_url)])
    alerts = '[alerts]\ndefault_route = ["#daemon-test"]\n'
    write_atomically(config, config.read_text().replace(alerts, alerts + "unhealthy_after = 1\n"))
    database_url = f"sqlite:///{tmp_path / 'watcher.db'}"
    env = base_env(database_url)
    env["SLACK_BOT_TOKEN"] = ""
    daemon = DaemonProcess(config, env, tmp_path)
    try:
        daemon.wait_for("a failed poll", lambda: daemon.named("fetch_failed"), timeout=30)
        daemon.wait_for("the ops notice", lambda: "failed 1 poll" in daemon.log_path.read_text())
        _, metrics = http_get(f"http://{listen}/metrics")
        code, _ = daemon.stop(signal.SIGTERM)
    finally:
        daemon.close()
    assert code == 0
    assert local_site.hits("/missing.xml") >= 1  # the URL was really used
    log_text = daemon.log_path.read_text()
    assert "user:***@" in log_text
    assert "api_key=***" in log_text
    cli = subprocess.run(
        [sys.executable, "-m", "watcher", "sources", "--json", "--config", str(config)],
        check=False,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    [source] = json.loads(cli.stdout)
    assert source["url"].endswith("/missing.xml?api_key=***")
    everything = log_text + metrics + cli.stdout + cli.stderr
    assert not [s for s in SECRETS if s in everything]
