"""The lead scope: `lead:x` matches in the title and the text's first paragraphs."""

from __future__ import annotations

import pytest

from tests.rules_helpers import matches
from watcher.rules.lead import LEAD_MAX_WORDS, LEAD_MIN_WORDS, lead_cut, lead_words
from watcher.rules.parse import parse_query

FILLER = "word " * 40  # 40 words


def test_the_lead_takes_whole_paragraphs_until_the_minimum() -> None:
    """Paragraphs are taken whole until LEAD_MIN_WORDS words are in."""
    first = FILLER.strip()  # 40 words: not enough
    second = FILLER.strip()  # 80 words: enough, the paragraph is kept whole
    third = "later paragraph"
    text = f"{first}\n{second}\n{third}"
    assert lead_cut(text) == len(first) + 1 + len(second)
    assert lead_words(text) == 80


def test_the_lead_is_capped() -> None:
    """A text without line breaks (an aggregator page) is cut at LEAD_MAX_WORDS."""
    text = "word " * 500
    assert lead_words(text) == LEAD_MAX_WORDS
    assert LEAD_MIN_WORDS < LEAD_MAX_WORDS


def test_a_short_text_is_all_lead() -> None:
    """A short copy is its own lead."""
    assert lead_words("Japan joins AUKUS talks.") == 4


@pytest.mark.parametrize(
    ("text", "title", "expected"),
    [
        ("AUKUS in the first sentence.\n" + FILLER * 5, "", True),
        (FILLER + "\n" + FILLER + "\n" + "AUKUS only much later.", "", False),
        (FILLER + "\n" + FILLER + "\n" + "AUKUS only much later.", "AUKUS talks", True),
        (FILLER + "AUKUS", "", True),  # word 41, inside the first paragraph
        ("word " * 130 + "AUKUS", "", False),  # past the cap in one paragraph
        # Japanese: two characters make a word, so the lede paragraph is the lead.
        ("日本はオーカスに参加を検討。\n" + "あいうえお" * 100, "", True),
        ("あいうえお" * 60 + "\n" + "あいうえお" * 60 + "オーカス", "", False),
    ],
)
def test_lead_scope(text: str, title: str, expected: bool) -> None:
    """`lead:AUKUS` matches only in the title or the first paragraphs of the text."""
    assert matches("lead:(AUKUS OR オーカス)", text, title) is expected
    assert matches("AUKUS OR オーカス", text, title) is True  # unscoped: anywhere


def test_lead_scope_under_near_and_atleast() -> None:
    """`lead:` is positional: it works under NEAR and ATLEAST."""
    text = "Japan and AUKUS.\n" + FILLER + "\n" + FILLER + "\nJapan again, and AUKUS again."
    assert matches("ATLEAST(1, lead:Japan) AND ATLEAST(2, Japan)", text)
    assert not matches("ATLEAST(2, lead:Japan)", text)
    assert matches("lead:Japan NEAR/2 AUKUS", text)


def test_lead_parses_like_title() -> None:
    """`lead:` takes a term, phrase, group or set right after the colon."""
    assert parse_query('lead:"pillar II"') is not None
    assert parse_query("lead:(a OR b)") is not None
