"""Benchmarks for the quality bars of SPEC.md section 9: `python -m bench` (see report.py)."""
