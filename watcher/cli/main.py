"""The `watcher` command line: the command group and its commands.

Each command group lives in a module of its own (`watcher.cli.run`,
`watcher.cli.rules`, ...); their heavy imports happen inside the commands,
so `watcher --help` stays fast. Shared options and error handling are in
`watcher.cli.common`.
"""

from __future__ import annotations

import click

from watcher.cli import db, demo, extract, health, history, judgments, match, rules, run, sources


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="watcher")
def main() -> None:
    """Watch the news for AUKUS Pillar II expansion and alert analysts in Slack.

    \b
    Example:
      watcher run --once          # one full cycle, then exit
      watcher rules test --corpus ../shared/eval/dev
    """


for command in (
    run.run,
    demo.demo,
    rules.rules,
    match.match,
    extract.extract,
    history.backtest,
    history.hits,
    sources.sources,
    health.health,
    judgments.feedback,
    db.db,
):
    main.add_command(command)

# The feedback loop's commands join the groups they belong to (`watcher.cli.judgments`).
rules.rules.add_command(judgments.rules_stats)
sources.sources.add_command(judgments.sources_mute)
sources.sources.add_command(judgments.sources_unmute)
