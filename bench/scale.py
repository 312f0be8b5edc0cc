"""Several daemons on one PostgreSQL: cycle time of 1, 2 and 3 processes, and a take-over.

    .venv/bin/python -m bench scale [--quick]

Ten loopback hosts (127.0.0.1 to 127.0.0.10, one site process) answer every
request after 100 ms. 60 feeds (6 per host) list 8 new articles each. Two
workloads, measured separately:

* fetch-bound: small pages (~2 KB of text), so extraction is a few ms and
  the cycle is waiting on the 100 ms answers;
* extraction-bound: pages as heavy as real news pages (`bench/cycle.py`'s
  ~110 KB), so extraction (CPU) dominates.

One run: a fresh database on a throwaway PostgreSQL server (the test
suite's `tests/support/pg.py`), N real `watcher run` processes started with
no sources and waited for until all N are in the shared queue (heartbeats),
then the sources written into the shared config file (hot reload). The
cycle time is from the site's first request to the commit time
(`first_seen_at`) of the last of the 480 articles. Each figure is the
median of several runs.

Take-over: three processes on the fetch-bound workload; one second after
the first request the first process is SIGKILLed with its process group
(extraction workers included). Reported: the seconds from the kill to the
first `stalled_job_requeued` of a survivor, and to the commit of the last
article (every article stored, none lost), with the default
`WATCHER_STALLED_AFTER` (20 s).

This machine has 2 cores shared with other work; `uptime`'s load average
is recorded with the figures. The CPU-bound part cannot scale past the
cores: three processes on 2 cores run 3 extraction pools on the same CPUs.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bench.cycle import _article, _words
from bench.report import BenchReport, Row

ROOT = Path(__file__).resolve().parents[1]
HOSTS = 10
FEEDS, PER_FEED = 60, 8
QUICK_FEEDS, QUICK_PER_FEED = 10, 2
DELAY = 0.1  # seconds every answer takes
RUNS, QUICK_RUNS = 5, 1
TAKEOVER_RUNS = 3
PROCESSES = (1, 2, 3)
SEED = 20261204


def _small_page(rng: random.Random, n: int, vocab: list[str]) -> tuple[str, str]:
    """(title, page html) of a plain page with ~2 KB of article text."""
    words = iter(rng.sample(vocab, k=len(vocab)))
    paragraphs = [" ".join(next(words) for _ in range(60)).capitalize() + "." for _ in range(5)]
    title = " ".join(next(words) for _ in range(7)).capitalize() + f" {n}"
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"</head><body><article><h1>{html.escape(title)}</h1>{body}</article></body></html>"
    )
    return title, page


def build_site(
    bases: list[str], feeds: int, per_feed: int, heavy: bool
) -> dict[tuple[int, str], tuple[bytes, str]]:
    """(host index, path) -> (body, content type); feed f lives on host f % HOSTS."""
    rng = random.Random(SEED)
    vocab = _words(rng, 4000)
    site: dict[tuple[int, str], tuple[bytes, str]] = {}
    for f in range(feeds):
        host = f % len(bases)
        items = []
        for a in range(per_feed):
            n = f * per_feed + a
            if heavy:
                title, _lede, page = _article(rng, n, vocab)
            else:
                title, page = _small_page(rng, n, vocab)
            path = f"/a/{f}/{a}.html"
            site[(host, path)] = (page.encode(), "text/html; charset=utf-8")
            items.append(
                f"<item><title>{html.escape(title)}</title><link>{bases[host]}{path}</link>"
                f"<guid isPermaLink='false'>scale-{n}</guid></item>"
            )
        feed = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Scale feed {f}</title><link>{bases[host]}/</link><description>x"
            "</description>" + "".join(items) + "</channel></rss>"
        )
        site[(host, f"/feed/{f}.xml")] = (feed.encode(), "application/rss+xml; charset=utf-8")
    return site


def _serve(conn: Connection, feeds: int, per_feed: int, heavy: bool, first: Any) -> None:
    """The site's process: one server per loopback host, every answer after `DELAY`."""
    from aiohttp import web

    async def main() -> None:
        runners, bases = [], []
        handlers: list[web.Application] = []
        for _ in range(HOSTS):
            app = web.Application()
            handlers.append(app)
            runner = web.AppRunner(app, access_log=None)
            runners.append(runner)
        site_map: dict[tuple[int, str], tuple[bytes, str]] = {}

        def handler_for(host: int) -> Any:
            async def handle(request: web.Request) -> web.StreamResponse:
                if first.value == 0.0:
                    first.value = time.time()
                await asyncio.sleep(DELAY)
                found = site_map.get((host, request.path))
                if found is None:
                    return web.Response(status=404, text="not found")
                body, content_type = found
                return web.Response(body=body, headers={"Content-Type": content_type})

            return handle

        for i, app in enumerate(handlers):
            app.router.add_get("/{tail:.*}", handler_for(i))
        for i, runner in enumerate(runners):
            await runner.setup()
            tcp = web.TCPSite(runner, f"127.0.0.{i + 1}", 0)
            await tcp.start()
            port = runner.addresses[0][1]
            bases.append(f"http://127.0.0.{i + 1}:{port}")
        site_map.update(build_site(bases, feeds, per_feed, heavy))
        conn.send(bases)
        await asyncio.Event().wait()

    asyncio.run(main())


