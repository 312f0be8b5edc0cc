"""`watcher run`: the daemon, or one full cycle with `--once`.

With `--once`, progress goes to a terminal's stderr and the summary is a
table, or JSON when piped.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from watcher.cli.common import (
    config_option,
    get_config,
    handle_errors,
    rules_option,
)
from watcher.settings import Config

if TYPE_CHECKING:
    from watcher.pipeline.cycle import SourceReport


def run_once_command(config: Config) -> int:
    """Run one cycle and print the summary; returns the exit code (0)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from watcher.cli import render as report
    from watcher.daemon.app import build_app, run_once

    app = build_app(config)
    try:
        if sys.stderr.isatty():
            console = Console(stderr=True)
            with Progress(
                TextColumn("[bold]polling sources"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as progress:
                task = progress.add_task("", total=len([s for s in config.sources if s.enabled]))

                def advance(source: SourceReport) -> None:
                    progress.update(task, advance=1, description=source.name[:40])

                result = asyncio.run(run_once(app, on_source=advance))
            report.once_summary(Console(), result)
        else:
            result = asyncio.run(run_once(app))
            sys.stdout.write(json.dumps(report.once_json(result), ensure_ascii=False) + "\n")
    finally:
        app.close()
    return 0


@click.command()
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
    from watcher.config import config_loader, daemon_settings
    from watcher.store.db import hold_database_lock

    config = get_config(config_path, rules_dir)
    settings = None if once else daemon_settings()
    log.configure()
    # One `watcher run` per SQLite file, held until this process ends (however it ends).
    with hold_database_lock(config.database_url):
        if once:
            sys.exit(run_once_command(config))
        from watcher.daemon.service import run_daemon

        sys.exit(run_daemon(config, load=config_loader(config), settings=settings))
