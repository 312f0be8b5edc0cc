"""The `watcher` command line: thin commands over the library.

Exit codes: 0 the command did its job, 1 a check failed (`rules check`,
`rules test`, `health`), 2 a usage error or invalid configuration.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from watcher.config import Config, load_config, parse_duration
from watcher.errors import ConfigError, DocumentError, RuleError, StorageError, WatcherError

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"watcher: {message}", err=True)
    sys.exit(code)


def handle_errors(fn: F) -> F:
    """Turn our own exceptions into a clear message and exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RuleError as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            sys.exit(2)
        except (ConfigError, StorageError, DocumentError) as exc:
            _fail(str(exc))
        except WatcherError as exc:
            _fail(str(exc))

    return wrapper  # type: ignore[return-value]


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Config file (default: $WATCHER_CONFIG, else ./watcher.toml).",
)
rules_option = click.option(
    "--rules",
    "rules_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Rules directory (default: $WATCHER_RULES_DIR, else the config's rules.dir).",
)


def get_config(config_path: Path | None, rules_dir: Path | None = None) -> Config:
    """The config with flag > environment > file > default precedence applied."""
    config = load_config(config_path, os.environ)
    if rules_dir is not None:
        config = replace(config, rules_dir=rules_dir)
    return config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="watcher")
def main() -> None:
    """Watch the news for AUKUS Pillar II expansion and alert analysts in Slack.

    \b
    Example:
      watcher run --once          # one full cycle, then exit
      watcher rules test --corpus ../shared/eval/dev
    """


@main.command()
@click.option("--once", is_flag=True, help="Run one full cycle, dispatch alerts, then exit.")
@config_option
@rules_option
@handle_errors
def run(once: bool, config_path: Path | None, rules_dir: Path | None) -> None:
    """Run the daemon (or one cycle with --once).

    \b
    Example:
      watcher run --once --config watcher.toml
    """
    from watcher import log

    config = get_config(config_path, rules_dir)
    log.configure()
    if once:
        from watcher.runonce import run_once_command

        sys.exit(run_once_command(config))
    from watcher.daemon import run_daemon

    sys.exit(run_daemon(config))


@main.command()
@handle_errors
def demo() -> None:
    """One full cycle over the seed documents served on 127.0.0.1.

    Uses a throwaway database and prints the alerts to the console.

    \b
    Example:
      watcher demo
    """
    from watcher.demo import run_demo

    sys.exit(run_demo())


@main.group()
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
        _fail(str(exc))
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
    from watcher.rulestest import run_rules_test

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
    from watcher.explain import read_input
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


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per input, per line.")
@config_option
@rules_option
@handle_errors
def match(
    inputs: tuple[str, ...], as_json: bool, config_path: Path | None, rules_dir: Path | None
) -> None:
    """Extract and match documents (files or URLs); explain every hit.

    `.html`/`.htm` files are extracted like pipeline pages; other files are
    plain text with optional `Title:`/`URL:`/`Published:` header lines.

    \b
    Example:
      watcher match seeds/*.txt --json
    """
    from watcher.explain import run_match

    config = get_config(config_path, rules_dir)
    run_match(config, list(inputs), as_json=as_json)


@main.command()
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

    from watcher.backtest import backtest as run_backtest
    from watcher.backtest import print_table
    from watcher.rules.load import load_rules
    from watcher.store.db import open_database

    cutoff = None
    if since is not None:
        try:
            cutoff = datetime.now(UTC) - parse_duration(since, where="--since")
        except ConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from None
    config = get_config(config_path, rules_dir)
    rules = load_rules(config.rules_dir)  # RuleError: file:line:col lines, exit 2
    deployed = get_config(config_path).rules_dir
    try:  # the rules in force tell new and changed rules; else the stored hits do
        baseline = load_rules(deployed) if deployed.is_dir() else None
    except RuleError:
        baseline = None
    table = not as_json and sys.stdout.isatty()
    db = open_database(config.database_url)
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


@main.command()
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

    from watcher import report
    from watcher.store.db import open_database
    from watcher.store.queries import list_hits

    cutoff = None
    if since is not None:
        try:
            cutoff = datetime.now(UTC) - parse_duration(since, where="--since")
        except ConfigError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from None
    config = get_config(config_path)
    db = open_database(config.database_url)
    try:
        with db.session() as session:
            rows = list_hits(session, rule=rule, since=cutoff, limit=limit)
    finally:
        db.dispose()
    if as_json or not sys.stdout.isatty():
        report.print_json_lines(sys.stdout, [report.hit_json(h) for h in rows])
    else:
        report.hits_table(Console(), rows)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON array of sources.")
@config_option
@handle_errors
def sources(as_json: bool, config_path: Path | None) -> None:
    """Every source with its status, last poll, failures and next poll.

    \b
    Example:
      watcher sources --json
    """
    from rich.console import Console

    from watcher import report
    from watcher.store.db import open_database
    from watcher.store.queries import outbox_summary
    from watcher.store.sources import source_statuses, sync_sources

    config = get_config(config_path)
    db = open_database(config.database_url)
    now = datetime.now(UTC)
    try:
        with db.session() as session:
            sync_sources(session, config.sources, now)
        with db.session() as session:
            statuses = source_statuses(session, now)
            outbox = outbox_summary(session)
    finally:
        db.dispose()
    if as_json or not sys.stdout.isatty():
        click.echo(json.dumps([report.source_json(s) for s in statuses], ensure_ascii=False))
        notice = report.delivery_notice(outbox)
        if notice.startswith("alert delivery stopped"):
            click.echo(f"watcher: {notice}", err=True)  # stdout stays one JSON array
    else:
        console = Console()
        report.sources_table(console, statuses)
        console.print(report.delivery_notice(outbox))


@main.command()
@config_option
def health(config_path: Path | None) -> None:
    """Ask the running daemon's /healthz (the container's HEALTHCHECK): exit 0 when healthy.

    Uses $WATCHER_LISTEN, else `web.listen` (read leniently: a half-edited
    config does not fail the check while the daemon runs on its last good
    one); a wildcard host is asked on 127.0.0.1. Exit 1 with the daemon's
    reason when unhealthy or unreachable.

    \b
    Example:
      watcher health
    """
    from watcher.health import health_url, listen_address, probe

    try:
        url = health_url(listen_address(config_path, os.environ))
    except ConfigError as exc:
        _fail(str(exc))
        return
    result = probe(url)
    if not result.ok:
        _fail(f"unhealthy: {result.reason}", code=1)
    click.echo(f"healthy ({url})")


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@config_option
@handle_errors
def db_upgrade(config_path: Path | None) -> None:
    """Apply pending migrations.

    \b
    Example:
      WATCHER_DATABASE_URL=postgresql://watcher@db/watcher watcher db upgrade
    """
    from watcher.store.db import open_database

    config = get_config(config_path)
    open_database(config.database_url).dispose()
    click.echo("database is up to date")
