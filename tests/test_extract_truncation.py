"""No silent truncation: pages where `favor_precision` keeps only the first paragraph.

Each page below puts the article's continuation in a box that trafilatura's
precision rules discard (a `border` style or a `bottom` class, plus a class
or id its overall rules treat as hidden or boilerplate), as real layouts do.
The test first proves that `favor_precision` cuts the page, then that
watcher's extraction keeps every paragraph. On the ScrapingHub corpus (when
../shared is present) no page may lose its text where plain trafilatura
finds it.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
import trafilatura

from bench.extraction import BENCHMARK, load_benchmark
from tests.test_extract import ARTICLE_EN, article_page
from watcher.extract.page import extract_page
from watcher.model import ExtractionStatus

CONTINUATIONS = {
    "border and hide-print": (
        '<div class="story-more hide-print" style="border-top: 1px solid #ddd">'
    ),
    "bottom and noprint": '<div class="article-bottom noprint">',
    "border and message": '<div class="message-body" style="border-left: 2px solid #c00">',
    "border and hidden id": '<div id="story-hidden-part" style="border-top: 1px solid #eee">',
}


def cut_page(opening: str) -> str:
    """A news page whose first paragraph is followed by the rest inside `opening`...</div>."""
    lede = f"<p>{ARTICLE_EN[0]}</p>"
    rest = "".join(f"<p>{p}</p>" for p in ARTICLE_EN[1:])
    return article_page([ARTICLE_EN[0]]).replace(lede, f"{lede}\n{opening}{rest}</div>")


@pytest.mark.parametrize("name", sorted(CONTINUATIONS))
def test_pages_cut_by_favor_precision_are_kept_whole(name: str) -> None:
    """favor_precision returns the first paragraph alone; extract_page returns all six."""
    page = cut_page(CONTINUATIONS[name])
    precise = trafilatura.extract(page, favor_precision=True, include_comments=False) or ""
    assert [p in precise for p in ARTICLE_EN] == [True] + [False] * 5  # the page does cut

    result = extract_page(page.encode(), url="https://example.com/p", content_type="text/html")
    assert result.page is not None
    assert all(p in result.page.text for p in ARTICLE_EN), result.page.text
    # The fast recall pass also stops at the box: the passes disagreed, the longer won,
    # and the status says the text may not be the whole article.
    assert result.status is ExtractionStatus.PARTIAL
    assert result.reason
    assert "kept the longer" in result.reason


def test_whole_article_is_ok_not_partial() -> None:
    """An article both passes find whole is OK: PARTIAL is not the common case."""
    page = article_page(ARTICLE_EN)
    result = extract_page(page.encode(), url="https://example.com/p", content_type="text/html")
    assert result.status is ExtractionStatus.OK, result.reason
    assert result.page is not None
    assert all(p in result.page.text for p in ARTICLE_EN)


_WORD = re.compile(r"\w+")


def bag_of_words_f1(truth: str, prediction: str) -> float:
    """F1 of the two texts' lower-cased word multisets."""
    expected, found = (
        Counter(_WORD.findall(truth.lower())),
        Counter(_WORD.findall(prediction.lower())),
    )
    overlap = sum((expected & found).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(found.values()), overlap / sum(expected.values())
    return 2 * precision * recall / (precision + recall)


def test_no_benchmark_page_is_cut_where_plain_trafilatura_is_right() -> None:
    """No ScrapingHub page where plain trafilatura scores >= 0.9 scores < 0.6 with watcher."""
    if not BENCHMARK.is_dir():
        pytest.skip(f"{BENCHMARK} is absent: the shared corpora are not checked out")
    cut = []
    for key, (html, url, truth) in load_benchmark().items():
        plain = bag_of_words_f1(truth, trafilatura.extract(html) or "")
        result = extract_page(html, url=url, content_type="text/html")
        ours = bag_of_words_f1(truth, result.page.text if result.page else "")
        if plain >= 0.9 and ours < 0.6:
            cut.append((key, round(plain, 2), round(ours, 2)))
    assert not cut
