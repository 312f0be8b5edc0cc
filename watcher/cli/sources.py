"""`watcher sources`: every source's status, from the database (`mute`/`unmute`:
`watcher.cli.judgments`)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from watcher.cli.common import (
    config_option,
    get_config,
    handle_errors,
)

# `watcher sources` names a source whose latest alerts were judged not relevant this many
# times in a row, with the command that mutes it.
MUTE_HINT_AFTER = 3


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON array of sources.")
@config_option
@click.pass_context
@handle_errors
def sources(ctx: click.Context, as_json: bool, config_path: Path | None) -> None:
    """Every source with its status, last poll, failures and next poll.

    With analyst feedback: whether it is muted and how many of its latest
    judged alerts in a row were judged not relevant (`mute` / `unmute`).

    \b
    Example:
      watcher sources --json
      watcher sources mute "Example Gazette"
    """
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console

    from watcher.cli import render as report
    from watcher.store.db import open_database
    from watcher.store.judgments import muted_sources, not_relevant_streaks
    from watcher.store.queries import outbox_summary
    from watcher.store.sources import source_statuses, sync_sources

    config = get_config(config_path)
    db = open_database(config.database_url, busy_timeout_ms=config.sqlite_busy_timeout_ms)
    now = datetime.now(UTC)
    try:
        with db.session() as session:
            sync_sources(session, config.sources, now)
        with db.session() as session:
            statuses = source_statuses(session, now)
            outbox = outbox_summary(session)
            muted = muted_sources(session)
            streaks = not_relevant_streaks(session)
    finally:
        db.dispose()
    if as_json or not sys.stdout.isatty():
        rows = [
            {
                **report.source_json(s),
                "muted": s.name in muted,
                "not_relevant_streak": streaks.get(s.name, 0),
            }
            for s in statuses
        ]
        click.echo(json.dumps(rows, ensure_ascii=False))
        notice = report.delivery_notice(outbox)
        if notice.startswith("alert delivery stopped"):
            click.echo(f"watcher: {notice}", err=True)  # stdout stays one JSON array
    else:
        console = Console()
        report.sources_table(console, statuses)
        console.print(report.delivery_notice(outbox))
        for name in sorted(muted):
            console.print(f"muted: {name} (its alerts go to the digest; `watcher sources unmute`)")
        for name, streak in sorted(streaks.items()):
            if streak >= MUTE_HINT_AFTER and name not in muted:
                console.print(
                    f"{name}: its last {streak} judged alerts were not relevant; "
                    f'mute it with `watcher sources mute "{name}"`'
                )
