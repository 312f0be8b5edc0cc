"""Peer comparison: watcher against the naive script, same site, same rules, same run.

    .venv/bin/python -m bench peer [--quick]

The site (`bench/newsite.py`, its own process on 127.0.0.1) serves 20 RSS
feeds of 25 articles (~6 KB pages, a tenth Japanese, one in seven with a
planted paragraph about AUKUS). Each contender runs as a subprocess from a
cold start, alternately, several times:

* naive: `python -m bench.naive_pipeline` (`bench/naive_pipeline.py`):
  sequential feedparser and trafilatura downloads, trafilatura's default
  extraction, one regex per rule term (`bench/naive.py`, the same rule
  semantics as watcher's matcher), hits to a JSON file;
* watcher: `python -m watcher run --once` on a fresh SQLite database, the
  repository's rules, console alerts (its whole job: conditional requests,
  concurrency, extraction workers, stories, stored hits, alert delivery).

Each run is measured by a *meter* process (`python -m bench.peer meter`)
that becomes the child subreaper of the run (Linux `prctl`), so workers and
the forkserver are reaped through it and their CPU time is in its
`RUSAGE_CHILDREN`; it samples the tree's RSS and PSS from /proc every 20 ms
for the peak. Times are wall clock and CPU (user + system) of the whole
tree, start-up (imports, migrations) included. Hit sets are (article URL,
rule id) pairs: the naive script's JSON against the `hits` table.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.newsite import RunningSite, SiteSpec, serve
from bench.report import BenchReport, Row
from bench.soak import children_map, daemon_env, free_port, snapshot, stored_hits, write_config

ROOT = Path(__file__).resolve().parents[1]
FEEDS, PER_FEED, RUNS = 20, 25, 3
SMALL_FEEDS = 4  # the smaller size: 4 feeds, 100 articles
_PR_SET_CHILD_SUBREAPER = 36

# --- the meter ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """One measured run of a command and all its descendants."""

    wall_s: float
    cpu_s: float  # user + system of the whole tree
    peak_rss_mb: float  # sampled sum over the tree
    peak_pss_mb: float
    max_rss_mb: float  # the largest single process (kernel's maxrss)
    exit_code: int


def meter(cmd: Sequence[str], *, interval: float = 0.02) -> Measure:
    """Run `cmd` as this process's child; measure its whole tree (call in a fresh process)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peak_rss = peak_pss = 0.0
    while proc.poll() is None:
        tree = snapshot(os.getpid(), include_root=False)
        peak_rss, peak_pss = max(peak_rss, tree.rss_mb), max(peak_pss, tree.pss_mb)
        time.sleep(interval)
    wall = time.perf_counter() - start
    _reap_orphans()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measure(wall, cpu, peak_rss, peak_pss, after.ru_maxrss / 1024, proc.returncode)


def _reap_orphans(timeout: float = 20.0) -> None:
    """Wait for the descendants left behind (forkserver, resource tracker); they exit on EOF."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() > deadline:  # a stuck descendant: the run is over anyway
                for child in children_map().get(os.getpid(), []):
                    os.kill(child, signal.SIGKILL)
            time.sleep(0.01)


def measure(cmd: Sequence[str], log: Path, env: dict[str, str] | None = None) -> Measure:
    """Run `cmd` under a meter process; its output goes to `log`."""
    result = log.with_suffix(".measure.json")
    with log.open("wb") as out:
        subprocess.run(
            [sys.executable, "-m", "bench.peer", "meter", str(result), "--", *cmd],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            cwd=ROOT,
            env=env,
        )
    return Measure(**json.loads(result.read_text()))


# --- the comparison ----------------------------------------------------------------------


@dataclass(frozen=True)
class Runs:
    """Both contenders' runs on the first `feeds` feeds (`articles` articles)."""

    feeds: int
    articles: int
    naive: tuple[Measure, ...]
    watcher: tuple[Measure, ...]


@dataclass(frozen=True)
class PeerResult:
    """Both contenders' runs at two sizes, and what they found on the larger."""

    small: Runs
    large: Runs
    naive_hits: frozenset[tuple[str, str]]
    watcher_hits: frozenset[tuple[str, str]]
    planted: frozenset[tuple[str, str]]
    japanese: frozenset[str]  # URLs of the Japanese pages
    naive_extracted: int

    @property
    def feeds(self) -> int:
        return self.large.feeds

    @property
    def articles(self) -> int:
        return self.large.articles

    @property
    def naive(self) -> tuple[Measure, ...]:
        return self.large.naive

    @property
    def watcher(self) -> tuple[Measure, ...]:
        return self.large.watcher


Hits = set[tuple[str, str]]


