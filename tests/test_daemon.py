"""The real daemon (`watcher run`) as a subprocess: alerts, hot reloads, signals, web endpoints."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.httpserver import LocalSite
from tests.support.slackstub import SlackStub
from tests.test_daemon_helpers import (
    ARTICLES,
    RULE_AUKUS_JAPAN,
    RULE_BROKEN,
    RULE_CLEARANCE,
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

A1, N1, C1, A2, B1 = list(ARTICLES)  # aukus, neither, clearance, aukus, aukus (2nd feed)


def _posted_urls(stub: SlackStub) -> list[str]:
    """Article URLs of every message Slack accepted (links appear in the text fallback)."""
    found = []
    for _channel, _ts, params in stub.delivered:
        found.extend(re.findall(r"http://127\.0\.0\.1:\d+(/[ab]/[\w-]+\.html)", params["text"]))
    return found


@dataclass
class Run:
    """One daemon run and the servers around it."""

    daemon: DaemonProcess
    site: LocalSite
    stub: SlackStub
    rules_dir: Path
    config: Path
    listen: str
    env: dict[str, str]

    def posted(self, path: str) -> bool:
        return path in _posted_urls(self.stub)


def _rule_reloads(run: Run) -> None:
    """A new valid rule applies to later articles; an invalid one is rejected, old rules run on."""
    daemon, site = run.daemon, run.site
    write_atomically(run.rules_dir / "clearance.yaml", RULE_CLEARANCE)
    daemon.wait_for(
        "the new rule",
        lambda: any(e["added"] == ["clearance"] for e in daemon.named("rules_reloaded")),
    )
    set_feed(site, "/feed.xml", [A1, N1, C1], "v2")
    daemon.wait_for("the new rule's alert", lambda: run.posted(C1))

    write_atomically(run.rules_dir / "broken.yaml", RULE_BROKEN)
    rejected = daemon.wait_for("the rejection", lambda: daemon.named("rules_rejected"))
    assert re.search(r"broken\.yaml:\d+:\d+: ", rejected[0]["problem"]), rejected[0]
    set_feed(site, "/feed.xml", [A1, N1, C1, A2], "v3")
    daemon.wait_for("an alert under the old rules", lambda: run.posted(A2))


def _config_reloads(run: Run) -> None:
    """A new source in the config is polled at the next tick; an invalid config is rejected."""
    daemon, site = run.daemon, run.site
    set_feed(site, "/feed2.xml", [B1], "w1")
    sources = [("Gazette", site.url("/feed.xml")), ("Second", site.url("/feed2.xml"))]
    write_config(run.config, run.rules_dir, run.listen, sources)
    daemon.wait_for(
        "the config reload",
        lambda: any(e["sources_added"] == ["Second"] for e in daemon.named("config_reloaded")),
    )
    daemon.wait_for("the new source's alert", lambda: run.posted(B1))
    broken = run.config.read_text(encoding="utf-8").replace('"1s"', '"soon"', 1)
    write_atomically(run.config, broken)
    rejected = daemon.wait_for("the config rejection", lambda: daemon.named("config_rejected"))
    assert "interval" in rejected[0]["error"], rejected[0]


def _sighup_reloads_both(run: Run) -> None:
    """SIGHUP re-reads rules and config at once (both still invalid: both rejected again)."""
    daemon = run.daemon
    rules_before = len(daemon.named("rules_rejected"))
    config_before = len(daemon.named("config_rejected"))
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for(
        "the SIGHUP reload",
        lambda: (
            len(daemon.named("rules_rejected")) > rules_before
            and len(daemon.named("config_rejected")) > config_before
        ),
    )


def _web_endpoints(run: Run) -> None:
    """/healthz is 200 ok, /metrics has the pipeline's numbers, `watcher health` exits 0."""
    status, body = http_get(f"http://{run.listen}/healthz")
    assert status == 200, body
    health = json.loads(body)
    assert (health["status"], health["rules"], health["sources"]) == ("ok", 2, 2)
    status, metrics = http_get(f"http://{run.listen}/metrics")
    assert status == 200
    lines = metrics.splitlines()
    assert 'watcher_hits_total{rule="aukus-japan"} 3.0' in lines
    assert 'watcher_hits_total{rule="clearance"} 1.0' in lines
    assert 'watcher_alerts{state="sent"} 4.0' in lines
    assert 'watcher_reloads_total{result="rejected",what="rules"}' in metrics
    assert 'watcher_fetches_total{outcome="ok"}' in metrics
    assert 'watcher_article_seconds_count{extraction="ok"}' in metrics
    assert "watcher_database_up 1.0" in lines
    assert "watcher_last_successful_cycle_timestamp_seconds " in metrics
    probe = subprocess.run(
        [sys.executable, "-m", "watcher", "health"],
        env=run.env,  # listen comes from ./watcher.toml, which is invalid now: read leniently
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=run.config.parent,
    )
    assert probe.returncode == 0, probe.stderr


def _nothing_lost(database_url: str, run: Run) -> None:
    """Every matching article has its hit and a sent alert, posted exactly once."""
    hits = sorted(
        rows(
            database_url,
            "SELECT a.url, h.rule_id FROM hits h JOIN articles a ON a.id = h.article_id",
        )
    )
    expected = [(A1, "aukus-japan"), (C1, "clearance"), (A2, "aukus-japan"), (B1, "aukus-japan")]
    assert hits == sorted((run.site.url(path), rule) for path, rule in expected)
    alerts = rows(
        database_url,
        "SELECT a.url, al.state FROM alerts al JOIN articles a ON a.id = al.article_id",
    )
    assert sorted(alerts) == sorted((url, "sent") for url, _rule in hits)
    assert sorted(_posted_urls(run.stub)) == sorted([A1, C1, A2, B1])
    stored = {url for (url,) in rows(database_url, "SELECT url FROM articles")}
    assert run.site.url(N1) in stored  # seen, stored, no hit


def test_daemon_hot_reloads_serves_health_and_metrics_and_stops_cleanly(
    local_site: LocalSite, slack_stub: SlackStub, database_url: str, tmp_path: Path
) -> None:
    """Live rule/config edits apply, invalid ones are rejected; SIGTERM exits 0, nothing lost."""
    serve_pages(local_site)
    set_feed(local_site, "/feed.xml", [A1, N1], "v1")
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    write_atomically(rules_dir / "aukus-japan.yaml", RULE_AUKUS_JAPAN)
    listen = f"127.0.0.1:{free_port()}"
    config = tmp_path / "watcher.toml"
    write_config(config, rules_dir, listen, [("Gazette", local_site.url("/feed.xml"))])
    env = base_env(database_url)
    env.update(SLACK_BOT_TOKEN="xoxb-test", WATCHER_SLACK_BASE_URL=slack_stub.base_url)
    daemon = DaemonProcess(config, env, tmp_path)
    run = Run(daemon, local_site, slack_stub, rules_dir, config, listen, env)
    try:
        daemon.wait_for("the first alert", lambda: run.posted(A1))
        _rule_reloads(run)
        _config_reloads(run)
        _sighup_reloads_both(run)
        _web_endpoints(run)
        code, seconds = daemon.stop(signal.SIGTERM)
        assert code == 0, daemon.tail()
        assert seconds < 10
        assert daemon.named("daemon_stopped")
    finally:
        daemon.close()
    _nothing_lost(database_url, run)
