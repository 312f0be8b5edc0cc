"""Japanese orthographic variants: one term matches every spelling the press uses,
in the fast matcher and in the naive reference alike."""

# Kana variants are the data under test.
# ruff: noqa: RUF001

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.naive import NaiveMatcher
from tests.rules_helpers import make_rule
from watcher.model import Document
from watcher.rules import compile_rules, match
from watcher.rules.fields import PreparedField
from watcher.text.normalize import FieldText, skeleton_of

PAIRS = [
    # (term in the rule, spelling in the article)
    ("セキュリティクリアランス", "セキュリティー・クリアランス制度"),
    ("セキュリティー・クリアランス", "セキュリティクリアランスの導入"),
    ("セキュリティクリアランス", "セキュリティ\nクリアランス"),
    ("セキュリティクリアランス", "ｾｷｭﾘﾃｨｰｸﾘｱﾗﾝｽ"),  # half-width
    ("コンピュータ", "量子コンピューターの開発"),
    ("ウイルス", "ウィルス対策"),
    ("3カ国", "米英豪3ヶ国の枠組み"),
    ("3カ国", "3ヵ国"),
    ("ピラーツー", "ピラー・ツーで協力"),
    ("オーカス", "オ－カス"),  # a full-width hyphen typed for the long-vowel mark
]


@pytest.mark.parametrize(("term", "text"), PAIRS)
def test_one_term_matches_each_spelling(term: str, text: str) -> None:
    """The rule's spelling matches the article's, in both matchers."""
    rules = [make_rule(term)]
    doc = Document(title="", text=f"前文。{text}。後文")
    assert [h.rule_id for h in match(compile_rules(rules), doc)] == ["r"]
    assert NaiveMatcher(rules).match(doc) == ["r"]


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("オーカス", "オークス"),  # another reading, not a spelling variant: a term set's job
        ("第2の柱", "第二の柱"),  # kanji numerals are not folded
        ("ツアー", "ツー"),
    ],
)
def test_other_words_stay_apart(term: str, text: str) -> None:
    """Folding is about spelling only: different words still differ."""
    rules = [make_rule(term)]
    doc = Document(title="", text=text)
    assert match(compile_rules(rules), doc) == []
    assert NaiveMatcher(rules).match(doc) == []


SMALL_TO_LARGE = dict(zip("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカカ", strict=True))
LARGE = [chr(c) for c in range(0x30A2, 0x30F3) if chr(c) not in SMALL_TO_LARGE]


@st.composite
def spellings(draw: st.DrawFn) -> tuple[str, str]:
    """A katakana word and another spelling of it: long-vowel marks added,
    large kana written small where a small form exists, a middle dot."""
    word = draw(st.lists(st.sampled_from(LARGE), min_size=2, max_size=10))
    large_of = {v: k for k, v in SMALL_TO_LARGE.items() if k != "ヶ"}
    other: list[str] = []
    for i, ch in enumerate(word):
        small = ch in large_of and draw(st.booleans())
        other.append(large_of[ch] if small else ch)
        if draw(st.booleans()):
            other.append("ー")
        if 0 < i < len(word) - 1 and draw(st.integers(0, 9)) == 0:
            other.append("・")
    return "".join(word), "".join(other)


@settings(max_examples=300, deadline=None)
@given(spellings())
def test_spellings_share_one_skeleton(pair: tuple[str, str]) -> None:
    """Both spellings reduce to one skeleton, in the reference and the fast preparation."""
    plain, variant = pair
    assert skeleton_of(variant) == skeleton_of(plain)
    assert PreparedField(variant).skeleton == FieldText(variant).skeleton == skeleton_of(plain)
