"""Extraction quality and speed: watcher's settings against plain trafilatura, same run.

    .venv/bin/python -m bench extraction        # the comparison table in BENCHMARKS.md
    .venv/bin/python -m bench.extraction [--workers N]   # the gate's numbers, pool included

`run_benchmark` extracts every page of each corpus in ../shared/corpora
(the ScrapingHub benchmark, trafilatura's news eval pages) and of generated
news pages with each candidate setting, in this process, one after the
other, and reports per corpus: F1 (the benchmark's 4-token shingles, or
snippets for the eval pages), bag-of-words F1, mean milliseconds per page,
and the pages *cut*: plain trafilatura scores >= 0.9 bag-of-words F1 and
the setting < 0.6. A second table measures page metadata (none, cheap,
full): cost per page and how often the date and title match the annotations.

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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.report import BenchReport, Row

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


_TOKEN = re.compile(r"\w+")


def bag_of_words_f1(truth: str, prediction: str) -> float:
    """F1 of the two texts' lower-cased word multisets (0 when they share no word)."""
    expected = Counter(_TOKEN.findall(truth.lower()))
    found = Counter(_TOKEN.findall(prediction.lower()))
    overlap = sum((expected & found).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(found.values()), overlap / sum(expected.values())
    return 2 * precision * recall / (precision + recall)


EVAL_SUBSET = SHARED / "corpora" / "trafilatura-eval-subset"
Extractor = Callable[[bytes, str], str]


def _settings() -> dict[str, Extractor]:
    """Name -> a function (page bytes, url) -> text, for each setting compared."""
    import trafilatura

    from watcher.extract.page import ExtractOptions, Metadata, extract_page
    from watcher.text.charset import decode_html

    def plain(body: bytes, url: str) -> str:
        # Given text, as watcher decodes it: trafilatura's own guess on bytes costs more.
        return trafilatura.extract(decode_html(body, "text/html")[0]) or ""

    def ours(options: ExtractOptions) -> Extractor:
        def run(body: bytes, url: str) -> str:
            page = extract_page(body, url=url, content_type="text/html", options=options).page
            return page.text if page else ""

        return run

    def precision(body: bytes, url: str) -> str:
        text = re.sub(r"^\s*<\?xml\b[^>]*\?>", "", decode_html(body, "text/html")[0])
        found = trafilatura.bare_extraction(
            text,
            url=url,
            favor_precision=True,
            include_comments=False,
            deduplicate=False,
            with_metadata=True,
        )
        return (found.text or "") if found is not None and not isinstance(found, dict) else ""

    return {
        "plain trafilatura.extract": plain,
        "watcher (pipeline: no page metadata)": ours(ExtractOptions(metadata=Metadata.NONE)),
        "watcher (cheap page metadata)": ours(ExtractOptions()),
        "favor_precision + metadata (before 2026-12)": precision,
    }


@dataclass(frozen=True)
class Corpus:
    """Pages with what a correct extraction contains."""

    name: str
    pages: list[tuple[bytes, str, str]]  # (html, url, truth text; "" for snippet corpora)
    snippets: list[tuple[list[str], list[str]]] | None = None  # (must contain, must not)


def _corpora() -> list[Corpus]:
    from bench.cycle import PER_FEED, sample_pages

    found = []
    if BENCHMARK.is_dir():
        found.append(Corpus("ScrapingHub (181)", list(load_benchmark().values())))
    if EVAL_SUBSET.is_dir():
        data = json.loads((EVAL_SUBSET / "evaldata-subset.json").read_text(encoding="utf-8"))
        pages, snippets = [], []
        for url, item in data.items():
            pages.append(((EVAL_SUBSET / "html" / item["file"]).read_bytes(), url, ""))
            wanted = [x for x in item["with"] if isinstance(x, str)]
            unwanted = [x for x in item["without"] if isinstance(x, str)]
            snippets.append((wanted, unwanted))
        found.append(Corpus(f"trafilatura eval ({len(pages)})", pages, snippets))
    generated = []
    for _path, body in sample_pages(PER_FEED, 60):
        generated.append((body, "http://127.0.0.1/a.html", _generated_truth(body)))
    found.append(Corpus("generated news pages (60)", generated))
    return found


def _generated_truth(body: bytes) -> str:
    """The article paragraphs of a `bench.cycle` page (its `<p>` elements in `<article>`)."""
    import html as html_module

    text = body.decode("utf-8")
    article = text[text.find("<article") : text.find("</article>")]
    return "\n".join(html_module.unescape(p) for p in re.findall(r"<p>(.*?)</p>", article))


def _measure(corpus: Corpus, run: Extractor) -> tuple[list[str], list[float]]:
    texts, times = [], []
    for body, url, _truth in corpus.pages[:3]:
        run(body, url)  # warm up
    for body, url, _truth in corpus.pages:
        started = time.perf_counter()
        texts.append(run(body, url))
        times.append(time.perf_counter() - started)
    return texts, times


def _snippet_f1(corpus: Corpus, texts: list[str]) -> tuple[float, list[float]]:
    assert corpus.snippets is not None
    tp = fn = fp = 0
    per_page = []
    for (wanted, unwanted), text in zip(corpus.snippets, texts, strict=True):
        found = sum(x in text for x in wanted)
        tp, fn, fp = tp + found, fn + len(wanted) - found, fp + sum(x in text for x in unwanted)
        per_page.append(found / len(wanted) if wanted else 1.0)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return 2 * precision * recall / (precision + recall), per_page


def _metadata_rows() -> list[Row]:
    """Cost and quality of each page-metadata option on the eval pages (dates annotated)."""
    from watcher.extract.page import ExtractOptions, Metadata, extract_page

    if not EVAL_SUBSET.is_dir():
        return [Row("page metadata", "n/a", "../shared absent")]
    data = json.loads((EVAL_SUBSET / "evaldata-subset.json").read_text(encoding="utf-8"))
    pages = [((EVAL_SUBSET / "html" / i["file"]).read_bytes(), u, i) for u, i in data.items()]
    rows = []
    for mode in Metadata:
        options = ExtractOptions(metadata=mode)
        times, dated, right, titled = [], 0, 0, 0
        for body, url, item in pages:
            started = time.perf_counter()
            page = extract_page(body, url=url, content_type="text/html", options=options).page
            times.append(time.perf_counter() - started)
            if item.get("date"):
                dated += 1
                right += bool(
                    page and page.published and page.published.date().isoformat() == item["date"]
                )
            titled += bool(page and page.title)
        rows.append(
            Row(
                f"metadata {mode.value}",
                f"{statistics.mean(times) * 1000:.1f} ms",
                f"extract_page per page; date right on {right} of {dated} annotated pages, "
                f"a title on {titled} of {len(pages)}",
            )
        )
    return rows


def run_benchmark(quick: bool = False) -> BenchReport:
    """Each setting on each corpus, plain trafilatura in the same run; metadata options."""
    import os

    settings = _settings()
    rows: list[Row] = [Row("load average at start", f"{os.getloadavg()[0]:.2f}", "1-minute")]
    verdicts = []
    corpora = _corpora()
    if quick:
        corpora = [Corpus(c.name, c.pages[:8], c.snippets and c.snippets[:8]) for c in corpora]
    for corpus in corpora:
        scores: dict[str, tuple[float, list[float]]] = {}
        for name, run in settings.items():
            texts, times = _measure(corpus, run)
            if corpus.snippets is not None:
                f1, words = _snippet_f1(corpus, texts)
                label, per_page = "snippet F1", "mean share of must-contain snippets found"
            else:
                truth = [t for _, _, t in corpus.pages]
                f1 = score(zip(truth, texts, strict=True)).f1
                words = [bag_of_words_f1(t, x) for t, x in zip(truth, texts, strict=True)]
                label, per_page = "shingle F1", "bag-of-words F1"
            scores[name] = (f1, words)
            plain_words = scores["plain trafilatura.extract"][1]
            cut = sum(1 for p, w in zip(plain_words, words, strict=True) if p >= 0.9 and w < 0.6)
            rows.append(
                Row(
                    f"{corpus.name}: {name}",
                    f"{f1:.3f}",
                    f"{label}; {per_page} {statistics.mean(words):.3f}; "
                    f"{statistics.mean(times) * 1000:.1f} ms/page; pages cut {cut}",
                )
            )
        plain_f1 = scores["plain trafilatura.extract"][0]
        ours_f1 = scores["watcher (pipeline: no page metadata)"][0]
        verdicts.append(f"{corpus.name.split(' (')[0]} {ours_f1:.3f} vs {plain_f1:.3f}")
        verdicts[-1] = ("" if ours_f1 >= plain_f1 else "BELOW: ") + verdicts[-1]
    rows.extend(_metadata_rows())
    ok = not any(v.startswith("BELOW") for v in verdicts)
    return BenchReport(
        name="extraction",
        title="Extraction settings: F1, cost and cut pages against plain trafilatura",
        command=".venv/bin/python -m bench extraction" + (" --quick" if quick else ""),
        rows=tuple(rows),
        verdict=f"{'PASS' if ok else 'FAIL'}: watcher F1 >= plain trafilatura's on every corpus "
        f"({'; '.join(verdicts)})",
        notes=(
            "Every setting runs in this process on the same pages, one after the other; the "
            "times are comparable within this table only (the machine is shared). *Pages cut*: "
            "plain trafilatura scores >= 0.9 bag-of-words F1 on the page (the share of "
            "must-contain snippets on the eval pages), the setting < 0.6. "
            "watcher = two passes (trafilatura with favor_recall and fast; its defaults when "
            "that finds under 2,500 characters), comments off, tables on; the pipeline asks "
            "for no page metadata when the feed entry has its title and date, else for the "
            "cheap metadata (meta tags, JSON-LD, htmldate without extensive search).",
        ),
    )


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
