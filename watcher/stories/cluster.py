"""Near-duplicate detection: syndicated copies of an article join its story.

Pure: no I/O, no clock. The store keeps `(article_id, story_id,
Fingerprint.to_bytes())` rows and rebuilds a `StoryIndex` from them after a
restart (`StoryIndex.from_rows`).

How two texts are compared (the thresholds are module constants):

* Tokens: NFKC, case folding, `\\w+` words, and each CJK character (Han,
  hiragana, katakana) a token of its own (`watcher.stories.shingles` does the
  arithmetic).
* Shingles: 5 consecutive words; for text that is mostly CJK (written
  without spaces), 8 consecutive characters, about as specific as five
  English words (Japanese words average two to three characters).
* A `Fingerprint` holds a 128-permutation MinHash (datasketch's scheme
  affine32 with seed 1) to find candidates by LSH banding and estimate
  Jaccard, plus a *FracMinHash* sample (every shingle hash below 2**32/4,
  at most 512 of them) to measure containment, which MinHash estimates
  poorly for sets of different sizes.
* Candidates come from LSH banding (42 bands of 3 MinHash values: a pair
  with Jaccard 0.3 is a candidate with probability 0.68, with 0.4 0.93, with
  0.5 0.996), so a truncated copy is found down to about 40% of the
  original's length.
* A candidate is confirmed when Jaccard >= 0.8 (a new lede, a new headline,
  small edits) or containment of the smaller text in the larger >= 0.9 (a
  truncated copy, a copy with a local paragraph added). Articles on the same
  topic but written separately share few 5-word sequences (Jaccard well
  under 0.1) and stay apart.
* A text with fewer than 40 shingles (about 45 words or 48 CJK characters;
  a headline, a teaser) is never clustered, and containment is only trusted
  when the smaller text has at least 80 shingles, so a short boilerplate
  paragraph cannot pull unrelated articles together.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from watcher.stories.shingles import NUM_PERM, minhash, shingle_hashes, tokens

WORD_SHINGLE = 5
CJK_SHINGLE = 8
MIN_SHINGLES = 40
MIN_CONTAINMENT_SHINGLES = 80
_BANDS, _BAND_ROWS = 42, 3  # LSH: P(candidate) = 1 - (1 - J**3)**42: 0.68 at J=0.3, 0.99 at 0.5
JACCARD_CONFIRM = 0.8
CONTAINMENT_CONFIRM = 0.9
SAMPLE_LIMIT = 2**32 // 4  # FracMinHash: keep hashes below this (scale 1/4)
MAX_SAMPLE = 512
_MIN_SAMPLE = 8  # fewer sampled hashes than this say too little about containment
_MIN_ROWS = 64  # the band table's smallest allocation, in rows

FORMAT_VERSION = 2  # bump when tokens, shingles, hashing or the MinHash scheme change
"""The fingerprint format `to_bytes` writes. 1: SHA-1 of each shingle's string; 2:
token hashes combined per shingle (`watcher.stories.shingles`). Stored fingerprints of
another format are recomputed from the article's text when the index loads."""
_HEADER = struct.Struct("<BBIQ")  # version, shingle size, shingle count, sample limit


