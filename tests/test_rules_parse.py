"""The query parser: tree shapes, precedence, and every syntax error message."""

# Typographic quotes, dashes and full-width forms are the very data under test.
# ruff: noqa: RUF001

from __future__ import annotations

import pytest

from watcher.rules.ast import And, AtLeast, Near, Node, Not, Or, Scope, Source, Term, TermKind
from watcher.rules.parse import QuerySyntaxError, parse_query


def shape(node: Node) -> str:  # noqa: PLR0911 - one return per node type
    """A compact S-expression of a tree, for table tests."""
    if isinstance(node, Term):
        return node.text
    if isinstance(node, Not):
        return f"(NOT {shape(node.child)})"
    if isinstance(node, And):
        return "(AND " + " ".join(shape(c) for c in node.children) + ")"
    if isinstance(node, Or):
        return "(OR " + " ".join(shape(c) for c in node.children) + ")"
    if isinstance(node, Near):
        return f"(NEAR/{node.distance} {shape(node.left)} {shape(node.right)})"
    if isinstance(node, Scope):
        return f"({node.field}: {shape(node.child)})"
    if isinstance(node, Source):
        return f"(source: {node.host})"
    assert isinstance(node, AtLeast)
    return f"(ATLEAST {node.count} {shape(node.child)})"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("a", "a"),
        ("a b", "(AND a b)"),
        ("a AND b", "(AND a b)"),
        ("a OR b", "(OR a b)"),
        ("a OR b c", "(OR a (AND b c))"),
        ("a b OR c", "(OR (AND a b) c)"),
        ("(a OR b) c", "(AND (OR a b) c)"),
        ("NOT a b", "(AND (NOT a) b)"),
        ("a NOT b", "(AND a (NOT b))"),
        ("NOT NOT a", "(NOT (NOT a))"),
        ("a NEAR/3 b c", "(AND (NEAR/3 a b) c)"),
        ("a OR b NEAR/2 c", "(OR a (NEAR/2 b c))"),
        ("a NEAR/1 b NEAR/2 c", "(NEAR/2 (NEAR/1 a b) c)"),
        ("(a OR b) NEAR/5 c", "(NEAR/5 (OR a b) c)"),
        ("title:a b", "(AND (title: a) b)"),
        ("title:(a OR b)", "(title: (OR a b))"),
        ('title:"a b"', '(title: "a b")'),
        ("Title:a", "(title: a)"),
        ("source:Reuters.com a", "(AND (source: reuters.com) a)"),
        ("ATLEAST(2, a OR b)", "(ATLEAST 2 (OR a b))"),
        ("a and b", "(AND a and b)"),
        ("NEARBY", "NEARBY"),
        ("“a b”", '"a b"'),
        ("日本 AUKUS", "(AND 日本 AUKUS)"),
    ],
)
def test_tree_shape(query: str, expected: str) -> None:
    """Queries parse with NOT > NEAR > AND/adjacency > OR precedence."""
    assert shape(parse_query(query)) == expected


@pytest.mark.parametrize(
    ("query", "kind", "pattern"),
    [
        ("Japan", TermKind.WORD, "japan"),
        ("secur*", TermKind.PREFIX, "secur"),
        ('"Pillar  II"', TermKind.PHRASE, "pillar ii"),
        ('"security clearance*"', TermKind.PREFIX, "security clearance"),
        ("U.S.", TermKind.WORD, "u s"),
        ("日本*", TermKind.WORD, "日本"),
        ("ＡＵＫＵＳ", TermKind.WORD, "aukus"),
    ],
)
def test_term_kinds_and_patterns(query: str, kind: TermKind, pattern: str) -> None:
    """Terms are classified and normalised into their matching pattern."""
    term = parse_query(query)
    assert isinstance(term, Term)
    assert (term.kind, term.pattern) == (kind, pattern)


def test_nodes_record_their_source_span() -> None:
    """Each node knows where it was written, parentheses included."""
    query = "x AND (a OR b)"
    node = parse_query(query)
    assert isinstance(node, And)
    assert query[node.children[1].start : node.children[1].end] == "(a OR b)"


ERRORS = [
    # (query, offset, message)
    ("", 0, "expected a term, a phrase or '(', found end of query"),
    ("a AND", 5, "expected a term, a phrase or '(', found end of query"),
    ("a OR OR b", 5, "expected a term, a phrase or '(', found 'OR'"),
    ("(a OR b", 7, "expected ')' or an operator, found end of query"),
    ("a)", 1, "expected end of query (unbalanced ')'), found ')'"),
    ("a , b", 2, "expected an operator (AND, OR, NEAR/n) or end of query, found ','"),
    ('"a b', 0, "unterminated phrase: expected a closing '\"'"),
    ("a NEAR b", 2, "found 'NEAR' without a distance: expected NEAR/n"),
    ("a NEAR/x b", 2, "found 'NEAR/' without a number: expected NEAR/n"),
    (
        "a NEAR/2 (b AND c)",
        9,
        "NEAR/2 needs terms, phrases or OR-groups of them, found '(b AND c)'",
    ),
    ("NOT a NEAR/2 b", 0, "NEAR/2 needs terms, phrases or OR-groups of them, found 'NOT a'"),
    ("url:x", 0, "unknown field 'url:': expected title:, lead: or source:"),
    ("source: x", 8, "expected a host name after 'source:' (e.g. source:reuters.com), found 'x'"),
    ("source:a_b", 7, "expected a host name after 'source:', found 'a_b'"),
    ("title: x", 7, "expected a term, a phrase, a term set or '(' right after 'title:', found 'x'"),
    (
        "title:NOT",
        6,
        "expected a term, a phrase, a term set or '(' right after 'title:', found 'NOT'",
    ),
    ("ATLEAST 2", 8, "expected '(' after ATLEAST, found '2'"),
    (
        "ATLEAST(x, a)",
        8,
        "expected a count (a whole number >= 1) as the first argument of ATLEAST, found 'x'",
    ),
    (
        "ATLEAST(0, a)",
        8,
        "expected a count (a whole number >= 1) as the first argument of ATLEAST, found '0'",
    ),
    ("ATLEAST(2 a)", 10, "expected ',' after the count of ATLEAST, found 'a'"),
    ("ATLEAST(2, a", 12, "expected ')' closing ATLEAST, found end of query"),
    (
        "ATLEAST(2, NOT a)",
        11,
        "ATLEAST needs a term, a phrase or an OR-group of them, found 'NOT a'",
    ),
    ("se*ure", 2, "found '*' inside 'se*ure': expected '*' only at the end of a word"),
    ("ab*", 0, "found prefix 'ab*': expected at least 3 letters before '*'"),
    ("&", 0, "expected a term with letters or digits, found '&'"),
    ('"--"', 0, 'expected a term with letters or digits, found phrase "--"'),
]


@pytest.mark.parametrize(("query", "offset", "message"), ERRORS)
def test_syntax_errors(query: str, offset: int, message: str) -> None:
    """Every syntax error says where, what was found and what was expected."""
    with pytest.raises(QuerySyntaxError) as info:
        parse_query(query)
    assert (info.value.offset, info.value.message) == (offset, message)
