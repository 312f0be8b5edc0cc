"""The soak and peer benchmarks on tiny workloads (no timing is asserted: BENCHMARKS.md's job)."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bench.__main__ import discover
from bench.naive_pipeline import LocalOnly, check_local
from bench.naive_pipeline import main as naive_main
from bench.newsite import TOPICS_EN, TOPICS_JA, Generator, SiteSpec, serve
from bench.peer import report as peer_report
from bench.peer import run_peer
from bench.soak import report as soak_report
from bench.soak import run_soak, slope, snapshot
from watcher.model import Document
from watcher.rules.load import load_rules
from watcher.rules.match import compile_rules, match

ROOT = Path(__file__).resolve().parents[1]


def _get(url: str, etag: str | None = None) -> tuple[int, bytes, str]:
    request = urllib.request.Request(url, headers={"If-None-Match": etag} if etag else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers.get("ETag", "")
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code, b"", exc.headers.get("ETag", "")


def test_generated_site_is_deterministic_and_news_sized() -> None:
    """The same spec gives the same pages; pages are about 6 KB; a tenth are Japanese."""
    a = Generator(SiteSpec(articles=40), "http://127.0.0.1:1")
    b = Generator(SiteSpec(articles=40), "http://127.0.0.1:1")
    pages = [a.article(n) for n in range(40)]
    assert [p.page for p in pages] == [b.article(n).page for n in range(40)]
    assert all(4_500 < len(p.page) < 8_000 for p in pages)
    assert sum(p.japanese for p in pages) == 4
    assert sum(p.planted for p in pages) == 6  # n = 0, 7, ..., 35


def test_planted_paragraphs_fire_exactly_their_rule() -> None:
    """Each planted paragraph fires the rule it names under the repository's rules, no other."""
    matcher = compile_rules(load_rules(ROOT / "rules"))
    for rule, paragraph in (*TOPICS_EN, *TOPICS_JA):
        found = {h.rule_id for h in match(matcher, Document("t", paragraph, "127.0.0.1", "u"))}
        assert found == ({rule} if rule else set()), paragraph


def test_growing_feed_publishes_per_poll_then_answers_304() -> None:
    """Each GET of a growing feed publishes new entries; with nothing left it answers 304."""
    spec = SiteSpec(feeds=2, articles=8, grow=True, per_poll=2, window=3)
    with serve(spec) as site:
        url = site.feed_urls()[0]
        seen = []
        etag = ""
        for _ in range(2):
            status, body, etag = _get(url, etag)
            assert status == 200
            seen.append(body.count(b"<item>"))
        status, _, _ = _get(url, etag)  # feed 0 has 4 articles: all out, nothing new
        assert status == 304
        page_status, page, _ = _get(site.generator.url(0))
        stats = site.stats()
    assert seen == [2, 3]  # the window keeps the newest three
    assert page_status == 200
    assert page == site.generator.article(0).page
    assert stats.feed_requests == 3
    assert stats.feed_not_modified == 1
    assert stats.published == 4  # feed 0's four; feed 1 was never polled
    assert stats.pages == 1


def test_naive_pipeline_only_fetches_127_0_0_1(tmp_path: Path) -> None:
    """The naive pipeline refuses any URL not on http://127.0.0.1 before fetching it."""
    assert check_local("http://127.0.0.1:8000/feed.xml")
    for url in ("http://example.com/feed.xml", "https://127.0.0.1/x", "http://localhost/x"):
        with pytest.raises(LocalOnly):
            check_local(url)
    with pytest.raises(SystemExit) as exc:
        naive_main(["--rules", "rules", "--out", str(tmp_path / "o"), "http://10.0.0.1/f"])
    assert exc.value.code == 2


def test_process_tree_snapshot_and_slope() -> None:
    """A snapshot of this process sees it, its memory and its fds; the slope of a line is exact."""
    tree = snapshot(os.getpid())
    assert tree.processes >= 1
    assert tree.rss_mb > 1
    assert tree.pss_mb > 0
    assert tree.fds >= 3
    assert slope([(0, 1.0), (1, 3.0), (2, 5.0)]) == pytest.approx(2.0)
    assert slope([(1, 1.0)]) == 0.0


def test_soak_runs_the_daemon_on_a_tiny_site() -> None:
    """The soak runs the real daemon until every article is stored, samples it, stops it cleanly."""
    result = run_soak(120, feeds=3, per_poll=20, interval=0.5, stall=40, timeout=90)
    assert result.stored == 120
    assert result.samples
    assert result.samples[-1].tree.processes >= 2  # the daemon and its extraction processes
    assert result.samples[-1].tree.db_connections >= 1
    assert result.exit_code == 0
    assert result.expected_hits > 0
    assert result.missing_hits == 0
    section = soak_report(result, command="test")
    assert section.name == "soak"
    assert any(row.metric == "peak tree RSS" for row in section.rows)
    assert any(line.startswith("| t (s) |") for line in section.notes)


def test_peer_compares_both_pipelines_on_a_tiny_site() -> None:
    """The peer comparison runs the naive script and `watcher run --once` and compares hits."""
    result = run_peer(feeds=2, per_feed=4, runs=1, small_feeds=1)
    assert len(result.naive) == len(result.watcher) == len(result.small.naive) == 1
    assert all(m.exit_code == 0 and m.wall_s > 0 and m.cpu_s > 0 for m in result.naive)
    assert all(m.exit_code == 0 and m.peak_rss_mb > 0 for m in result.watcher)
    assert result.watcher_hits == result.planted
    assert result.naive_hits == result.planted
    section = peer_report(result, command="test")
    assert section.name == "peer"
    assert "identical" in section.verdict


def test_both_benchmarks_are_discovered_and_helpers_are_not() -> None:
    """`python -m bench` finds soak and peer; the site and the naive script are not benchmarks."""
    found = discover()
    assert {"soak", "peer"} <= set(found)
    assert not {"newsite", "naive_pipeline"} & set(found)
