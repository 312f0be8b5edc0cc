"""Fast field preparation agrees exactly with `textnorm.FieldText`, the reference."""

# Typographic quotes, dashes, full-width and compatibility forms are the data under test.
# ruff: noqa: RUF001

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watcher.rules.fields import PreparedField, fast_fold
from watcher.text.normalize import FieldText, fold

# Pieces chosen to hit every path: ASCII, typographic punctuation, accents
# (precomposed and combining), characters folding to several characters,
# Greek final sigma, Cherokee (casefold goes upper), full-width and
# half-width forms with sound marks, kana, kanji, joiners and line breaks.
PIECES = [
    "AUKUS", "pillar", "II", "F-35", "2026", " ", "  ", "\n", "-", ", ", ".", "’s", "“", "”",
    "—", "café", "e\u0301", "Straße", "ﬁ", "ΣΟΦΟΣ", "ς", "İ", "Ꭰꭰ", "ℌ", "ＡＵＫＵＳ", "ｶﾞｲﾑ",
    "日本", "オーカス", "第２の柱", "の", "・", "ー", "㈱", "㍿", "\u00ad", "_", "x_y", "🙂", "𠀋",
    "ｰ", "ｧ", "ッ", "ヶ", "セキュリティー", "ウィ", "ー\u3099", "\u309b", "ヴ",
    # invisible characters, which fold to nothing: zero-width space, joiners, word joiner,
    # byte-order mark, bidi marks and controls (alone and after a combining mark)
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e", "\u202e", "\u2066",
    "e\u0301\u200b",
]  # fmt: skip

texts = st.lists(st.sampled_from(PIECES), max_size=25).map("".join)


def assert_same(text: str) -> None:
    ref, fast = FieldText(text), PreparedField(text)
    assert fast.skeleton == ref.skeleton
    assert fast.words == ref.words
    letters = [k for k, ch in enumerate(ref.skeleton) if ch != " "]
    assert [fast.word_at(k) for k in letters] == [ref.word_at(k) for k in letters]
    assert fast.word_positions(letters) == [ref.word_at(k) for k in letters]
    assert fast.word_positions(letters[::-1]) == [ref.word_at(k) for k in letters[::-1]]
    for a in letters:
        for b in (a + 1, a + 3, a + 8):
            if b <= len(ref.skeleton) and ref.skeleton[b - 1] != " ":
                assert fast.original_span(a, b) == ref.original_span(a, b), (a, b)


@settings(max_examples=400, deadline=None)
@given(texts)
def test_prepared_field_equals_the_reference(text: str) -> None:
    """Skeleton, word count, word positions and original offsets match FieldText exactly."""
    assert_same(text)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_fast_fold_equals_the_reference(text: str) -> None:
    """The bulk fold gives textnorm's folded text and, where offsets move, its tables."""
    folded, starts, ends = fast_fold(text)
    ref_folded, ref_starts, ref_ends = fold(text)
    assert folded == ref_folded
    identity = list(range(len(folded)))
    assert (starts if starts is not None else identity) == (ref_starts or identity)
    assert (ends if ends is not None else [i + 1 for i in identity]) == (
        ref_ends or [i + 1 for i in identity]
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "AUKUS",
        "  “AUKUS” Pillar II — Japan’s role, 2026.  ",
        "日本はオーカスの第２の柱に参加する。AUKUS枠組みAUKUSの",
        "セキュリティ・クリアランス\nセキュリティ\nクリアランス",
        "Ｆ－３５ and ｶﾞｲﾑ and e\u0301cole",
        "pillar 2 " * 300 + "日本",
        "AU\u200bKUS Pil\u00adlar \u202eII\u202c 安全\u200b保障 \ufeffJapan\u2060",
    ],
)
def test_examples_equal_the_reference(text: str) -> None:
    """Hand-picked texts (empty, spaces only, mixed scripts, long) prepare identically."""
    assert_same(text)


def test_no_space_windows_cover_every_run() -> None:
    """The windows to scan for no-space patterns hold each run with `reach` characters
    either side, and there are none in text without such runs."""
    mixed = PreparedField("word " * 50 + "日本" + " word" * 50 + " ドイツ")
    windows = mixed.nospace_windows(4)
    for run in ("日本", "ドイツ"):
        at = mixed.skeleton.index(run)
        assert any(a <= max(0, at - 4) and at + len(run) <= b for a, b in windows)
    assert sum(b - a for a, b in windows) < len(mixed.skeleton) // 4
    assert PreparedField("only latin words").nospace_windows(10) == []


def test_invisible_characters_do_not_split_words() -> None:
    """A soft hyphen, zero-width characters, a BOM or bidi controls inside a word leave
    the word whole in both paths, and offsets still point into the original text."""
    text = "AU\u200bKUS Pil\u00adlar \u202eII\u202c 安全\u200b保障 \ufeffJapan\u2060"
    for prepared in (FieldText(text), PreparedField(text)):
        assert prepared.skeleton == "aukus pillar ii 安全保障 japan"
        start = prepared.skeleton.index("pillar")
        assert prepared.original_span(start, start + len("pillar")) == (
            text.index("Pil"),
            text.index("lar") + 3,
        )
