"""The benchmarks run on tiny workloads (no timing is asserted: that is BENCHMARKS.md's job)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from bench.__main__ import discover, main
from bench.matching import run, run_benchmark
from bench.naive import NaiveMatcher
from bench.report import BenchReport, Row, render, write_section
from bench.workload import make_workload
from watcher.rules.match import compile_rules, match


def test_workload_is_reproducible_and_in_the_language_style() -> None:
    """The same seed gives the same rules and articles; rules use the query operators."""
    a, b = make_workload(rules=40, docs=5), make_workload(rules=40, docs=5)
    assert [r.query for r in a.rules] == [r.query for r in b.rules]
    assert [d.text for d in a.docs] == [d.text for d in b.docs]
    queries = " ".join(r.query for r in make_workload(rules=300, docs=0).rules)
    for operator in (" AND ", " OR ", "NEAR/", "title:", "ATLEAST(", "NOT ", "*", '"'):
        assert operator in queries
    assert all(len(d.text) >= 6_000 for d in a.docs)


def test_naive_loop_finds_what_the_matcher_finds_on_planted_articles() -> None:
    """On-topic articles make both matchers fire; they mostly agree on which rules."""
    workload = make_workload(rules=60, docs=20, on_topic=1.0)
    matcher, naive = compile_rules(workload.rules), NaiveMatcher(workload.rules)
    ours = [{h.rule_id for h in match(matcher, d)} for d in workload.docs]
    theirs = [set(naive.match(d)) for d in workload.docs]
    assert sum(map(len, ours)) > 0
    assert sum(a == b for a, b in zip(ours, theirs, strict=True)) >= len(ours) * 0.7


def test_matching_benchmark_runs_and_reports() -> None:
    """The matching benchmark measures both matchers and fills every row of its report."""
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    result = run(make_workload(rules=20, docs=6), runs=1, naive_docs=3, naive_runs=1)
    assert (result.rules, result.docs) == (20, 6)
    assert (result.watcher.docs, result.watcher_sample.docs, result.naive.docs) == (6, 3, 3)
    assert (result.watcher.runs, result.naive.runs) == (1, 1)
    # Real work was timed: every median is a positive, finite time, so the rates are too.
    for timing in (result.watcher, result.watcher_sample, result.naive):
        assert 0 < timing.cpu_s < 60, timing
        assert 0 < timing.wall_s < 60, timing
    assert math.isfinite(result.ratio)
    assert result.ratio == result.watcher_sample.rate / result.naive.rate > 0
    assert 0.0 <= result.agreement <= 1.0
    report = run_benchmark(quick=True)
    assert report.name == "matching"
    assert report.verdict.startswith(("PASS: ", "FAIL: ")), report.verdict
    assert [r.metric for r in report.rows][:2] == ["rules / articles", "mean article length"]
    assert len(report.rows) == 9
    assert all(r.value for r in report.rows), report.rows
    if affinity is not None:
        assert os.sched_getaffinity(0) == affinity  # pinning is undone


def test_sections_are_replaced_in_place_and_others_kept(tmp_path: Path) -> None:
    """Writing a report replaces its own section and leaves other sections alone."""
    path = tmp_path / "BENCHMARKS.md"
    first = BenchReport("alpha", "Alpha", "cmd a", (Row("speed", "1/s"),), date="d1")
    other = BenchReport("beta", "Beta", "cmd b", (Row("size", "2 MB"),), date="d1")
    write_section(first, path)
    write_section(other, path)
    write_section(BenchReport("alpha", "Alpha", "cmd a", (Row("speed", "9/s"),)), path)
    text = path.read_text()
    assert text.startswith("# Benchmarks")
    assert text.count("<!-- bench:alpha -->") == 1
    assert "9/s" in text
    assert "1/s" not in text
    assert text.index("bench:alpha") < text.index("bench:beta")
    assert "2 MB" in text
    assert "| speed | 9/s |" in render(BenchReport("alpha", "A", "c", (Row("speed", "9/s"),)), "m")


def test_python_m_bench_discovers_and_runs_benchmarks() -> None:
    """`python -m bench matching --quick` runs the matching benchmark without writing files."""
    assert "matching" in discover()
    assert main(["matching", "--quick"]) == 0


def test_cycle_pages_do_not_inflate_the_plain_trafilatura_limit() -> None:
    """Plain trafilatura, default options, extracts the bench pages' article whole.

    The cycle's limit is plain trafilatura's time on these pages. Pages whose
    teasers hold several times the article's text make its fallback
    extractors run and win (F1 0.28, three times the real pages' cost until
    2026-12), which would make any pipeline look fast against that limit.
    """
    import trafilatura

    from bench.chrome import text_shape
    from bench.cycle import sample_pages
    from bench.extraction import _generated_truth, score

    pages = sample_pages(20, 8)
    truth = [_generated_truth(body) for _path, body in pages]
    found = [trafilatura.extract(body.decode("utf-8")) or "" for _path, body in pages]
    assert score(zip(truth, found, strict=True)).f1 >= 0.95
    for (_path, body), article in zip(pages, truth, strict=True):
        visible, paragraphs = text_shape(body.decode("utf-8"))
        assert visible < 4 * len(article)  # real median page: 2.2x its article
        assert paragraphs < 2 * len(article)  # real median page: 1.1x
