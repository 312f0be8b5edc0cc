"""`watcher db`: database maintenance."""

from __future__ import annotations

from pathlib import Path

import click

from watcher.cli.common import (
    config_option,
    get_config,
    handle_errors,
)


@click.group()
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
    open_database(config.database_url, busy_timeout_ms=config.sqlite_busy_timeout_ms).dispose()
    click.echo("database is up to date")
