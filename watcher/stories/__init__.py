"""Near-duplicate detection.

Shingles, MinHash and the pure story index.
"""