def _naive_once(urls: Sequence[str], directory: Path, tag: str) -> tuple[Measure, Hits, int]:
    out = directory / f"naive-{tag}.json"
    cmd = [sys.executable, "-m", "bench.naive_pipeline", "--rules", str(ROOT / "rules")]
    cmd += ["--out", str(out), *urls]
    found = measure(cmd, directory / f"naive-{tag}.log")
    data = json.loads(out.read_text())
    return found, {(str(u), str(r)) for u, r in data["hits"]}, int(data["extracted"])


def _watcher_once(
    site: RunningSite, urls: Sequence[str], directory: Path, tag: str
) -> tuple[Measure, Hits]:
    run_dir = directory / f"watcher-{tag}"
    run_dir.mkdir()
    db = run_dir / "watcher.db"
    listen = f"127.0.0.1:{free_port()}"
    config = write_config(run_dir, site, db=db, listen=listen, urls=urls)
    cmd = [sys.executable, "-m", "watcher", "run", "--once", "--config", str(config)]
    found = measure(cmd, run_dir / "watcher.log", env=daemon_env())
    return found, stored_hits(db)[0]


def run_peer(
    feeds: int = FEEDS, per_feed: int = PER_FEED, runs: int = RUNS, small_feeds: int = SMALL_FEEDS
) -> PeerResult:
    """Alternate naive and watcher `runs` times each, on `small_feeds` feeds and on all."""
    if not 0 < small_feeds < feeds:
        raise ValueError(f"small_feeds must be between 1 and {feeds - 1}, got {small_feeds}")
    spec = SiteSpec(feeds=feeds, articles=feeds * per_feed, grow=False)
    sizes: dict[int, tuple[list[Measure], list[Measure]]] = {small_feeds: ([], []), feeds: ([], [])}
    naive_hits: Hits = set()
    watcher_hits: Hits = set()
    extracted = 0
    with tempfile.TemporaryDirectory(prefix="watcher-peer-") as tmp, serve(spec) as site:
        directory = Path(tmp)
        for k in range(runs):
            for size, (naive, ours) in sizes.items():
                urls = site.feed_urls()[:size]
                m, naive_hits, extracted = _naive_once(urls, directory, f"{size}-{k}")
                naive.append(m)
                w, watcher_hits = _watcher_once(site, urls, directory, f"{size}-{k}")
                ours.append(w)
        planted = site.expected_hits()
        gen = site.generator
        japanese = {gen.url(n) for n in range(spec.articles) if gen.is_japanese(n)}
    small, large = (
        Runs(size, size * per_feed, tuple(naive), tuple(ours))
        for size, (naive, ours) in sizes.items()
    )
    return PeerResult(
        small,
        large,
        frozenset(naive_hits),  # from the last, largest run
        frozenset(watcher_hits),
        frozenset(planted),
        frozenset(japanese),
        extracted,
    )


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


@dataclass(frozen=True)
class Cost:
    """A contender's medians at two sizes, split into start-up and per-article cost."""

    small: float
    large: float
    per_article: float  # seconds per extra article
    startup: float  # extrapolated to zero articles


def cost(small: Runs, large: Runs, naive: bool, key: str) -> Cost:
    def med(r: Runs) -> float:
        return _median([getattr(m, key) for m in (r.naive if naive else r.watcher)])

    a, b = med(small), med(large)
    extra = large.articles - small.articles
    per = (b - a) / extra if extra > 0 else 0.0
    return Cost(a, b, per, a - per * small.articles)