@dataclass
class Site:
    """The ten-host site in a child process; `first` is the time of its first request."""

    process: multiprocessing.process.BaseProcess
    bases: list[str]
    first: Any

    @classmethod
    def start(cls, feeds: int, per_feed: int, heavy: bool) -> Site:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        first = context.Value("d", 0.0)
        process = context.Process(
            target=_serve, args=(child, feeds, per_feed, heavy, first), daemon=True
        )
        process.start()
        if not parent.poll(300):
            process.kill()
            raise RuntimeError("the benchmark site did not start")
        return cls(process, parent.recv(), first)

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)


def _config(path: Path, bases: list[str], feeds: int) -> None:
    parts = [
        "[fetch]\nallow_private_addresses = true\nretries = 0\n",
        f'[rules]\ndir = "{ROOT / "rules"}"\n',
        '[alerts]\ndefault_route = ["#scale"]\nbudget = 100000\n',
    ]
    for f in range(feeds):
        url = f"{bases[f % len(bases)]}/feed/{f}.xml"
        parts.append(
            f'[[sources]]\nname = "feed{f}"\nurl = "{url}"\nkind = "rss"\ninterval = "1h"\n'
        )
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    tmp.replace(path)  # the reloader never reads half a file


def _empty_config(path: Path) -> None:
    path.write_text(
        "[fetch]\nallow_private_addresses = true\n"
        f'[rules]\ndir = "{ROOT / "rules"}"\n'
        '[alerts]\ndefault_route = ["#scale"]\n',
        encoding="utf-8",
    )


class Cluster:
    """N `watcher run` processes on one database, each in its own process group."""

    def __init__(self, n: int, url: str, config: Path, logs: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WATCHER_"))}
        env.update(WATCHER_DATABASE_URL=url, WATCHER_POLL_TICK="1", WATCHER_RELOAD_TICK="0.5")
        self.logs = [logs / f"p{i}.log" for i in range(n)]
        self.procs = []
        for i in range(n):
            with self.logs[i].open("ab") as out:
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "watcher", "run", "--config", str(config)],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env={**env, "WATCHER_LISTEN": f"127.0.0.1:{_free_port()}"},
                        cwd=config.parent,
                        start_new_session=True,
                    )
                )

    def kill(self, i: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.procs[i].pid, signal.SIGKILL)
        self.procs[i].wait(10)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for i, p in enumerate(self.procs):
            try:
                p.wait(12)
            finally:
                self.kill(i)

    def events(self, name: str) -> list[dict[str, Any]]:
        found = []
        for log in self.logs:
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("{") and f'"{name}"' in line:
                    try:
                        found.append(json.loads(line))
                    except ValueError:
                        continue
        return found


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check: Any, timeout: float, what: str) -> Any:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def _workers(engine: Any) -> int:
    with engine.connect() as conn:
        if conn.execute(text("SELECT to_regclass('procrastinate_workers')")).scalar() is None:
            return 0
        return int(conn.execute(text("SELECT count(*) FROM procrastinate_workers")).scalar() or 0)


def _stored(engine: Any) -> tuple[int, float | None]:
    with engine.connect() as conn:
        count, last = conn.execute(text("SELECT count(*), max(first_seen_at) FROM articles")).one()
    return int(count), (last.timestamp() if last is not None else None)


@dataclass(frozen=True)
class Run:
    cycle: float  # seconds from the first request to the last article's commit
    recovered: float | None = None  # kill -> first stalled_job_requeued (take-over runs)
    complete: float | None = None  # kill -> last article's commit (take-over runs)


