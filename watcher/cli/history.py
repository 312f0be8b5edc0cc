"""`watcher hits` and `watcher backtest`: what is stored, and what edited rules would change."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from watcher.cli.common import (
    config_option,
    get_config,
    handle_errors,
    rules_option,
    since_cutoff,
)
from watcher.errors import RuleError


@click.command()
@click.option("--rule", help="Only hits of this rule id.")
@click.option("--since", help="Only hits newer than this age, e.g. 24h or 7d.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many hits.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@config_option
@handle_errors
def hits(
    rule: str | None, since: str | None, limit: int | None, as_json: bool, config_path: Path | None
) -> None:
    """Stored hits, newest first.

    \b
    Example:
      watcher hits --rule pillar2-japan --since 7d --json
    """
    from rich.console import Console

    from watcher.cli import render as report
    from watcher.store.db import open_database
    from watcher.store.queries import list_hits

    cutoff = since_cutoff(since)
    config = get_config(config_path)
    db = open_database(config.database_url, busy_timeout_ms=config.sqlite_busy_timeout_ms)
    try:
        with db.session() as session:
            rows = list_hits(session, rule=rule, since=cutoff, limit=limit)
    finally:
        db.dispose()
    if as_json or not sys.stdout.isatty():
        report.print_json_lines(sys.stdout, [report.hit_json(h) for h in rows])
    else:
        report.hits_table(Console(), rows)


@click.command()
@click.option("--since", help="Only articles first seen within this age, e.g. 30d.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object (also when piped).")
@config_option
@rules_option
@handle_errors
def backtest(
    since: str | None, as_json: bool, config_path: Path | None, rules_dir: Path | None
) -> None:
    """Replay rules over stored articles; show which story alerts would be added and removed.

    Compares, per rule, the stories that would alert with the rules of
    `--rules` against the stored hits. Rules new or removed versus the
    configured rules directory, and rules whose version changed, are flagged.

    \b
    Example:
      watcher backtest --rules rules-edited/ --since 30d
    """
    from rich.console import Console
    from rich.progress import Progress

    from watcher.pipeline.backtest import backtest as run_backtest
    from watcher.pipeline.backtest import print_table
    from watcher.rules.load import load_rules
    from watcher.store.db import open_database

    cutoff = since_cutoff(since)
    config = get_config(config_path, rules_dir)
    rules = load_rules(config.rules_dir)  # RuleError: file:line:col lines, exit 2
    deployed = get_config(config_path).rules_dir
    try:  # the rules in force tell new and changed rules; else the stored hits do
        baseline = load_rules(deployed) if deployed.is_dir() else None
    except RuleError:
        baseline = None
    table = not as_json and sys.stdout.isatty()
    db = open_database(config.database_url, busy_timeout_ms=config.sqlite_busy_timeout_ms)
    try:
        if table:
            with Progress(console=Console(stderr=True), transient=True) as progress:
                task = progress.add_task("replaying history", total=None)
                result = run_backtest(
                    db,
                    rules,
                    since=cutoff,
                    baseline=baseline,
                    on_progress=lambda done, total: progress.update(
                        task, completed=done, total=total
                    ),
                )
        else:
            result = run_backtest(db, rules, since=cutoff, baseline=baseline)
    finally:
        db.dispose()
    if table:
        print_table(Console(), result, str(config.rules_dir))
    else:
        click.echo(
            json.dumps({"rules_dir": str(config.rules_dir), **result.to_dict()}, ensure_ascii=False)
        )