@dataclass(frozen=True)
class Fingerprint:
    """What `StoryIndex` needs to know about a text; compact bytes for the store.

    `minhash` is 128 little-endian uint32 values; `sample` the sorted
    little-endian uint32 shingle hashes below `sample_limit`.
    """

    shingle_size: int
    shingles: int  # distinct shingles in the text
    minhash: bytes
    sample: bytes
    sample_limit: int

    @property
    def clusterable(self) -> bool:
        """Whether the text is long enough to be compared with others at all."""
        return self.shingles >= MIN_SHINGLES

    def to_bytes(self) -> bytes:
        """Serialise: a 14-byte header, 512 bytes of MinHash, 4 bytes per sampled hash."""
        header = _HEADER.pack(FORMAT_VERSION, self.shingle_size, self.shingles, self.sample_limit)
        return header + self.minhash + self.sample

    @classmethod
    def from_bytes(cls, data: bytes) -> Fingerprint:
        """Read `to_bytes` output; ValueError for another format version or bad data."""
        if len(data) < _HEADER.size + 4 * NUM_PERM:
            raise ValueError(f"fingerprint too short: {len(data)} bytes")
        version, size, shingles, limit = _HEADER.unpack_from(data)
        if version != FORMAT_VERSION:
            raise ValueError(f"fingerprint format {version}, expected {FORMAT_VERSION}: recompute")
        start = _HEADER.size + 4 * NUM_PERM
        if (len(data) - start) % 4:
            raise ValueError("fingerprint sample is not whole uint32 values")
        return cls(size, shingles, bytes(data[_HEADER.size : start]), bytes(data[start:]), limit)

    @property
    def hashvalues(self) -> np.ndarray[Any, np.dtype[np.uint32]]:
        """The MinHash values (a read-only view of `minhash`)."""
        return np.frombuffer(self.minhash, dtype="<u4")

    @property
    def sampled(self) -> np.ndarray[Any, np.dtype[np.uint32]]:
        """The sampled shingle hashes, sorted (a read-only view of `sample`)."""
        return np.frombuffer(self.sample, dtype="<u4")


def fingerprint(text: str) -> Fingerprint:
    """The fingerprint of an article's text (the body; headlines differ between copies)."""
    words, cjk = tokens(text)
    size = CJK_SHINGLE if words and cjk * 2 > len(words) else WORD_SHINGLE
    hashes = shingle_hashes(words, size)
    sample = hashes[hashes < SAMPLE_LIMIT]  # sorted, so the smallest come first
    limit = SAMPLE_LIMIT
    if len(sample) > MAX_SAMPLE:
        sample = sample[:MAX_SAMPLE]
        limit = int(sample[-1]) + 1
    return Fingerprint(
        shingle_size=size,
        shingles=len(hashes),
        minhash=minhash(hashes).astype("<u4").tobytes(),
        sample=sample.astype("<u4").tobytes(),
        sample_limit=limit,
    )


@dataclass(frozen=True)
class Similarity:
    """How alike two fingerprinted texts are; `containment` is None when unmeasurable."""

    jaccard: float
    containment: float | None

    @property
    def confirmed(self) -> bool:
        """Whether the two texts are the same story by the thresholds above."""
        return self.jaccard >= JACCARD_CONFIRM or (
            self.containment is not None and self.containment >= CONTAINMENT_CONFIRM
        )

    @property
    def score(self) -> float:
        return max(self.jaccard, self.containment or 0.0)


def similarity(a: Fingerprint, b: Fingerprint) -> Similarity:
    """Estimated Jaccard (MinHash) and containment of the smaller text (FracMinHash)."""
    jaccard = float(np.mean(a.hashvalues == b.hashvalues))
    containment = None
    if min(a.shingles, b.shingles) >= MIN_CONTAINMENT_SHINGLES:
        limit = min(a.sample_limit, b.sample_limit)
        sa, sb = a.sampled[a.sampled < limit], b.sampled[b.sampled < limit]
        smaller = min(len(sa), len(sb))
        if smaller >= _MIN_SAMPLE:
            shared = len(np.intersect1d(sa, sb, assume_unique=True))
            containment = shared / smaller
    return Similarity(jaccard, containment)


