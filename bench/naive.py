"""The baseline: what a typical script does, one regex per term, rule by rule.

A careful script, not a straw man: it reads the rules with watcher's parser
(`watcher.rules.parse`, for the syntax tree only) and implements the rule
semantics (`watcher.rules`: terms, AND/OR/NOT, NEAR, ATLEAST) itself, with the
standard library:

* **Normalisation**, once per document: NFKC, case folding, NFKC again; then
  separators inside Japanese (or any script written without spaces) that
  are only spaces, line breaks, dashes or middle dots are dropped, so a
  line-wrapped `セキュリティ\\nクリアランス` reads as one word. Terms are
  normalised the same way.
* **One regex per distinct term**: the term's pieces (split at separators)
  joined by "one or more separators". A piece that starts (ends) with a
  letter or digit of a script written with spaces gets a word boundary
  there, and a change of script counts as one (`AUKUS` matches in
  `枠組みAUKUSの`); Japanese characters need none, so `第2の柱` and `日本`
  match as substrings. A prefix term is open at its end.
* **Each rule evaluated on its own** by walking its syntax tree and
  searching the text for each term it reaches (AND stops at the first false
  child). `NEAR/n` and `ATLEAST` collect every occurrence (overlapping ones
  too) with its word positions: a Latin word is one word, a run of Japanese
  counts two characters per word (`NEAR/n` means "within about n words").

It returns only which rules matched, no evidence. `tests/test_bench_naive.py`
checks it against watcher's matcher.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from urllib.parse import urlsplit

from watcher.model import Document
from watcher.rules.ast import (
    And,
    AtLeast,
    Near,
    Node,
    Not,
    Or,
    Scope,
    Source,
    Term,
    TermKind,
    terms_of,
)
from watcher.rules.lead import LEAD_MAX_WORDS, lead_cut
from watcher.rules.load import Rule

# Scripts written without spaces: Thai, Lao, Myanmar, Khmer, Japanese kana
# (with the long-vowel mark, without the middle dot), kanji and Chinese.
NOSPACE = (
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3005-\u3007\u3041-\u3096\u3099-\u309f"
    "\u30a0-\u30fa\u30fc-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0003134f]"
)
# A letter or digit of a script written with spaces; anything else that is
# not of a no-space script separates words.
_LATIN = rf"(?:(?!{NOSPACE})[^\W_])"
_SEP = rf"(?:(?!{NOSPACE})[\W_])+"
_DASHES = "\u2010-\u2015\u2043\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d"
_JOINED = re.compile(rf"(?<={NOSPACE})[\s\-{_DASHES}\u30fb\u00b7\uff65]+(?={NOSPACE})")
_TOKEN = re.compile(rf"({NOSPACE}+)|{_LATIN}+")
_PIECE = re.compile(rf"(?:{NOSPACE}|{_LATIN})+")

# (field, start, end, first word, last word)
_Occ = tuple[str, int, int, int, int]


# Japanese loan-word variants: no long-vowel mark, small katakana as large.
# Invisible characters (soft hyphen, zero-width, bidi controls, BOM) are dropped.
_KANA = str.maketrans(
    "ァィゥェォッャュョヮヵヶ",
    "アイウエオツヤユヨワカカ",
    "ー\u00ad\u061c\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff",
)


def normalise(text: str) -> str:
    """`text` folded for matching: NFKC, case folding, kana variants, no-space runs rejoined."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return _JOINED.sub("", folded.translate(_KANA))


def term_regex(term: Term) -> re.Pattern[str]:
    """The regex of a query term, to search normalised text with."""
    raw = term.text
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        raw = raw[1:-1]
    raw = raw.rstrip().removesuffix("*")
    pieces = _PIECE.findall(normalise(raw))
    first = re.escape(pieces[0])
    if re.match(_LATIN, pieces[0]):
        # The boundary is tested after the first piece, not before it, so the
        # regex still starts with a literal, which `re` finds fast.
        first += rf"(?<!{_LATIN}{first})"
    body = _SEP.join([first, *(re.escape(p) for p in pieces[1:])])
    if term.kind is not TermKind.PREFIX and re.match(_LATIN, pieces[-1][-1]):
        body += rf"(?!{_LATIN})"
    return re.compile(body)


