"""Why a rule did, or did not, match a document: the operator's tuning tool.

`explain_rule(rule, doc, sets)` gives, for each top-level clause of the
rule, its verdict, the terms found (with offsets and the text as written in
the document) and the terms missing, and the *near misses*: what almost
satisfied the rule, so the operator sees what to change.

Near misses, by kind:

- `inside-word`: the term's letters occur, but inside a longer word
  (`Korea` in `Koreans`, a prefix that should be `prefix*`);
- `variant`: a word one edit away (`defence`/`defense`, `waiver`/`waivers`;
  in Japanese `オークス`/`オーカス`, the same loan word in other kana);
- `other-member`: the rule names one spelling, and another member of a term
  set that has it occurs (`AUKUS` in the rule, `オーカス` in the text: use
  `@aukus`) - another variant, often in another script;
- `too-far`: both sides of a `NEAR/n` occur, but further apart;
- `too-few`: an `ATLEAST(n, ...)` found fewer occurrences;
- `outside-scope`: a `title:` or `lead:` term occurs, but elsewhere.

PURE: no I/O, no clock, no logging.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from watcher.model import Document
from watcher.rules.ast import (
    And,
    AtLeast,
    Near,
    Node,
    Not,
    Or,
    Scope,
    Term,
    TermKind,
    terms_of,
    top_clauses,
)
from watcher.rules.evidence import Occ, clause_text
from watcher.rules.load import Rule
from watcher.rules.match import ALL_FIELDS, DocumentView, compile_rules, count_separate
from watcher.rules.terms import TermSet
from watcher.text.normalize import is_nospace_char, is_word_char

__all__ = ["ClauseVerdict", "Found", "NearMiss", "Why", "explain_rule", "within_one"]

MAX_MISSES_PER_TERM = 3
# Shorter terms have too many neighbours one edit away, or inside other words
# (`act` in `pact`): Latin terms need 5 letters, Japanese ones 3 characters.
MIN_LATIN_CHARS = 5
MIN_NOSPACE_CHARS = 3


@dataclass(frozen=True)
class Found:
    """One occurrence of a rule term; `start`/`end` are offsets in `field`."""

    term: str
    field: str
    start: int
    end: int
    text: str  # as written in the document

    def to_dict(self) -> dict[str, Any]:
        return {
            "term": self.term,
            "field": self.field,
            "start": self.start,
            "end": self.end,
            "text": self.text,
        }


@dataclass(frozen=True)
class NearMiss:
    """Something that almost satisfied a term or clause (see the module docstring)."""

    term: str  # the rule's term or sub-clause, as written
    kind: str
    detail: str  # one sentence for the operator
    field: str = ""
    start: int = -1
    end: int = -1
    text: str = ""  # what the document has there

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"term": self.term, "kind": self.kind, "detail": self.detail}
        if self.field:
            out.update(field=self.field, start=self.start, end=self.end, text=self.text)
        return out


@dataclass(frozen=True)
class ClauseVerdict:
    """One top-level clause: did it hold, which terms occurred, which did not."""

    clause: str
    matched: bool
    found: tuple[Found, ...]
    missing: tuple[str, ...]
    near_misses: tuple[NearMiss, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "clause": self.clause,
            "matched": self.matched,
            "found": [f.to_dict() for f in self.found],
            "missing": list(self.missing),
            "near_misses": [m.to_dict() for m in self.near_misses],
        }


@dataclass(frozen=True)
class Why:
    """A rule's verdict on one document, clause by clause."""

    rule_id: str
    rule_version: str
    matched: bool
    clauses: tuple[ClauseVerdict, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule_id,
            "version": self.rule_version,
            "matched": self.matched,
            "clauses": [c.to_dict() for c in self.clauses],
        }


def explain_rule(rule: Rule, doc: Document, sets: Mapping[str, TermSet] | None = None) -> Why:
    """Each top-level clause of `rule` on `doc`, with terms found and near misses.

    `sets` are the term sets of the rules directory: they tell which other
    spellings of a term the rule could have used."""
    view = DocumentView(compile_rules([replace(rule, enabled=True)]), doc)
    matched = view.evaluate(rule.node)[0]
    clauses = tuple(_clause(view, rule.query, c, sets or {}) for c in top_clauses(rule.node))
    return Why(rule.id, rule.version, matched, clauses)


