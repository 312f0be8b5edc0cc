"""Matching rules against documents. PURE: no I/O, no clock, no logging.

`compile_rules` puts the terms of every enabled rule into one Aho-Corasick
automaton; `match` runs it once over the skeleton of each field (title,
text; see `watcher.text.normalize`, built fast by `watcher.rules.fields`), keeps
the occurrences that sit on word boundaries, and evaluates each candidate
rule's syntax tree on those occurrences and their word positions.

Semantics:
- unscoped terms search the title and the text; `title:` only the title;
  `lead:` the title and the text's first paragraphs (`watcher.rules.lead`);
- `a NEAR/n b`: an occurrence of `a` and an occurrence of `b` that does not
  overlap it (`abc* NEAR/1 abcd*` needs two words), in the same field, with
  at most `n` word positions from the end of the earlier one to the start of
  the later one (adjacent words: distance 1);
  a NEAR yields the occurrences that took part, so in
  `a NEAR/2 b NEAR/3 c` the `c` must be within 3 of an `a` or `b` that
  paired up;
- `ATLEAST(n, x)`: at least `n` non-overlapping occurrences of `x` (both
  fields; `Korea` inside `South Korea` counts once);
- `source:host`: the document's `source` (else its URL's host) is `host`
  or ends with `.host`.

A rule is evaluated only when one of its terms occurred, unless it can match
a document without any term (e.g. `NOT x`): that is decided once, at
compile time, by evaluating the rule on an empty document. Evidence (term
offsets, score, snippet; `watcher.rules.evidence`) is built only for rules
that fired.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import ahocorasick

from watcher.model import Document, Hit, TermMatch
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
    top_clauses,
)
from watcher.rules.evidence import Occ as _Occ
from watcher.rules.evidence import clause_text, score_of, snippet, term_matches
from watcher.rules.fields import PreparedField
from watcher.rules.lead import Lead, uses_lead
from watcher.rules.load import Rule
from watcher.text.normalize import is_nospace_char, is_word_char

__all__ = [
    "DocumentView",
    "Matcher",
    "compile_rules",
    "count_separate",
    "match",
    "matching_rules",
    "presence_formula",
    "required_patterns",
    "score_of",
]

ALL_FIELDS = ("title", "text")

# (field, skeleton start, skeleton end, word start, word end)
_Raw = tuple[str, int, int, int, int]
_Key = tuple[str, bool]  # (pattern, is_prefix)


@dataclass(frozen=True)
class _Pattern:
    text: str
    check_start: bool  # the pattern starts with a word character: needs a boundary
    check_end: bool


@dataclass(frozen=True)
class _Compiled:
    rule: Rule
    pids: frozenset[int]  # every pattern of the rule
    needs: tuple[frozenset[int], ...]  # each set must meet the patterns found
    always: bool  # can match without any term occurring
    clauses: tuple[Node, ...]

    def is_candidate(self, present: set[int]) -> bool:
        """Cheap necessary condition before evaluating the whole tree."""
        if self.always:
            return True
        if self.pids.isdisjoint(present):
            return False
        return all(not need.isdisjoint(present) for need in self.needs)


class Matcher:
    """The compiled form of a rule set; build with `compile_rules`."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(r for r in rules if r.enabled)
        self._pids: dict[_Key, int] = {}
        self._patterns: list[_Pattern] = []
        for rule in self.rules:
            for term in terms_of(rule.node):
                self._pid(term)
        # Two automata: patterns with characters of scripts written without
        # spaces make a trie whose nodes have hundreds of children, which
        # slows the scan of every character; most text has none of those
        # characters, so it is scanned with the Latin-only automaton alone.
        self._latin = ahocorasick.Automaton()
        self._nospace = ahocorasick.Automaton()
        self._nospace_longest = 0
        by_text: dict[str, list[int]] = {}
        for pid, pat in enumerate(self._patterns):
            by_text.setdefault(pat.text, []).append(pid)
        for text, pids in by_text.items():
            # Everything the scan needs per occurrence, so it looks nothing up.
            entries = tuple(
                (pid, len(text), self._patterns[pid].check_start, self._patterns[pid].check_end)
                for pid in pids
            )
            nospace = any(is_nospace_char(ch) for ch in text)
            (self._nospace if nospace else self._latin).add_word(text, entries)
            if nospace:
                self._nospace_longest = max(self._nospace_longest, len(text))
        for automaton in (self._latin, self._nospace):
            if len(automaton):
                automaton.make_automaton()
        self._by_pid: dict[int, list[int]] = {}
        self._compiled = tuple(
            _Compiled(
                rule=r,
                pids=frozenset(self._pids[_key(t)] for t in terms_of(r.node)),
                needs=tuple(frozenset(self._pids[k] for k in need) for need in _needs(r.node)),
                always=_evaluate(r.node, {}, self._pids, ALL_FIELDS, None)[0],
                clauses=top_clauses(r.node),
            )
            for r in self.rules
        )
        self._always = [i for i, c in enumerate(self._compiled) if c.always]
        self.uses_lead = any(uses_lead(r.node) for r in self.rules)
        for i, c in enumerate(self._compiled):
            for pid in c.pids:
                self._by_pid.setdefault(pid, []).append(i)

    def candidates(self, present: set[int]) -> list[_Compiled]:
        """The rules worth evaluating when the patterns `present` occurred."""
        indices = set(self._always)
        for pid in present:
            indices.update(self._by_pid.get(pid, ()))
        return [
            self._compiled[i] for i in sorted(indices) if self._compiled[i].is_candidate(present)
        ]

    def _pid(self, term: Term) -> int:
        key = _key(term)
        if key not in self._pids:
            self._pids[key] = len(self._patterns)
            pat = term.pattern
            self._patterns.append(
                _Pattern(pat, is_word_char(pat[0]), is_word_char(pat[-1]) and not key[1])
            )
        return self._pids[key]

    def occurrences(self, fields: Mapping[str, PreparedField]) -> dict[int, list[_Raw]]:
        """Every pattern occurrence on word boundaries, by pattern id."""
        found: dict[int, list[_Raw]] = {}
        if not self._patterns:
            return found
        scans = [a for a in (self._latin, self._nospace) if len(a)]
        for name, ft in fields.items():
            skel = ft.skeleton
            last = len(skel) - 1
            spans: list[tuple[int, int, int]] = []  # (pattern id, start, last character)
            for automaton in scans:
                if automaton is self._latin:
                    windows = [(0, len(skel))]
                else:  # only near the text's no-space runs (none in most text)
                    windows = ft.nospace_windows(self._nospace_longest)
                for end, entries in (e for a, b in windows for e in automaton.iter(skel, a, b)):
                    for pid, length, check_start, check_end in entries:
                        start = end - length + 1
                        if check_start and start > 0 and _is_word_char(skel[start - 1]):
                            continue
                        if check_end and end < last and _is_word_char(skel[end + 1]):
                            continue
                        spans.append((pid, start, end))
            if not spans:
                continue
            words = ft.word_positions([k for _, start, end in spans for k in (start, end)])
            for i, (pid, start, end) in enumerate(spans):
                occ = (name, start, end + 1, words[2 * i], words[2 * i + 1])
                found.setdefault(pid, []).append(occ)
        return found


