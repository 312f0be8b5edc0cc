"""Query text -> syntax tree (`watcher.rules.ast`), with source offsets.

Grammar, loosest binding first (so the precedence is
`NOT` > `NEAR/n` > `AND`/adjacency > `OR`)::

    query   := or EOF
    or      := and ("OR" and)*
    and     := near (["AND"] near)*          adjacency means AND
    near    := unary ("NEAR/" n unary)*      left-associative
    unary   := "NOT" unary | primary
    primary := "(" or ")" | word | prefix* | "phrase" | "@" set
             | "title:" primary | "lead:" primary | "source:" host
             | "ATLEAST(" n "," or ")"

Operators are upper case (`and`, `or`, `near` in lower case are words).
Phrases take straight or typographic double quotes. `NEAR` and `ATLEAST`
accept only positional operands: terms, phrases, prefixes, OR-groups of
them, `title:`/`lead:` scopes of them and other NEARs.

`@name` stands for a named term set (`watcher.rules.terms`): the OR of its
members, usable anywhere a term is. The sets a query may use are passed to
`parse_query`; an unknown name is a syntax error at the `@`.

`parse_query` raises `QuerySyntaxError` with the offset of the offending
token and a message naming what was found and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from watcher.rules.ast import And, AtLeast, Near, Node, Not, Or, Scope, Source, Term, TermKind
from watcher.rules.ast import is_positional as _is_positional
from watcher.text.normalize import is_nospace_char, skeleton_of

__all__ = ["QuerySyntaxError", "parse_query"]

FIELDS = ("title", "lead", "source")
MIN_PREFIX = 3  # shorter prefixes (`ab*`) match too much to be useful

_OPEN_QUOTES = '"\u201c\u201d\u201e'
_CLOSE_QUOTES = '"\u201c\u201d\u201f'
_WORD_RE = re.compile(r"[^\s()\",\u201c\u201d\u201e\u201f]+")
_FIELD_RE = re.compile(r"([A-Za-z]+):")
_NEAR_RE = re.compile(r"NEAR(?:/(\d+))?(?=[\s()\"\u201c\u201d]|$)")
_SET_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
_HOST_RE = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


class QuerySyntaxError(Exception):
    """A query is invalid; `offset` is where in the query text."""

    def __init__(self, offset: int, message: str) -> None:
        self.offset = offset
        self.message = message
        super().__init__(f"at offset {offset}: {message}")


@dataclass(frozen=True)
class _Token:
    kind: str  # WORD PHRASE SET LPAREN RPAREN COMMA AND OR NOT NEAR ATLEAST FIELD EOF
    text: str
    start: int
    end: int
    number: int = 0  # NEAR distance

    def describe(self) -> str:
        if self.kind == "EOF":
            return "end of query"
        if self.kind == "PHRASE":
            return f'phrase "{self.text}"'
        if self.kind == "SET":
            return f"term set '@{self.text}'"
        return f"'{self.text}'"


_KEYWORDS = {"AND": "AND", "OR": "OR", "NOT": "NOT", "ATLEAST": "ATLEAST"}
_PUNCT = {"(": "LPAREN", ")": "RPAREN", ",": "COMMA"}


def _lex(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
        elif ch in _PUNCT:
            tokens.append(_Token(_PUNCT[ch], ch, i, i + 1))
            i += 1
        elif ch in _OPEN_QUOTES:
            j = i + 1
            while j < n and query[j] not in _CLOSE_QUOTES:
                j += 1
            if j >= n:
                raise QuerySyntaxError(i, "unterminated phrase: expected a closing '\"'")
            tokens.append(_Token("PHRASE", query[i + 1 : j], i, j + 1))
            i = j + 1
        elif m := _NEAR_RE.match(query, i):
            if m.group(1) is None:
                raise QuerySyntaxError(i, "found 'NEAR' without a distance: expected NEAR/n")
            tokens.append(_Token("NEAR", m.group(0), i, m.end(), int(m.group(1))))
            i = m.end()
        elif query.startswith("NEAR/", i):
            raise QuerySyntaxError(i, "found 'NEAR/' without a number: expected NEAR/n")
        elif m := _FIELD_RE.match(query, i):
            tokens.append(_Token("FIELD", m.group(1).lower(), i, m.end()))
            i = m.end()
        else:
            m = _WORD_RE.match(query, i)
            assert m is not None  # every other character starts a word
            tokens.append(_word_token(m.group(0), i, m.end()))
            i = m.end()
    tokens.append(_Token("EOF", "", n, n))
    return tokens


def _word_token(word: str, start: int, end: int) -> _Token:
    """A keyword, a term set reference (`@name`) or a word."""
    if not word.startswith("@"):
        return _Token(_KEYWORDS.get(word, "WORD"), word, start, end)
    if not _SET_RE.fullmatch(word[1:]):
        raise QuerySyntaxError(
            start, f"found '{word}': expected a term set name like @aukus after '@'"
        )
    return _Token("SET", word[1:], start, end)


_STARTS_OPERAND = {"WORD", "PHRASE", "SET", "LPAREN", "NOT", "FIELD", "ATLEAST"}


MAX_NESTING = 64  # levels of parentheses and NOTs a query may nest


class _Parser:
    def __init__(self, query: str, sets: Mapping[str, Node]) -> None:
        self.query = query
        self.sets = sets
        self.tokens = _lex(query)
        self.pos = 0
        self.depth = 0  # nesting levels open (see parse_unary)

    @property
    def tok(self) -> _Token:
        return self.tokens[self.pos]

    def advance(self) -> _Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def fail(self, expected: str, tok: _Token | None = None) -> QuerySyntaxError:
        tok = tok or self.tok
        return QuerySyntaxError(tok.start, f"expected {expected}, found {tok.describe()}")

    def expect(self, kind: str, expected: str) -> _Token:
        if self.tok.kind != kind:
            raise self.fail(expected)
        return self.advance()

    def parse(self) -> Node:
        node = self.parse_or()
        if self.tok.kind != "EOF":
            what = "an operator (AND, OR, NEAR/n) or end of query"
            if self.tok.kind == "RPAREN":
                what = "end of query (unbalanced ')')"
            raise self.fail(what)
        return node

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while self.tok.kind == "OR":
            self.advance()
            children.append(self.parse_and())
        if len(children) == 1:
            return children[0]
        return Or(tuple(children), children[0].start, children[-1].end)

    def parse_and(self) -> Node:
        children = [self.parse_near()]
        while self.tok.kind == "AND" or self.tok.kind in _STARTS_OPERAND:
            if self.tok.kind == "AND":
                self.advance()
            children.append(self.parse_near())
        if len(children) == 1:
            return children[0]
        return And(tuple(children), children[0].start, children[-1].end)

    def parse_near(self) -> Node:
        left = self.parse_unary()
        while self.tok.kind == "NEAR":
            op = self.advance()
            right = self.parse_unary()
            for side in (left, right):
                if not _is_positional(side):
                    raise QuerySyntaxError(
                        side.start,
                        f"NEAR/{op.number} needs terms, phrases or OR-groups of them, "
                        f"found '{self.query[side.start : side.end]}'",
                    )
            left = Near(left, right, op.number, left.start, right.end)
        return left

    def parse_unary(self) -> Node:
        # Every nesting (parentheses, NOT, a field's or ATLEAST's operand) passes here: past
        # MAX_NESTING levels the query is refused with its position, before the recursion
        # (here or in the matcher) could exhaust Python's stack.
        self.depth += 1
        try:
            if self.depth > MAX_NESTING:
                raise QuerySyntaxError(
                    self.tok.start, f"the query is nested more than {MAX_NESTING} levels deep"
                )
            if self.tok.kind == "NOT":
                op = self.advance()
                child = self.parse_unary()
                return Not(child, op.start, child.end)
            return self.parse_primary()
        finally:
            self.depth -= 1

    def parse_primary(self) -> Node:
        tok = self.tok
        if tok.kind == "LPAREN":
            self.advance()
            node = self.parse_or()
            close = self.expect("RPAREN", "')' or an operator")
            return _respan(node, tok.start, close.end)
        if tok.kind in ("WORD", "PHRASE"):
            self.advance()
            return _term(tok)
        if tok.kind == "SET":
            self.advance()
            return self.term_set(tok)
        if tok.kind == "FIELD":
            return self.parse_field()
        if tok.kind == "ATLEAST":
            return self.parse_atleast()
        raise self.fail("a term, a phrase or '('")

    def term_set(self, tok: _Token) -> Node:
        if tok.text not in self.sets:
            known = ", ".join(f"@{n}" for n in sorted(self.sets)) or "none defined"
            raise QuerySyntaxError(
                tok.start, f"unknown term set '@{tok.text}': expected one of {known}"
            )
        members = self.sets[tok.text]
        children = members.children if isinstance(members, Or) else (members,)
        return Or(
            tuple(_respan_all(c, tok.start, tok.end) for c in children),
            tok.start,
            tok.end,
            set_name=tok.text,
        )

    def parse_field(self) -> Node:
        field = self.advance()
        if field.text not in FIELDS:
            raise QuerySyntaxError(
                field.start, f"unknown field '{field.text}:': expected title:, lead: or source:"
            )
        if field.text == "source":
            host = self.tok
            if host.kind != "WORD" or host.start != field.end:
                raise self.fail("a host name after 'source:' (e.g. source:reuters.com)")
            self.advance()
            name = host.text.lower().strip(".")
            if not _HOST_RE.fullmatch(name):
                raise QuerySyntaxError(
                    host.start, f"expected a host name after 'source:', found '{host.text}'"
                )
            return Source(name, field.start, host.end)
        if self.tok.start != field.end or self.tok.kind not in ("WORD", "PHRASE", "SET", "LPAREN"):
            raise self.fail(f"a term, a phrase, a term set or '(' right after '{field.text}:'")
        child = self.parse_primary()
        return Scope(field.text, child, field.start, child.end)

    def parse_atleast(self) -> Node:
        op = self.advance()
        self.expect("LPAREN", "'(' after ATLEAST")
        count_tok = self.tok
        if count_tok.kind != "WORD" or not count_tok.text.isdigit() or int(count_tok.text) < 1:
            raise self.fail("a count (a whole number >= 1) as the first argument of ATLEAST")
        self.advance()
        self.expect("COMMA", "',' after the count of ATLEAST")
        child = self.parse_or()
        if not _is_positional(child):
            raise QuerySyntaxError(
                child.start,
                "ATLEAST needs a term, a phrase or an OR-group of them, "
                f"found '{self.query[child.start : child.end]}'",
            )
        close = self.expect("RPAREN", "')' closing ATLEAST")
        return AtLeast(int(count_tok.text), child, op.start, close.end)


def _respan(node: Node, start: int, end: int) -> Node:
    """Widen a parenthesised node's span to include its parentheses."""
    return replace(node, start=start, end=end)


