"""`watcher rules`: check the rule files, test them on examples and corpora.

`watcher rules test`: examples and counter-examples, and scores on a labelled corpus."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from watcher.cli.common import (
    config_option,
    fail,
    get_config,
    handle_errors,
    rules_option,
)
from watcher.errors import ConfigError, RuleError
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


@click.group()
def rules() -> None:
    """Validate and test the rules."""


@rules.command("check")
@config_option
@rules_option
def rules_check(config_path: Path | None, rules_dir: Path | None) -> None:
    """Validate every rule file; print `file:line:col: message` lines on error.

    \b
    Example:
      watcher rules check --rules rules/
    """
    from watcher.rules.load import load_rules

    try:
        config = get_config(config_path, rules_dir)
    except ConfigError as exc:
        fail(str(exc))
        return
    try:
        loaded = load_rules(config.rules_dir)
    except RuleError as exc:
        for problem in exc.problems:
            click.echo(str(problem))
        sys.exit(1)
    click.echo(f"{len(loaded)} rules OK in {config.rules_dir}")


@rules.command("test")
@click.option(
    "--corpus",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="A labelled corpus: DIR/docs/ID.txt and DIR/labels.json.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@config_option
@rules_option
@handle_errors
def rules_test(
    corpus: Path | None, as_json: bool, config_path: Path | None, rules_dir: Path | None
) -> None:
    """Check every rule's examples and counter-examples; score it on a corpus.

    \b
    Example:
      watcher rules test --corpus ../shared/eval/dev
    """
    from watcher.cli.rules import run_rules_test

    config = get_config(config_path, rules_dir)
    sys.exit(run_rules_test(config.rules_dir, corpus, as_json=as_json))