class StoryIndex:
    """Fingerprints of stored articles, to find the story a new article belongs to.

    Texts that are not `clusterable` are neither indexed nor matched. About
    2.5 KB per article (20,000 articles: ~50 MB), all of it released by
    `remove`, so a caller that removes old articles (a time window, see
    `watcher.pipeline.story_index`) keeps the index bounded.
    """

    def __init__(self) -> None:
        self._bands = _BandTable()
        self._entries: dict[int, tuple[int, Fingerprint]] = {}

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, int, bytes]]) -> StoryIndex:
        """Rebuild from stored `(article_id, story_id, fingerprint bytes)` rows."""
        index = cls()
        for article_id, story_id, data in rows:
            index.add(article_id, story_id, Fingerprint.from_bytes(data))
        return index

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._entries

    @property
    def band_rows(self) -> int:
        """Rows in use in the LSH band table (one per indexed article)."""
        return len(self._bands)

    @property
    def band_capacity(self) -> int:
        """Rows allocated in the band table: shrinks again as articles are removed."""
        return self._bands.capacity

    def add(self, article_id: int, story_id: int, fp: Fingerprint) -> None:
        """Index an article as a member of `story_id` (again: replaces the old entry)."""
        self.remove(article_id)
        if not fp.clusterable:
            return
        self._bands.add(article_id, _band_keys(fp))
        self._entries[article_id] = (story_id, fp)

    def remove(self, article_id: int) -> None:
        """Forget an article (retention); unknown ids are ignored."""
        if self._entries.pop(article_id, None) is not None:
            self._bands.remove(article_id)

    def find(self, fp: Fingerprint) -> int | None:
        """The story of the most similar confirmed near-duplicate; None when there is none.

        Ties go to the earliest article (the lowest id).
        """
        if not fp.clusterable or not self._entries:
            return None
        best: tuple[float, int, int] | None = None  # (-score, article_id, story_id)
        for article_id in self._bands.candidates(_band_keys(fp)):
            story_id, other = self._entries[article_id]
            if other.shingle_size != fp.shingle_size:
                continue  # a CJK text and a word text share no shingles
            found = similarity(fp, other)
            if found.confirmed:
                candidate = (-found.score, article_id, story_id)
                best = candidate if best is None else min(best, candidate)
        return best[2] if best else None


def _band_keys(fp: Fingerprint) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """One 64-bit key per band of `_BAND_ROWS` MinHash values."""
    rows = fp.hashvalues[: _BANDS * _BAND_ROWS].astype(np.uint64).reshape(_BANDS, _BAND_ROWS)
    with np.errstate(over="ignore"):  # wraparound is the point of the multiplications
        keys = (rows[:, 0] << np.uint64(32)) | rows[:, 1]
        for column in range(2, _BAND_ROWS):
            keys = keys * np.uint64(0x9E3779B97F4A7C15) ^ rows[:, column]
    return keys


class _BandTable:
    """LSH banding over a NumPy table: a row of band keys per article.

    The same banding as datasketch's MinHashLSH, whose dict-of-sets storage
    we measured at ~100 MB per 20,000 articles; this table needs 336 bytes
    per article and a query is one vectorised comparison (~1 ms at 20,000).
    The arrays double when full and halve when a quarter full, so removals
    give memory back and a long add/remove stream costs amortised O(1).
    """

    def __init__(self) -> None:
        self._keys = np.zeros((_MIN_ROWS, _BANDS), dtype=np.uint64)
        self._ids = np.zeros(_MIN_ROWS, dtype=np.int64)
        self._row: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._row)

    @property
    def capacity(self) -> int:
        return len(self._ids)

    def add(self, article_id: int, keys: np.ndarray[Any, np.dtype[np.uint64]]) -> None:
        size = len(self._row)
        if size == len(self._ids):
            self._resize(2 * len(self._ids))
        self._keys[size], self._ids[size] = keys, article_id
        self._row[article_id] = size

    def remove(self, article_id: int) -> None:
        row, last = self._row.pop(article_id), len(self._row)
        if row != last:  # move the last row into the hole
            moved = int(self._ids[last])
            self._keys[row], self._ids[row] = self._keys[last], moved
            self._row[moved] = row
        # Shrink at a quarter, not at half, so add/remove around a boundary never thrashes.
        if len(self._ids) > _MIN_ROWS and last <= len(self._ids) // 4:
            self._resize(len(self._ids) // 2)

    def _resize(self, capacity: int) -> None:
        size = len(self._row)
        keys = np.zeros((capacity, _BANDS), dtype=np.uint64)
        ids = np.zeros(capacity, dtype=np.int64)
        keys[:size], ids[:size] = self._keys[:size], self._ids[:size]
        self._keys, self._ids = keys, ids  # the old arrays are freed here

    def candidates(self, keys: np.ndarray[Any, np.dtype[np.uint64]]) -> list[int]:
        size = len(self._row)
        hits = np.flatnonzero((self._keys[:size] == keys).any(axis=1))
        return sorted(int(i) for i in self._ids[hits])