class _Doc:
    """A document normalised once, with word positions computed on demand."""

    def __init__(self, doc: Document) -> None:
        self.fields = {"title": normalise(doc.title), "text": normalise(doc.text)}
        self.host = (doc.source or urlsplit(doc.url).hostname or "").lower().strip(".")
        self._tokens: dict[str, tuple[list[int], list[tuple[int, bool]]]] = {}
        self._raw_text = doc.text
        self._lead_end: int | None = None

    @property
    def lead_end(self) -> int:
        """Word positions of the text in its lead (the cut is watcher's definition)."""
        if self._lead_end is None:
            head = normalise(self._raw_text[: lead_cut(self._raw_text)])
            words = sum(
                (len(m.group()) + 1) // 2 if m.group(1) else 1 for m in _TOKEN.finditer(head)
            )
            self._lead_end = min(words, LEAD_MAX_WORDS)
        return self._lead_end

    def word_at(self, field: str, offset: int) -> int:
        """Word position of the letter at `offset` of `field`."""
        if field not in self._tokens:
            starts: list[int] = []
            words: list[tuple[int, bool]] = []  # (first word, is a no-space run)
            word = 0
            for m in _TOKEN.finditer(self.fields[field]):
                starts.append(m.start())
                nospace = m.group(1) is not None
                words.append((word, nospace))
                word += (len(m.group()) + 1) // 2 if nospace else 1
            self._tokens[field] = (starts, words)
        starts, words = self._tokens[field]
        i = bisect_right(starts, offset) - 1
        first, nospace = words[i]
        return first + (offset - starts[i]) // 2 if nospace else first


class NaiveMatcher:
    """One regex per term; every rule evaluated separately."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(r for r in rules if r.enabled)
        self._regex: dict[str, re.Pattern[str]] = {}
        for rule in self.rules:
            for term in terms_of(rule.node):
                if term.text not in self._regex:
                    self._regex[term.text] = term_regex(term)

    def match(self, document: Document) -> list[str]:
        """The ids of the rules that match `document`."""
        doc = _Doc(document)
        return [r.id for r in self.rules if self._test(r.node, doc, ("title", "text"))]

    def _test(self, node: Node, doc: _Doc, fields: tuple[str, ...]) -> bool:  # noqa: PLR0911
        if isinstance(node, Term):
            if "lead" in fields:
                return bool(self._occurrences(node, doc, fields))
            regex = self._regex[node.text]
            return any(regex.search(doc.fields[f]) for f in fields)
        if isinstance(node, And):
            return all(self._test(c, doc, fields) for c in node.children)
        if isinstance(node, Or):
            return any(self._test(c, doc, fields) for c in node.children)
        if isinstance(node, Not):
            return not self._test(node.child, doc, fields)
        if isinstance(node, Scope):
            return self._test(node.child, doc, _scope(node.field))
        if isinstance(node, Source):
            return doc.host == node.host or doc.host.endswith("." + node.host)
        if isinstance(node, AtLeast):
            return _separate(self._occurrences(node.child, doc, fields)) >= node.count
        return bool(self._occurrences(node, doc, fields))

    def _occurrences(self, node: Node, doc: _Doc, fields: tuple[str, ...]) -> list[_Occ]:
        if isinstance(node, Term):
            regex = self._regex[node.text]
            found: list[_Occ] = []
            for f in fields:
                if f == "lead":  # the text's occurrences up to the lead's end
                    text_occs = self._occurrences(node, doc, ("text",))
                    found.extend(o for o in text_occs if o[4] < doc.lead_end)
                    continue
                text = doc.fields[f]
                m = regex.search(text)
                while m:  # every occurrence, overlapping ones too (`ああ` twice in `あああ`)
                    start, end = m.span()
                    found.append((f, start, end, doc.word_at(f, start), doc.word_at(f, end - 1)))
                    m = regex.search(text, start + 1)
            return found
        if isinstance(node, Or):
            return [o for c in node.children for o in self._occurrences(c, doc, fields)]
        if isinstance(node, Scope):
            return self._occurrences(node.child, doc, _scope(node.field))
        if isinstance(node, Near):
            left = self._occurrences(node.left, doc, fields)
            right = self._occurrences(node.right, doc, fields) if left else []
            used: set[_Occ] = set()
            for a in left:
                for b in right:
                    if a[0] != b[0] or (a[1] < b[2] and b[1] < a[2]):
                        continue  # another field, or the same stretch of text
                    if max(b[3] - a[4], a[3] - b[4]) <= node.distance:
                        used.update((a, b))
            return list(used)
        return []


def _scope(field: str) -> tuple[str, ...]:
    """The fields a scope searches: `lead:` is the title and the text's lead."""
    return ("title", "lead") if field == "lead" else (field,)


def _separate(occs: list[_Occ]) -> int:
    """How many stretches of text the occurrences cover (overlapping ones count once)."""
    count, field, end = 0, "", -1
    for f, a, b, *_ in sorted(occs):
        if f != field or a >= end:
            count += 1
            field, end = f, b
        else:
            end = max(end, b)
    return count