def _is_word_char(ch: str) -> bool:
    # An ASCII letter or digit is always a word character: skip the regex.
    return ch.isalnum() and (ch.isascii() or is_word_char(ch))


def _needs(node: Node) -> list[frozenset[_Key]]:
    """Sets of terms of which one must occur for `node` to match (a necessary
    condition in conjunctive form; NOT and source: contribute nothing)."""
    if isinstance(node, Term):
        return [frozenset([_key(node)])]
    if isinstance(node, And):
        return [need for c in node.children for need in _needs(c)]
    if isinstance(node, Near):
        return _needs(node.left) + _needs(node.right)
    if isinstance(node, Scope | AtLeast):
        return _needs(node.child)
    if isinstance(node, Or):
        firsts = [_needs(c) for c in node.children]
        if all(firsts):
            return [frozenset().union(*(f[0] for f in firsts))]
    return []


def required_patterns(node: Node) -> list[frozenset[str]]:
    """Sets of term skeletons of which one must occur (as a substring of the
    title's or text's skeleton) for `node` to match: `_needs` without the
    prefix flag. Empty when nothing is required (e.g. `NOT x`, `source:`)."""
    return [frozenset(pattern for pattern, _prefix in need) for need in _needs(node)]


# A necessary condition on which term skeletons occur: a skeleton (it occurs),
# ("and" | "or", parts), or None (no condition).
Presence = str | tuple[str, tuple["Presence", ...]] | None


