"""Story index memory: a stream of fingerprints with a time window and without.

    .venv/bin/python -m bench.storymem [--articles 50000] [--window-days 7]

Not part of `python -m bench` (no `run_benchmark`): a quick check of the
index alone, without the daemon. `PersistentStories` receives one synthetic
article a simulated minute (`remember`, then `commit_pending`, as the
pipeline does), and every 100th article a copy of the previous one is
looked up (`find`, which must join its story). Fingerprints are synthetic
but sized like those of the soak's ~6 KB English articles (850 shingles,
215 sampled hashes: 1,386 bytes stored). tracemalloc counts Python and
NumPy allocations from before the index is built: `peak` is the highest
total, `at half` what is held halfway through the stream and `final` what
is still held after it (equal when memory is flat).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from watcher.model import ArticleRecord, ExtractionStatus, FeedEntry
from watcher.pipeline.story_index import PersistentStories
from watcher.store.articles import SavedArticle
from watcher.stories.cluster import SAMPLE_LIMIT, WORD_SHINGLE, Fingerprint
from watcher.stories.shingles import NUM_PERM

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SHINGLES, SAMPLED = 850, 215  # medians of bench/workload.py's English 6 KB articles
_MB = 1024 * 1024


@dataclass(frozen=True)
class Result:
    """One stream's figures."""

    label: str
    articles: int
    indexed: int
    band_capacity: int
    peak_mb: float
    half_mb: float  # held after half the articles: equal to `final_mb` when flat
    final_mb: float
    seconds: float

    @property
    def per_article_kb(self) -> float:
        """Memory still held per indexed article."""
        return self.final_mb * 1024 / max(1, self.indexed)


def synthetic(rng: np.random.Generator) -> bytes:
    """A clusterable fingerprint unlike any other, of a realistic size."""
    minhash = rng.integers(0, 2**32, NUM_PERM, dtype=np.uint64).astype("<u4")
    sample = rng.choice(SAMPLE_LIMIT, SAMPLED, replace=False).astype("<u4")
    sample.sort()
    fp = Fingerprint(WORD_SHINGLE, SHINGLES, minhash.tobytes(), sample.tobytes(), SAMPLE_LIMIT)
    return fp.to_bytes()


def copy_record(data: bytes) -> ArticleRecord:
    """A new article carrying `data` as its fingerprint (an exact copy)."""
    entry = FeedEntry(key="copy", url="u", title="t", summary="", published=None)
    return ArticleRecord(
        entry=entry,
        url="u",
        canonical_url="u",
        title="t",
        text="",
        summary="",
        outlet="o",
        published=None,
        extraction=ExtractionStatus.OK,
        extraction_reason=None,
        content_hash="h",
        fingerprint=data,
    )


def stream(label: str, articles: int, window: timedelta | None) -> Result:
    """Run `articles` through a fresh index, one per simulated minute."""
    rng = np.random.default_rng(1)
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    started = time.perf_counter()
    stories = PersistentStories(window=window, now=T0)
    previous: bytes | None = None
    half = 0
    for i in range(articles):
        if i == articles // 2:
            half, _ = tracemalloc.get_traced_memory()
        now = T0 + timedelta(minutes=i)
        data = synthetic(rng)
        # Article i was saved as story i: an exact copy of it must join that story.
        if previous is not None and i % 100 == 0 and stories.find(copy_record(previous), now) != i:
            raise AssertionError(f"the copy of article {i} did not join its story")
        stories.remember(SavedArticle(i + 1, i + 1, data, 0, 0), now)
        stories.commit_pending()
        previous = data
    seconds = time.perf_counter() - started
    del previous, data
    gc.collect()
    final, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    result = Result(
        label,
        articles,
        len(stories),
        stories.index.band_capacity,
        (peak - base) / _MB,
        (half - base) / _MB,
        (final - base) / _MB,
        seconds,
    )
    del stories
    return result


def report(results: Sequence[Result]) -> list[str]:
    lines = [
        "| run | articles | indexed at end | band rows allocated | peak MB | MB at half "
        "| final MB | KB per indexed article | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.label} | {r.articles:,} | {r.indexed:,} | {r.band_capacity:,} "
            f"| {r.peak_mb:.1f} | {r.half_mb:.1f} | {r.final_mb:.1f} | {r.per_article_kb:.2f} "
            f"| {r.seconds:.1f} |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.storymem", description=__doc__)
    parser.add_argument("--articles", type=int, default=50_000)
    parser.add_argument("--window-days", type=float, default=7.0)
    args = parser.parse_args(argv)
    window = timedelta(days=args.window_days)
    results = [
        stream(f"window {args.window_days:g} days", args.articles, window),
        stream("no window", args.articles, None),
    ]
    print(f"{args.articles:,} synthetic articles, one per simulated minute; tracemalloc")
    print("\n".join(report(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
