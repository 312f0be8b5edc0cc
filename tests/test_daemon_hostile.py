"""Hostile documents against a real daemon (issue 13, items 1 and 3).

A real `watcher run` polls three sources on 127.0.0.1: a 208 kB feed of
unclosed `<!DOCTYPE x [` (it froze the daemon for over a minute), a feed
whose one article is 4.8 MB of empty gzip members (it cut every cycle) and
a good feed. `/healthz` is probed all along and must keep answering
quickly; the good article and the hostile documents' own content must be
stored; SIGTERM must end it with exit 0 within 10 s. Then a daemon is
SIGKILLed with its worker processes running, and no process of its tree may
remain. The inputs are generated (`bench.hostile`).
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

from bench.hostile import GOOD_FEED, gzip_members
from tests.support.httpserver import LocalSite
from tests.test_daemon_helpers import (
    ARTICLES,
    RULE_AUKUS_JAPAN,
    DaemonProcess,
    base_env,
    feed,
    free_port,
    http_get,
    rows,
    serve_pages,
    write_atomically,
    write_config,
)

A1 = next(iter(ARTICLES))
DOCTYPE_COPIES = 16_000  # 208 kB of `<!DOCTYPE x [`


def hostile_site(site: LocalSite) -> list[tuple[str, str]]:
    """Serve the three sources; (name, feed URL) for the config."""
    serve_pages(site)
    site.add("/good.xml", feed(site, [A1]), content_type="application/rss+xml")
    doctype = b"<!DOCTYPE x [" * DOCTYPE_COPIES + GOOD_FEED.replace(
        b"https://example.com/a", site.url("/doctype-item").encode()
    )
    site.add("/doctype.xml", doctype, content_type="application/rss+xml")
    site.add("/doctype-item", "<html><body><p>hello</p></body></html>")
    members = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>m</title>'
        f"<item><title>Members</title><link>{site.url('/members.html')}</link></item>"
        "</channel></rss>"
    )
    site.add("/members.xml", members, content_type="application/rss+xml")
    site.add(
        "/members.html",
        gzip_members(4_800_000),
        headers={"Content-Encoding": "gzip"},
        content_type="text/html",
    )
    return [
        ("Doctype", site.url("/doctype.xml")),
        ("Members", site.url("/members.xml")),
        ("Good", site.url("/good.xml")),
    ]


class HealthProbe:
    """GET /healthz every 0.2 s in a thread; keeps (seconds it took, status) of each."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                status, _ = http_get(self.url, timeout=30)
            except OSError:
                status = 0  # not listening yet, or gone
            self.samples.append((time.monotonic() - started, status))
            self._stop.wait(0.2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=35)


def start_daemon(tmp_path: Path, site: LocalSite) -> tuple[DaemonProcess, str, str]:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    write_atomically(rules_dir / "aukus-japan.yaml", RULE_AUKUS_JAPAN)
    listen = f"127.0.0.1:{free_port()}"
    config = tmp_path / "watcher.toml"
    write_config(config, rules_dir, listen, hostile_site(site))
    database_url = f"sqlite:///{tmp_path / 'watcher.db'}"
    return DaemonProcess(config, base_env(database_url), tmp_path), listen, database_url


def test_hostile_documents_never_stall_the_daemon(local_site: LocalSite, tmp_path: Path) -> None:
    daemon, listen, database_url = start_daemon(tmp_path, local_site)

    def stored() -> set[str]:
        return {url for (url,) in rows(database_url, "SELECT url FROM articles")}

    wanted = {
        local_site.url(A1),
        local_site.url("/doctype-item"),
        local_site.url("/members.html"),
    }
    probe: HealthProbe | None = None
    try:
        daemon.wait_for("the start", lambda: daemon.named("daemon_started"))
        probe = HealthProbe(f"http://{listen}/healthz")
        daemon.wait_for("every source's article", lambda: wanted <= stored(), timeout=60)
        time.sleep(3)  # a few more cycles of the hostile sources (their ETag-less 200s)
        probe.stop()
        code, seconds = daemon.stop(signal.SIGTERM)
    finally:
        if probe is not None:
            probe.stop()
        daemon.close()
    assert code == 0, daemon.tail()
    assert seconds < 10
    answered = [s for s in probe.samples if s[1] == 200]
    assert len(answered) >= 10, probe.samples
    slowest = max(t for t, _ in probe.samples)
    assert slowest < 3.0, f"/healthz took {slowest:.1f} s at worst"
    assert not daemon.named("cycle_timeout")
    failed = {e["source"] for e in daemon.named("fetch_failed")}
    assert not failed, daemon.tail()
    texts = dict(
        rows(database_url, "SELECT url, text FROM articles WHERE url LIKE '%members.html'")
    )
    assert texts  # the 4.8 MB page decoded to its one real member


def _children(pid: int) -> set[int]:
    """Every descendant of `pid`, from /proc (ppid links), alive or zombie."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigkilled_daemon_leaves_no_process_behind(local_site: LocalSite, tmp_path: Path) -> None:
    """The forkserver, extraction workers and document workers all die with the daemon."""
    daemon, _listen, database_url = start_daemon(tmp_path, local_site)
    try:
        daemon.wait_for("the start", lambda: daemon.named("daemon_started"))
        daemon.wait_for(
            "an extracted article (so every kind of worker runs)",
            lambda: rows(database_url, "SELECT 1 FROM articles WHERE extraction_status = 'ok'"),
            timeout=60,
        )
        daemon.wait_for(
            "the forkserver and both pools' workers", lambda: len(_children(daemon.proc.pid)) >= 3
        )
        tree = _children(daemon.proc.pid)
        daemon.proc.kill()
        daemon.proc.wait()
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = sorted(p for p in tree if _alive(p))
    finally:
        daemon.close()
    assert tree
    assert not left, f"still running after the daemon was SIGKILLed: {left}"