def one_run(server: Any, site: Site, n: int, feeds: int, per_feed: int, *, kill: bool) -> Run:
    """One measurement: N processes on a fresh database (SIGKILL the first if `kill`)."""
    url = server.create_database()
    engine = create_engine(url)
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        config = Path(tmp) / "watcher.toml"
        _empty_config(config)
        cluster = Cluster(n, url, config, Path(tmp))
        try:
            _wait(lambda: _workers(engine) == n, 120, f"{n} processes in the queue")
            site.first.value = 0.0
            _config(config, site.bases, feeds)
            expected = feeds * per_feed
            killed_at = None
            if kill:
                _wait(lambda: site.first.value > 0, 60, "the first request")
                time.sleep(max(0.0, site.first.value + 1.0 - time.time()))
                killed_at = time.time()
                cluster.kill(0)
            _wait(lambda: _stored(engine)[0] >= expected, 300, f"{expected} articles")
            last = _stored(engine)[1]
            assert last is not None
            cycle = last - site.first.value
            if killed_at is None:
                return Run(cycle)
            requeued = [
                e["timestamp"] for e in cluster.events("stalled_job_requeued") if "timestamp" in e
            ]
            from datetime import datetime

            first_requeue = (
                min(datetime.fromisoformat(t).timestamp() for t in requeued) - killed_at
                if requeued
                else None
            )
            return Run(cycle, first_requeue, last - killed_at)
        finally:
            cluster.stop()
            engine.dispose()
            server.drop_database(url)


def _load() -> str:
    return (
        Path("/proc/loadavg").read_text().split(" ")[0] if Path("/proc/loadavg").exists() else "?"
    )


def run_benchmark(quick: bool = False) -> BenchReport:
    from tests.support.pg import find_bindir, require_bindir, start_server

    feeds, per_feed = (QUICK_FEEDS, QUICK_PER_FEED) if quick else (FEEDS, PER_FEED)
    runs = QUICK_RUNS if quick else RUNS
    server = start_server(require_bindir(find_bindir()))
    rows: list[Row] = []
    loads: list[str] = [_load()]
    try:
        for workload, heavy in (("fetch-bound", False), ("extraction-bound", True)):
            site = Site.start(feeds, per_feed, heavy)
            try:
                single: float | None = None
                for n in PROCESSES:
                    cycles = [
                        one_run(server, site, n, feeds, per_feed, kill=False).cycle
                        for _ in range(runs)
                    ]
                    loads.append(_load())
                    median = statistics.median(cycles)
                    single = single or median
                    rows.append(
                        Row(
                            f"{workload}, {n} process{'es' if n > 1 else ''}",
                            f"{median:.2f} s",
                            f"runs {', '.join(f'{c:.2f}' for c in cycles)}; "
                            f"speed-up {single / median:.2f}x",
                        )
                    )
            finally:
                site.stop()
        site = Site.start(feeds, per_feed, False)
        try:
            takeovers = [
                one_run(server, site, 3, feeds, per_feed, kill=True)
                for _ in range(TAKEOVER_RUNS if not quick else 1)
            ]
            loads.append(_load())
        finally:
            site.stop()
    finally:
        server.stop()
    recovered = [t.recovered for t in takeovers if t.recovered is not None]
    complete = [t.complete for t in takeovers if t.complete is not None]
    rows.append(
        Row(
            "take-over: kill -> dead process's jobs requeued",
            f"{statistics.median(recovered):.1f} s" if recovered else "n/a",
            f"runs {', '.join(f'{v:.1f}' for v in recovered)}; WATCHER_STALLED_AFTER=20",
        )
    )
    rows.append(
        Row(
            "take-over: kill -> every article stored",
            f"{statistics.median(complete):.1f} s" if complete else "n/a",
            f"runs {', '.join(f'{v:.1f}' for v in complete)}; none lost",
        )
    )
    return BenchReport(
        name="scale",
        title=f"Scale-out: 1-3 processes on one PostgreSQL, {feeds} feeds x {per_feed} articles",
        command=".venv/bin/python -m bench scale",
        rows=tuple(rows),
        notes=(
            f"Ten loopback hosts, every answer after {DELAY * 1000:.0f} ms; median of {runs} "
            f"runs per cycle figure, {len(takeovers)} take-over runs. 1-minute load "
            "average (`uptime`) during the runs: "
            f"{', '.join(loads)} on 2 cores shared with other engineers' work.",
            "Each process fetches and extracts the articles of the sources it polls "
            "(`fetch.sources_at_once` = 8 sources at a time per process, 4 requests per host "
            "per process, an extraction pool per process).",
        ),
    )
