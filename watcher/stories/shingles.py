"""Text -> shingle hashes -> MinHash: the arithmetic under `watcher.stories.cluster`.

Pure and deterministic across processes, machines and Python versions (no
`hash()`): fingerprints are stored, and a restart must find the same
stories. Any change to what comes out of `shingle_hashes` or `minhash`
needs a new fingerprint format version (`stories.FORMAT_VERSION`).

* Tokens: NFKC (full-width letters and half-width kana fold), case
  folding, `\\w+` words, except that each CJK character (Han, hiragana,
  katakana) is a token of its own. Punctuation is dropped.
* Shingles: `size` consecutive tokens (a text shorter than that is one
  shingle). A shingle's 32-bit hash combines its tokens' 64-bit BLAKE2b
  hashes as a polynomial mod 2**64, finished with MurmurHash3's 64-bit
  finalizer (top 32 bits kept). Hashing each distinct token once and
  combining in NumPy costs about a quarter of hashing every shingle's
  string (format 1 took SHA-1 of each joined shingle: ~0.65 of the
  fingerprint's ~1.4 ms per article, in every extraction worker).
* MinHash: datasketch's scheme affine32 with seed 1 (128 maps `h -> a*h + b
  mod 2**32` after MurmurHash3's 32-bit finalizer), so a test can check it
  against datasketch; computed here in blocks that stay in cache.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from typing import Any

import numpy as np

NUM_PERM = 128
_MINHASH_SEED = 1
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(f"[{_CJK}]|[^\\W{_CJK}]+")
_CJK_CHAR = re.compile(f"[{_CJK}]")

# Shingle hashing: an odd 64-bit multiplier (FNV-1a's 64-bit prime) and MurmurHash3's
# 64-bit finalizer.
_POLY = np.uint64(0x100000001B3)
_FMIX64 = (np.uint64(33), np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53))
# MurmurHash3's 32-bit finalizer constants (shift, multiply, shift, multiply, shift).
_FMIX32 = (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16)
_BLOCK = 256  # shingle hashes per MinHash step: a 128 x 256 uint32 block is 128 KB

# Distinct tokens remembered, then all forgotten at once: ~4 MB at most per process
# (key, int and dict slot are ~120 bytes), so a worker that lives for thousands of pages
# stays bounded. A few hundred pages' vocabulary fits: the ScrapingHub benchmark's 181
# news pages have 19,517 distinct tokens. Without the cache, hashing is most of the
# fingerprint's cost.
_TOKEN_CACHE_MAX = 1 << 15
_token_cache: dict[str, int] = {}

UInt32s = np.ndarray[Any, np.dtype[np.uint32]]


def tokens(text: str) -> tuple[list[str], int]:
    """The text's tokens, and how many of them are CJK characters."""
    normal = unicodedata.normalize("NFKC", text).casefold()
    return _TOKEN.findall(normal), len(_CJK_CHAR.findall(normal))


def shingle_hashes(words: list[str], size: int) -> UInt32s:
    """The sorted, distinct 32-bit hashes of the `size`-token shingles of `words`."""
    if not words:
        return np.empty(0, dtype=np.uint32)
    hashed = _token_hashes(words)
    width = min(size, len(hashed))
    count = len(hashed) - width + 1
    acc = hashed[:count].copy()
    for offset in range(1, width):
        acc *= _POLY  # wraps mod 2**64, as intended
        acc += hashed[offset : offset + count]
    shift, m1, m2 = _FMIX64
    acc ^= acc >> shift
    acc *= m1
    acc ^= acc >> shift
    acc *= m2
    acc ^= acc >> shift
    return np.unique((acc >> np.uint64(32)).astype(np.uint32))


def _token_hashes(words: list[str]) -> np.ndarray[Any, np.dtype[np.uint64]]:
    cache = _token_cache
    if len(cache) > _TOKEN_CACHE_MAX:
        cache.clear()
    values = [cache[w] if w in cache else _learn(w) for w in words]
    return np.array(values, dtype=np.uint64)


def _learn(word: str) -> int:
    digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    _token_cache[word] = value
    return value


@functools.cache
def _permutations() -> tuple[UInt32s, UInt32s]:
    """The 128 affine permutations `h -> a*h + b mod 2**32` (odd `a`), drawn once.

    Drawn exactly as datasketch's MinHash(scheme="affine32", seed=1) draws
    them (a test compares the two). Not datasketch itself: it imports SciPy,
    about 55 MB in every process that fingerprints (the daemon and each
    extraction worker).
    """
    gen = np.random.RandomState(_MINHASH_SEED)
    a = gen.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


def minhash(hashes: UInt32s) -> UInt32s:
    """The MinHash of a set of 32-bit shingle hashes (all 0xFFFFFFFF for an empty set)."""
    result = np.full(NUM_PERM, 0xFFFFFFFF, dtype=np.uint32)
    if len(hashes) == 0:
        return result
    s1, m1, s2, m2, s3 = _FMIX32
    # The finalizer spreads structured inputs before the affine maps (uint32 arithmetic
    # wraps around, which is the intended mod 2**32).
    hv = hashes.astype(np.uint32)
    hv ^= hv >> np.uint32(s1)
    hv *= np.uint32(m1)
    hv ^= hv >> np.uint32(s2)
    hv *= np.uint32(m2)
    hv ^= hv >> np.uint32(s3)
    a, b = _permutations()
    block = np.empty((NUM_PERM, min(_BLOCK, len(hv))), dtype=np.uint32)
    for start in range(0, len(hv), _BLOCK):
        chunk = hv[start : start + _BLOCK]
        out = block[:, : len(chunk)]
        np.multiply(a[:, None], chunk[None, :], out=out)
        out += b[:, None]
        np.minimum(result, out.min(axis=1), out=result)
    return result
