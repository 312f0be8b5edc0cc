"""Extraction quality and speed on the ScrapingHub article-extraction benchmark.

    .venv/bin/python -m bench.extraction [--workers N]

Reads ../shared/corpora/article-extraction-benchmark (181 pages with ground
truth) and prints precision, recall and F1 as the benchmark defines them
(its README: multisets of 4-token `\\w+` shingles, per-page (tp, fp, fn)
normalised to sum 1, P and R averaged over pages, F1 from the two means),
plus the time per page in this process and through `ExtractorPool`.
The metric is reimplemented from that description; the test gate
(tests/test_extract_quality.py) uses the same functions.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
BENCHMARK = SHARED / "corpora" / "article-extraction-benchmark"
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Scores:
    """The benchmark's summary numbers."""

    precision: float
    recall: float
    f1: float
    accuracy: float
    pages: int


def _shingles(text: str) -> Counter[tuple[str, ...]]:
    tokens = _WORD.findall(text)
    if len(tokens) < 4:
        return Counter([tuple(tokens)]) if tokens else Counter()
    return Counter(tuple(tokens[i : i + 4]) for i in range(len(tokens) - 3))


def page_counts(truth: str, prediction: str) -> tuple[int, int, int]:
    """(tp, fp, fn) over 4-token shingle multisets for one page."""
    expected, found = _shingles(truth), _shingles(prediction)
    tp = sum((expected & found).values())
    fp = sum((found - expected).values())
    fn = sum((expected - found).values())
    return tp, fp, fn


def score(pairs: Iterable[tuple[str, str]]) -> Scores:
    """Scores over (truth, prediction) pairs, as the benchmark computes them."""
    precisions: list[float] = []
    recalls: list[float] = []
    exact = pages = 0
    for truth, prediction in pairs:
        pages += 1
        exact += _WORD.findall(truth) == _WORD.findall(prediction)
        tp, fp, fn = page_counts(truth, prediction)
        total = tp + fp + fn
        if total == 0:
            continue
        tp_, fp_, fn_ = tp / total, fp / total, fn / total
        if fp == 0 and fn == 0:
            precision = recall = 1.0
        else:
            precision = tp_ / (tp_ + fp_) if tp_ + fp_ > 0 else 0.0
            recall = tp_ / (tp_ + fn_) if tp_ + fn_ > 0 else 0.0
        if tp + fp > 0:
            precisions.append(precision)
        if tp + fn > 0:
            recalls.append(recall)
    p = statistics.fmean(precisions) if precisions else 0.0
    r = statistics.fmean(recalls) if recalls else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return Scores(p, r, f1, exact / pages if pages else 0.0, pages)


def load_benchmark(root: Path = BENCHMARK) -> dict[str, tuple[bytes, str, str]]:
    """{page id: (html bytes, original url, ground-truth body)}."""
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    return {
        key: (
            gzip.decompress((root / "html" / f"{key}.html.gz").read_bytes()),
            item["url"],
            item["articleBody"],
        )
        for key, item in truth.items()
    }


def score_texts(results: Mapping[str, str], truth: Mapping[str, str]) -> Scores:
    """Scores of predicted bodies by page id against the true bodies (missing ids: empty)."""
    return score((truth[key], results.get(key, "")) for key in truth)


def main() -> None:
    from watcher.extract.page import extract_page
    from watcher.extract.pool import ExtractorPool, PoolSettings
    from watcher.extract.worker import PageInput

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    pages = load_benchmark()
    truth = {key: body for key, (_, _, body) in pages.items()}

    times: list[float] = []
    texts: dict[str, str] = {}
    for key, (html, url, _) in pages.items():
        started = time.perf_counter()
        result = extract_page(html, url=url, content_type="text/html")
        times.append(time.perf_counter() - started)
        texts[key] = result.page.text if result.page else ""
    scores = score_texts(texts, truth)
    print(
        f"in process: P {scores.precision:.3f} R {scores.recall:.3f} F1 {scores.f1:.3f} "
        f"accuracy {scores.accuracy:.3f} over {scores.pages} pages; median "
        f"{statistics.median(times) * 1000:.0f} ms, worst {max(times) * 1000:.0f} ms, "
        f"total {sum(times):.1f} s"
    )

    started = time.perf_counter()
    with ExtractorPool(PoolSettings(workers=args.workers)) as pool:
        results = pool.extract_many(PageInput(h, u, "text/html") for h, u, _ in pages.values())
    elapsed = time.perf_counter() - started
    pooled = dict(zip(pages, (r.page.text if r.page else "" for r in results), strict=True))
    scores = score_texts(pooled, truth)
    print(
        f"pool of {args.workers}: F1 {scores.f1:.3f}; {elapsed:.1f} s wall for "
        f"{len(pages)} pages including worker start ({len(pages) / elapsed:.0f} pages/s)"
    )


if __name__ == "__main__":
    main()
