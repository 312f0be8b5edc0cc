"""Health: the verdict, the listen address, and the `watcher health` client against real servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.httpserver import LocalSite, refused_url
from watcher.cli.health import health_url, probe
from watcher.config import listen_address
from watcher.daemon.health import assess, database_error
from watcher.errors import ConfigError
from watcher.settings import parse_listen
from watcher.store.db import open_database


def test_assess_is_ok_only_when_every_check_passes() -> None:
    """A running scheduler, an answering database and no auth stop make a healthy report."""
    report = assess(scheduler_running=True, database_error=None, delivery_error=None)
    assert report.ok
    assert report.as_json()["status"] == "ok"


def test_assess_names_every_failed_check() -> None:
    """Each failed check appears in the reasons, joined into one `reason` line."""
    report = assess(
        scheduler_running=False,
        database_error="OperationalError: refused",
        delivery_error="invalid_auth",
        details={"cycles": 3},
    )
    body = report.as_json()
    assert not report.ok
    assert body["status"] == "unhealthy"
    assert body["reasons"] == [
        "scheduler is not running",
        "database: OperationalError: refused",
        "alert delivery stopped: invalid_auth",
    ]
    assert "invalid_auth" in body["reason"]
    assert body["cycles"] == 3


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("0.0.0.0:9000", ("0.0.0.0", 9000)),
        (":8080", ("", 8080)),
        ("[::1]:8081", ("::1", 8081)),
    ],
)
def test_parse_listen_accepts_host_port_forms(listen: str, expected: tuple[str, int]) -> None:
    """`host:port`, `:port` and bracketed IPv6 hosts parse to (host, port)."""
    assert parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["8080", "localhost", "host:0", "host:99999", "host:http"])
def test_parse_listen_rejects_a_bad_address(listen: str) -> None:
    """A listen value without a valid port is a configuration error naming the value."""
    with pytest.raises(ConfigError, match=r"web\.listen"):
        parse_listen(listen)


@pytest.mark.parametrize(
    ("listen", "url"),
    [
        ("0.0.0.0:8080", "http://127.0.0.1:8080/healthz"),
        (":8080", "http://127.0.0.1:8080/healthz"),
        ("10.1.2.3:80", "http://10.1.2.3:80/healthz"),
        ("[::]:8080", "http://[::1]:8080/healthz"),
    ],
)
def test_health_url_asks_loopback_for_a_wildcard_host(listen: str, url: str) -> None:
    """A daemon listening on every address is asked on loopback; a named host as is."""
    assert health_url(listen) == url


def test_probe_reports_ok_on_200(local_site: LocalSite) -> None:
    """A 200 from /healthz is healthy."""
    local_site.add("/healthz", json.dumps({"status": "ok"}), content_type="application/json")
    result = probe(local_site.url("/healthz"))
    assert result.ok
    assert result.status == 200


def test_probe_reports_the_daemons_reason_on_503(local_site: LocalSite) -> None:
    """A 503 is unhealthy and carries the JSON `reason` the daemon gave."""
    body = json.dumps({"status": "unhealthy", "reason": "alert delivery stopped: invalid_auth"})
    local_site.add("/healthz", body, status=503, content_type="application/json")
    result = probe(local_site.url("/healthz"))
    assert not result.ok
    assert result.status == 503
    assert result.reason == "alert delivery stopped: invalid_auth"


def test_probe_reports_a_daemon_that_does_not_answer() -> None:
    """Nothing listening is unhealthy with the connection error, not an exception."""
    result = probe(refused_url() + "healthz", timeout=1.0)
    assert not result.ok
    assert result.status is None
    assert "refused" in result.reason.lower()


def test_probe_gives_up_at_its_timeout(local_site: LocalSite) -> None:
    """A hung daemon counts as unhealthy after the probe's short timeout."""
    started = time.monotonic()
    result = probe(local_site.url("/_/hang?seconds=10"), timeout=0.5)
    assert not result.ok
    assert time.monotonic() - started < 3


def test_database_error_is_none_for_a_working_database(database_url: str) -> None:
    """`SELECT 1` on a reachable database reports no error."""
    db = open_database(database_url)
    try:
        assert database_error(db) is None
    finally:
        db.dispose()


def test_health_command_exits_0_on_200_and_1_with_the_reason_otherwise(
    local_site: LocalSite, tmp_path: Path
) -> None:
    """`watcher health` asks WATCHER_LISTEN's /healthz: 0 when healthy, 1 and the reason else."""
    host_port = local_site.base_url.removeprefix("http://")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WATCHER_"))}
    env["WATCHER_LISTEN"] = host_port

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "watcher", "health"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=30,
            check=False,
        )

    local_site.add("/healthz", json.dumps({"status": "ok"}), content_type="application/json")
    ok = run()
    assert ok.returncode == 0, ok.stderr
    body = json.dumps({"status": "unhealthy", "reason": "database: OperationalError: refused"})
    local_site.add("/healthz", body, status=503, content_type="application/json")
    bad = run()
    assert bad.returncode == 1
    assert "database: OperationalError: refused" in bad.stderr


def test_listen_address_prefers_the_environment_then_the_config(tmp_path: Path) -> None:
    """WATCHER_LISTEN wins; else the config's web.listen; else the default."""
    config = tmp_path / "watcher.toml"
    config.write_text('[web]\nlisten = "127.0.0.1:9100"\n', encoding="utf-8")
    assert listen_address(config, {"WATCHER_LISTEN": "127.0.0.1:9200"}) == "127.0.0.1:9200"
    assert listen_address(config, {}) == "127.0.0.1:9100"
    assert listen_address(tmp_path / "absent.toml", {}) == "127.0.0.1:8080"


def test_listen_address_reads_an_invalid_config_leniently(tmp_path: Path) -> None:
    """A config the daemon would reject elsewhere still yields its web.listen for the check."""
    config = tmp_path / "watcher.toml"
    config.write_text(
        '[web]\nlisten = "127.0.0.1:9100"\n\n[[sources]]\nname = "x"\nurl = "nope"\n',
        encoding="utf-8",
    )
    assert listen_address(config, {}) == "127.0.0.1:9100"
    config.write_text("[web\nlisten = ", encoding="utf-8")  # not even TOML
    assert listen_address(config, {}) == "127.0.0.1:8080"
