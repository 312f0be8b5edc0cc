"""`watcher demo`: the whole pipeline on 127.0.0.1 with the project's seeds and rules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_alerts_on_the_seeds_and_not_on_the_decoys() -> None:
    """The demo prints one alert per seed, none for the decoys, and exits 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WATCHER_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "watcher", "demo"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    seeds = sorted(p.stem for p in (ROOT / "seeds").glob("*.txt"))
    assert seeds == ["000_4ab6b9de58fe588c", "004_a1e05389a7b9a669"]
    for seed in seeds:  # each seed's link appears in exactly one alert, once
        assert out.count(f"/news/{seed}.html") == 1, (seed, out)
    assert out.count("\nRules: ") == len(seeds), out  # one alert block per seed, no others
    assert "/news/decoy-" not in out
    assert "articles new    5" in out  # the two seeds and three decoys were all read
    assert "alerts created  2" in out
    assert "alerts sent     2" in out
