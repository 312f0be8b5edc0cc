"""One daemon per SQLite database (issue 13, item 8).

A second `watcher run` on the file a running daemon uses refuses with one
line naming the holder and exits 2; once the first daemon is gone (even
SIGKILLed, leaving its lock file behind) a new one starts.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.support.httpserver import LocalSite
from tests.test_daemon_helpers import (
    RULE_AUKUS_JAPAN,
    DaemonProcess,
    base_env,
    free_port,
    write_atomically,
    write_config,
)


def _config(tmp_path: Path, site: LocalSite) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    write_atomically(rules / "r.yaml", RULE_AUKUS_JAPAN)
    config = tmp_path / "watcher.toml"
    write_config(config, rules, f"127.0.0.1:{free_port()}", [("A", site.url("/feed.xml"))])
    return config


def test_a_second_daemon_on_the_same_sqlite_file_refuses(
    local_site: LocalSite, tmp_path: Path
) -> None:
    database = tmp_path / "data" / "watcher.db"
    env = base_env(f"sqlite:///{database}")
    first = DaemonProcess(_config(tmp_path, local_site), env, tmp_path)
    try:
        first.wait_for("the first daemon", lambda: first.named("daemon_started"))
        other = tmp_path / "other"
        other.mkdir()
        second = subprocess.run(
            [sys.executable, "-m", "watcher", "run", "--config", str(_config(other, local_site))],
            check=False,
            env=env,
            cwd=other,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2
        assert second.stderr.strip() == (
            f"watcher: another watcher daemon (pid {first.proc.pid}) is running on {database} "
            f"(it holds {database}.lock); stop it first, or give this one another database"
        )
        assert first.proc.poll() is None  # the first one is untouched
        first.proc.kill()  # no cleanup at all: the lock file stays behind
        first.proc.wait()
    finally:
        first.close()
    assert Path(f"{database}.lock").exists()
    again = DaemonProcess(_config(tmp_path / "other", local_site), env, tmp_path / "other")
    try:
        again.wait_for("a new daemon after the SIGKILL", lambda: again.named("daemon_started"))
        code, _ = again.stop(signal.SIGTERM)
    finally:
        again.close()
    assert code == 0
