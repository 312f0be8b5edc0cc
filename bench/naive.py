"""The baseline: what a typical script does, one regex per term, rule by rule.

Each distinct term gets one compiled regular expression (word boundaries by
lookarounds, phrases tolerant of spaces and hyphens, prefixes open at the
end, Japanese as plain substrings). A document is normalised once (NFKC and
case folding); then each rule is evaluated on its own by walking its syntax
tree, searching the text for each term it reaches (AND stops at the first
false child). `NEAR` and `ATLEAST` collect every occurrence and compare word
positions. It returns only which rules matched, no evidence.

This is a fair baseline, not a straw man: regexes are compiled once, the
normalisation is shared by all rules, and evaluation short-circuits.
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
from watcher.rules.load import Rule
from watcher.textnorm import is_nospace_char

_WORD = re.compile(r"\w+")
# (field, first word, last word)
_Occ = tuple[str, int, int]


def _regex(term: Term) -> re.Pattern[str]:
    words = term.pattern.split(" ")
    if all(is_nospace_char(ch) for ch in term.pattern.replace(" ", "")):
        return re.compile(re.escape(term.pattern.replace(" ", "")))
    body = r"[\s\-]+".join(re.escape(w) for w in words)
    end = "" if term.kind is TermKind.PREFIX else r"(?!\w)"
    return re.compile(r"(?<!\w)" + body + end)


class _Doc:
    """A document normalised once, with word offsets computed on demand."""

    def __init__(self, doc: Document) -> None:
        self.fields = {
            "title": unicodedata.normalize("NFKC", doc.title).casefold(),
            "text": unicodedata.normalize("NFKC", doc.text).casefold(),
        }
        self.host = (doc.source or urlsplit(doc.url).hostname or "").lower()
        self._starts: dict[str, list[int]] = {}

    def word_at(self, field: str, offset: int) -> int:
        if field not in self._starts:
            self._starts[field] = [m.start() for m in _WORD.finditer(self.fields[field])]
        return bisect_right(self._starts[field], offset) - 1


class NaiveMatcher:
    """One regex per term; every rule evaluated separately."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(r for r in rules if r.enabled)
        self._regex: dict[tuple[str, TermKind], re.Pattern[str]] = {}
        for rule in self.rules:
            for term in terms_of(rule.node):
                key = (term.pattern, term.kind)
                if key not in self._regex:
                    self._regex[key] = _regex(term)

    def match(self, document: Document) -> list[str]:
        """The ids of the rules that match `document`."""
        doc = _Doc(document)
        return [r.id for r in self.rules if self._test(r.node, doc, ("title", "text"))]

    def _test(self, node: Node, doc: _Doc, fields: tuple[str, ...]) -> bool:  # noqa: PLR0911
        if isinstance(node, Term):
            regex = self._regex[(node.pattern, node.kind)]
            return any(regex.search(doc.fields[f]) for f in fields)
        if isinstance(node, And):
            return all(self._test(c, doc, fields) for c in node.children)
        if isinstance(node, Or):
            return any(self._test(c, doc, fields) for c in node.children)
        if isinstance(node, Not):
            return not self._test(node.child, doc, fields)
        if isinstance(node, Scope):
            return self._test(node.child, doc, (node.field,))
        if isinstance(node, Source):
            return doc.host == node.host or doc.host.endswith("." + node.host)
        if isinstance(node, AtLeast):
            return len(set(self._occurrences(node.child, doc, fields))) >= node.count
        return bool(self._occurrences(node, doc, fields))

    def _occurrences(self, node: Node, doc: _Doc, fields: tuple[str, ...]) -> list[_Occ]:
        if isinstance(node, Term):
            regex = self._regex[(node.pattern, node.kind)]
            return [
                (f, doc.word_at(f, m.start()), doc.word_at(f, m.end() - 1))
                for f in fields
                for m in regex.finditer(doc.fields[f])
            ]
        if isinstance(node, Or):
            return [o for c in node.children for o in self._occurrences(c, doc, fields)]
        if isinstance(node, Scope):
            return self._occurrences(node.child, doc, (node.field,))
        if isinstance(node, Near):
            left = self._occurrences(node.left, doc, fields)
            right = self._occurrences(node.right, doc, fields) if left else []
            used: set[_Occ] = set()
            for a in left:
                for b in right:
                    if a[0] == b[0] and max(b[1] - a[2], a[1] - b[2]) <= node.distance:
                        used.update((a, b))
            return list(used)
        return []
