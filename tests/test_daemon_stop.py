"""A stuck source: its own deadline records it as failing, the others are polled and
committed; SIGTERM mid-cycle exits 0."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.support.httpserver import LocalSite
from tests.test_daemon_helpers import (
    ARTICLES,
    RULE_AUKUS_JAPAN,
    DaemonProcess,
    base_env,
    free_port,
    rows,
    serve_pages,
    set_feed,
    write_atomically,
)

A1, _N1, _C1, A2, _B1 = list(ARTICLES)


def test_stuck_source_is_cut_at_the_cycle_deadline_and_sigterm_mid_cycle_exits_0(
    local_site: LocalSite, tmp_path: Path
) -> None:
    """A hanging feed never stops the other source's alerts and is itself recorded as failing
    (`timeout`, with its stage; counted, so the unhealthy notice comes); SIGTERM mid-cycle
    exits 0 in 10 s."""
    serve_pages(local_site)
    set_feed(local_site, "/feed.xml", [A1], "v1")
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    write_atomically(rules_dir / "aukus-japan.yaml", RULE_AUKUS_JAPAN)
    config = tmp_path / "watcher.toml"
    write_atomically(
        config,
        "[fetch]\nallow_private_addresses = true\nretries = 0\ntotal_timeout = 60.0\n\n"
        f'[rules]\ndir = "{rules_dir}"\n\n[web]\nlisten = "127.0.0.1:{free_port()}"\n\n'
        f'[[sources]]\nname = "Stuck"\nurl = "{local_site.url("/_/hang?seconds=60")}"\n'
        'interval = "1s"\n\n[alerts]\nunhealthy_after = 1\n\n'
        f'[[sources]]\nname = "Fast"\nurl = "{local_site.url("/feed.xml")}"\ninterval = "1s"\n',
    )
    database_url = f"sqlite:///{tmp_path / 'watcher.db'}"
    env = base_env(database_url)
    env["WATCHER_CYCLE_TIMEOUT"] = "2"

    def alerted(path: str) -> bool:
        sent = rows(
            database_url,
            "SELECT a.url FROM alerts al JOIN articles a "
            "ON a.id = al.article_id WHERE al.state = 'sent'",
        )
        return (local_site.url(path),) in sent

    daemon = DaemonProcess(config, env, tmp_path)
    try:
        daemon.wait_for("the start (database migrated)", lambda: daemon.named("daemon_started"))
        daemon.wait_for("the fast source's alert", lambda: alerted(A1))
        daemon.wait_for("the cycle deadline", lambda: daemon.named("cycle_timeout"))
        set_feed(local_site, "/feed.xml", [A1, A2], "v2")
        daemon.wait_for("a later alert despite the stuck source", lambda: alerted(A2))
        assert daemon.proc.poll() is None
        code, seconds = daemon.stop(signal.SIGTERM)
        assert code == 0, daemon.tail()
        assert seconds < 10
    finally:
        daemon.close()
    [(etag, outcome, error, failures, unhealthy)] = rows(
        database_url,
        "SELECT etag, last_outcome, last_error, failures, unhealthy_at FROM sources "
        "WHERE name = 'Stuck'",
    )
    assert etag is None  # nothing of the cut polls was committed
    assert outcome == "timeout"
    assert "while fetching the source document" in error
    assert failures >= 1
    assert unhealthy is not None  # it counted towards the "feed unhealthy" notice
    notices = rows(database_url, "SELECT reason, outcome FROM route_messages WHERE kind = 'ops'")
    assert ("unhealthy", "timeout") in notices
    # The stuck source is named; the fast one only ever while the workers start (a slow CI).
    assert any(e["sources"] == ["Stuck"] for e in daemon.named("cycle_timeout"))
