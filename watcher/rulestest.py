"""`watcher rules test`: examples and counter-examples, and scores on a labelled corpus."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from watcher.rules.corpus import (
    RuleScore,
    check_examples,
    evaluate,
    evaluate_by_language,
    load_corpora,
    micro,
)
from watcher.rules.load import load_rules
from watcher.rules.match import compile_rules


def run_rules_test(rules_dir: Path, corpus_dirs: Sequence[Path], *, as_json: bool) -> int:
    """Print example results (and P/R/F1 tables per rule, overall and per
    language); 1 if any example failed."""
    rules = load_rules(rules_dir)
    examples = check_examples(rules, rules_dir.resolve().parent)
    scores: list[RuleScore] = []
    by_lang: dict[str, list[RuleScore]] = {}
    if corpus_dirs:
        matcher = compile_rules([r for r in rules if r.enabled])
        corpus = load_corpora(corpus_dirs)
        scores = evaluate(matcher, corpus)
        by_lang = evaluate_by_language(matcher, corpus)
    failed = [e for e in examples if not e.ok]
    if as_json or not sys.stdout.isatty():
        out: dict[str, Any] = {
            "examples": [e.to_dict() for e in examples],
            "scores": [s.to_dict() for s in scores],
            "failed": len(failed),
        }
        if corpus_dirs:
            out["micro"] = micro(scores).to_dict()
            out["by_language"] = {
                lang: {"scores": [s.to_dict() for s in ls], "micro": micro(ls).to_dict()}
                for lang, ls in by_lang.items()
            }
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        return 1 if failed else 0
    console = Console(highlight=False)
    for e in examples:
        mark = "[green]ok[/green]  " if e.ok else "[red]FAIL[/red]"
        console.print(f"{mark} {e.rule_id}: {e.message}")
    if scores:
        names = " + ".join(str(d) for d in corpus_dirs)
        console.print(_table(f"scores on {names} (borderline pairs excluded)", scores))
        for lang, ls in by_lang.items():
            console.print(_table(f"language {lang}", ls))
    console.print(f"{len(examples) - len(failed)} of {len(examples)} examples ok")
    return 1 if failed else 0


def _table(title: str, scores: list[RuleScore]) -> Table:
    table = Table(title=title)
    columns = ("rule", "tp", "fp", "fn", "precision", "recall", "F1")
    for col in (*columns, "false positives", "false negatives"):
        table.add_column(col)
    for s in [*scores, micro(scores)]:
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
    return table
