"""The operator's tuning commands: `watcher rules why` and `watcher rules suggest`.

Thin runners over `watcher.rules.why` and `watcher.rules.suggest`: load the
rules and term sets, read the inputs (with a reader the command line passes
in, so this module does not depend on fetching or extraction), print a
readable report on a terminal and JSON otherwise.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from watcher.errors import DocumentError, Problem, RuleError
from watcher.model import Document
from watcher.rules.corpus import load_corpora
from watcher.rules.load import Rule, load_rules_and_sets
from watcher.rules.suggest import suggest_terms
from watcher.rules.terms import TermSet
from watcher.rules.why import Why, explain_rule

__all__ = ["run_suggest", "run_why"]

CONTEXT = 30  # characters shown either side of a near miss


def _rule(rules_dir: Path, rule_id: str) -> tuple[Rule, dict[str, TermSet]]:
    """The rule `rule_id` and the term sets; a `RuleError` naming the known ids."""
    rules, sets = load_rules_and_sets(rules_dir)
    for rule in rules:
        if rule.id == rule_id:
            return rule, sets
    known = ", ".join(r.id for r in rules)
    problem = Problem(str(rules_dir), 0, 0, f"unknown rule '{rule_id}': expected one of {known}")
    raise RuleError([problem])


def run_why(
    rules_dir: Path,
    rule_id: str,
    inputs: Sequence[str],
    read: Callable[[str], Document],
    *,
    as_json: bool,
) -> int:
    """Explain `rule_id` on every input; 0 when every input was explained."""
    rule, sets = _rule(rules_dir, rule_id)
    machine = as_json or not sys.stdout.isatty()
    console = Console(highlight=False)
    for item in inputs:
        try:
            doc = read(item)
        except DocumentError as exc:
            if machine:
                sys.stdout.write(json.dumps({"input": item, "error": str(exc)}) + "\n")
            else:
                console.print(f"[red]{escape(item)}[/red]: {escape(str(exc))}")
            continue
        why = explain_rule(rule, doc, sets)
        if machine:
            out = {"input": item, "title": doc.title, **why.to_dict()}
            sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        else:
            _print_why(console, item, doc, why)
    return 0


def _print_why(console: Console, item: str, doc: Document, why: Why) -> None:
    verdict = "[bold green]MATCH[/bold green]" if why.matched else "[bold red]NO MATCH[/bold red]"
    console.print(f"[bold]{escape(item)}[/bold]  {escape(doc.title)}")
    console.print(f"  rule {why.rule_id} (version {why.rule_version}): {verdict}")
    for clause in why.clauses:
        mark = "[green]yes[/green]" if clause.matched else "[red] no[/red]"
        console.print(f"  {mark}  {escape(clause.clause)}")
        counts = Counter(
            f"{f.text} ({f.term})" if f.text != f.term else f.text for f in clause.found
        )
        if counts:
            found = ", ".join(f"{t} x{n}" if n > 1 else t for t, n in counts.most_common(8))
            console.print(f"         found: {escape(found)}")
        if clause.missing and not clause.matched:
            missing = ", ".join(clause.missing[:8]) + (" ..." if len(clause.missing) > 8 else "")
            console.print(f"         not found: {escape(missing)}")
        for miss in clause.near_misses:
            where = ""
            if miss.field:
                source = doc.title if miss.field == "title" else doc.text
                before = source[max(0, miss.start - CONTEXT) : miss.start].replace("\n", " ")
                after = source[miss.end : miss.end + CONTEXT].replace("\n", " ")
                where = (
                    f"\n           {miss.field}: …{escape(before)}"
                    f"[reverse]{escape(miss.text)}[/reverse]{escape(after)}…"
                )
            console.print(f"         near miss ({miss.kind}) {escape(miss.detail)}{where}")
    console.print()


def run_suggest(
    rules_dir: Path, rule_id: str, corpus_dirs: Sequence[Path], *, as_json: bool, limit: int
) -> int:
    """Print candidate terms for `rule_id` from a labelled corpus."""
    rule, _ = _rule(rules_dir, rule_id)
    corpus = load_corpora(corpus_dirs)
    report = suggest_terms(rule, corpus, limit=limit)
    if as_json or not sys.stdout.isatty():
        sys.stdout.write(json.dumps(report.to_dict(), ensure_ascii=False) + "\n")
        return 0
    console = Console(highlight=False)
    console.print(
        f"rule {rule.id}: {len(report.missed)} missed positives, "
        f"{report.negatives} negatives in {' + '.join(str(d) for d in corpus_dirs)}"
    )
    if report.missed:
        console.print(f"missed: {' '.join(report.missed)}")
    if not report.candidates:
        console.print("no candidate terms")
        return 0
    table = Table(title=f"candidate terms for {rule.id}")
    for col in ("term", "lang", "missed positives", "times", "negatives", "variant of"):
        table.add_column(col)
    for c in report.candidates:
        table.add_row(
            escape(c.term),
            c.lang,
            str(c.missed),
            str(c.occurrences),
            str(c.negatives),
            escape(c.variant_of),
        )
    console.print(table)
    console.print("candidates only: nothing is changed; add what an analyst would defend")
    return 0
