"""Article pages to text.

Trafilatura plus its checks, run in worker processes with deadlines.
"""
