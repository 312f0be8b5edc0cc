"""No secret reaches the daemon's output: the Slack token and the database password.

The real daemon (`python -m watcher run`) polls a local feed, extracts, alerts
through the Slack stand-in (which only accepts the test's token, so the token
is really used), meets a 429 and a failing source on the way, reloads on
SIGHUP and stops on SIGTERM. Its whole stdout and stderr (JSON log lines and
anything else) must not contain the token or the password, nor must
/healthz and /metrics. The database is the PostgreSQL fixture, reached with
a URL that carries a password (the throwaway server trusts local
connections, so the password is carried everywhere the URL goes but never
checked). Start-up failures, which print the database URL's problem, are
checked the same way.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.httpserver import LocalSite
from tests.support.pg import PostgresServer
from tests.support.slackstub import Reply, SlackStub
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

A1, N1, _C1, A2, _B1 = list(ARTICLES)


def _with_password(url: str, password: str) -> str:
    """`scheme://user@host/...` with `password` added to the user."""
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{password}@{host}"


def _leaks(text: str, *secret_values: str) -> list[str]:
    """Which secrets (or a recognisable half of one) appear in `text`."""
    found = []
    for value in secret_values:
        halves = (value[: len(value) // 2], value[len(value) // 2 :])
        if value in text or any(len(h) >= 12 and h in text for h in halves):
            found.append(value)
    return found


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    url = pg_server.create_database()
    yield url
    pg_server.drop_database(url)


@pytest.mark.postgres
def test_a_daemon_run_never_prints_the_slack_token_or_the_database_password(
    local_site: LocalSite, slack_stub: SlackStub, pg_url: str, tmp_path: Path
) -> None:
    """Polls, alerts (after a 429), a failing source, SIGHUP, SIGTERM: no secret in any output."""
    token = "xoxb-" + secrets.token_hex(20)
    password = "pw-" + secrets.token_hex(16)
    database_url = _with_password(pg_url, password)
    slack_stub.valid_tokens = {token}
    slack_stub.script(Reply.rate_limited(retry_after=1))  # the first post waits and retries

    serve_pages(local_site)
    set_feed(local_site, "/feed.xml", [A1, N1], "v1")
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    write_atomically(rules_dir / "aukus-japan.yaml", RULE_AUKUS_JAPAN)
    listen = f"127.0.0.1:{free_port()}"
    config = tmp_path / "watcher.toml"
    sources = [("Gazette", local_site.url("/feed.xml")), ("Gone", local_site.url("/gone.xml"))]
    write_config(config, rules_dir, listen, sources)
    env = base_env(database_url)
    env.update(SLACK_BOT_TOKEN=token, WATCHER_SLACK_BASE_URL=slack_stub.base_url)

    def sent(path: str) -> bool:
        query = (
            "SELECT a.url FROM alerts al JOIN articles a ON a.id = al.article_id "
            "WHERE al.state = 'sent'"
        )
        return (local_site.url(path),) in rows(pg_url, query)

    daemon = DaemonProcess(config, env, tmp_path)
    try:
        daemon.wait_for("the start (database migrated)", lambda: daemon.named("daemon_started"))
        daemon.wait_for("the first alert", lambda: sent(A1), timeout=30)
        daemon.wait_for("the failing source", lambda: daemon.named("fetch_failed"))
        set_feed(local_site, "/feed.xml", [A1, N1, A2], "v2")
        daemon.wait_for("the second alert", lambda: sent(A2), timeout=30)
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for("the SIGHUP reload", lambda: daemon.named("reload_requested"))
        pages = [http_get(f"http://{listen}/healthz"), http_get(f"http://{listen}/metrics")]
        code, _seconds = daemon.stop(signal.SIGTERM)
        assert code == 0, daemon.tail()
    finally:
        daemon.close()

    # The secrets were really in play: Slack saw the token on every post, and the
    # daemon worked in the database the password-carrying URL names.
    posts = [r for r in slack_stub.requests if r.api_method == "chat.postMessage"]
    assert len(posts) >= 3  # the 429'd attempt, its retry and the second alert
    assert {r.headers.get("authorization") for r in posts} == {f"Bearer {token}"}
    assert any(e.get("event") == "alert_sent" for e in daemon.events())
    output = daemon.log_path.read_text(encoding="utf-8", errors="replace")
    assert len(daemon.events()) >= 10, output[-2000:]
    assert _leaks(output, token, password) == [], "a secret is in the daemon's output"
    for status, body in pages:
        assert status == 200, body[:500]
        assert _leaks(body, token, password) == []


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("postgresql://watcher:{pw}@127.0.0.1:{port}/watcher", "cannot use database"),
        ("postgresql://watcher:{pw}@127.0.0.1:notaport/watcher", "invalid database URL"),
        ("postgresql//watcher:{pw}@127.0.0.1:{port}/watcher", "invalid database URL"),
    ],
    ids=["unreachable", "bad-port", "unparseable"],
)
def test_a_failed_start_names_the_database_problem_without_its_password(
    tmp_path: Path, template: str, problem: str
) -> None:
    """`watcher run` on a bad or unreachable database URL exits 2 saying why, password masked
    (an unreachable server after the start-up wait, whose log lines are checked too)."""
    password = "pw-" + secrets.token_hex(16)
    env = base_env(template.format(pw=password, port=free_port()))  # nothing listens there
    env["WATCHER_DATABASE_WAIT"] = "1"
    env["SLACK_BOT_TOKEN"] = token = "xoxb-" + secrets.token_hex(20)
    config = tmp_path / "watcher.toml"
    write_config(config, tmp_path, f"127.0.0.1:{free_port()}", [])
    proc = subprocess.run(
        [sys.executable, "-m", "watcher", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert problem in output, output
    assert "Traceback" not in output, output
    assert _leaks(output, token, password) == [], output