def presence_formula(node: Node) -> Presence:
    """What must hold of the term skeletons occurring in a document (as substrings of
    its title's or text's skeleton) for `node` to match: terms combined by AND and OR
    as the query combines them, NEAR as AND; NOT and `source:` ask nothing."""
    if isinstance(node, Term):
        return node.pattern
    if isinstance(node, Scope | AtLeast):
        return presence_formula(node.child)
    if isinstance(node, And | Near):
        children = node.children if isinstance(node, And) else (node.left, node.right)
        parts = tuple(p for p in map(presence_formula, children) if p is not None)
        return None if not parts else parts[0] if len(parts) == 1 else ("and", parts)
    if isinstance(node, Or):
        alternatives = tuple(map(presence_formula, node.children))
        if any(p is None for p in alternatives):
            return None
        return alternatives[0] if len(alternatives) == 1 else ("or", alternatives)
    return None


def _key(term: Term) -> _Key:
    return (term.pattern, term.kind is TermKind.PREFIX)


def compile_rules(rules: Sequence[Rule]) -> Matcher:
    """Compile the enabled rules of `rules` into one matcher."""
    return Matcher(rules)


def _host(doc: Document) -> str:
    host = doc.source or urlsplit(doc.url).hostname or ""
    return host.lower().strip(".")


@dataclass(frozen=True)
class _Ctx:
    """What a rule is evaluated against: occurrences by pattern id and the host."""

    found: dict[int, list[_Raw]]
    pids: dict[_Key, int]
    host: str | None  # None: "any source" (used to find rules that need no term)
    lead: Lead | None = None  # where the text's lead ends (None: no text, no lead)


_Result = tuple[bool, list[_Occ]]


def _evaluate(
    node: Node,
    found: dict[int, list[_Raw]],
    pids: dict[_Key, int],
    fields: tuple[str, ...],
    host: str | None,
    *,
    lead: Lead | None = None,
) -> _Result:
    """Evaluate `node`: (matched, evidence). `host=None` means "any source"."""
    return _eval(node, _Ctx(found, pids, host, lead), fields)


def _eval(node: Node, ctx: _Ctx, fields: tuple[str, ...]) -> _Result:
    return _EVALUATORS[type(node)](node, ctx, fields)


def _eval_term(node: Term, ctx: _Ctx, fields: tuple[str, ...]) -> _Result:
    raws = ctx.found.get(ctx.pids[_key(node)], [])
    if "lead" in fields:  # the title, and the text up to the lead's end
        end = ctx.lead.end if ctx.lead is not None else 0
        occs = [(*r, node.text) for r in raws if r[0] == "title" or r[4] < end]
    else:
        occs = [(*r, node.text) for r in raws if r[0] in fields]
    return bool(occs), occs


def _eval_not(node: Not, ctx: _Ctx, fields: tuple[str, ...]) -> _Result:
    return not _eval(node.child, ctx, fields)[0], []


def _eval_and(node: And, ctx: _Ctx, fields: tuple[str, ...]) -> _Result:
    evidence: list[_Occ] = []
    for child in node.children:
        matched, occs = _eval(child, ctx, fields)
        if not matched:
            return False, []
        evidence.extend(occs)
    return True, evidence


def _eval_or(node: Or, ctx: _Ctx, fields: tuple[str, ...]) -> _Result:
    any_matched = False
    evidence: list[_Occ] = []
    for child in node.children:
        matched, occs = _eval(child, ctx, fields)
        if matched:
            any_matched = True
            evidence.extend(occs)
    return any_matched, evidence


def _eval_scope(node: Scope, ctx: _Ctx, fields: tuple[str, ...]) -> _Result:
    return _eval(node.child, ctx, (node.field,))


def _eval_source(node: Source, ctx: _Ctx, fields: tuple[str, ...]) -> _Result:
    if ctx.host is None:
        return True, []
    return ctx.host == node.host or ctx.host.endswith("." + node.host), []


def _eval_atleast(node: AtLeast, ctx: _Ctx, fields: tuple[str, ...]) -> _Result:
    _, occs = _eval(node.child, ctx, fields)
    if count_separate(occs) >= node.count:
        return True, occs
    return False, []


def count_separate(occs: list[_Occ]) -> int:
    """Occurrences that do not overlap (`Korea` inside `South Korea` counts once)."""
    count = 0
    last: tuple[str, int] = ("", -1)
    for field, start, end, *_ in sorted(occs, key=lambda o: (o[0], o[1], -o[2])):
        if field != last[0] or start >= last[1]:
            count += 1
            last = (field, end)
        elif end > last[1]:
            last = (field, end)
    return count


