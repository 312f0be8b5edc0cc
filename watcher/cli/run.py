"""`watcher run --once`: one full cycle with progress on a terminal, JSON when piped."""

from __future__ import annotations

import asyncio
import json
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from watcher.cli import render as report
from watcher.config import Config
from watcher.daemon.app import build_app, run_once
from watcher.pipeline.cycle import SourceReport


def run_once_command(config: Config) -> int:
    """Run one cycle and print the summary; returns the exit code (0)."""
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
