"""Shingle hashing: the NumPy path computes exactly the documented scheme, and stays stable."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import pytest

from watcher.stories import shingles
from watcher.stories.shingles import shingle_hashes, tokens

MASK64 = (1 << 64) - 1


def reference_shingle_hashes(words: list[str], size: int) -> list[int]:
    """The scheme of `watcher.stories.shingles`' docstring, one Python int at a time."""

    def token(word: str) -> int:
        return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")

    def fmix64(h: int) -> int:
        h ^= h >> 33
        h = (h * 0xFF51AFD7ED558CCD) & MASK64
        h ^= h >> 33
        h = (h * 0xC4CEB9FE1A85EC53) & MASK64
        return h ^ (h >> 33)

    if not words:
        return []
    width = min(size, len(words))
    out = set()
    for start in range(len(words) - width + 1):
        acc = 0
        for word in words[start : start + width]:
            acc = (acc * 0x100000001B3 + token(word)) & MASK64
        out.add(fmix64(acc) >> 32)
    return sorted(out)


@pytest.mark.parametrize("count", [0, 1, 4, 5, 6, 300])
@pytest.mark.parametrize("size", [5, 8])
def test_numpy_shingle_hashes_equal_the_reference(count: int, size: int) -> None:
    """Every length around the shingle size, words and CJK-sized shingles alike."""
    rng = random.Random(count * 10 + size)
    words = [rng.choice(["pillar", "aukus", "日", "本", "japan", "x"]) for _ in range(count)]
    assert shingle_hashes(words, size).tolist() == reference_shingle_hashes(words, size)


def test_shingles_depend_on_word_order_and_only_on_it() -> None:
    """The same words in another order are other shingles; repeated shingles count once."""
    text = "japan joins pillar two of aukus partnership talks"
    a = shingle_hashes(tokens(text)[0], 5)
    assert len(a) == 4  # 8 words, 4 five-word sequences
    assert shingle_hashes(tokens(text.upper() + "!")[0], 5).tolist() == a.tolist()
    assert not set(shingle_hashes(tokens(" ".join(reversed(text.split())))[0], 5)) & set(a)
    assert len(shingle_hashes(["a", "b"] * 20, 2)) == 2


def test_tokens_split_cjk_into_characters() -> None:
    """Each CJK character is a token; full-width letters fold (NFKC) and case folds."""
    words, cjk = tokens("日本はＡＵＫＵＳに参加 Pillar II")
    assert words == ["日", "本", "は", "aukus", "に", "参", "加", "pillar", "ii"]
    assert cjk == 6


def test_the_token_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream of new words never holds more than the cache's limit (plus one batch)."""
    monkeypatch.setattr(shingles, "_TOKEN_CACHE_MAX", 100)
    monkeypatch.setattr(shingles, "_token_cache", {})
    for batch in range(20):
        words = [f"w{batch}-{n}" for n in range(30)]
        assert shingle_hashes(words, 5).tolist() == reference_shingle_hashes(words, 5)
        assert len(shingles._token_cache) <= 100 + 30


def test_minhash_of_nothing_is_all_ones() -> None:
    empty = shingles.minhash(np.empty(0, dtype=np.uint32))
    assert empty.tolist() == [0xFFFFFFFF] * shingles.NUM_PERM
