"""Helpers (no tests here) for the daemon tests: a news site, rule files, the daemon process.

The daemon under test is the real one (`python -m watcher run`), with ~1 s
ticks from the `WATCHER_*_TICK` variables, JSON logs captured to a file.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from tests.support.httpserver import LocalSite

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body><header><nav><a href="/">Home</a> <a href="/world">World</a></nav></header>
<main><article><h1>{title}</h1>{body}</article></main>
<footer><p>Example Gazette. All rights reserved.</p></footer></body></html>"""

# Our own short articles (not from any corpus): path -> (title, paragraphs).
ARTICLES: dict[str, tuple[str, list[str]]] = {
    "/a/tokyo-aukus.html": (
        "Tokyo studies a role in AUKUS technology work",
        [
            "Officials in Tokyo said Japan was studying how it could take part in advanced "
            "technology projects under the AUKUS partnership.",
            "The talks would cover undersea drones and quantum sensing, two people familiar "
            "with the plans said, adding that no decision had been taken.",
        ],
    ),
    "/a/rice-harvest.html": (
        "Rice harvest comes in early after a warm summer",
        [
            "Farmers in the north reported an early rice harvest after an unusually warm "
            "summer, with yields slightly above the ten-year average.",
            "Cooperatives said storage was sufficient and prices were expected to stay "
            "stable through the winter months.",
        ],
    ),
    "/a/clearance-rules.html": (
        "Cabinet sets out how the new clearance checks will work",
        [
            "Japan's cabinet approved rules for a security clearance system, describing how "
            "background checks on officials and company staff will be carried out.",
            "The government says vetted staff will make joint research with allies easier, "
            "while critics asked for independent oversight of the personal data involved.",
        ],
    ),
    "/a/ministers-meet.html": (
        "Defence ministers discuss Japan and AUKUS industrial ties",
        [
            "Defence ministers met on Thursday to discuss how Japan could cooperate with AUKUS "
            "members on hypersonic research and electronic warfare.",
            "A joint statement promised a working group on export controls and shared test "
            "ranges, to report back before the end of the year.",
        ],
    ),
    "/b/second-outlet.html": (
        "Second outlet: AUKUS partners brief Japan on drone trials",
        [
            "Australian and British officials briefed counterparts from Japan on AUKUS trials "
            "of autonomous underwater vehicles, according to a readout.",
            "The briefing followed months of talks on cooperation in advanced capabilities, "
            "officials said, without giving a timetable for any agreement.",
        ],
    ),
}

RULE_AUKUS_JAPAN = """# Test rule: AUKUS together with Japan.
id: aukus-japan
name: AUKUS and Japan (daemon test)
severity: high
query: AUKUS AND (Japan OR Tokyo)
"""

RULE_CLEARANCE = """# Test rule added while the daemon runs.
id: clearance
name: Security clearance (daemon test)
severity: medium
query: '"security clearance" AND Japan'
"""

RULE_BROKEN = """id: broken
name: Broken rule
severity: high
query: 'AUKUS AND (Japan OR'
"""


def feed(site: LocalSite, paths: list[str]) -> bytes:
    """An RSS document listing `paths` on `site`."""
    items = "".join(
        f"<item><title>{ARTICLES[p][0]}</title><link>{site.url(p)}</link><guid>{p}</guid>"
        f"<description>{ARTICLES[p][1][0][:60]}</description>"
        "<pubDate>Mon, 16 Nov 2026 09:00:00 GMT</pubDate></item>"
        for p in paths
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Example Gazette</title><link>http://example.invalid/</link>"
        "<description>x</description>" + items + "</channel></rss>"
    ).encode()


def serve_pages(site: LocalSite) -> None:
    """Serve every article page (the feeds decide which ones are listed)."""
    for path, (title, paragraphs) in ARTICLES.items():
        site.add(path, PAGE.format(title=title, body="".join(f"<p>{p}</p>" for p in paragraphs)))


def set_feed(site: LocalSite, path: str, paths: list[str], version: str) -> None:
    """Publish a new version of a feed (a new ETag, so the daemon gets a 200)."""
    site.add(path, feed(site, paths), content_type="application/rss+xml", etag=f'"{version}"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_config(path: Path, rules_dir: Path, listen: str, sources: list[tuple[str, str]]) -> None:
    """A daemon config polling `sources` (name, url) every second."""
    parts = [
        "[fetch]\nallow_private_addresses = true\nretries = 0\n",
        f'[rules]\ndir = "{rules_dir}"\n',
        f'[web]\nlisten = "{listen}"\n',
        '[alerts]\ndefault_route = ["#daemon-test"]\n',
    ]
    for name, url in sources:
        parts.append(
            f'[[sources]]\nname = "{name}"\nurl = "{url}"\nkind = "rss"\ninterval = "1s"\n'
        )
    write_atomically(path, "\n".join(parts))


def write_atomically(path: Path, content: str) -> None:
    """Replace a file in one step, as editors and config management do."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(content, encoding="utf-8")
    os.replace(tmp, path)


class DaemonProcess:
    """`python -m watcher run` in a subprocess, with its JSON log lines readable."""

    def __init__(self, config: Path, env: dict[str, str], workdir: Path) -> None:
        self.log_path = workdir / "daemon.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "watcher", "run", "--config", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
        )

    def events(self) -> list[dict[str, Any]]:
        """Every JSON log line so far."""
        out = []
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events() if e.get("event") == event]

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = 15.0) -> Any:
        """Poll `check` until it returns something truthy; fail with the log otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"daemon exited ({self.proc.returncode}) waiting for {what}:\n{self.tail()}"
                )
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        """The last log lines, each cut to 400 characters (tracebacks are long)."""
        text_ = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(line[:400] for line in text_.splitlines()[-lines:])

    def stop(
        self, sig: signal.Signals = signal.SIGTERM, timeout: float = 10.0
    ) -> tuple[int, float]:
        """Send `sig` and wait; (exit code, seconds it took). Kills it when it overstays."""
        started = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"daemon did not stop within {timeout} s:\n{self.tail()}"
            ) from None
        return code, time.monotonic() - started

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def base_env(database_url: str) -> dict[str, str]:
    """The environment without the caller's Slack/watcher settings, with ~1 s ticks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WATCHER_"))}
    env.update(
        WATCHER_DATABASE_URL=database_url,
        WATCHER_POLL_TICK="1",
        WATCHER_DISPATCH_TICK="0.5",
        WATCHER_RELOAD_TICK="0.5",
    )
    return env


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """(status, body) of a GET, for any status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def rows(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()
