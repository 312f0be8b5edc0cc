"""Rule files (YAML, one rule per file) -> `Rule` values.

`load_rules(dir)` reads every `*.yaml`/`*.yml` in `dir` with ruamel.yaml
(YAML 1.2: `no`, `on`, `off`, `yes` stay strings) and reports *every*
problem of every file at once as `RuleError([Problem(file, line, col,
message)])`: invalid YAML, missing or unknown keys, a bad id, severity,
route, flag or path list, ids used twice, and query syntax errors located
at their line and column inside the file (also inside `>` and `|` blocks).

The file contract::

    id: pillar2-japan            # unique, [a-z0-9-]+
    name: Japan and AUKUS Pillar II
    severity: high               # high | medium | low
    query: >
      (AUKUS OR "Pillar II") AND (Japan OR 日本)
    route: ["#aukus-alerts"]     # optional; else the config's default route
    examples: [seeds/...]        # relative to the parent of the rules directory
    counter_examples: []
    enabled: true
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from watcher.errors import Problem, RuleError
from watcher.model import ROUTE_NAME
from watcher.rules.ast import Node
from watcher.rules.parse import QuerySyntaxError, parse_query
from watcher.rules.terms import TermSet, load_term_sets, set_nodes, used_sets
from watcher.rules.yamlpos import locate

__all__ = ["SEVERITIES", "Rule", "load_rules", "load_rules_and_sets", "rule_version"]

SEVERITIES = ("high", "medium", "low")
REQUIRED = ("id", "name", "severity", "query")
OPTIONAL = ("route", "examples", "counter_examples", "enabled")
_ID_RE = re.compile(r"[a-z0-9-]+")


@dataclass(frozen=True)
class Rule:
    """One validated rule file. `version` changes whenever matching could."""

    id: str
    name: str
    severity: str
    query: str
    node: Node
    route: tuple[str, ...] | None  # None: the configuration's default route
    examples: tuple[Path, ...]  # relative to the parent of the rules directory
    counter_examples: tuple[Path, ...]
    enabled: bool
    path: Path
    version: str
    # (name, version) of each term set the query uses (`watcher.rules.terms`)
    term_sets: tuple[tuple[str, str], ...] = ()


def rule_version(
    rule_id: str, severity: str, query: str, sets: tuple[tuple[str, str], ...] = ()
) -> str:
    """Short sha256 of the normalised definition (id, severity, query, and the
    versions of the term sets it uses, so editing a set changes the version)."""
    definition: dict[str, object] = {
        "id": rule_id,
        "severity": severity,
        "query": " ".join(query.split()),
    }
    if sets:
        definition["sets"] = dict(sets)
    blob = json.dumps(definition, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def load_rules(rules_dir: Path) -> list[Rule]:
    """Every rule in `rules_dir`, sorted by id; raises `RuleError` listing all problems."""
    return load_rules_and_sets(rules_dir)[0]


def load_rules_and_sets(rules_dir: Path) -> tuple[list[Rule], dict[str, TermSet]]:
    """The rules of `rules_dir` and the term sets of `rules_dir/terms`, which
    the rules' queries may use as `@name`; raises `RuleError` listing all
    problems of both."""
    if not rules_dir.is_dir():
        raise RuleError([Problem(str(rules_dir), 0, 0, "rules directory not found")])
    files = sorted(p for p in rules_dir.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    problems: list[Problem] = []
    sets = load_term_sets(rules_dir, problems)
    rules: list[tuple[Rule, int, int]] = []
    for path in files:
        loaded = _load_file(path, problems, sets)
        if loaded is not None:
            rules.append(loaded)
    first: dict[str, tuple[Rule, int]] = {}
    for rule, line, col in rules:
        if rule.id in first:
            other, other_line = first[rule.id]
            problems.append(
                Problem(
                    str(rule.path),
                    line,
                    col,
                    f"duplicate rule id '{rule.id}': already used in {other.path}:{other_line}",
                )
            )
        else:
            first[rule.id] = (rule, line)
    if problems:
        raise RuleError(problems)
    return sorted((r for r, _, _ in rules), key=lambda r: r.id), sets


class _File:
    """One rule file being validated; collects its problems."""

    def __init__(self, path: Path, text: str, problems: list[Problem]) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.problems = problems
        self.failed = False

    def problem(self, line: int, col: int, message: str) -> None:
        self.problems.append(Problem(str(self.path), line, col, message))
        self.failed = True

    def at_value(self, data: CommentedMap, key: str, message: str) -> None:
        line, col = data.lc.value(key)
        self.problem(line + 1, col + 1, message)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(str(value)) if isinstance(value, str) else str(value)


def _load_file(
    path: Path, problems: list[Problem], sets: dict[str, TermSet]
) -> tuple[Rule, int, int] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(str(path), 1, 1, f"cannot read rule file: {exc}"))
        return None
    f = _File(path, text, problems)
    yaml = YAML(typ="rt", pure=True)
    yaml.preserve_quotes = True
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "syntax error"
        f.problem(line, col, f"invalid YAML: {what}")
        return None
    except YAMLError as exc:
        f.problem(1, 1, f"invalid YAML: {exc}")
        return None
    if not isinstance(data, CommentedMap):
        f.problem(
            1, 1, f"expected a mapping with keys {', '.join(REQUIRED)}, found {_describe(data)}"
        )
        return None
    for key in data:
        if key not in REQUIRED and key not in OPTIONAL:
            line, col = data.lc.key(key)
            expected = ", ".join(REQUIRED + OPTIONAL)
            f.problem(line + 1, col + 1, f"unknown key '{key}': expected one of {expected}")
    for key in REQUIRED:
        if key not in data:
            f.problem(1, 1, f"missing key '{key}'")
    rule_id = _check_id(f, data)
    name = _check_text(f, data, "name")
    severity = _check_severity(f, data)
    query, node = _check_query(f, data, sets)
    route = _check_route(f, data)
    examples = _check_paths(f, data, "examples")
    counters = _check_paths(f, data, "counter_examples")
    enabled = _check_enabled(f, data)
    if f.failed or node is None:
        return None
    id_line, id_col = data.lc.value("id")
    uses = used_sets(node, sets)
    rule = Rule(
        id=rule_id,
        name=name,
        severity=severity,
        query=query,
        node=node,
        route=route,
        examples=examples,
        counter_examples=counters,
        enabled=enabled,
        path=path,
        version=rule_version(rule_id, severity, query, uses),
        term_sets=uses,
    )
    return rule, id_line + 1, id_col + 1


def _check_id(f: _File, data: CommentedMap) -> str:
    if "id" not in data:
        return ""
    value = data["id"]
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        f.at_value(
            data, "id", f"bad id {_describe(value)}: expected lower-case letters, digits and '-'"
        )
        return ""
    return value


def _check_text(f: _File, data: CommentedMap, key: str) -> str:
    if key not in data:
        return ""
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        f.at_value(data, key, f"expected a non-empty text for '{key}', found {_describe(value)}")
        return ""
    return str(value).strip()


def _check_severity(f: _File, data: CommentedMap) -> str:
    if "severity" not in data:
        return ""
    value = data["severity"]
    if value not in SEVERITIES:
        f.at_value(
            data, "severity", f"bad severity {_describe(value)}: expected high, medium or low"
        )
        return ""
    return str(value)


def _check_query(f: _File, data: CommentedMap, sets: dict[str, TermSet]) -> tuple[str, Node | None]:
    query = _check_text(f, data, "query")
    if not query:
        return "", None
    query = str(data["query"])
    try:
        return query, parse_query(query, set_nodes(sets))
    except QuerySyntaxError as exc:
        line, col = data.lc.value("query")
        at_line, at_col = locate(f.lines, line, col, query, exc.offset)
        f.problem(at_line, at_col, f"query: {exc.message}")
        return query, None


def _check_route(f: _File, data: CommentedMap) -> tuple[str, ...] | None:
    if "route" not in data or data["route"] is None:
        return None
    value = data["route"]
    routes = [value] if isinstance(value, str) else value
    if (
        not isinstance(routes, list)
        or not routes
        or not all(isinstance(r, str) and ROUTE_NAME.fullmatch(r) for r in routes)
    ):
        f.at_value(
            data,
            "route",
            f"bad route {_describe(value)}: expected a list of Slack channels like "
            '["#aukus-alerts"]',
        )
        return None
    return tuple(str(r) for r in routes)


def _check_paths(f: _File, data: CommentedMap, key: str) -> tuple[Path, ...]:
    if key not in data or data[key] is None:
        return ()
    value = data[key]
    if not isinstance(value, list) or not all(isinstance(p, str) and p.strip() for p in value):
        f.at_value(data, key, f"bad {key} {_describe(value)}: expected a list of file paths")
        return ()
    return tuple(Path(str(p).strip()) for p in value)


def _check_enabled(f: _File, data: CommentedMap) -> bool:
    if "enabled" not in data:
        return True
    value = data["enabled"]
    if not isinstance(value, bool):
        f.at_value(data, "enabled", f"bad enabled {_describe(value)}: expected true or false")
        return True
    return value
