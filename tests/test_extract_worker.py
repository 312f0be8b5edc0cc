"""Inside an extraction worker: freed heap goes back to the system at each cache reset."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# Runs in a fresh interpreter so the measurement sees only its own heap: 150 MB in
# 2 KB blocks (malloc's heap, not mmap or Python's small-object arenas), all freed
# but the last, which pins the heap's top so free() alone cannot shrink it.
_PROBE = textwrap.dedent(
    """
    import os
    from watcher.extract.pool import private_mb
    from watcher.extract.worker import _trim_heap

    blocks = [bytes(2048) for _ in range(75_000)]
    last = blocks[-1]
    del blocks
    before = private_mb(os.getpid())
    _trim_heap()
    after = private_mb(os.getpid())
    print(before, after)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc are Linux's")
def test_trimming_the_heap_returns_freed_memory() -> None:
    """After freeing 150 MB of small blocks, the trim gives most of it back."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    before, after = (float(x) for x in out.split())
    assert before > 100, before  # the freed blocks were still counted as the process's
    assert before - after > 100, (before, after)
