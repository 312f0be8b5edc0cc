"""Benchmark results: one `BenchReport` per benchmark, written to BENCHMARKS.md.

A benchmark module in `bench/` defines `run_benchmark(quick: bool = False)
-> BenchReport`; `python -m bench` runs every such module and writes each
report as its own section of BENCHMARKS.md, between the markers
`<!-- bench:NAME -->` and `<!-- /bench:NAME -->`. Rerunning a benchmark
replaces only its section; a new benchmark appends one, so sections written
by hand or by other benchmarks are left alone.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"


@dataclass(frozen=True)
class Row:
    """One measured quantity."""

    metric: str
    value: str
    note: str = ""


@dataclass(frozen=True)
class BenchReport:
    """What one benchmark measured, ready to print or write."""

    name: str  # the module name, e.g. "matching"
    title: str
    command: str
    rows: tuple[Row, ...]
    verdict: str = ""  # e.g. "PASS: >= 2,000 articles/s and >= 20x naive"
    notes: tuple[str, ...] = ()
    date: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line describing where the numbers were measured."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpu_model()}, nproc {cores}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def render(report: BenchReport, machine_line: str) -> str:
    """The Markdown section of `report`, markers included."""
    lines = [
        f"<!-- bench:{report.name} -->",
        f"## {report.title}",
        "",
        f"- command: `{report.command}`",
        f"- date: {report.date}",
        f"- machine: {machine_line}",
    ]
    if report.verdict:
        lines.append(f"- result: **{report.verdict}**")
    lines += ["", "| metric | value | note |", "|---|---:|---|"]
    lines += [f"| {r.metric} | {r.value} | {r.note} |" for r in report.rows]
    if report.notes:
        lines.append("")
        lines += [f"{note}" for note in report.notes]
    lines.append(f"<!-- /bench:{report.name} -->")
    return "\n".join(lines) + "\n"


HEADER = """# Benchmarks

Measured numbers for watcher's performance bars: matching speed, full-cycle
time, the all-304 cycle and memory over a soak. Each section is written by
its benchmark (`.venv/bin/python -m bench [NAME ...]`, or
`make bench` for all of them) between `<!-- bench:NAME -->` markers: a rerun
replaces its own section and leaves the others alone. To add a benchmark,
write `bench/NAME.py` with `run_benchmark(quick: bool = False) -> BenchReport`
(see `bench/report.py`).
"""


def write_section(report: BenchReport, path: Path = BENCHMARKS_MD) -> None:
    """Replace (or append) `report`'s section of `path`."""
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    section = render(report, machine())
    pattern = re.compile(
        rf"<!-- bench:{re.escape(report.name)} -->.*?<!-- /bench:{re.escape(report.name)} -->\n?",
        re.DOTALL,
    )
    if pattern.search(text):
        text = pattern.sub(lambda _m: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")