def _clause(
    view: DocumentView, query: str, node: Node, sets: Mapping[str, TermSet]
) -> ClauseVerdict:
    matched = view.evaluate(node)[0]
    found: list[Found] = []
    missing: dict[str, None] = {}  # plain terms, and sets none of whose members occur
    misses: list[NearMiss] = []
    hit_sets: set[str] = set()
    absent: list[tuple[Term, str | None]] = []
    for term, set_name in _terms(node):
        occs = view.evaluate(term)[1]
        if occs:
            found.extend(_found(view, occs))
            if set_name:
                hit_sets.add(set_name)
        else:
            absent.append((term, set_name))
    for term, set_name in absent:
        if set_name in hit_sets:
            continue
        missing[f"@{set_name}" if set_name else term.text] = None
        if matched:
            continue  # near misses only explain clauses that failed
        misses.extend(_lexical(view, term))
        if set_name is None:
            misses.extend(_other_members(view, term, sets))
    if not matched:
        misses.extend(_structural(view, query, node))
    return ClauseVerdict(
        clause_text(query, node), matched, _dedupe(found), tuple(missing), _unique(misses)
    )


def _unique(misses: list[NearMiss]) -> tuple[NearMiss, ...]:
    """One near miss per (kind, what the document has), in order."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for m in misses:
        key = (m.kind, m.text or m.term, m.detail if not m.text else "")
        if key not in seen:
            seen.add(key)
            out.append(m)
    return tuple(out)


def _terms(node: Node, set_name: str | None = None) -> list[tuple[Term, str | None]]:
    """Every term under `node` with the term set it came from."""
    if isinstance(node, Term):
        return [(node, set_name)]
    if isinstance(node, Or) and node.set_name is not None:
        set_name = node.set_name
    if isinstance(node, Not | Scope | AtLeast):
        return _terms(node.child, set_name)
    if isinstance(node, And | Or):
        return [t for c in node.children for t in _terms(c, set_name)]
    if isinstance(node, Near):
        return _terms(node.left, set_name) + _terms(node.right, set_name)
    return []


def _found(view: DocumentView, occs: Sequence[Occ]) -> list[Found]:
    out = []
    for m in view.term_matches(occs):
        source = view.doc.title if m.field == "title" else view.doc.text
        out.append(Found(m.term, m.field, m.start, m.end, source[m.start : m.end]))
    return out


def _dedupe(found: list[Found]) -> tuple[Found, ...]:
    seen: set[tuple[str, str, int, int]] = set()
    out = []
    for f in found:
        key = (f.term, f.field, f.start, f.end)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return tuple(out)


def _miss(
    view: DocumentView, term: str, kind: str, detail: str, *, at: tuple[str, int, int]
) -> NearMiss:
    """A near miss at skeleton span `[a, b)` of `field`, `at=(field, a, b)`."""
    field, a, b = at
    start, end = view.fields[field].original_span(a, b)
    source = view.doc.title if field == "title" else view.doc.text
    return NearMiss(term, kind, detail, field, start, end, source[start:end])


def _lexical(view: DocumentView, term: Term) -> list[NearMiss]:
    """The term's letters inside other words, or words one edit away from it."""
    pattern = term.pattern
    out: list[NearMiss] = []
    for field in ALL_FIELDS:
        prepared = view.fields[field]
        skel = prepared.skeleton
        nospace = is_nospace_char(pattern[0])
        if len(pattern) >= MIN_LATIN_CHARS - 1 and not (nospace and is_nospace_char(pattern[-1])):
            k = skel.find(pattern)
            while k >= 0 and len(out) < MAX_MISSES_PER_TERM:
                a, b = _word_around(skel, k, k + len(pattern))
                out.append(
                    _miss(view, term.text, "inside-word",
                          f"'{term.text}' occurs inside the word '{skel[a:b]}'", at=(field, a, b))
                )  # fmt: skip
                k = skel.find(pattern, k + 1)
        shortest = MIN_NOSPACE_CHARS if nospace else MIN_LATIN_CHARS
        if len(pattern) >= shortest and " " not in pattern:
            for a, b in _one_edit(skel, pattern, nospace=nospace):
                if len(out) >= MAX_MISSES_PER_TERM:
                    break
                if term.kind is TermKind.PREFIX and skel.startswith(pattern, a):
                    continue
                out.append(
                    _miss(view, term.text, "variant",
                          f"'{skel[a:b]}' is one letter away from '{term.text}'", at=(field, a, b))
                )  # fmt: skip
    return out[:MAX_MISSES_PER_TERM]


