"""Matching speed: watcher's compiled matcher against a naive regex loop.

    .venv/bin/python -m bench matching        # or: python -m bench.matching

The bar: 1,000 rules over 6 KB articles at >= 2,000 articles/s on
one core, and >= 20x a naive per-rule regex loop measured in the same run.

The workload is synthetic and seeded (`bench/workload.py`): 1,000 rules in
the query language's style, 1,000 articles of ~6,000 characters, about a
tenth Japanese, a fifth planted with some rule's terms. The process is
pinned to one CPU. Each measurement is the median of several runs of CPU
time of this process (`time.process_time`), so other load on the machine
slows the wall clock but not the number; wall-clock medians are reported
too. watcher builds full hits (term offsets, score, snippet); the naive
loop only says which rules matched, so the comparison favours the baseline.
The naive loop is slow, so it runs on the first `naive_docs` articles and
watcher is timed on those same articles for the ratio.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from bench.naive import NaiveMatcher
from bench.report import BenchReport, Row
from bench.workload import Workload, make_workload
from watcher.model import Document
from watcher.rules.match import compile_rules, match

TARGET_RATE = 2_000  # articles/s on one core: the bar this benchmark checks
TARGET_RATIO = 20.0


@dataclass(frozen=True)
class Timing:
    """Medians over `runs` runs of matching `docs` documents."""

    docs: int
    runs: int
    cpu_s: float  # median CPU seconds per run
    wall_s: float

    @property
    def rate(self) -> float:
        """Articles per CPU second."""
        return self.docs / self.cpu_s if self.cpu_s > 0 else float("inf")

    @property
    def wall_rate(self) -> float:
        return self.docs / self.wall_s if self.wall_s > 0 else float("inf")


@dataclass(frozen=True)
class MatchingResult:
    """Everything one run of the matching benchmark measured."""

    rules: int
    docs: int
    mean_chars: float
    compile_s: float
    watcher: Timing  # all documents
    watcher_sample: Timing  # the naive loop's documents
    naive: Timing
    hits: int
    docs_with_hits: int
    agreement: float  # share of sample documents where both found the same rules

    @property
    def ratio(self) -> float:
        return self.watcher_sample.rate / self.naive.rate


@contextlib.contextmanager
def one_core() -> Iterator[str]:
    """Run on one CPU (the first this process may use), then restore; say which."""
    if not hasattr(os, "sched_setaffinity"):
        yield "not pinned: no sched_setaffinity"
        return
    allowed = os.sched_getaffinity(0)
    cpu = min(allowed)
    os.sched_setaffinity(0, {cpu})
    try:
        yield f"pinned to CPU {cpu}"
    finally:
        os.sched_setaffinity(0, allowed)


def time_runs(work: Callable[[], object], docs: int, runs: int) -> Timing:
    """Run `work` `runs` times; the median CPU and wall time of one run."""
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(runs):
        c0, w0 = time.process_time(), time.perf_counter()
        work()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return Timing(docs, runs, statistics.median(cpu), statistics.median(wall))


def run(
    workload: Workload, *, runs: int = 5, naive_docs: int = 24, naive_runs: int = 3
) -> MatchingResult:
    """Measure watcher and the naive loop on `workload`."""
    c0 = time.process_time()
    matcher = compile_rules(workload.rules)
    compile_s = time.process_time() - c0
    docs = workload.docs
    sample = docs[:naive_docs]
    naive = NaiveMatcher(workload.rules)

    def run_watcher(batch: Sequence[Document]) -> Callable[[], list[Any]]:
        return lambda: [match(matcher, d) for d in batch]

    match(matcher, docs[0])  # warm caches (the fold tables) outside the timings
    full = time_runs(run_watcher(docs), len(docs), runs)
    on_sample = time_runs(run_watcher(sample), len(sample), runs)
    naive_timing = time_runs(lambda: [naive.match(d) for d in sample], len(sample), naive_runs)
    found = [{h.rule_id for h in match(matcher, d)} for d in docs]
    same = sum(found[i] == set(naive.match(d)) for i, d in enumerate(sample))
    return MatchingResult(
        rules=len(workload.rules),
        docs=len(docs),
        mean_chars=statistics.fmean(len(d.text) for d in docs) if docs else 0.0,
        compile_s=compile_s,
        watcher=full,
        watcher_sample=on_sample,
        naive=naive_timing,
        hits=sum(len(f) for f in found),
        docs_with_hits=sum(1 for f in found if f),
        agreement=same / len(sample) if sample else 1.0,
    )


def report(result: MatchingResult, *, pinned: str, command: str) -> BenchReport:
    """The benchmark's section for BENCHMARKS.md."""
    ok = result.watcher.rate >= TARGET_RATE and result.ratio >= TARGET_RATIO
    verdict = (
        f"{'PASS' if ok else 'FAIL'}: {result.watcher.rate:,.0f} articles/s "
        f"(target {TARGET_RATE:,}), {result.ratio:,.0f}x naive (target {TARGET_RATIO:.0f}x)"
    )
    w, s, n = result.watcher, result.watcher_sample, result.naive
    rows = (
        Row("rules / articles", f"{result.rules:,} / {result.docs:,}"),
        Row("mean article length", f"{result.mean_chars:,.0f} chars", "~10% Japanese"),
        Row("hits / articles with hits", f"{result.hits:,} / {result.docs_with_hits:,}"),
        Row(f"compile {result.rules:,} rules", f"{result.compile_s * 1000:,.0f} ms", "CPU"),
        Row(
            "watcher, all articles",
            f"{w.rate:,.0f} articles/s",
            f"median of {w.runs} runs, CPU time; wall {w.wall_rate:,.0f}/s",
        ),
        Row(
            f"watcher, first {s.docs} articles",
            f"{s.rate:,.0f} articles/s",
            f"median of {s.runs} runs, CPU time",
        ),
        Row(
            f"naive regex loop, first {n.docs} articles",
            f"{n.rate:,.1f} articles/s",
            f"median of {n.runs} runs, CPU time; wall {n.wall_rate:,.1f}/s",
        ),
        Row("speed-up over naive", f"{result.ratio:,.0f}x", "same articles, same run"),
        Row("same rules found as naive", f"{result.agreement:.0%}", f"of {n.docs} articles"),
    )
    notes = (
        f"One core ({pinned}). watcher builds full hits (offsets, score, snippet); the "
        "naive loop (one compiled regex per term, each rule evaluated separately, "
        "`bench/naive.py`) only returns rule ids. The naive loop implements the same "
        "semantics (script changes as word boundaries, Japanese word distances) and is "
        "tested against watcher's matcher (`tests/test_bench_naive.py`), so the rule "
        "sets agree.",
        "",
        "Until 2026-11-21 the naive loop checked a word boundary before each term, which "
        "kept `re` from scanning for the literal: it ran at 4.5 articles/s, and this "
        "benchmark reported 493x. With the faster, correct naive loop it is 33x.",
        "",
        "History: before the matching work of 2026-11-21 (per-character folding in "
        "`textnorm.FieldText`, one automaton for all scripts) this benchmark measured "
        "336 articles/s and 74x naive on the same machine; the speed-up came from "
        "`watcher/rules/fields.py` (bulk folding and segmentation, identical results) "
        "and a Latin-only automaton for text without Japanese or Chinese; the hits "
        "are unchanged (same `Hit` values on 2,000 generated articles).",
    )
    return BenchReport(
        name="matching",
        title="Matching: 1,000 rules over 6 KB articles",
        command=command,
        rows=rows,
        verdict=verdict,
        notes=notes,
    )


def run_benchmark(quick: bool = False) -> BenchReport:
    """The full benchmark (`quick`: a tiny workload, for smoke tests)."""
    workload = make_workload(rules=30, docs=12) if quick else make_workload()
    with one_core() as pinned:
        result = run(workload, runs=1, naive_docs=4, naive_runs=1) if quick else run(workload)
    command = ".venv/bin/python -m bench matching" + (" --quick" if quick else "")
    return report(result, pinned=pinned, command=command)


if __name__ == "__main__":
    from bench.__main__ import main

    sys.exit(main(["matching", *sys.argv[1:]]))
