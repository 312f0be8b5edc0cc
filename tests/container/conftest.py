"""Fixtures for the container tests (`make test-container`): podman, the image, helpers.

`make test-container` runs `tests/container/prepare.sh` first (podman, the
engine's configuration, podman-compose, the base images) and passes its
configuration in `CONTAINERS_CONF`. These tests build the repository's
Dockerfile as it is and run the image for real; they never skip: without an
engine they fail with how to get one.

Timings and the image size are collected in `TIMINGS` and printed at the end
of the run (`pytest_terminal_summary`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "localhost/watcher:container-test"
BUILD_TIMEOUT = 1800  # seconds; a cold build on 2 shared cores installs every wheel
TIMINGS: dict[str, str] = {}
LABEL = "watcher.container-test"  # every container and volume a test creates carries it


def podman(*args: str, check: bool = True, timeout: float = 120, **kw: Any) -> str:
    """Run `podman args...`; its stdout (stripped). Fails the test with stderr on error."""
    result = subprocess.run(
        ["podman", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
        **kw,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}"
        )
    return result.stdout.strip()


def timed(name: str, started: float) -> float:
    """Record a timing for the summary; returns the seconds."""
    seconds = time.monotonic() - started
    TIMINGS[name] = f"{seconds:.1f} s"
    return seconds


def wait_until(what: str, check: Any, timeout: float, *, tail: Any = None) -> Any:
    """Poll `check()` until truthy; fail naming `what` (and `tail()`, e.g. a log)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{tail()}" if tail else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{extra}")
        time.sleep(0.5)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def engine() -> str:
    """podman, configured by prepare.sh; fails (never skips) when it is not there."""
    conf = os.environ.get("CONTAINERS_CONF", "")
    if shutil.which("podman") is None or not conf or not Path(conf).is_file():
        pytest.fail(
            "podman is not prepared: run the container tests with `make test-container`, "
            "which installs podman and sets CONTAINERS_CONF (tests/container/prepare.sh).",
            pytrace=False,
        )
    return podman("--version")


@pytest.fixture(scope="session")
def image(engine: str) -> Iterator[str]:
    """The repository's Dockerfile, unchanged, built with podman (Docker format keeps
    the HEALTHCHECK); the image is kept so that a later run reuses its layers."""
    started = time.monotonic()
    result = subprocess.run(
        ["podman", "build", "--format", "docker", "--network=host", "-t", IMAGE, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, (
        f"podman build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    timed("podman build (Dockerfile)", started)
    size = int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE))
    TIMINGS["image size"] = f"{size / 1e6:.0f} MB ({size} bytes)"
    yield IMAGE
    for kind in ("container", "volume"):
        leftovers = podman(
            kind,
            "ls",
            "-q",
            *(["-a"] if kind == "container" else []),
            "--filter",
            f"label={LABEL}",
            check=False,
        )
        if leftovers:
            podman(kind, "rm", "-f", *leftovers.split(), check=False)


def inspect(name: str, fmt: str) -> str:
    return podman("inspect", "--format", fmt, name)


def health_status(name: str) -> str:
    """The engine's recorded health status of a container (after `healthcheck run`)."""
    state = json.loads(podman("inspect", "--format", "{{json .State}}", name))
    health = state.get("Health") or state.get("Healthcheck") or {}
    return str(health.get("Status", ""))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS:
        terminalreporter.section("container timings and image size")
        for name, value in TIMINGS.items():
            terminalreporter.write_line(f"{name:45} {value}")
