"""The extraction quality gates over the shared corpora (skipped without ../shared).

The floors below are pinned at what the current extraction options measure,
minus a small stated margin, so a regression of a page or two fails the gate
instead of hiding under an old, looser threshold. When the extraction options
change on purpose, re-measure and update the constants together:

    .venv/bin/python -m bench.extraction                  # prints the benchmark F1
    .venv/bin/python -m pytest -q -rP tests/test_extract_quality.py   # prints every figure
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.extraction import load_benchmark, score, score_texts
from tests.support.shared import shared_path
from watcher.extract.page import extract_page
from watcher.extract.pool import ExtractorPool, PoolSettings
from watcher.extract.worker import PageInput
from watcher.model import ExtractionStatus

# The ScrapingHub article-extraction benchmark (181 pages): F1 measured 0.9616
# (P 0.9447, R 0.9791) with the two-pass extraction (recall first, trafilatura's
# defaults for short finds), through the pool of 2; plain trafilatura gives 0.953.
# The floor leaves about 0.007 of margin, a little over one page of the 181
# extracted wrongly; one failing page costs about 0.0055.
BENCHMARK_F1_MEASURED = 0.962
BENCHMARK_F1_FLOOR = 0.955
# The trafilatura news subset (29 pages, 89 wanted and 87 unwanted snippets):
# snippet F1 measured 0.9503 (86 found, 3 missed, 6 leaked). One snippet more
# missed or leaked costs about 0.006; the floor allows nearly one.
SUBSET_SNIPPET_F1_MEASURED = 0.9503
SUBSET_SNIPPET_F1_FLOOR = 0.945
# Dates on the subset, counted, not sampled, so pinned exactly: with the cheap
# page metadata (meta tags, JSON-LD, htmldate without its extensive search) a
# publication date is found on 28 of the 29 pages, and it equals the annotation
# on 24 of the 28 pages that have one (the extensive search found one more date,
# not a matching one, at twice the cost).
SUBSET_PAGES = 29
SUBSET_DATED_PAGES = 28
SUBSET_DATES_ANNOTATED = 28
SUBSET_DATES_MATCHED = 24


def _benchmark() -> Path:
    return shared_path("corpora", "article-extraction-benchmark")


def test_metric_reproduces_upstream_score() -> None:
    """Our metric gives upstream's published F1 0.958 for its trafilatura 2.0.0 predictions."""
    root = _benchmark()
    truth = json.loads((root / "ground-truth.json").read_text(encoding="utf-8"))
    reference = json.loads((root / "output" / "trafilatura.json").read_text(encoding="utf-8"))
    predicted = {key: item["articleBody"] for key, item in reference["output"].items()}
    scores = score_texts(predicted, {key: item["articleBody"] for key, item in truth.items()})
    assert (round(scores.precision, 3), round(scores.recall, 3), round(scores.f1, 3)) == (
        0.938,
        0.978,
        0.958,
    )


@pytest.mark.parametrize(
    ("truth", "prediction", "f1"),
    [("a b c d e", "a b c d e", 1.0), ("a b c d e", "", 0.0), ("", "", 0.0), ("a b", "a b", 1.0)],
)
def test_metric_edge_cases(truth: str, prediction: str, f1: float) -> None:
    """Identical texts score 1, an empty prediction 0, and short texts make one shingle."""
    assert score([(truth, prediction)]).f1 == f1


def test_benchmark_f1_gate() -> None:
    """Over the 181 benchmark pages, via the pool, F1 stays at its pinned floor; no page fails."""
    pages = load_benchmark(_benchmark())
    assert len(pages) == 181
    with ExtractorPool(PoolSettings(workers=2)) as pool:
        results = pool.extract_many(
            PageInput(html, url, "text/html") for html, url, _ in pages.values()
        )
    assert all(r.status in (ExtractionStatus.OK, ExtractionStatus.PARTIAL) for r in results), [
        r.reason for r in results
    ]
    texts = {key: r.page.text if r.page else "" for key, r in zip(pages, results, strict=True)}
    scores = score_texts(texts, {key: body for key, (_, _, body) in pages.items()})
    print(f"benchmark F1 {scores.f1:.4f} (P {scores.precision:.4f}, R {scores.recall:.4f})")
    assert scores.f1 >= BENCHMARK_F1_FLOOR, (scores, f"measured {BENCHMARK_F1_MEASURED}")


def _eval_subset() -> tuple[Path, list[tuple[str, dict[str, object]]]]:
    root = shared_path("corpora", "trafilatura-eval-subset")
    data = json.loads((root / "evaldata-subset.json").read_text(encoding="utf-8"))
    assert len(data) == SUBSET_PAGES
    return root, list(data.items())


def test_eval_subset_snippets() -> None:
    """On the trafilatura news subset snippet F1 stays at its floor; NHK and Xinhua pass fully."""
    tp = fn = fp = tn = 0
    root, items = _eval_subset()
    fully_checked = 0
    for url, item in items:
        html = (root / "html" / str(item["file"])).read_bytes()
        result = extract_page(html, url=url, content_type="text/html")
        text = result.page.text if result.page else ""
        wanted = [s for s in item["with"] if isinstance(s, str)]  # type: ignore[attr-defined]
        unwanted = [s for s in item["without"] if isinstance(s, str)]  # type: ignore[attr-defined]
        found = sum(s in text for s in wanted)
        leaked = sum(s in text for s in unwanted)
        tp, fn = tp + found, fn + len(wanted) - found
        fp, tn = fp + leaked, tn + len(unwanted) - leaked
        if str(item["file"]).startswith(("nhk.or.jp", "xinhuanet.com")):
            assert result.status is ExtractionStatus.OK, item["file"]
            assert found == len(wanted), (item["file"], [s for s in wanted if s not in text])
            assert leaked == 0, (item["file"], [s for s in unwanted if s in text])
            fully_checked += 1
    assert fully_checked == 2  # one NHK and one Xinhua page were really checked
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    f1 = 2 * precision * recall / (precision + recall)
    print(f"subset snippet F1 {f1:.4f} (found {tp}, missed {fn}, leaked {fp}, kept out {tn})")
    assert f1 >= SUBSET_SNIPPET_F1_FLOOR, (f1, tp, fn, fp, tn, SUBSET_SNIPPET_F1_MEASURED)


def test_eval_subset_metadata() -> None:
    """Dates are found and match the annotations as often as pinned; titled pages get titles."""
    dated = annotated = matched = 0
    root, items = _eval_subset()
    for url, item in items:
        html = (root / "html" / str(item["file"])).read_bytes()
        page = extract_page(html, url=url, content_type="text/html").page
        assert page is not None
        if item.get("title"):
            assert page.title, item["file"]
        dated += page.published is not None
        if item.get("date"):
            annotated += 1
            matched += (
                page.published is not None and page.published.date().isoformat() == item["date"]
            )
    print(f"subset dates: found on {dated} pages, {matched} of {annotated} match the annotation")
    assert annotated == SUBSET_DATES_ANNOTATED
    assert dated >= SUBSET_DATED_PAGES, (dated, SUBSET_PAGES)
    assert matched >= SUBSET_DATES_MATCHED, (matched, annotated)
