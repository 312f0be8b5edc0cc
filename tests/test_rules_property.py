"""Property: the compiled matcher agrees with a slow reference evaluator.

The reference tokenises each field with one regular expression, finds terms
by comparing token lists, and evaluates the syntax tree by brute force. It
shares only the parser with the real matcher (Aho-Corasick over skeletons,
boundary checks, positional evaluation), so disagreements expose matcher
bugs. Texts are Latin with case, hyphen, quote and line-break variants;
scripts without spaces are covered by the table tests.
"""

# Typographic quotes, dashes and full-width forms are the very data under test.
# ruff: noqa: RUF001

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.rules_helpers import matches
from watcher.rules.ast import And, AtLeast, Near, Node, Not, Or, Scope, Source, Term, TermKind
from watcher.rules.parse import parse_query

# (field, first token, last token)
Occ = tuple[str, int, int]


def tokens_of(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return re.findall(r"[a-z0-9]+", folded)


def term_occurrences(term: Term, fields: dict[str, list[str]], scope: tuple[str, ...]) -> list[Occ]:
    want = term.pattern.split(" ")
    found: list[Occ] = []
    for name in scope:
        toks = fields[name]
        for i in range(len(toks) - len(want) + 1):
            window = toks[i : i + len(want)]
            if term.kind is TermKind.PREFIX:
                ok = window[:-1] == want[:-1] and window[-1].startswith(want[-1])
            else:
                ok = window == want
            if ok:
                found.append((name, i, i + len(want) - 1))
    return found


def reference(  # noqa: PLR0911, PLR0912 - one branch per node type, kept flat to read
    node: Node, fields: dict[str, list[str]], scope: tuple[str, ...]
) -> tuple[bool, list[Occ]]:
    """Brute-force evaluation of the documented semantics."""
    if isinstance(node, Term):
        occs = term_occurrences(node, fields, scope)
        return bool(occs), occs
    if isinstance(node, Not):
        return not reference(node.child, fields, scope)[0], []
    if isinstance(node, And):
        results = [reference(c, fields, scope) for c in node.children]
        if all(m for m, _ in results):
            return True, [o for _, occs in results for o in occs]
        return False, []
    if isinstance(node, Or):
        results = [reference(c, fields, scope) for c in node.children]
        return any(m for m, _ in results), [o for m, occs in results if m for o in occs]
    if isinstance(node, Near):
        _, left = reference(node.left, fields, scope)
        _, right = reference(node.right, fields, scope)
        used = set()
        for a in left:
            for b in right:
                overlap = a[1] <= b[2] and b[1] <= a[2]
                if a[0] == b[0] and not overlap and max(b[1] - a[2], a[1] - b[2]) <= node.distance:
                    used.update({a, b})
        return bool(used), sorted(used)
    if isinstance(node, Scope):
        return reference(node.child, fields, (node.field,))
    if isinstance(node, AtLeast):
        _, occs = reference(node.child, fields, scope)
        count, last = 0, ("", -1)
        for field, first, end in sorted(set(occs), key=lambda o: (o[0], o[1], -o[2])):
            if field != last[0] or first > last[1]:
                count += 1
                last = (field, end)
            else:
                last = (field, max(last[1], end))
        return count >= node.count, occs if count >= node.count else []
    assert isinstance(node, Source)
    raise AssertionError("source: is not generated")


WORDS = ["ab", "abc", "abcd", "b", "ba", "c"]
word = st.sampled_from(WORDS)
cased = st.builds(lambda w, up: w.upper() if up else w, word, st.booleans())
separator = st.sampled_from([" ", "  ", "-", "\n", ", ", "’", " “", "” ", "—", "."])


@st.composite
def texts(draw: st.DrawFn) -> str:
    ws = draw(st.lists(cased, max_size=14))
    out = []
    for w in ws:
        out.append(w)
        out.append(draw(separator))
    return "".join(out)


term = st.one_of(
    cased,
    st.sampled_from(["abc*", "aBc*", "abcd*"]),
    st.builds(lambda a, b: f'"{a} {b}"', word, word),
    st.builds(lambda a, b: f'"{a}-{b}*"', word, st.sampled_from(["abc", "bab"])),
)


def positional(depth: int) -> st.SearchStrategy[str]:
    if depth == 0:
        return term
    sub = positional(depth - 1)
    return st.one_of(
        term,
        st.builds(lambda a, b: f"({a} OR {b})", sub, sub),
        st.builds(lambda a, n, b: f"({a} NEAR/{n} {b})", sub, st.integers(0, 4), sub),
        st.builds(lambda a: f"title:({a})", sub),
    )


def query(depth: int) -> st.SearchStrategy[str]:
    if depth == 0:
        return positional(1)
    sub = query(depth - 1)
    return st.one_of(
        positional(2),
        st.builds(lambda a: f"NOT {a}", sub),
        st.builds(lambda a, b: f"({a} AND {b})", sub, sub),
        st.builds(lambda a, b: f"({a} {b})", sub, sub),
        st.builds(lambda a, b: f"({a} OR {b})", sub, sub),
        st.builds(lambda n, a: f"ATLEAST({n}, {a})", st.integers(1, 3), positional(1)),
        st.builds(lambda a: f"title:({a})", sub),
    )


@settings(max_examples=400, deadline=None)
@given(q=query(2), title=texts(), text=texts())
def test_matcher_agrees_with_reference(q: str, title: str, text: str) -> None:
    """For random queries and texts, the compiled matcher equals brute force."""
    fields = {"title": tokens_of(title), "text": tokens_of(text)}
    expected, _ = reference(parse_query(q), fields, ("title", "text"))
    assert matches(q, text, title=title) is expected
