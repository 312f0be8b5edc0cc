"""`watcher sources`: every source's status, from the database."""

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


@click.command()
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

    from watcher.cli import render as report
    from watcher.store.db import open_database
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
