"""compose.yaml run for real with podman-compose: PostgreSQL 15 and the daemon.

The project runs under its own name (so it never touches an operator's
`watcher` project) with compose.yaml unchanged plus `compose.test.yaml`, which
only mounts the test's config. The news site and the Slack stand-in listen on
the host (all addresses, as containers on the compose network reach the host
through its gateway, `host.containers.internal`); Slack settings reach the
daemon through the environment of `podman-compose`, as the README says.
The test then takes the project down and up again: the data must stay.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.container.conftest import (
    IMAGE,
    ROOT,
    TIMINGS,
    health_status,
    podman,
    timed,
    unique,
    wait_until,
)
from tests.container.news import Article, config_toml, publish
from tests.container.test_image import free_port
from tests.support.httpserver import LocalSite
from tests.support.slackstub import SlackStub

pytestmark = pytest.mark.container

HOST_GATEWAY = "host.containers.internal"


def head_revision() -> str:
    """The newest migration of the code under test (what the daemon must migrate to)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from watcher.store.db import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head
    return head


@dataclass
class Project:
    name: str
    env: dict[str, str]
    port: int
    slack: SlackStub
    articles: list[Article]

    def compose(self, *args: str, timeout: float = 600, env: dict[str, str] | None = None) -> str:
        files = [
            "-f",
            str(ROOT / "compose.yaml"),
            "-f",
            str(ROOT / "tests/container/compose.test.yaml"),
        ]
        result = subprocess.run(
            ["podman-compose", "-p", self.name, *files, *args],
            cwd=ROOT,
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, (
            f"podman-compose {' '.join(args)} exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
        return result.stdout

    def container(self, service: str) -> str:
        names = podman(
            "ps", "-a", "--format", "{{.Names}}",
            "--filter", f"label=io.podman.compose.project={self.name}",
            "--filter", f"label=com.docker.compose.service={service}",
        ).split()  # fmt: skip
        assert len(names) == 1, names
        return names[0]

    def logs(self, service: str = "watcher", lines: int = 30) -> str:
        return podman("logs", "--tail", str(lines), self.container(service), check=False)

    def healthz(self, port: int | None = None) -> tuple[int, dict[str, object]] | None:
        try:
            url = f"http://127.0.0.1:{port or self.port}/healthz"
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")
        except (OSError, ValueError):
            return None

    def psql(self, sql: str) -> str:
        return podman(
            "exec", self.container("postgres"),
            "psql", "--username=watcher", "--dbname=watcher", "-tAc", sql,
        )  # fmt: skip

    def wait_healthy(self, what: str) -> None:
        wait_until(
            what,
            lambda: (got := self.healthz()) is not None and got[0] == 200,
            180,
            tail=self.logs,
        )


@pytest.fixture(scope="module")
def project(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The compose project's environment; `down -v` afterwards (containers, volumes)."""
    config_dir = tmp_path_factory.mktemp("compose-config")
    # The image compose.yaml names: the one the `image` fixture built from this tree.
    podman("tag", image, "localhost/watcher:latest")
    with LocalSite(host="0.0.0.0") as site, SlackStub(host="0.0.0.0") as slack:
        port = site.base_url.rsplit(":", 1)[1]
        articles = publish(site, f"http://{HOST_GATEWAY}:{port}")
        (config_dir / "watcher.toml").write_text(
            config_toml(f"http://{HOST_GATEWAY}:{port}/feed.xml")
        )
        config_dir.chmod(0o755)
        (config_dir / "watcher.toml").chmod(0o644)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WATCHER_"))}
        env.update(
            POSTGRES_PASSWORD=unique("pw"),
            SLACK_BOT_TOKEN="xoxb-compose-test",
            WATCHER_SLACK_BASE_URL=f"http://{HOST_GATEWAY}:{slack.port}/api/",
            PUBLISH=f"{free_port()}:8080",
            WATCHER_TEST_CONFIG_DIR=str(config_dir),
        )
        host_port = int(env["PUBLISH"].split(":")[0])
        state = Project(unique("watcher-test"), env, host_port, slack, articles)
        try:
            yield state
        finally:
            subprocess.run(
                ["podman-compose", "-p", state.name, "-f", str(ROOT / "compose.yaml"),
                 "-f", str(ROOT / "tests/container/compose.test.yaml"), "down", "-v", "-t", "15"],
                cwd=ROOT, env=env, capture_output=True, timeout=300, check=False,
            )  # fmt: skip
            for name in ("watcher_1", "watcher_2", "watcher_3", "postgres_1"):
                podman("rm", "-f", f"{state.name}_{name}", check=False)


def test_compose_migrates_postgres_polls_alerts_and_both_are_healthy(project: Project) -> None:
    """`up`: PostgreSQL initialises, the daemon (waiting for it if need be, never
    restarted) migrates it to the newest revision, polls the site, stores the hits
    in PostgreSQL and alerts each article once; both health checks say healthy."""
    started = time.monotonic()
    project.compose("up", "-d")
    timed("podman-compose up -d", started)
    project.wait_healthy("/healthz 200 through the published port")
    timed("compose up to /healthz 200", started)
    expected = [a for a in project.articles if a.rules]
    wait_until(
        "the alerts",
        lambda: len(project.slack.delivered) >= len(expected),
        120,
        tail=project.logs,
    )
    timed("compose up to all alerts delivered", started)

    assert project.psql("SELECT version_num FROM alembic_version") == head_revision()
    hits = project.psql(
        "SELECT a.title || '|' || h.rule_id FROM hits h JOIN articles a ON a.id = h.article_id"
    )
    stored = {tuple(line.split("|")) for line in hits.splitlines()}
    assert stored == {(a.title, rule) for a in expected for rule in a.rules}
    channels = [channel for channel, _ts, _params in project.slack.delivered]
    assert len(channels) == len(expected)

    for service in ("postgres", "watcher"):
        podman("healthcheck", "run", project.container(service))
        assert health_status(project.container(service)) == "healthy", service
    watcher = project.container("watcher")
    assert podman("inspect", "--format", "{{.RestartCount}}", watcher) == "0", project.logs()
    log = project.logs(lines=-1).splitlines()
    waits = [line for line in log if "database_unavailable" in line]
    TIMINGS["compose: daemon retries while PostgreSQL started"] = f"{len(waits)} (no restart)"


def test_compose_down_and_up_keeps_the_data(project: Project) -> None:
    """`down` (volumes kept) then `up`: the same hits and alerts are in PostgreSQL,
    nothing is alerted again, and the daemon is healthy again."""
    before_hits = project.psql("SELECT count(*) FROM hits")
    before_alerts = project.psql("SELECT count(*) FROM alerts WHERE state = 'sent'")
    sent = len(project.slack.delivered)
    assert int(before_hits) > 0
    started = time.monotonic()
    project.compose("down", "-t", "15")
    timed("podman-compose down", started)
    assert not podman(
        "ps", "-a", "-q", "--filter", f"label=io.podman.compose.project={project.name}"
    )
    started = time.monotonic()
    project.compose("up", "-d")
    project.wait_healthy("/healthz 200 after down and up")
    timed("compose up again to /healthz 200", started)
    status, health = project.healthz() or (0, {})
    wait_until(
        "two poll cycles after the restart",
        lambda: int(str((project.healthz() or (0, {}))[1].get("cycles", 0))) >= 2,
        60,
        tail=project.logs,
    )
    assert project.psql("SELECT count(*) FROM hits") == before_hits
    assert project.psql("SELECT count(*) FROM alerts WHERE state = 'sent'") == before_alerts
    assert len(project.slack.delivered) == sent
    podman("healthcheck", "run", project.container("watcher"))
    assert status == 200
    assert health["status"] == "ok"


def test_compose_passes_no_secret_into_the_image(project: Project) -> None:
    """The Slack token reaches the running container through its environment only:
    neither the image's config nor its files carry it."""
    image_env = podman("image", "inspect", "--format", "{{json .Config.Env}}", IMAGE)
    assert "SLACK" not in image_env
    assert "xoxb-" not in podman(
        "run", "--rm", "--entrypoint", "sh", IMAGE, "-c",
        "grep -rl xoxb- /app /opt/venv/bin /home/watcher 2>/dev/null; true",
    )  # fmt: skip
    env = podman("inspect", "--format", "{{json .Config.Env}}", project.container("watcher"))
    assert "SLACK_BOT_TOKEN=xoxb-compose-test" in env


def test_compose_scales_to_three_daemons_that_share_the_work(project: Project) -> None:
    """`PUBLISH=8080 podman-compose up --scale watcher=3`: three daemons on the one
    PostgreSQL, each healthy on a host port of its own and counting three processes
    alive (the shared queue); what was stored and alerted is not alerted again."""
    sent = len(project.slack.delivered)
    hits = project.psql("SELECT count(*) FROM hits")
    started = time.monotonic()
    project.compose("up", "-d", "--scale", "watcher=3", env=dict(project.env, PUBLISH="8080"))

    def replicas() -> list[str]:
        return podman(
            "ps", "--format", "{{.Names}}",
            "--filter", f"label=io.podman.compose.project={project.name}",
            "--filter", "label=com.docker.compose.service=watcher",
        ).split()  # fmt: skip

    names = wait_until("three watcher replicas", lambda: len(replicas()) == 3 and replicas(), 120)
    ports = [int(podman("port", name, "8080").strip().rsplit(":", 1)[1]) for name in names]
    assert len(set(ports)) == 3, ports
    for port in ports:
        wait_until(
            f"/healthz 200 with 3 processes alive on port {port}",
            lambda port=port: (
                (got := project.healthz(port)) is not None
                and got[0] == 200
                and got[1].get("processes_alive") == 3
            ),
            180,
            tail=lambda: podman("logs", "--tail", "30", names[-1], check=False),
        )
    timed("compose --scale watcher=3 to three healthy daemons", started)
    time.sleep(10)  # a few poll ticks with three processes sharing the sources
    assert project.psql("SELECT count(*) FROM hits") == hits
    assert len(project.slack.delivered) == sent
