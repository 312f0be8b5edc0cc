"""Named term sets shared by rules: `rules/terms/NAME.yaml` -> `@NAME`.

A term set is the list of ways one concept is written, in every language
the rules read (`AUKUS`, `オーカス`, `オークス`, ...). A query uses it as
`@name` anywhere a term may stand (also under `NEAR`, `ATLEAST`, `title:`
and `lead:`): it means the OR of its members. One file per set::

    # AUKUS, the pact, as English and Japanese outlets write it.
    description: AUKUS, the trilateral pact
    terms:
      - AUKUS        # every outlet, also inside Japanese text
      - オーカス      # Japanese press: "AUKUS(オーカス)"
      - '"米英豪" NEAR/3 枠組み'   # the pact named by its three members

A member is a term, a phrase, a `prefix*`, or any positional expression of
the query language (an OR-group, a `NEAR`); it may not use other sets.
The YAML comment after each member says where that variant is used.

Each set has a `version` (a hash of its members); a rule's version covers
the versions of the sets it uses, so a stored hit's rule version pins the
sets it was matched with.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from watcher.errors import Problem
from watcher.rules.ast import Node, Or, is_positional, sets_of
from watcher.rules.parse import QuerySyntaxError, parse_query
from watcher.rules.yamlpos import locate

__all__ = ["TERMS_DIR", "TermSet", "load_term_sets", "unused_term_sets"]

TERMS_DIR = "terms"  # inside the rules directory
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
_KEYS = ("description", "terms")


@dataclass(frozen=True)
class TermSet:
    """One named set of equivalent terms.

    `node` is the OR of the members (their offsets are those of the member
    texts, not of any query); `line`/`col` locate the `terms:` key, where
    reports about the whole set point.
    """

    name: str
    description: str
    members: tuple[str, ...]  # as written in the file
    node: Node
    path: Path
    line: int
    col: int
    version: str


def set_version(members: Sequence[str]) -> str:
    """Short sha256 of the members, each with its whitespace normalised."""
    blob = json.dumps([" ".join(m.split()) for m in members], ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def load_term_sets(rules_dir: Path, problems: list[Problem]) -> dict[str, TermSet]:
    """Every valid set in `rules_dir/terms/*.yaml`, by name; problems are appended.

    No `terms` directory means no sets."""
    folder = rules_dir / TERMS_DIR
    if not folder.is_dir():
        return {}
    sets: dict[str, TermSet] = {}
    for path in sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml")):
        loaded = _load_set(path, problems)
        if loaded is not None:
            sets[loaded.name] = loaded
    return sets


def _load_set(path: Path, problems: list[Problem]) -> TermSet | None:
    def problem(line: int, col: int, message: str) -> None:
        problems.append(Problem(str(path), line, col, message))

    name = path.stem
    if not _NAME_RE.fullmatch(name):
        problem(1, 1, f"bad term set file name '{path.name}': expected lower-case letters, "
                "digits and '-' (the name used as @name)")  # fmt: skip
        return None
    loaded = _read_yaml(path, problem)
    if loaded is None:
        return None
    lines, data = loaded
    failed = False
    for key in data:
        if key not in _KEYS:
            line, col = data.lc.key(key)
            problem(line + 1, col + 1, f"unknown key '{key}': expected description or terms")
            failed = True
    key_line, key_col = data.lc.key("terms")
    items = data["terms"]
    if not isinstance(items, CommentedSeq) or not items:
        line, col = data.lc.value("terms")
        problem(line + 1, col + 1, "expected a non-empty list of terms after 'terms:'")
        return None
    parsed = [_member(lines, items, i, problem) for i in range(len(items))]
    if failed or any(p is None for p in parsed):
        return None
    members = tuple(str(item) for item in items)
    nodes = tuple(p for p in parsed if p is not None)
    return TermSet(
        name=name,
        description=str(data.get("description") or "").strip(),
        members=members,
        node=nodes[0] if len(nodes) == 1 else Or(nodes, 0, 0),
        path=path,
        line=key_line + 1,
        col=key_col + 1,
        version=set_version(members),
    )


_Report = Callable[[int, int, str], None]


def _read_yaml(path: Path, problem: _Report) -> tuple[list[str], CommentedMap] | None:
    """The file's lines and its mapping, or None after reporting why not."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problem(1, 1, f"cannot read term set file: {exc}")
        return None
    try:
        data = YAML(typ="rt", pure=True).load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem(line, col, f"invalid YAML: {exc.problem or exc.context or 'syntax error'}")
        return None
    except YAMLError as exc:
        problem(1, 1, f"invalid YAML: {exc}")
        return None
    if not isinstance(data, CommentedMap) or "terms" not in data:
        problem(1, 1, "expected a mapping with a 'terms' list (and optionally 'description')")
        return None
    return text.splitlines(), data


def _member(lines: list[str], items: CommentedSeq, i: int, problem: _Report) -> Node | None:
    """Member `i` parsed, or None after reporting where it is wrong."""
    item = items[i]
    line, col = items.lc.item(i)
    if not isinstance(item, str) or not item.strip():
        problem(line + 1, col + 1, f"expected a term, found {item!r}")
        return None
    try:
        node = parse_query(str(item))
    except QuerySyntaxError as exc:
        at_line, at_col = locate(lines, line, col, str(item), exc.offset)
        if exc.message.startswith("unknown term set"):
            problem(at_line, at_col, "a term set cannot use another term set")
        else:
            problem(at_line, at_col, f"term: {exc.message}")
        return None
    if not is_positional(node):
        problem(
            line + 1,
            col + 1,
            f"'{item}' is not a term: expected a word, a phrase, a prefix*, "
            "or an OR-group or NEAR of them",
        )
        return None
    return node


def set_nodes(sets: Mapping[str, TermSet]) -> dict[str, Node]:
    """What the parser needs: each set's members as one node, by name."""
    return {name: s.node for name, s in sets.items()}


def used_sets(node: Node, sets: Mapping[str, TermSet]) -> tuple[tuple[str, str], ...]:
    """(name, version) of each set a parsed query uses, in source order."""
    return tuple((name, sets[name].version) for name in sets_of(node) if name in sets)


def unused_term_sets(sets: Mapping[str, TermSet], used: set[str]) -> list[Problem]:
    """A located report for every set that no rule uses."""
    return [
        Problem(str(s.path), s.line, s.col, f"term set '@{s.name}' is not used by any rule")
        for name, s in sorted(sets.items())
        if name not in used
    ]
