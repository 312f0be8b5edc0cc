"""One normalisation for document text and query terms, with offsets back.

Rules and documents are compared on a *skeleton* of the text, built the same
way for both:

1. **Folding** (per character cluster: a base character and its combining
   marks): Unicode NFKC (full-width/half-width forms, ligatures, full-width
   brackets -> ASCII), case folding, every dash variant -> `-`, every typographic quote
   -> `'` or `"`; and the Japanese press's orthographic variants of loan
   words: the long-vowel mark `ー` is dropped (`セキュリティー` =
   `セキュリティ`, `コンピューター` = `コンピュータ`) and small katakana read
   as their large forms (`ウィルス` = `ウイルス`, `キャノン` = `キヤノン`,
   `3ヶ国` = `3カ国`). Characters that do not show but can split a word
   are dropped: the soft hyphen, zero-width space, joiner and non-joiner,
   the word joiner, byte-order marks and bidirectional controls, so
   `AU\u200bKUS` and `Pil\u00adlar` match `AUKUS` and `pillar`.
2. **Segmentation** into *word runs* and *no-space runs*:
   - a word run is a maximal run of letters and digits of scripts written
     with spaces (Latin, Greek, Cyrillic, Hangul, ...); `F35`, `pillar`, `2`;
   - a no-space run is a maximal run of characters of scripts written
     without spaces (Japanese kana and kanji, Chinese, Thai, Lao, Khmer,
     Myanmar), including `ー` and `々`;
   - everything else (spaces, punctuation, hyphens, quotes) separates.
   A change between the two kinds is a boundary even without a separator,
   so `AUKUS` is a word in `枠組みAUKUSの`.
3. **Skeleton**: word runs and no-space runs in order; a single space stands
   for any separator, except between two no-space runs separated only by
   spaces, line breaks, hyphens or middle dots (`・`), which are joined:
   Japanese is written without spaces, so `セキュリティ・クリアランス` and a
   line-wrapped `セキュリティ\\nクリアランス` both read `セキュリティクリアランス`.

Word positions (used by `NEAR/n`): every word run is one word. In a
no-space run every **two characters count as one word** (character `k` of
the run is in word `k // 2`), because Chinese and Japanese words average
about two characters; `NEAR/5` in Japanese therefore means "within about
ten characters". Positions increase through the text in order.

`FieldText` keeps the tables to map a skeleton span back to offsets in the
original string, so matches report offsets into the text as it was given.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["FieldText", "fold", "is_nospace_char", "is_word_char", "skeleton_of"]

# Scripts written without spaces between words (matched as substrings).
_NOSPACE_RANGES = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3005-\u3007"  # iteration mark, closing mark, ideographic zero
    "\u3041-\u3096\u3099-\u309f"  # Hiragana (+ sound marks)
    "\u30a0-\u30fa\u30fc-\u30ff"  # Katakana without the middle dot U+30FB
    "\u31f0-\u31ff"  # Katakana phonetic extensions
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\U00020000-\U0003134f"  # CJK extensions B-G
)
_NOSPACE_CLASS = f"[{_NOSPACE_RANGES}]"
_NOSPACE_RE = re.compile(_NOSPACE_CLASS)
_SEGMENT_RE = re.compile(rf"(?P<c>{_NOSPACE_CLASS}+)|(?P<w>(?:(?!{_NOSPACE_CLASS})[^\W_])+)")
_ASCII_WORD_RE = re.compile(r"[a-z0-9]+")
_ASCII_SEP_RE = re.compile(r"[^a-z0-9]+")
# Separators that do not break a no-space run (see the module docstring).
_JOINER_RE = re.compile(r"[\s\-\u30fb\u00b7\uff65]*")

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d"
_SINGLE_QUOTES = "\u2018\u2019\u201a\u201b\u2032\u2035\uff07\u02bc"
_DOUBLE_QUOTES = "\u201c\u201d\u201e\u201f\u2033\u2036\u00ab\u00bb\uff02"
# Japanese outlets and machine translations spell one loan word several
# ways: with or without the long-vowel mark, with small or large kana after
# another kana. Folding both spellings to one lets one term match both.
_LONG_VOWEL = "\u30fc"  # ー (half-width ｰ folds to it under NFKC first)
_SMALL_KATAKANA = {
    "ァ": "ア", "ィ": "イ", "ゥ": "ウ", "ェ": "エ", "ォ": "オ", "ッ": "ツ", "ャ": "ヤ",
    "ュ": "ユ", "ョ": "ヨ", "ヮ": "ワ", "ヵ": "カ", "ヶ": "カ",  # ヶ in 3ヶ国 reads カ
}  # fmt: skip
# Invisible characters that a page or a hostile feed can put inside a word
# (a soft hyphen from hyphenation, zero-width spaces and joiners, the word
# joiner, invisible operators, byte-order marks, bidirectional marks,
# embeddings, overrides and isolates): folded to nothing.
INVISIBLE = (
    "\u00ad\u061c\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
)
_TRANSLATE = str.maketrans(
    {
        **dict.fromkeys(_DASHES, "-"),
        **dict.fromkeys(_SINGLE_QUOTES, "'"),
        **dict.fromkeys(_DOUBLE_QUOTES, '"'),
        _LONG_VOWEL: None,
        **_SMALL_KATAKANA,
        **dict.fromkeys(INVISIBLE),
    }
)
# Half-width voiced sound marks combine with the preceding kana under NFKC.
_HALFWIDTH_MARKS = "\uff9e\uff9f"


@lru_cache(maxsize=65536)
def _fold_cluster(cluster: str) -> str:
    folded = unicodedata.normalize("NFKC", cluster).casefold()
    return unicodedata.normalize("NFKC", folded).translate(_TRANSLATE)


def fold(text: str) -> tuple[str, list[int] | None, list[int] | None]:
    """Fold `text` (NFKC, case, dashes, quotes).

    Returns `(folded, starts, ends)`: folded character `j` comes from the
    original `text[starts[j]:ends[j]]`. For ASCII input the folding keeps
    every offset and both tables are `None` (identity).
    """
    if text.isascii():
        return text.lower(), None, None
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and (unicodedata.combining(text[j]) or text[j] in _HALFWIDTH_MARKS):
            j += 1
        piece = _fold_cluster(text[i:j])
        out.append(piece)
        starts.extend([i] * len(piece))
        ends.extend([j] * len(piece))
        i = j
    return "".join(out), starts, ends


def is_nospace_char(ch: str) -> bool:
    """Is `ch` (folded) a character of a script written without spaces?"""
    return bool(_NOSPACE_RE.match(ch))


def is_word_char(ch: str) -> bool:
    """Is `ch` (folded) a letter or digit of a script written with spaces?"""
    return ch.isalnum() and not is_nospace_char(ch)


@dataclass(frozen=True)
class _Piece:
    skel_start: int  # where the piece starts in the skeleton
    fold_start: int  # where it starts in the folded text
    length: int
    word: int  # word position of the piece (of its first character pair)
    run_offset: int  # offset inside its no-space run; -1 for a word run


class FieldText:
    """A field's text prepared for matching: skeleton, positions, offsets.

    `skeleton` is what patterns are searched in; `word_at(k)` gives the word
    position of skeleton character `k`; `original_span(a, b)` maps the
    skeleton span `[a, b)` back to offsets in `original`.
    """

    __slots__ = (
        "_ascii",
        "_ends",
        "_folded",
        "_pieces",
        "_skel_starts",
        "_starts",
        "original",
        "skeleton",
        "words",
    )

    def __init__(self, original: str) -> None:
        self.original = original
        folded, self._starts, self._ends = fold(original)
        self._folded = folded
        self._pieces: list[_Piece] = []
        self._skel_starts: list[int] = []
        # Fast path (most English text): words are [a-z0-9]+ runs, so the
        # skeleton is one C-level substitution and a word position is the
        # number of spaces before it; the piece tables are built only when
        # an offset is asked for.
        self._ascii = folded.isascii()
        if self._ascii:
            self.skeleton = _ASCII_SEP_RE.sub(" ", folded).strip()
            self.words = self.skeleton.count(" ") + 1 if self.skeleton else 0
        else:
            self.skeleton, self.words = self._build(folded)
            self._skel_starts = [p.skel_start for p in self._pieces]

    def _word_starts(self) -> list[int]:
        if not self._skel_starts:  # ASCII mode: folded offset of every word
            self._skel_starts = [m.start() for m in _ASCII_WORD_RE.finditer(self._folded)]
        return self._skel_starts

    def _build(self, folded: str) -> tuple[str, int]:
        parts: list[str] = []
        skel_len = 0
        word = 0
        run_len = 0  # length of the current no-space run, 0 when in a word run
        prev_end = -1  # folded offset where the previous segment ended
        prev_nospace = False
        if folded.isascii():
            segments = ((m.start(), m.end(), False) for m in _ASCII_WORD_RE.finditer(folded))
        else:
            segments = (
                (m.start(), m.end(), m.lastgroup == "c") for m in _SEGMENT_RE.finditer(folded)
            )
        for start, end, nospace in segments:
            joined = False
            if prev_end >= 0:
                gap = folded[prev_end:start]
                if nospace and prev_nospace and _JOINER_RE.fullmatch(gap):
                    joined = True
                elif gap:
                    parts.append(" ")
                    skel_len += 1
            if not joined and run_len:
                word += (run_len + 1) // 2  # close the previous no-space run
                run_len = 0
            length = end - start
            if nospace:
                self._pieces.append(_Piece(skel_len, start, length, word, run_len))
                run_len += length
            else:
                self._pieces.append(_Piece(skel_len, start, length, word, -1))
                word += 1
            parts.append(folded[start:end])
            skel_len += length
            prev_end, prev_nospace = end, nospace
        if run_len:
            word += (run_len + 1) // 2
        return "".join(parts), word

    def _piece(self, k: int) -> _Piece:
        return self._pieces[bisect_right(self._skel_starts, k) - 1]

    def word_at(self, k: int) -> int:
        """Word position of skeleton character `k` (a letter, never a space)."""
        if self._ascii:
            return self.skeleton.count(" ", 0, k)
        piece = self._piece(k)
        if piece.run_offset < 0:
            return piece.word
        return piece.word + (piece.run_offset + k - piece.skel_start) // 2

    def _folded_index(self, k: int) -> int:
        if self._ascii:
            word_start = self._word_starts()[self.skeleton.count(" ", 0, k)]
            return word_start + k - (self.skeleton.rfind(" ", 0, k) + 1)
        piece = self._piece(k)
        return piece.fold_start + (k - piece.skel_start)

    def original_span(self, a: int, b: int) -> tuple[int, int]:
        """Offsets in `original` of the skeleton span `[a, b)` (b > a)."""
        fa = self._folded_index(a)
        fb = self._folded_index(b - 1)
        if self._starts is None or self._ends is None:
            return fa, fb + 1
        return self._starts[fa], self._ends[fb]


def skeleton_of(text: str) -> str:
    """The skeleton of a short text, e.g. a query term."""
    return FieldText(text).skeleton
