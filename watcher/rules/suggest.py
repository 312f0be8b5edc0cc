"""Candidate terms for a rule from a labelled corpus: `watcher rules suggest`.

The rule's *missed positives* (labelled with the rule, not matched) are
compared with the corpus's *negatives* (not labelled with it; borderline
pairs are left out). A candidate is a word, a two-word phrase, a katakana
loan word or a run of kanji that occurs in missed positives and rarely in
negatives; each comes with its document counts on both sides, its language,
and the rule term it is a variant of (one edit away, or containing it), if
any. Candidates are for the operator to judge: nothing is applied.

PURE: no I/O, no clock, no logging.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any

from watcher.rules.ast import terms_of
from watcher.rules.corpus import Corpus
from watcher.rules.load import Rule
from watcher.rules.match import compile_rules, match
from watcher.rules.why import within_one
from watcher.text.normalize import is_nospace_char, skeleton_of

__all__ = ["Candidate", "Suggestions", "suggest_terms"]

MAX_NEGATIVE_SHARE = 0.1  # a candidate in more of the negatives than this is noise
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]{3,}|[A-Z]{2,}[0-9]*")
_KATAKANA = re.compile(r"[\u30a1-\u30fa\u30fc\u30fb]{3,}")
_KANJI = re.compile(r"[\u4e00-\u9fff\u3005]{2,}")
_STOP = frozenset(
    [
        "the", "and", "for", "that", "with", "was", "were", "are", "has", "have", "had", "his",
        "her", "its", "their", "this", "these", "those", "from", "but", "not", "also", "would",
        "could", "will", "said", "says", "say", "been", "being", "into", "than", "then", "them",
        "they", "there", "which", "who", "whom", "what", "when", "where", "while", "about",
        "after", "before", "over", "under", "more", "most", "other", "such", "only", "any", "all",
        "can", "may", "might", "must", "should", "our", "out", "new", "one", "two", "three",
        "last", "first", "year", "years", "week", "month", "told", "since", "between", "during",
        "against", "because", "both", "each", "very", "just", "like", "some", "many", "much",
        "how", "why", "per", "via", "off", "own", "same", "too", "yet",
    ]
)  # fmt: skip


@dataclass(frozen=True)
class Candidate:
    """A term the rule might add, with the documents it occurs in on each side."""

    term: str
    lang: str  # "ja" for Japanese script, else "en"
    missed: int  # missed positives it occurs in
    occurrences: int  # times it occurs in them
    negatives: int  # negatives it occurs in
    variant_of: str  # the rule term it is a variant of, or ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "term": self.term,
            "lang": self.lang,
            "missed": self.missed,
            "occurrences": self.occurrences,
            "negatives": self.negatives,
            "variant_of": self.variant_of,
        }


@dataclass(frozen=True)
class Suggestions:
    """What `suggest_terms` found for one rule."""

    rule_id: str
    missed: tuple[str, ...]  # ids of the missed positives
    negatives: int
    candidates: tuple[Candidate, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule_id,
            "missed": list(self.missed),
            "negatives": self.negatives,
            "candidates": [c.to_dict() for c in self.candidates],
        }


def candidates_of(text: str) -> Counter[str]:
    """The candidate terms of one text with their counts: words, two-word
    phrases (no stop words), katakana loan words, kanji runs (up to 8) and
    their 2-4 character heads and tails."""
    normal = unicodedata.normalize("NFKC", text)
    out: Counter[str] = Counter()
    words = _LATIN_WORD.findall(normal)
    lowered = [w.lower() for w in words]
    out.update(
        w if w.isupper() else low for w, low in zip(words, lowered, strict=True) if low not in _STOP
    )
    out.update(f"{a} {b}" for a, b in pairwise(lowered) if a not in _STOP and b not in _STOP)
    for katakana in _KATAKANA.findall(normal):
        word = katakana.strip("\u30fb")
        if len(word.replace("\u30fc", "")) >= 3:
            out[word] += 1
    for run in _KANJI.findall(normal):
        if len(run) <= 8:
            out[run] += 1
        # Japanese compounds split at their ends more often than inside:
        # the 2-4 character heads and tails of a run are its likely words.
        parts = {run[:n] for n in (2, 3, 4) if n < len(run)}
        parts |= {run[-n:] for n in (2, 3, 4) if n < len(run)}
        out.update(parts)
    return out


def suggest_terms(rule: Rule, corpus: Corpus, limit: int = 30) -> Suggestions:
    """Candidates for `rule` from `corpus`, best first (see the module docstring)."""
    matcher = compile_rules([replace(rule, enabled=True)])
    missed: list[tuple[str, Counter[str]]] = []
    negatives: list[Counter[str]] = []
    for doc in corpus.docs:
        if rule.id in doc.borderline:
            continue
        text = f"{doc.document.title}\n{doc.document.text}"
        if rule.id in doc.topics:
            if not match(matcher, doc.document):
                missed.append((doc.id, candidates_of(text)))
        else:
            negatives.append(candidates_of(text))
    counts: Counter[str] = Counter()  # missed positives a candidate occurs in
    occurrences: Counter[str] = Counter()  # its occurrences in them
    for _, terms in missed:
        counts.update(terms.keys())
        occurrences.update(terms)
    need = 2 if len(missed) >= 3 else 1
    patterns = {t.pattern: t.text for t in terms_of(rule.node)}
    found: list[Candidate] = []
    for term, n in counts.items():
        if n < need:
            continue
        skeleton = skeleton_of(term)
        if not skeleton or skeleton in patterns:
            continue  # already a term of the rule
        neg = sum(term in terms for terms in negatives)
        if negatives and neg / len(negatives) > MAX_NEGATIVE_SHARE:
            continue
        lang = "ja" if any(is_nospace_char(ch) for ch in skeleton) else "en"
        found.append(
            Candidate(term, lang, n, occurrences[term], neg, _variant_of(skeleton, patterns))
        )
    # Most missed positives first; then variants of the rule's own terms,
    # then the most repeated, the rarest in negatives, the shortest.
    found.sort(
        key=lambda c: (-c.missed, c.variant_of == "", -c.occurrences, c.negatives, len(c.term))
    )
    return Suggestions(rule.id, tuple(i for i, _ in missed), len(negatives), tuple(found[:limit]))


def _variant_of(skeleton: str, patterns: dict[str, str]) -> str:
    """The rule term this candidate is a spelling variant of (one edit away),
    or a longer form of (a Japanese compound containing it, an English word
    starting with it)."""
    for pattern, written in patterns.items():
        if len(pattern) < 3 or " " in skeleton:
            continue
        if within_one(skeleton, pattern):
            return written
        nospace = is_nospace_char(pattern[0])
        if (nospace and pattern in skeleton) or (not nospace and skeleton.startswith(pattern)):
            return written
    return ""
