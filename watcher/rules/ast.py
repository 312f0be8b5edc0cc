"""The syntax tree of a rule query.

Every node records `start`/`end`: offsets of its source text in the query
string, so errors can point at it and hits can quote the clause that fired.

    Node
    ├── Term       a word, `prefix*` or `"exact phrase"` (positional)
    ├── Not        NOT x
    ├── And        x AND y, or adjacency `x y`
    ├── Or         x OR y (positional when all its operands are); a term
    │              set `@name` is the OR of its members, with `set_name`
    ├── Near       x NEAR/n y (positional)
    ├── Scope      title:x or lead:x (positional when x is)
    ├── Source     source:host
    └── AtLeast    ATLEAST(n, x)

*Positional* nodes yield occurrences with word positions; `NEAR` and
`ATLEAST` only accept positional operands.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class TermKind(enum.StrEnum):
    """How a term matches: whole words, a prefix of its last word, a phrase."""

    WORD = "word"
    PREFIX = "prefix"
    PHRASE = "phrase"


@dataclass(frozen=True)
class Term:
    """A query term; `pattern` is its skeleton (see `watcher.text.normalize`)."""

    text: str  # as written in the query (phrases in straight quotes, prefixes with `*`)
    kind: TermKind
    pattern: str
    start: int
    end: int


@dataclass(frozen=True)
class Not:
    child: Node
    start: int
    end: int


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]
    start: int
    end: int


@dataclass(frozen=True)
class Or:
    """Any of `children`. `set_name` is set when the group is a term set
    (`@name`): its members then carry the offsets of the `@name` reference."""

    children: tuple[Node, ...]
    start: int
    end: int
    set_name: str | None = None


@dataclass(frozen=True)
class Near:
    left: Node
    right: Node
    distance: int
    start: int
    end: int


@dataclass(frozen=True)
class Scope:
    """Restricts its child to part of the document: `title`, or `lead` (the
    title and the first paragraphs of the text, see `watcher.rules.lead`)."""

    field: str
    child: Node
    start: int
    end: int


@dataclass(frozen=True)
class Source:
    """True when the document's outlet host is `host` or a subdomain of it."""

    host: str
    start: int
    end: int


@dataclass(frozen=True)
class AtLeast:
    count: int
    child: Node
    start: int
    end: int


Node = Term | Not | And | Or | Near | Scope | Source | AtLeast


def is_positional(node: Node) -> bool:
    """Does `node` yield occurrences with positions (valid under NEAR/ATLEAST)?"""
    if isinstance(node, Term | Near):
        return True
    if isinstance(node, Or):
        return all(is_positional(c) for c in node.children)
    if isinstance(node, Scope):
        return is_positional(node.child)
    return False


def terms_of(node: Node) -> list[Term]:
    """Every term of the query, in source order."""
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Not | Scope | AtLeast):
        return terms_of(node.child)
    if isinstance(node, And | Or):
        return [t for c in node.children for t in terms_of(c)]
    if isinstance(node, Near):
        return terms_of(node.left) + terms_of(node.right)
    return []


def top_clauses(node: Node) -> tuple[Node, ...]:
    """The top-level clauses: the operands of a root AND/OR, else the root
    (a term set at the root is one clause)."""
    if isinstance(node, And) or (isinstance(node, Or) and node.set_name is None):
        return node.children
    return (node,)


def sets_of(node: Node) -> list[str]:
    """The names of the term sets the query uses, in source order, once each."""
    found: dict[str, None] = {}

    def walk(n: Node) -> None:
        if isinstance(n, Or) and n.set_name is not None:
            found[n.set_name] = None
            return
        if isinstance(n, Not | Scope | AtLeast):
            walk(n.child)
        elif isinstance(n, And | Or):
            for c in n.children:
                walk(c)
        elif isinstance(n, Near):
            walk(n.left)
            walk(n.right)

    walk(node)
    return list(found)
