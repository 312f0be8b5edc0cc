"""Test support: the one way tests reach the shared material beside the repository.

The real corpora and labelled evaluation sets live in `../shared` (relative to
the repository root), outside the repository and never copied into it. Tests
that read them call `shared_path(...)`:

    benchmark = shared_path("corpora", "article-extraction-benchmark")

When the path is missing the test is skipped, so a clone without the shared
material still runs everything else. When the environment variable
`WATCHER_REQUIRE_CORPORA=1` is set (as `.ci/run` does whenever `../shared`
exists beside the clone), a missing path is a failure instead: a run that is
meant to have the corpora can never go green without its quality gates.

`optional_shared_path(...)` is for tests that also run without the material
(on synthetic inputs only): it returns None instead of skipping, and fails
the same way when the material is required.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
REQUIRE_ENV = "WATCHER_REQUIRE_CORPORA"


def corpora_required() -> bool:
    """True when this run must have the shared material (`WATCHER_REQUIRE_CORPORA=1`)."""
    return os.environ.get(REQUIRE_ENV, "").strip() == "1"


def _missing(path: Path) -> str:
    shown = "../shared/" + path.relative_to(SHARED).as_posix() if path != SHARED else "../shared"
    return f"{shown} not found (looked at {path}): the shared material is not beside the repository"


def _fail(path: Path) -> NoReturn:
    __tracebackhide__ = True  # report the calling test's line, not this helper's
    pytest.fail(
        f"{_missing(path)}; {REQUIRE_ENV}=1 says this run must have it "
        f"(check out the shared material beside the repository, or unset {REQUIRE_ENV})",
        pytrace=False,
    )


def shared_path(*parts: str) -> Path:
    """`../shared/<parts>`; skips the test when it is missing (fails when it is required)."""
    __tracebackhide__ = True  # report the calling test's line, not this helper's
    path = SHARED.joinpath(*parts)
    if path.exists():
        return path
    if corpora_required():
        _fail(path)
    pytest.skip(_missing(path))


def optional_shared_path(*parts: str) -> Path | None:
    """`../shared/<parts>`, or None when it is missing (fails when it is required)."""
    __tracebackhide__ = True  # report the calling test's line, not this helper's
    path = SHARED.joinpath(*parts)
    if path.exists():
        return path
    if corpora_required():
        _fail(path)
    return None
