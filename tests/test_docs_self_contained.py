"""Comments, docstrings and documents explain themselves instead of citing outside documents.

The design documents the project started from are not in the repository, so
"see row 7 of the fault matrix" tells a reader nothing: what a citation
meant has to be said in place. Paths to shared corpora used as test data
are not citations and stay allowed.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCOPE = ("watcher", "tests", "bench", "README.md", "BENCHMARKS.md")
_DOCUMENTS = ("SPEC", "FAULTS", "STACK", "STYLE")
CITATION = re.compile(
    r"\b(?:" + "|".join(_DOCUMENTS) + r")\.md\b"
    r"|\bSPEC(?:\.md)? sections?\b|\bFAULTS(?:\.md)? rows?\b|\bSTACK(?:\.md)? pitfalls?\b"
    r"|\bspec §"
)


def _tracked_files() -> list[Path]:
    """The files in scope: git's tracked files, or every file when this is no checkout."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--", *SCOPE],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        found = [p for name in SCOPE for p in [ROOT / name, *(ROOT / name).rglob("*")]]
        return [p for p in found if p.is_file()]
    return [ROOT / name for name in listed.split("\0") if name]


@pytest.mark.parametrize(
    "line",
    [
        "a gzip bomb (" + "FAULTS" + ".md row 7)",
        "reads the file (" + "SPEC" + " section 5)",
        "# process-global state (" + "STACK" + " pitfall 6)",
        "as in " + "FAULTS" + " rows 1 and 16",
        "see " + "STYLE" + ".md",
        "the bar of spec " + "§9",
    ],
)
def test_the_pattern_catches_citations(line: str) -> None:
    """Each way the code used to cite the outside documents is recognised."""
    assert CITATION.search(line)


def test_no_file_cites_documents_outside_the_repository() -> None:
    """No tracked file under watcher/, tests/, bench/ or the top-level docs cites them."""
    this = Path(__file__).resolve()
    offending = []
    files = [p for p in _tracked_files() if p.resolve() != this]
    assert len(files) > 100  # the scan really read the tree
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue  # binary fixtures, or deleted but not yet committed
        for number, line in enumerate(text.splitlines(), 1):
            if CITATION.search(line):
                offending.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offending == []
