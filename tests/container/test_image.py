"""The image built from the Dockerfile, run for real with podman.

One container (`--network=host`, so it reaches the news site and the Slack
stand-in on 127.0.0.1) polls the seed articles with the shipped rules and
alerts through the Slack stand-in; the tests below run in file order against
it, then stop it with SIGTERM and start a new container on the same volume.
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.container.conftest import (
    LABEL,
    ROOT,
    health_status,
    inspect,
    podman,
    timed,
    unique,
    wait_until,
)
from tests.container.news import Article, config_toml, publish
from tests.support.httpserver import LocalSite
from tests.support.slackstub import SlackStub

pytestmark = pytest.mark.container

ALERT_CHANNEL = "#aukus-alerts"  # the shipped rules' route


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http_get(url: str) -> tuple[int, str] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return None


def hits_of(name: str) -> list[dict[str, Any]]:
    """`watcher hits --json` run inside the container (one JSON object per line)."""
    out = podman("exec", name, "watcher", "hits", "--json")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@dataclass
class Running:
    """The container under test and what it talks to."""

    image: str
    name: str
    volume: str
    port: int
    config_dir: Path
    site: LocalSite
    slack: SlackStub
    articles: list[Article]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def run_args(self, name: str) -> list[str]:
        return [
            "run", "-d", "--name", name, "--label", LABEL, "--network=host",
            "-v", f"{self.volume}:/data",
            "-v", f"{self.config_dir}:/config:ro",
            "-e", "WATCHER_CONFIG=/config/watcher.toml",
            "-e", f"WATCHER_LISTEN=127.0.0.1:{self.port}",
            "-e", "WATCHER_POLL_TICK=1",
            "-e", "WATCHER_DISPATCH_TICK=0.5",
            "-e", "SLACK_BOT_TOKEN=xoxb-container-test",
            "-e", f"WATCHER_SLACK_BASE_URL={self.slack.base_url}",
            self.image,
        ]  # fmt: skip

    def logs(self, name: str | None = None) -> str:
        return podman("logs", "--tail", "40", name or self.name, check=False)

    def health(self) -> dict[str, Any]:
        got = http_get(self.url("/healthz"))
        return json.loads(got[1]) if got else {}

    def alerts(self) -> Counter[tuple[str, str]]:
        """(channel, article title) of every message Slack accepted."""
        return Counter(
            (channel, self._title(params)) for channel, _ts, params in self.slack.delivered
        )

    @staticmethod
    def _title(params: dict[str, Any]) -> str:
        return json.dumps(params.get("blocks", params.get("text", "")), ensure_ascii=False)


@pytest.fixture(scope="module")
def running(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    config_dir = tmp_path_factory.mktemp("container-config")
    with LocalSite() as site, SlackStub() as slack:
        articles = publish(site)
        (config_dir / "watcher.toml").write_text(config_toml(site.url("/feed.xml")))
        config_dir.chmod(0o755)
        (config_dir / "watcher.toml").chmod(0o644)
        volume = unique("watcher-test-data")
        podman("volume", "create", "--label", LABEL, volume)
        state = Running(
            image, unique("watcher-test"), volume, free_port(), config_dir, site, slack, articles
        )
        started = time.monotonic()
        podman(*state.run_args(state.name))
        try:
            wait_until(
                "/healthz 200",
                lambda: (got := http_get(state.url("/healthz"))) and got[0] == 200,
                60,
                tail=state.logs,
            )
            timed("container start to /healthz 200", started)
            yield state
        finally:
            for name in (state.name, state.name + "-again"):
                podman("rm", "-f", "-t", "2", name, check=False)
            podman("volume", "rm", "-f", volume, check=False)


def test_the_daemon_runs_as_the_unprivileged_user_under_tini(running: Running) -> None:
    """Every process in the container runs as the image's user (uid 10001), not root;
    PID 1 is tini and the daemon is its child."""
    rows = podman("top", running.name, "pid", "ppid", "huser", "user", "comm").splitlines()[1:]
    procs = [row.split() for row in rows]
    assert procs, "podman top listed no processes"
    assert {(huser, user) for _pid, _ppid, huser, user, _comm in procs} == {("10001", "watcher")}
    assert ["1", "0", "10001", "watcher", "tini"] in procs, procs
    assert any(ppid == "1" and comm.startswith("watcher") for _p, ppid, _h, _u, comm in procs)
    assert podman("exec", running.name, "id", "-u") == "10001"
    assert inspect(running.image, "{{.Config.User}}") == "10001:10001"


def test_healthz_answers_ok_from_the_host(running: Running) -> None:
    """/healthz (published on the host's loopback) says ok, with the shipped rules loaded."""
    health = running.health()
    assert health["status"] == "ok", health
    assert health["rules"] == len(list((ROOT / "rules").glob("*.yaml")))
    assert health["alerts"] == "bot"


def test_the_image_healthcheck_reports_healthy(running: Running) -> None:
    """The HEALTHCHECK survived the build (Docker format) and `podman healthcheck run`
    (which runs `watcher health` inside) says healthy."""
    config = json.loads(
        podman("image", "inspect", "--format", "{{json .HealthCheck}}", running.image)
    )
    assert config["Test"] == ["CMD", "watcher", "health"]
    started = time.monotonic()
    podman("healthcheck", "run", running.name)  # exit 0 is healthy
    timed("podman healthcheck run", started)
    assert health_status(running.name) == "healthy"


def test_hits_are_stored_and_each_alert_is_delivered_once(running: Running) -> None:
    """Each seed article is extracted (trafilatura inside the image), matched by the
    rules its seed names, stored as hits, and alerted exactly once on the rules'
    channel, across several more poll cycles; the decoy never alerts."""
    expected = [a for a in running.articles if a.rules]
    started = time.monotonic()
    wait_until(
        f"{len(expected)} alerts in the Slack stand-in",
        lambda: len(running.slack.delivered) >= len(expected),
        90,
        tail=running.logs,
    )
    timed("all alerts delivered (after /healthz 200)", started)
    cycles = running.health()["cycles"]
    wait_until("three more poll cycles", lambda: running.health()["cycles"] >= cycles + 3, 30)
    channels = Counter(channel for channel, _ts, _params in running.slack.delivered)
    assert channels == {ALERT_CHANNEL: len(expected)}, running.slack.delivered
    texts = [json.dumps(p, ensure_ascii=False) for _c, _t, p in running.slack.delivered]
    for article in expected:
        assert sum(article.title in t for t in texts) == 1, (article.title, texts)
    assert not any("Harvest festival" in t for t in texts)

    hits = hits_of(running.name)
    by_title: dict[str, set[str]] = {}
    for hit in hits:
        by_title.setdefault(hit["title"], set()).add(hit["rule"])
    assert by_title == {a.title: set(a.rules) for a in expected}, hits
    metrics = http_get(running.url("/metrics"))
    assert metrics is not None
    assert 'watcher_article_seconds_count{extraction="ok"} 3.0' in metrics[1]


def test_sigterm_stops_it_with_exit_0_within_10_s_leaving_no_process(running: Running) -> None:
    """`podman stop` (SIGTERM, the image's STOPSIGNAL): exit code 0 within 10 s, and
    none of the container's processes is left on the host."""
    host_pids = [int(p) for p in podman("top", running.name, "hpid").splitlines()[1:] if p.strip()]
    assert host_pids
    started = time.monotonic()
    podman("stop", "-t", "30", running.name, timeout=60)
    seconds = timed("SIGTERM to exit (podman stop)", started)
    assert inspect(running.name, "{{.State.ExitCode}}") == "0", running.logs()
    assert seconds < 10
    assert "shutdown_done" in running.logs()
    left = [pid for pid in host_pids if os.path.exists(f"/proc/{pid}")]
    assert not left, f"processes left after stop: {left}"


def test_a_new_container_on_the_same_volume_keeps_the_database(running: Running) -> None:
    """A new container on the same /data volume finds the hits and alerts of the first
    and sends nothing again (the outbox and the feed's entries are in the database)."""
    before = len(running.slack.delivered)
    name = running.name + "-again"
    podman(*running.run_args(name))
    wait_until(
        "/healthz 200 after the restart",
        lambda: (got := http_get(running.url("/healthz"))) and got[0] == 200,
        60,
        tail=lambda: running.logs(name),
    )
    wait_until("three poll cycles", lambda: running.health()["cycles"] >= 3, 30)
    hits = hits_of(name)
    assert len(hits) == sum(len(a.rules) for a in running.articles)
    assert len(running.slack.delivered) == before
    podman("stop", "-t", "15", name, timeout=60)
    assert inspect(name, "{{.State.ExitCode}}") == "0"


def test_runtime_image_has_no_compiler_build_tools_or_caches(image: str) -> None:
    """No compiler, make or pip on the PATH; pip, setuptools and wheel not importable;
    no pip or user cache directory; and the only bytecode is the build's own
    (`unchecked-hash` .pyc of the modules the daemon imports, not a cache written at
    run time): a few hundred files, not the whole venv."""
    script = r"""
import importlib.util, json, os, pathlib, shutil
venv = pathlib.Path("/opt/venv")
pycs = list(venv.rglob("*.pyc"))
sources = list(venv.rglob("*.py"))
print(json.dumps({
    "tools": [t for t in ("gcc", "cc", "c++", "g++", "make", "ld", "pip", "pip3")
              if shutil.which(t)],
    "modules": [m for m in ("pip", "setuptools", "wheel") if importlib.util.find_spec(m)],
    "caches": [d for d in ("/root/.cache", "/home/watcher/.cache") if os.path.exists(d)],
    "pyc": len(pycs),
    "py": len(sources),
    "not_unchecked_hash": [str(p) for p in pycs if p.read_bytes()[4:8] != b"\x01\0\0\0"][:5],
}))
"""
    found = json.loads(
        podman("run", "--rm", "--label", LABEL, "--entrypoint", "python", image, "-c", script)
    )
    assert found["tools"] == []
    assert found["modules"] == []
    assert found["caches"] == []
    assert found["not_unchecked_hash"] == []
    assert 100 < found["pyc"] < found["py"] / 2, found
