"""Run the benchmarks: `python -m bench [NAME ...] [--quick] [--no-write]`.

Every module in `bench/` that defines `run_benchmark(quick=False)` is a
benchmark (see `bench/report.py`). With no NAME all of them run. Results
are printed as a table and written to BENCHMARKS.md, one section each,
unless `--no-write` (or `--quick`, whose tiny workloads prove nothing).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from rich.console import Console
from rich.table import Table

from bench.report import BENCHMARKS_MD, BenchReport, machine, write_section

Runner = Callable[..., BenchReport]


def discover() -> dict[str, Runner]:
    """Benchmark name -> its `run_benchmark`, for every module of this package."""
    found: dict[str, Runner] = {}
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        runner = getattr(module, "run_benchmark", None)
        if callable(runner):
            found[info.name] = cast(Runner, runner)
    return found


def print_report(console: Console, report: BenchReport) -> None:
    table = Table(title=f"{report.title}\n{report.verdict}", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("note", style="dim")
    for row in report.rows:
        table.add_row(row.metric, row.value, row.note)
    console.print(table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="tiny workloads (smoke test)")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    args = parser.parse_args(argv)
    benchmarks = discover()
    unknown = [n for n in args.names if n not in benchmarks]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(benchmarks)}")
    console = Console()
    console.print(f"machine: {machine()}")
    for name in args.names or sorted(benchmarks):
        console.print(f"running {name} ...")
        report = benchmarks[name](quick=args.quick)
        print_report(console, report)
        if not (args.no_write or args.quick):
            write_section(report)
            console.print(f"wrote section '{name}' of {BENCHMARKS_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
