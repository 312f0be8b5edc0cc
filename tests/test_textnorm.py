"""Text normalisation: folding, skeletons, word positions and offsets back."""

# Typographic quotes, dashes and full-width forms are the very data under test.
# ruff: noqa: RUF001

from __future__ import annotations

import pytest

from watcher.text.normalize import FieldText, fold, is_nospace_char, is_word_char, skeleton_of


@pytest.mark.parametrize(
    ("text", "skeleton"),
    [
        ("Japan's “Pillar II”", "japan s pillar ii"),
        ("export‑control — rules", "export control rules"),
        ("ＡＵＫＵＳ（オーカス）", "aukus オカス"),
        ("枠組みAUKUSの", "枠組みaukusの"),
        ("Pillar\nII", "pillar ii"),
        ("セキュリティ・クリアランス", "セキユリテイクリアランス"),
        ("日本 政府", "日本政府"),
        ("日本、政府", "日本 政府"),
        ("ｵｰｶｽ ｶﾞ", "オカスガ"),
        # The press's variants of one loan word fold to one skeleton.
        ("セキュリティー・クリアランス", "セキユリテイクリアランス"),
        ("セキュリティ クリアランス", "セキユリテイクリアランス"),
        ("ウィルス", "ウイルス"),
        ("3ヶ国 3ヵ国 3カ国", "3カ国 3カ国 3カ国"),
        ("ｾｷｭﾘﾃｨｰ", "セキユリテイ"),
        ("Straße", "strasse"),
        ("  --  ", ""),
        ("F-35 and F35", "f 35 and f35"),
    ],
)
def test_skeleton(text: str, skeleton: str) -> None:
    """Texts reduce to one canonical skeleton: folded words, single separators."""
    assert skeleton_of(text) == skeleton


def test_fold_keeps_ascii_offsets() -> None:
    """ASCII text folds to lower case with identity offsets."""
    assert fold("AbC") == ("abc", None, None)


def test_fold_maps_expansions_back() -> None:
    """A character that folds to several (ß -> ss) maps each back to itself."""
    folded, starts, ends = fold("aßb")
    assert folded == "assb"
    assert (starts, ends) == ([0, 1, 1, 2], [1, 2, 2, 3])


def test_fold_keeps_combining_marks_with_their_base() -> None:
    """A decomposed accent composes with its base letter under NFKC."""
    folded, starts, ends = fold("e\u0301cole")
    assert folded == "école"
    assert (starts, ends) == ([0, 2, 3, 4, 5], [2, 3, 4, 5, 6])


@pytest.mark.parametrize(
    ("ch", "word", "nospace"),
    [
        ("a", True, False),
        ("7", True, False),
        ("日", False, True),
        ("カ", False, True),
        ("ー", False, True),
        ("・", False, False),
        ("ก", False, True),
        ("я", True, False),
        ("-", False, False),
    ],
)
def test_character_classes(ch: str, word: bool, nospace: bool) -> None:
    """Letters of spaced scripts are word characters; CJK and Thai are no-space."""
    assert (is_word_char(ch), is_nospace_char(ch)) == (word, nospace)


def test_word_positions_latin() -> None:
    """Each word run is one word position."""
    ft = FieldText("Japan, AUKUS and pillar-II")
    assert ft.skeleton == "japan aukus and pillar ii"
    assert [ft.word_at(ft.skeleton.index(w)) for w in ("japan", "aukus", "and", "ii")] == [
        0,
        1,
        2,
        4,
    ]
    assert ft.words == 5


def test_word_positions_count_two_cjk_characters_as_one_word() -> None:
    """In scripts without spaces every two characters count as one word."""
    ft = FieldText("日本との協力AUKUS")
    assert [ft.word_at(k) for k in range(6)] == [0, 0, 1, 1, 2, 2]
    assert ft.word_at(6) == 3  # the Latin word after the run
    assert ft.words == 4


def test_odd_cjk_run_rounds_up() -> None:
    """A run of three characters takes two word positions."""
    ft = FieldText("日本国 x")
    assert ft.word_at(ft.skeleton.index("x")) == 2


@pytest.mark.parametrize(
    ("text", "needle", "original"),
    [
        ("Say ＡＵＫＵＳ now", "aukus", "ＡＵＫＵＳ"),
        ("Japan’s “Pillar II”", "japan s pillar ii", "Japan’s “Pillar II"),
        ("Straße here", "strasse", "Straße"),
        ("ｵｰｶｽ", "オカス", "ｵｰｶｽ"),
        (
            "セキュリティ・\nクリアランス",
            "セキユリテイクリアランス",
            "セキュリティ・\nクリアランス",
        ),
        ("plain ascii text", "ascii text", "ascii text"),
    ],
)
def test_original_span(text: str, needle: str, original: str) -> None:
    """A skeleton span maps back to the exact original characters."""
    ft = FieldText(text)
    k = ft.skeleton.index(needle)
    start, end = ft.original_span(k, k + len(needle))
    assert text[start:end] == original
