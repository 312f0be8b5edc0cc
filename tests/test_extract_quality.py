"""The extraction quality gate (FAULTS.md section 4) over the shared corpora."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.extraction import BENCHMARK, load_benchmark, score, score_texts
from watcher.extract.page import extract_page
from watcher.extract.pool import ExtractorPool, PoolSettings
from watcher.extract.worker import PageInput
from watcher.model import ExtractionStatus

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
EVAL_SUBSET = SHARED / "corpora" / "trafilatura-eval-subset"
F1_GATE = 0.94  # FAULTS.md; measured 0.964 with our options (trafilatura defaults: 0.953)


def _need(path: Path) -> None:
    if not path.is_dir():
        pytest.skip(f"{path} is absent: the shared corpora are not checked out next to the repo")


def test_metric_reproduces_upstream_score() -> None:
    """Our metric gives upstream's published F1 0.958 for its trafilatura 2.0.0 predictions."""
    _need(BENCHMARK)
    truth = json.loads((BENCHMARK / "ground-truth.json").read_text(encoding="utf-8"))
    reference = json.loads((BENCHMARK / "output" / "trafilatura.json").read_text(encoding="utf-8"))
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
    """Over the 181 benchmark pages, via the pool, F1 is at least 0.94 and no page fails."""
    _need(BENCHMARK)
    pages = load_benchmark()
    with ExtractorPool(PoolSettings(workers=2)) as pool:
        results = pool.extract_many(
            PageInput(html, url, "text/html") for html, url, _ in pages.values()
        )
    assert all(r.status in (ExtractionStatus.OK, ExtractionStatus.PARTIAL) for r in results), [
        r.reason for r in results
    ]
    texts = {key: r.page.text if r.page else "" for key, r in zip(pages, results, strict=True)}
    scores = score_texts(texts, {key: body for key, (_, _, body) in pages.items()})
    assert scores.f1 >= F1_GATE, scores


def _eval_subset() -> list[tuple[str, dict[str, object]]]:
    _need(EVAL_SUBSET)
    data = json.loads((EVAL_SUBSET / "evaldata-subset.json").read_text(encoding="utf-8"))
    return list(data.items())


def test_eval_subset_snippets() -> None:
    """On the trafilatura news subset snippet F1 is >= 0.94, and NHK and Xinhua pass fully."""
    tp = fn = fp = tn = 0
    for url, item in _eval_subset():
        html = (EVAL_SUBSET / "html" / str(item["file"])).read_bytes()
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
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert 2 * precision * recall / (precision + recall) >= 0.94, (tp, fn, fp, tn)


def test_eval_subset_metadata() -> None:
    """Dates match the annotations on most of the subset; every annotated page has a title."""
    dated = matched = 0
    for url, item in _eval_subset():
        html = (EVAL_SUBSET / "html" / str(item["file"])).read_bytes()
        page = extract_page(html, url=url, content_type="text/html").page
        assert page is not None
        if item.get("title"):
            assert page.title, item["file"]
        if item.get("date"):
            dated += 1
            matched += (
                page.published is not None and page.published.date().isoformat() == item["date"]
            )
    assert matched >= 0.8 * dated, (matched, dated)  # measured: 24 of 28
