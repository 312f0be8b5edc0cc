"""`watcher rules check`: every rule file and term set, with located reports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from watcher.errors import RuleError
from watcher.rules.load import load_rules_and_sets
from watcher.rules.terms import unused_term_sets

__all__ = ["check_rules_dir"]


def check_rules_dir(rules_dir: Path, echo: Callable[[str], None]) -> int:
    """Report problems as `file:line:col: message`; 1 on any error, else 0.

    Invalid files and unknown `@sets` are errors; a term set that no rule
    uses is a warning (it may be on its way into a rule)."""
    try:
        rules, sets = load_rules_and_sets(rules_dir)
    except RuleError as exc:
        for problem in exc.problems:
            echo(str(problem))
        return 1
    used = {name for rule in rules for name, _ in rule.term_sets}
    for problem in unused_term_sets(sets, used):
        echo(f"{problem.file}:{problem.line}:{problem.col}: warning: {problem.message}")
    echo(f"{len(rules)} rules and {len(sets)} term sets OK in {rules_dir}")
    return 0