def _word_around(skel: str, a: int, b: int) -> tuple[int, int]:
    while a > 0 and is_word_char(skel[a - 1]):
        a -= 1
    while b < len(skel) and is_word_char(skel[b]):
        b += 1
    return a, b


def _one_edit(skel: str, pattern: str, *, nospace: bool) -> list[tuple[int, int]]:
    """Spans of `skel` one edit away from `pattern`: whole words for Latin
    patterns (substitution, insertion, deletion); for Japanese, substrings of
    no-space runs one substitution or insertion away (a deletion would be any
    shorter word inside the term: `防衛` for `防衛省`)."""
    spans: list[tuple[int, int]] = []
    if not nospace:
        k = 0
        for word in skel.split(" "):
            if word != pattern and within_one(word, pattern):
                spans.append((k, k + len(word)))
            k += len(word) + 1
        return spans
    n = len(pattern)
    for size in (n, n + 1):
        for a in range(len(skel) - size + 1):
            window = skel[a : a + size]
            if (
                window != pattern
                and within_one(window, pattern)
                and all(is_nospace_char(ch) for ch in window)
            ):
                spans.append((a, a + size))
    spans.sort()
    return [s for i, s in enumerate(spans) if i == 0 or s[0] >= spans[i - 1][1]]


def within_one(a: str, b: str) -> bool:
    """Is `a` at most one edit (substitution, insertion, deletion) from `b`?"""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1 :]


def _other_members(view: DocumentView, term: Term, sets: Mapping[str, TermSet]) -> list[NearMiss]:
    """Other spellings from a term set that has this term, found in the document."""
    out: list[NearMiss] = []
    for name, term_set in sorted(sets.items()):
        members = terms_of(term_set.node)
        if term.pattern not in {m.pattern for m in members}:
            continue
        for member in members:
            if member.pattern == term.pattern:
                continue
            for field in ALL_FIELDS:
                k = view.fields[field].skeleton.find(member.pattern)
                if k >= 0:
                    out.append(
                        _miss(view, term.text, "other-member",
                              f"{member.text} of @{name} occurs; the rule has only "
                              f"{term.text} (use @{name})", at=(field, k, k + len(member.pattern)))
                    )  # fmt: skip
                    break
    return out[:MAX_MISSES_PER_TERM]


def _structural(view: DocumentView, query: str, node: Node) -> list[NearMiss]:
    """Failing NEAR, ATLEAST and scopes under `node` whose parts do occur."""
    out: list[NearMiss] = []
    if isinstance(node, Term) or (isinstance(node, Or) and node.set_name is not None):
        return out
    text = clause_text(query, node)
    if isinstance(node, Near) and not view.evaluate(node)[0]:
        left, right = view.evaluate(node.left)[1], view.evaluate(node.right)[1]
        gaps = [
            max(b[3] - a[4], a[3] - b[4])
            for a in left
            for b in right
            if a[0] == b[0] and not (a[1] < b[2] and b[1] < a[2])
        ]
        if gaps:
            out.append(
                NearMiss(text, "too-far",
                         f"both sides occur, at best {min(gaps)} words apart "
                         f"(NEAR/{node.distance} allows {node.distance})")
            )  # fmt: skip
    elif isinstance(node, AtLeast) and not view.evaluate(node)[0]:
        count = count_separate(view.evaluate(node.child)[1])
        if count:
            out.append(
                NearMiss(text, "too-few", f"occurs {count} times, ATLEAST needs {node.count}")
            )
    elif isinstance(node, Scope) and not view.evaluate(node)[0]:
        occs = view.evaluate(node.child, ALL_FIELDS)[1]
        if occs:
            first = (
                min(o[3] for o in occs if o[0] == "text")
                if any(o[0] == "text" for o in occs)
                else 0
            )
            out.append(
                NearMiss(text, "outside-scope",
                         f"occurs, but not in the {node.field} (first at word {first} of the text)")
            )  # fmt: skip
    children: tuple[Node, ...] = ()
    if isinstance(node, And | Or):
        children = node.children
    elif isinstance(node, Not | Scope | AtLeast):
        children = (node.child,)
    elif isinstance(node, Near):
        children = (node.left, node.right)
    for child in children:
        out.extend(_structural(view, query, child))
    return out