def report(result: PeerResult, *, command: str) -> BenchReport:
    """The comparison's section for BENCHMARKS.md."""
    s, g = result.small, result.large
    nw, ww = cost(s, g, True, "wall_s"), cost(s, g, False, "wall_s")
    nc, wc = cost(s, g, True, "cpu_s"), cost(s, g, False, "cpu_s")
    nm = _median([m.peak_rss_mb for m in g.naive])
    wm = _median([m.peak_rss_mb for m in g.watcher])
    npss = _median([m.peak_pss_mb for m in g.naive])
    wpss = _median([m.peak_pss_mb for m in g.watcher])
    same = result.naive_hits == result.watcher_hits
    only_naive = sorted(result.naive_hits - result.watcher_hits)
    only_watcher = sorted(result.watcher_hits - result.naive_hits)
    runs = f"median of {len(g.naive)} runs"

    def ratio(a: float, b: float) -> str:
        return f"{a / b:,.2f}x" if b > 0 else "-"

    def ms(c: Cost) -> str:
        return f"{c.per_article * 1000:,.1f} ms"

    verdict = (
        f"naive/watcher at {g.articles:,} articles: wall {ratio(nw.large, ww.large)}, CPU "
        f"{ratio(nc.large, wc.large)}; per extra article: wall "
        f"{ratio(nw.per_article, ww.per_article)}, CPU {ratio(nc.per_article, wc.per_article)}; "
        "memory watcher/naive "
        f"{ratio(wm, nm)}; hit sets {'identical' if same else 'DIFFER'}"
    )
    rows = (
        Row(
            "feeds / articles",
            f"{g.feeds} / {g.articles:,} and {s.feeds} / {s.articles:,}",
            "static site; every run a cold start",
        ),
        Row(
            f"wall at {g.articles:,}, naive / watcher", f"{nw.large:,.2f} / {ww.large:,.2f} s", runs
        ),
        Row(
            f"wall at {s.articles:,}, naive / watcher", f"{nw.small:,.2f} / {ww.small:,.2f} s", runs
        ),
        Row("wall ratio naive / watcher", ratio(nw.large, ww.large), f"at {g.articles:,} articles"),
        Row(
            f"CPU at {g.articles:,}, naive / watcher",
            f"{nc.large:,.2f} / {wc.large:,.2f} s",
            f"{runs}; user + system of the process tree",
        ),
        Row("CPU ratio naive / watcher", ratio(nc.large, wc.large), f"at {g.articles:,} articles"),
        Row(
            "start-up wall, naive / watcher",
            f"{nw.startup:,.2f} / {ww.startup:,.2f} s",
            "extrapolated to 0 articles",
        ),
        Row(
            "start-up CPU, naive / watcher",
            f"{nc.startup:,.2f} / {wc.startup:,.2f} s",
            "imports; watcher: migrations, workers",
        ),
        Row(
            "wall per article, naive / watcher",
            f"{ms(nw)} / {ms(ww)}",
            f"between {s.articles:,} and {g.articles:,} articles",
        ),
        Row("CPU per article, naive / watcher", f"{ms(nc)} / {ms(wc)}", "whole process tree"),
        Row(
            "peak RSS, naive / watcher",
            f"{nm:,.0f} / {wm:,.0f} MB",
            f"{runs}; tree sum sampled every 20 ms",
        ),
        Row("peak PSS, naive / watcher", f"{npss:,.0f} / {wpss:,.0f} MB", "shared pages once"),
        Row("memory ratio watcher / naive", ratio(wm, nm), "peak RSS"),
        Row(
            "hits naive / watcher / planted",
            f"{len(result.naive_hits)} / {len(result.watcher_hits)} / {len(result.planted)}",
            "(article URL, rule id) pairs",
        ),
        Row(
            "hit sets identical",
            "yes" if same else "no",
            f"{len(only_naive)} only naive, {len(only_watcher)} only watcher",
        ),
        Row(
            "pages with text, naive",
            f"{result.naive_extracted:,} / {g.articles:,}",
            "trafilatura.extract returned text",
        ),
    )
    notes = [
        "Both contenders run as subprocesses from a cold start: imports and, for watcher, the "
        "database migrations, the extraction forkserver and workers are in the times. The "
        "site is a separate process and is not measured. The naive script does less per "
        "article: no database, canonical URLs, near-duplicate fingerprints, conditional "
        "requests or alerts, and trafilatura's default extraction (watcher uses "
        "`favor_precision` and decodes pages itself).",
        "",
        "The naive script implements the same rule semantics its own way (`bench/naive.py`: "
        "NFKC and case folding, one regex per term with word boundaries for Latin words and "
        "none for Japanese, NEAR/n counted in words, Japanese two characters per word), "
        "checked against watcher's matcher by `tests/test_bench_naive.py`; on this site "
        "both extractions give the same text, so any difference in the hit sets is a bug.",
    ]
    for label, pairs in (("only naive", only_naive), ("only watcher", only_watcher)):
        if pairs:
            listed = ", ".join(
                f"`{u.rsplit('/', 1)[-1]}` {r}"
                + (" (Japanese page)" if u in result.japanese else "")
                for u, r in pairs[:20]
            )
            notes += ["", f"Hits {label}: {listed}."]
    return BenchReport(
        name="peer",
        title=f"Peer comparison: watcher against a naive script, {g.articles:,} articles",
        command=command,
        rows=rows,
        verdict=verdict,
        notes=tuple(notes),
    )


def run_benchmark(quick: bool = False) -> BenchReport:
    """The full comparison (`quick`: 1 and 2 feeds of 5 articles, one run each)."""
    result = run_peer(2, 5, 1, 1) if quick else run_peer()
    command = ".venv/bin/python -m bench peer" + (" --quick" if quick else "")
    return report(result, command=command)


def _meter_main(argv: Sequence[str]) -> int:
    """`python -m bench.peer meter OUT.json -- CMD ...`: measure CMD, write a `Measure`."""
    out, sep, *cmd = argv
    if sep != "--" or not cmd:
        raise SystemExit("usage: python -m bench.peer meter OUT.json -- CMD ...")
    found = meter(cmd)
    Path(out).write_text(json.dumps(found.__dict__), encoding="utf-8")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["meter"]:
        sys.exit(_meter_main(sys.argv[2:]))
    from bench.__main__ import main

    sys.exit(main(["peer", *sys.argv[1:]]))
