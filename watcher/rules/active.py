"""The rules in force: loaded, compiled, swappable as one unit.

`ActiveRules` holds an immutable `RuleSnapshot`; a reload builds a new
snapshot and swaps it in only when every file is valid, so an invalid edit
never replaces the last good version.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from watcher.model import Document, Hit
from watcher.rules.load import Rule, load_rules
from watcher.rules.match import Matcher, compile_rules, match


@dataclass(frozen=True)
class RuleSnapshot:
    """A compiled, immutable set of rules with each rule's routes and name."""

    rules: tuple[Rule, ...]
    matcher: Matcher
    routes: Mapping[str, tuple[str, ...]]
    names: Mapping[str, str]

    def match(self, doc: Document) -> list[Hit]:
        """Every enabled rule that matches `doc` (pure)."""
        return match(self.matcher, doc)

    def routes_for(self, hits: Sequence[Hit]) -> tuple[str, ...]:
        """The union of the hit rules' routes, in rule order, without repeats."""
        out: dict[str, None] = {}
        for hit in hits:
            for route in self.routes.get(hit.rule_id, ()):
                out[route] = None
        return tuple(out)


def build_snapshot(rules: Sequence[Rule], default_route: Sequence[str]) -> RuleSnapshot:
    """Compile `rules`; a rule without `route` uses the config's default route."""
    enabled = tuple(r for r in rules if r.enabled)
    return RuleSnapshot(
        rules=tuple(rules),
        matcher=compile_rules(enabled),
        routes={r.id: tuple(r.route) if r.route else tuple(default_route) for r in rules},
        names={r.id: r.name for r in rules},
    )


@dataclass(frozen=True)
class RuleChanges:
    """What a reload changed, by rule id."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed or self.changed)


class ActiveRules:
    """The rules directory as currently loaded; `reload()` swaps atomically."""

    def __init__(self, rules_dir: Path, default_route: Sequence[str]) -> None:
        self.rules_dir = rules_dir
        self.default_route = tuple(default_route)
        self._lock = threading.Lock()
        self._snapshot = build_snapshot(load_rules(rules_dir), self.default_route)

    def current(self) -> RuleSnapshot:
        with self._lock:
            return self._snapshot

    def reload(self) -> RuleChanges:
        """Load the directory again; raises `RuleError` and keeps the old rules if invalid."""
        fresh = build_snapshot(load_rules(self.rules_dir), self.default_route)
        with self._lock:
            old = {r.id: r.version for r in self._snapshot.rules}
            self._snapshot = fresh
        new = {r.id: r.version for r in fresh.rules}
        return RuleChanges(
            added=tuple(sorted(set(new) - set(old))),
            removed=tuple(sorted(set(old) - set(new))),
            changed=tuple(sorted(k for k in set(new) & set(old) if new[k] != old[k])),
        )
