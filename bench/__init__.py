"""Benchmarks for watcher's performance bars: `python -m bench` (see report.py)."""
