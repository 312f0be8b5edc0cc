"""The ../shared helper: a missing corpus skips, or fails when WATCHER_REQUIRE_CORPORA=1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.shared import REQUIRE_ENV, ROOT, SHARED, optional_shared_path, shared_path

MISSING = "no-such-corpus-for-the-helper-test"
TINY_TEST = f'''from tests.support.shared import optional_shared_path, shared_path


def test_reads_a_missing_corpus():
    shared_path("corpora", "{MISSING}")
    raise AssertionError("shared_path returned for a missing directory")


def test_optionally_reads_a_missing_corpus():
    assert optional_shared_path("corpora", "{MISSING}") is None
'''


def _run_tiny_suite(tmp_path: Path, require: str | None) -> subprocess.CompletedProcess[str]:
    """pytest in a subprocess on a two-test file that asks for a corpus that does not exist."""
    test_file = tmp_path / "test_tiny.py"
    test_file.write_text(TINY_TEST, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != REQUIRE_ENV}
    env["PYTHONPATH"] = str(ROOT)
    if require is not None:
        env[REQUIRE_ENV] = require
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", str(test_file)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )


def test_missing_corpus_fails_the_run_when_corpora_are_required(tmp_path: Path) -> None:
    """With WATCHER_REQUIRE_CORPORA=1 both ways of reading a missing corpus fail, saying why."""
    assert not (SHARED / "corpora" / MISSING).exists()
    proc = _run_tiny_suite(tmp_path, "1")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "2 failed" in out, out
    assert f"../shared/corpora/{MISSING} not found" in out
    assert f"{REQUIRE_ENV}=1 says this run must have it" in out
    assert "AssertionError" not in out  # it stopped at the helper, not after it


@pytest.mark.parametrize("require", [None, "0", ""])
def test_missing_corpus_skips_when_corpora_are_not_required(
    tmp_path: Path, require: str | None
) -> None:
    """Without the variable (or with another value) a missing corpus skips and the run passes."""
    proc = _run_tiny_suite(tmp_path, require)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "1 passed, 1 skipped" in out, out
    line = TINY_TEST.splitlines().index(f'    shared_path("corpora", "{MISSING}")') + 1
    # Reported at the test's own line (the helper hides its frame), with the reason.
    assert f"SKIPPED [1] test_tiny.py:{line}: ../shared/corpora/{MISSING} not found" in out, out


def test_a_present_path_is_returned_whatever_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An existing path under ../shared comes back as is, required or not."""
    if not SHARED.is_dir():
        # The helper's own answer for this clone: skip, or fail when the corpora are required.
        shared_path()
    for value in ("1", "0"):
        monkeypatch.setenv(REQUIRE_ENV, value)
        assert shared_path() == SHARED
        assert optional_shared_path() == SHARED