def _eval_near(node: Near, ctx: _Ctx, fields: tuple[str, ...]) -> _Result:
    _, left = _eval(node.left, ctx, fields)
    if not left:
        return False, []
    _, right = _eval(node.right, ctx, fields)
    used: dict[tuple[str, int, int, str], _Occ] = {}
    for a in left:
        for b in right:
            if a[0] != b[0] or (a[1] < b[2] and b[1] < a[2]):
                continue  # other field, or the same text (overlapping spans)
            if max(b[3] - a[4], a[3] - b[4]) <= node.distance:
                used.setdefault((a[0], a[1], a[2], a[5]), a)
                used.setdefault((b[0], b[1], b[2], b[5]), b)
    return bool(used), list(used.values())


_EVALUATORS: dict[type, Callable[[Any, _Ctx, tuple[str, ...]], _Result]] = {
    Term: _eval_term,
    Not: _eval_not,
    And: _eval_and,
    Or: _eval_or,
    Near: _eval_near,
    Scope: _eval_scope,
    Source: _eval_source,
    AtLeast: _eval_atleast,
}


def _fired(matcher: Matcher, doc: Document) -> Iterator[tuple[_Compiled, list[_Occ], _Prepared]]:
    """The rules of `matcher` that match `doc`, with their evidence and the prepared fields."""
    fields = {"title": PreparedField(doc.title), "text": PreparedField(doc.text)}
    found = matcher.occurrences(fields)
    host = _host(doc)
    lead = Lead(doc.text) if matcher.uses_lead else None  # computed only if a lead: is reached
    prepared = _Prepared(fields, found, host, lead)
    for compiled in matcher.candidates(set(found)):
        matched, evidence = _evaluate(
            compiled.rule.node, found, matcher._pids, ALL_FIELDS, host, lead=lead
        )
        if matched:
            yield compiled, evidence, prepared


@dataclass(frozen=True)
class _Prepared:
    fields: dict[str, PreparedField]
    found: dict[int, list[_Raw]]
    host: str
    lead: Lead | None


def matching_rules(matcher: Matcher, doc: Document) -> list[str]:
    """The ids of the rules of `matcher` that match `doc` (in rule order): what `match`
    decides, without building the evidence (offsets, score, clauses, snippet)."""
    return [compiled.rule.id for compiled, _evidence, _prepared in _fired(matcher, doc)]


def match(matcher: Matcher, doc: Document) -> list[Hit]:
    """Every rule of `matcher` that matches `doc`, strongest first, with evidence."""
    hits: list[Hit] = []
    for compiled, evidence, prepared in _fired(matcher, doc):
        fields, found, host, lead = prepared.fields, prepared.found, prepared.host, prepared.lead
        matches = term_matches(evidence, fields)
        fired = tuple(
            clause_text(compiled.rule.query, c)
            for c in compiled.clauses
            if _evaluate(c, found, matcher._pids, ALL_FIELDS, host, lead=lead)[0]
        )
        hits.append(
            Hit(
                rule_id=compiled.rule.id,
                rule_version=compiled.rule.version,
                severity=compiled.rule.severity,
                score=score_of(matches),
                matches=matches,
                clauses=fired,
                snippet=snippet(doc, matches),
            )
        )
    hits.sort(key=lambda h: (-h.score, h.rule_id))
    return hits


class DocumentView:
    """One document prepared once, to evaluate any node of the matcher's rules
    on it: what `watcher rules why` explains with. PURE."""

    def __init__(self, matcher: Matcher, doc: Document) -> None:
        self.matcher = matcher
        self.doc = doc
        self.fields = {"title": PreparedField(doc.title), "text": PreparedField(doc.text)}
        self.found = matcher.occurrences(self.fields)
        self.host = _host(doc)
        self.lead = Lead(doc.text)

    def evaluate(self, node: Node, fields: tuple[str, ...] = ALL_FIELDS) -> _Result:
        """(matched, occurrences) of `node`, a node of one of the matcher's rules.

        An occurrence is `(field, skeleton start, skeleton end, first word,
        last word, term as written)`."""
        return _evaluate(node, self.found, self.matcher._pids, fields, self.host, lead=self.lead)

    def term_matches(self, occs: Sequence[_Occ]) -> tuple[TermMatch, ...]:
        """Occurrences as offsets into the document's original fields."""
        return term_matches(occs, self.fields)
