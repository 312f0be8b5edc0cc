"""Fuzzing the rule language: random query text and random rule files fail only with located errors.

`parse_query` returns a tree or raises `QuerySyntaxError` with an offset
inside the query; `load_rules` returns rules or raises `RuleError` whose
every `Problem` points at a real file, line and column. Nothing else may
escape, whatever people type. The deeper profile is `slow` (make test-long).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from watcher.errors import Problem, RuleError
from watcher.rules.ast import And, AtLeast, Near, Not, Or, Scope, Source, Term
from watcher.rules.load import load_rules
from watcher.rules.parse import QuerySyntaxError, parse_query

NODES = (And, AtLeast, Near, Not, Or, Scope, Source, Term)
TOKENS = [
    "AND", "OR", "NOT", "NEAR", "NEAR/3", "NEAR/0", "NEAR/x", "ATLEAST(", "ATLEAST(2,", "(", ")",
    ",", '"', "\u201c", "\u201d", "title:", "source:", "Title:", "url:", "*", "abc*", "ab*",
    "AUKUS", "Japan", "日本", "防衛装備", "Pillar II", "-", "'", ":", "\\", "\n", "\t", " ",
    "and", "or", "2", "99999999999999999999", "example.org", "\u00a0", "\u3000", "\ufeff",
]  # fmt: skip
TEXT = st.characters(exclude_categories=["Cs"])  # files are UTF-8: no lone surrogates
QUERIES = st.one_of(
    st.text(TEXT, max_size=60),
    st.lists(st.sampled_from(TOKENS), max_size=14).map(" ".join),
    st.lists(st.one_of(st.sampled_from(TOKENS), st.text(TEXT, max_size=3)), max_size=14).map(
        "".join
    ),
)
VALID = """id: fuzz-rule
name: Fuzzed rule
severity: high
query: >
  (AUKUS OR "Pillar II") AND (Japan OR 日本)
route: ["#fuzz"]
examples: []
counter_examples: []
enabled: true
"""
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEEP = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _yaml_scalar(draw: st.DrawFn) -> str:
    return draw(
        st.one_of(
            st.sampled_from(["", "~", "null", "yes", "no", "[]", "{}", "[a, b]", "- x", "|", ">"]),
            st.text(TEXT, max_size=20),
            QUERIES.map(lambda q: "'" + q.replace("'", "''") + "'"),
            QUERIES,
        )
    )


@st.composite
def rule_files(draw: st.DrawFn) -> str:
    """A rule file: random text, a valid file mutated, or valid keys with random values."""
    kind = draw(st.sampled_from(["random", "mutated", "fields"]))
    if kind == "random":
        return draw(st.text(TEXT, max_size=200))
    if kind == "mutated":
        text = VALID
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(text)))
            j = draw(st.integers(i, min(len(text), i + 20)))
            op = draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
            piece = draw(st.one_of(st.sampled_from(TOKENS), st.text(TEXT, max_size=4)))
            if op == "delete":
                text = text[:i] + text[j:]
            elif op == "insert":
                text = text[:i] + piece + text[i:]
            elif op == "replace":
                text = text[:i] + piece + text[j:]
            else:
                text = text[:j] + text[i:j] + text[j:]
        return text
    keys = ["id", "name", "severity", "query", "route", "examples", "enabled", "extra"]
    chosen = draw(st.lists(st.sampled_from(keys), max_size=8))
    return "".join(f"{key}: {_yaml_scalar(draw)}\n" for key in chosen)


def check_query(query: str) -> None:
    error: QuerySyntaxError | None = None
    try:
        node = parse_query(query)
    except QuerySyntaxError as exc:
        error = exc
    if error is None:
        assert isinstance(node, NODES)
    else:
        assert 0 <= error.offset <= len(query), (query, error.offset)
        assert error.message.strip()


def check_rule_files(texts: list[str | bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lines: dict[str, int] = {}
        for i, content in enumerate(texts):
            path = Path(tmp) / f"rule{i}.yaml"
            if isinstance(content, bytes):
                path.write_bytes(content)
                # YAML breaks lines at CR too (a lone b"\r" starts line 2), like splitlines.
                decoded = content.decode("utf-8", errors="replace")
                lines[str(path)] = len(decoded.splitlines()) + 1
            else:
                path.write_text(content, encoding="utf-8")
                lines[str(path)] = len(content.splitlines()) + 1
        problems: list[Problem] | None = None
        try:
            rules = load_rules(Path(tmp))
        except RuleError as exc:
            problems = exc.problems
        if problems is None:
            assert len({rule.id for rule in rules}) == len(rules)
            for rule in rules:
                assert isinstance(rule.node, NODES)
            return
        assert problems
        for problem in problems:
            assert problem.file in lines, problem
            assert 1 <= problem.line <= lines[problem.file], (problem, texts)
            assert problem.col >= 1, problem
            assert problem.message.strip()


@FAST
@given(QUERIES)
def test_random_queries_parse_or_fail_with_an_offset(query: str) -> None:
    """Any query text gives a syntax tree or a QuerySyntaxError pointing inside the text."""
    check_query(query)


@FAST
@given(st.lists(st.one_of(rule_files(), st.binary(max_size=60)), min_size=1, max_size=3))
@example([b"\r["])  # a lone CR is a YAML line break: the problem is on line 2 (found 2026-12-05)
def test_random_rule_files_load_or_fail_with_located_problems(texts: list[str | bytes]) -> None:
    """Any set of rule files loads or raises RuleError whose problems all have file:line:col."""
    check_rule_files(texts)


@pytest.mark.slow
@DEEP
@given(QUERIES)
def test_random_queries_deep(query: str) -> None:
    """The query property over many more examples."""
    check_query(query)


@pytest.mark.slow
@DEEP
@given(st.lists(st.one_of(rule_files(), st.binary(max_size=60)), min_size=1, max_size=3))
def test_random_rule_files_deep(texts: list[str | bytes]) -> None:
    """The rule-file property over many more examples."""
    check_rule_files(texts)
