"""Fast preparation of a document field, equivalent to `textnorm.FieldText`.

`watcher.text.normalize` defines the normalisation (read its docstring) and
builds a `FieldText` one character cluster and one word at a time: exact,
but about half a microsecond per character, and typographic quotes make
almost every English article non-ASCII. `PreparedField(text)` gives the
same skeleton, word positions and original offsets with C-level string
operations wherever they provably give the same result:

- **Folding**: each *distinct* non-ASCII character is folded once, with
  textnorm's own cluster folding (so the two cannot drift apart), and
  cached; the text is then folded by a few `str.replace` calls and one
  `str.lower()`. A character that would join a multi-character cluster
  (combining marks, half-width sound marks) or that `str.lower()` would
  treat differently sends the text down textnorm's exact path.
- **Segmentation**: text without characters of scripts written without
  spaces (most text) is one block of word runs: the skeleton is the runs
  joined by spaces and a word position is the number of spaces before it.
  Otherwise the text is split at its no-space runs and each stretch between
  them is such a block.

PURE: no I/O, no clock, no logging. `tests/test_rules_fields.py` checks the
equivalence with `textnorm.FieldText` by property.
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence

from watcher.text.normalize import (
    _HALFWIDTH_MARKS,
    _JOINER_RE,
    _NOSPACE_CLASS,
    _fold_cluster,
    fold,
)

__all__ = ["PreparedField", "fast_fold"]

_NOSPACE_RUN = re.compile(_NOSPACE_CLASS)
_NOSPACE_SPLIT = re.compile(f"({_NOSPACE_CLASS}+)")
# A word run where no no-space character occurs (textnorm's `w` group), and
# the separators between such runs.
_WORD_RUN = re.compile(r"[^\W_]+")
_SEPARATOR_RUNS = re.compile(r"[\W_]{2,}")
_SPACE_RUNS = re.compile(r"  +")
_ASCII_SEPARATORS = str.maketrans(
    {chr(i): " " for i in range(128) if chr(i) not in string.ascii_lowercase + string.digits}
)
_CACHE_LIMIT = 50_000
# Folded form of a non-ASCII character, or None when the bulk path cannot
# reproduce the per-cluster fold exactly.
_pieces: dict[str, str | None] = {}


def _changes(ch: str) -> bool:
    """Could folding or `str.lower()` change `ch`, or does it join a cluster?"""
    return (
        _fold_cluster.__wrapped__(ch) != ch  # unwrapped: do not flood its cache
        or ch.lower() != ch
        or bool(unicodedata.combining(ch))
        or ch in _HALFWIDTH_MARKS
    )


@functools.cache
def _attention() -> re.Pattern[str]:
    """The characters the bulk fold must look at: every non-ASCII character of
    the Basic Multilingual Plane that folding or lower-casing changes, and all
    characters beyond it. Computed once per process (about 50 ms), because
    the answer depends on the Unicode version of the running Python."""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x80, 0x10000):
        if _changes(chr(cp)):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    ranges.append((0x10000, 0x10FFFF))
    parts = (re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "") for a, b in ranges)
    return re.compile("[" + "".join(parts) + "]")


def _piece(ch: str) -> str | None:
    if ch in _pieces:
        return _pieces[ch]
    if len(_pieces) >= _CACHE_LIMIT:
        _pieces.clear()
    folded = _fold_cluster(ch)  # may be empty: the long-vowel mark folds to nothing
    result: str | None = folded
    if (
        unicodedata.combining(ch)  # starts or extends a multi-character cluster
        or ch in _HALFWIDTH_MARKS
        # After the replacements the whole text is lower-cased: that must
        # leave every piece alone and do to the rest what folding does.
        or folded.lower() != folded
        or (folded == ch and ch.lower() != ch)
        # A piece must be folded already, so that replacing another
        # character later can never reach into it.
        or (folded != ch and any(_fold_cluster(p) != p for p in folded if not p.isascii()))
    ):
        result = None
    _pieces[ch] = result
    return result


def fast_fold(text: str) -> tuple[str, list[int] | None, list[int] | None]:
    """`textnorm.fold(text)`; the tables are None when every offset is unchanged."""
    folded, odd, tables = _fold_deferred(text)
    if tables is not None:
        return folded, *tables
    if odd:
        return folded, *_tables(text, odd)
    return folded, None, None


_Tables = tuple[list[int], list[int]]


def _fold_deferred(text: str) -> tuple[str, dict[str, str] | None, _Tables | None]:
    """The folded text, and what the offset tables need, without building them:
    the characters whose fold is not one character (the long-vowel mark of
    almost every Japanese text folds to none), or the tables themselves when
    the exact path had to build them anyway."""
    if text.isascii():
        return text.lower(), None, None
    odd: dict[str, str] = {}  # characters folding to other than one character
    replaced = text
    for ch in set(_attention().findall(text)):
        piece = _piece(ch)
        if piece is None:
            folded, starts, ends = fold(text)
            return folded, None, (starts, ends) if starts is not None and ends is not None else None
        if piece != ch:
            replaced = replaced.replace(ch, piece)
            if len(piece) != 1:
                odd[ch] = piece
    return replaced.lower(), odd or None, None


def _tables(text: str, odd: dict[str, str]) -> tuple[list[int], list[int]]:
    """Offset tables when some characters fold to several characters."""
    starts: list[int] = []
    ends: list[int] = []
    prev = 0
    for m in re.finditer("|".join(map(re.escape, odd)), text):
        i = m.start()
        starts.extend(range(prev, i))
        ends.extend(range(prev + 1, i + 1))
        width = len(odd[m.group()])
        starts.extend([i] * width)
        ends.extend([i + 1] * width)
        prev = i + 1
    starts.extend(range(prev, len(text)))
    ends.extend(range(prev + 1, len(text) + 1))
    return starts, ends


class PreparedField:
    """A field's text prepared for matching (same contract as `textnorm.FieldText`).

    `skeleton` is what patterns are searched in; `word_at(k)` gives the word
    position of skeleton character `k`; `original_span(a, b)` maps the
    skeleton span `[a, b)` back to offsets in `original`.

    The skeleton is a sequence of *blocks*: a block of word runs (separated
    by single spaces, one word each) or a no-space run (two characters per
    word). Block `i` starts at skeleton offset `_skel[i]` and folded offset
    `_fold[i]`, at word `_word[i]`; `_run[i]` is the offset inside its
    no-space run (joined runs continue one another), or -1 for word runs.
    """

    __slots__ = (
        "_cursor",
        "_drift",
        "_fold",
        "_folded",
        "_odd",
        "_regions",
        "_run",
        "_skel",
        "_tables",
        "_word",
        "has_nospace",
        "original",
        "skeleton",
        "words",
    )

    def __init__(self, original: str) -> None:
        self.original = original
        # The offset tables are built only when an offset is asked for.
        folded, self._odd, self._tables = _fold_deferred(original)
        self._folded = folded
        self._skel: list[int] = []
        self._fold: list[int] = []
        self._word: list[int] = []
        self._run: list[int] = []
        # A word block's stretch of folded text, and how its separators
        # collapse (computed when an offset is first asked for).
        self._regions: dict[int, tuple[int, int]] = {}
        self._drift: dict[int, tuple[list[int], list[int]]] = {}
        # (block, skeleton offset, spaces before it in the block): word
        # positions are asked for in text order, so count from the last one.
        self._cursor = (-1, 0, 0)
        # Does the skeleton hold characters of scripts written without spaces?
        self.has_nospace = not folded.isascii() and bool(_NOSPACE_RUN.search(folded))
        if self.has_nospace:
            self._build_mixed(folded)
            return
        tokens = _tokens(folded)
        # Only separators come before the first word run.
        self._add(0, folded.find(tokens[0]) if tokens else 0, 0, -1)
        self._regions[0] = (0, len(folded))
        self.skeleton = " ".join(tokens)
        self.words = len(tokens)

    def _build_mixed(self, folded: str) -> None:
        """Text with no-space runs: the blocks, following `FieldText._build`.

        The text alternates between stretches without no-space characters
        (each a block of word runs, found by one C-level `findall`) and
        no-space runs (one block each)."""
        parts: list[str] = []
        skel_len = word = run_len = 0
        prev_end = -1  # folded offset where the previous segment ended
        prev_nospace = False
        end = 0
        for i, part in enumerate(_NOSPACE_SPLIT.split(folded)):
            start, end = end, end + len(part)
            if i % 2:  # a no-space run
                joined = prev_nospace and _JOINER_RE.fullmatch(folded, prev_end, start)
                if not joined:
                    if 0 <= prev_end < start:
                        parts.append(" ")
                        skel_len += 1
                    if run_len:
                        word += (run_len + 1) // 2
                        run_len = 0
                self._add(skel_len, start, word, run_len)
                parts.append(part)
                skel_len += len(part)
                run_len += len(part)
                prev_end, prev_nospace = end, True
                continue
            tokens = _tokens(part)
            if not tokens:
                continue
            # Only separators come before the first word run and after the last.
            first = start + part.find(tokens[0])
            if 0 <= prev_end < first:
                parts.append(" ")
                skel_len += 1
            if run_len:
                word += (run_len + 1) // 2
                run_len = 0
            self._add(skel_len, first, word, -1)
            self._regions[len(self._skel) - 1] = (start, end)
            joined_tokens = " ".join(tokens)
            parts.append(joined_tokens)
            skel_len += len(joined_tokens)
            word += len(tokens)
            prev_end = start + part.rfind(tokens[-1]) + len(tokens[-1])
            prev_nospace = False
        if run_len:
            word += (run_len + 1) // 2
        self.skeleton = "".join(parts)
        self.words = word

    def _add(self, skel: int, fold_start: int, word: int, run: int) -> None:
        self._skel.append(skel)
        self._fold.append(fold_start)
        self._word.append(word)
        self._run.append(run)

    def _block(self, k: int) -> int:
        return bisect_right(self._skel, k) - 1 if len(self._skel) > 1 else 0

    def _spaces(self, block: int, k: int) -> int:
        """Spaces in the skeleton from the start of word block `block` to `k`."""
        last_block, last_k, last_n = self._cursor
        skel = self.skeleton
        if last_block != block:
            n = skel.count(" ", self._skel[block], k)
        elif k >= last_k:
            n = last_n + skel.count(" ", last_k, k)
        else:
            n = last_n - skel.count(" ", k, last_k)
        self._cursor = (block, k, n)
        return n

    def word_at(self, k: int) -> int:
        """Word position of skeleton character `k` (a letter, never a space)."""
        b = self._block(k)
        if self._run[b] >= 0:
            return self._word[b] + (self._run[b] + k - self._skel[b]) // 2
        return self._word[b] + self._spaces(b, k)

    def nospace_windows(self, reach: int) -> list[tuple[int, int]]:
        """Disjoint skeleton spans `[a, b)` holding every substring of at most
        `reach` characters that contains a character of a no-space run."""
        windows: list[tuple[int, int]] = []
        if not self.has_nospace:
            return windows
        size = len(self.skeleton)
        for b, run in enumerate(self._run):
            if run < 0:
                continue
            end = self._skel[b + 1] if b + 1 < len(self._skel) else size
            start, end = max(0, self._skel[b] - reach), min(size, end + reach)
            if windows and start <= windows[-1][1]:
                windows[-1] = (windows[-1][0], end)
            else:
                windows.append((start, end))
        return windows

    def word_positions(self, offsets: Sequence[int]) -> list[int]:
        """`[word_at(k) for k in offsets]`, fastest when `offsets` are in text order."""
        skel, blocks, runs, words = self.skeleton, self._skel, self._run, self._word
        single = len(blocks) == 1
        out: list[int] = []
        block = -1
        last_k = n = 0  # n: spaces in the current word block before last_k
        for k in offsets:
            b = 0 if single else bisect_right(blocks, k) - 1
            run = runs[b]
            if run >= 0:
                out.append(words[b] + (run + k - blocks[b]) // 2)
                continue
            if b != block:
                n = skel.count(" ", blocks[b], k)
                block = b
            elif k >= last_k:
                n += skel.count(" ", last_k, k)
            else:
                n -= skel.count(" ", k, last_k)
            last_k = k
            out.append(words[b] + n)
        return out

    def _folded_index(self, k: int) -> int:
        b = self._block(k)
        rel = k - self._skel[b]
        if self._run[b] >= 0:
            return self._fold[b] + rel
        # In a word block the skeleton is the folded text with each run of
        # separators collapsed to one space: add back what the runs before
        # `k` lost.
        drift = self._drift.get(b)
        if drift is None:
            drift = self._drift[b] = _drift(self._folded, self._fold[b], self._regions[b][1])
        positions, lost = drift
        r = bisect_right(positions, rel) - 1
        return self._fold[b] + rel + (lost[r] if r >= 0 else 0)

    def original_span(self, a: int, b: int) -> tuple[int, int]:
        """Offsets in `original` of the skeleton span `[a, b)` (b > a)."""
        fa = self._folded_index(a)
        fb = self._folded_index(b - 1)
        if self._tables is None:
            if self._odd is None:
                return fa, fb + 1
            self._tables = _tables(self.original, self._odd)
        starts, ends = self._tables
        return starts[fa], ends[fb]


def _tokens(text: str) -> list[str]:
    """The word runs of `text`, which has no no-space characters."""
    if text.isascii():  # one translation and a split beat a regex
        return text.translate(_ASCII_SEPARATORS).split()
    return _WORD_RUN.findall(text)


def _drift(folded: str, first: int, end: int) -> tuple[list[int], list[int]]:
    """Where a word block's separator runs of two or more characters collapse
    in the skeleton (relative to the block) and how many characters all runs
    up to each have lost. `first` is the folded offset of the block's first
    word, `end` where the block's stretch of text ends."""
    region = folded[first:end]
    if region.isascii():  # translate + a literal-prefix regex beat a class regex
        runs = _SPACE_RUNS.finditer(region.translate(_ASCII_SEPARATORS))
    else:
        runs = _SEPARATOR_RUNS.finditer(region)
    positions: list[int] = []
    lost: list[int] = []
    total = 0
    for m in runs:
        start, stop = m.span()
        positions.append(start - total)
        total += stop - start - 1
        lost.append(total)
    return positions, lost