def _respan_all(node: Node, start: int, end: int) -> Node:
    """`node` and everything under it with the span `[start, end)`: a term
    set's members, placed at the `@name` that refers to them."""
    changes: dict[str, object] = {"start": start, "end": end}
    for f in fields(node):
        value = getattr(node, f.name)
        if f.name in ("child", "left", "right"):
            changes[f.name] = _respan_all(value, start, end)
        elif f.name == "children":
            changes[f.name] = tuple(_respan_all(c, start, end) for c in value)
    return replace(node, **changes)  # type: ignore[arg-type]


def _term(tok: _Token) -> Term:
    text = tok.text
    written = f'"{text}"' if tok.kind == "PHRASE" else text  # as written, quotes straightened
    kind = TermKind.PHRASE if tok.kind == "PHRASE" else TermKind.WORD
    if text.rstrip().endswith("*"):  # `prefix*` or `"a phrase with a prefix*"`
        kind = TermKind.PREFIX
        text = text.rstrip()[:-1]
    if "*" in text:
        raise QuerySyntaxError(
            tok.start + text.index("*"),
            f"found '*' inside '{tok.text}': expected '*' only at the end of a word",
        )
    pattern = skeleton_of(text)
    if not pattern:
        raise QuerySyntaxError(
            tok.start, f"expected a term with letters or digits, found {tok.describe()}"
        )
    if kind is TermKind.PREFIX:
        if is_nospace_char(pattern[-1]):
            kind = TermKind.WORD  # scripts without spaces already match as substrings
        elif len(pattern.rsplit(" ", 1)[-1]) < MIN_PREFIX:
            raise QuerySyntaxError(
                tok.start,
                f"found prefix '{tok.text}': expected at least {MIN_PREFIX} letters before '*'",
            )
    return Term(written, kind, pattern, tok.start, tok.end)


def parse_query(query: str, sets: Mapping[str, Node] | None = None) -> Node:
    """Parse a rule query into its syntax tree; raises `QuerySyntaxError`.

    `sets` maps term-set names to their members (an OR-group, or one term)."""
    return _Parser(query, sets or {}).parse()
