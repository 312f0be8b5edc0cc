"""`watcher rules test`: examples and counter-examples, and scores on a labelled corpus."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from watcher.rules.corpus import check_examples, evaluate, load_corpus
from watcher.rules.load import load_rules
from watcher.rules.match import compile_rules


def run_rules_test(rules_dir: Path, corpus_dir: Path | None, *, as_json: bool) -> int:
    """Print example results (and a per-rule P/R/F1 table); 1 if any example failed."""
    rules = load_rules(rules_dir)
    examples = check_examples(rules, rules_dir.resolve().parent)
    scores = []
    if corpus_dir is not None:
        scores = evaluate(compile_rules([r for r in rules if r.enabled]), load_corpus(corpus_dir))
    failed = [e for e in examples if not e.ok]
    if as_json or not sys.stdout.isatty():
        out = {
            "examples": [e.to_dict() for e in examples],
            "scores": [s.to_dict() for s in scores],
            "failed": len(failed),
        }
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        return 1 if failed else 0
    console = Console(highlight=False)
    for e in examples:
        mark = "[green]ok[/green]  " if e.ok else "[red]FAIL[/red]"
        console.print(f"{mark} {e.rule_id}: {e.message}")
    if scores:
        table = Table(title=f"scores on {corpus_dir} (borderline pairs excluded)")
        for col in (
            "rule",
            "tp",
            "fp",
            "fn",
            "precision",
            "recall",
            "F1",
            "false positives",
            "false negatives",
        ):
            table.add_column(col)
        for s in scores:
            table.add_row(
                s.rule_id,
                str(s.tp),
                str(s.fp),
                str(s.fn),
                f"{s.precision:.2f}",
                f"{s.recall:.2f}",
                f"{s.f1:.2f}",
                " ".join(s.false_positives),
                " ".join(s.false_negatives),
            )
        console.print(table)
    console.print(f"{len(examples) - len(failed)} of {len(examples)} examples ok")
    return 1 if failed else 0
