"""`watcher rules`: check the rule files, test them on examples and corpora, tune them.

`rules test` checks every rule's examples and counter-examples and scores the
rules on labelled corpora, per rule, summed over rules and per language;
`rules why` and `rules suggest` are the operator's tuning tools
(`watcher.rules.tune`).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from watcher.cli.common import config_option, fail, get_config, handle_errors, rules_option
from watcher.errors import ConfigError
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


@click.group()
def rules() -> None:
    """Validate and test the rules."""


@rules.command("check")
@config_option
@rules_option
def rules_check(config_path: Path | None, rules_dir: Path | None) -> None:
    """Validate every rule file and term set; print `file:line:col: message` lines.

    Errors (invalid files, unknown `@sets`) exit 1; a term set that no rule
    uses is reported as a warning.

    \b
    Example:
      watcher rules check --rules rules/
    """
    from watcher.rules.checks import check_rules_dir

    try:
        config = get_config(config_path, rules_dir)
    except ConfigError as exc:
        fail(str(exc))
        return
    sys.exit(check_rules_dir(config.rules_dir, click.echo))


@rules.command("test")
@click.option(
    "--corpus",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="A labelled corpus: DIR/docs/ID.txt and DIR/labels.json (repeat to pool several).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@config_option
@rules_option
@handle_errors
def rules_test(
    corpus: tuple[Path, ...], as_json: bool, config_path: Path | None, rules_dir: Path | None
) -> None:
    """Check every rule's examples and counter-examples; score it on a corpus.

    Scores are given per rule, summed over rules (micro) and per language.

    \b
    Example:
      watcher rules test --corpus ../shared/eval/dev --corpus ../shared/eval/dev2
    """
    config = get_config(config_path, rules_dir)
    sys.exit(run_rules_test(config.rules_dir, corpus, as_json=as_json))


@rules.command("why")
@click.argument("rule_id", metavar="RULE")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per input, per line.")
@config_option
@rules_option
@handle_errors
def rules_why(
    rule_id: str,
    inputs: tuple[str, ...],
    as_json: bool,
    config_path: Path | None,
    rules_dir: Path | None,
) -> None:
    """Why RULE did or did not match each document: every clause's verdict,
    the terms found and the near misses (other spellings, other scripts,
    terms outside a NEAR window, too few for ATLEAST, outside title:/lead:).

    \b
    Example:
      watcher rules why pillar2-japan article.txt https://example.org/news --json
    """
    from watcher.cli.match import read_input
    from watcher.rules.tune import run_why

    config = get_config(config_path, rules_dir)
    read = functools.partial(read_input, config=config)
    sys.exit(run_why(config.rules_dir, rule_id, inputs, read, as_json=as_json))


@rules.command("suggest")
@click.argument("rule_id", metavar="RULE")
@click.option(
    "--corpus",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="A labelled corpus: DIR/docs/ID.txt and DIR/labels.json (repeat to pool several).",
)
@click.option("--limit", type=click.IntRange(min=1), default=30, help="At most this many terms.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@config_option
@rules_option
@handle_errors
def rules_suggest(  # noqa: PLR0917 - click passes every option as an argument
    rule_id: str,
    corpus: tuple[Path, ...],
    limit: int,
    as_json: bool,
    config_path: Path | None,
    rules_dir: Path | None,
) -> None:
    """Candidate terms for RULE: frequent in its missed positives of a labelled
    corpus, rare in the negatives, with counts. Nothing is changed.

    \b
    Example:
      watcher rules suggest pillar2-japan --corpus ../shared/eval/dev2
    """
    from watcher.rules.tune import run_suggest

    config = get_config(config_path, rules_dir)
    sys.exit(run_suggest(config.rules_dir, rule_id, corpus, as_json=as_json, limit=limit))
