"""The README documents exactly the settings watcher reads: every key, every variable.

`watcher.config.FILE_KEYS` and `ENV_KEYS` are what the loader accepts and
reads (it refuses any other file key); these tests hold the README's
configuration tables to them in both directions, and the code to `ENV_KEYS`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from watcher.config import ENV_KEYS, FILE_KEYS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
ENV_NAME = re.compile(r"\b(?:WATCHER|SLACK)_[A-Z0-9_]+\b")
# Variables the README mentions that watcher itself does not read: the test harness's.
TEST_HARNESS_VARIABLES = {"WATCHER_REQUIRE_CORPORA", "WATCHER_REQUIRE_BROWSER"}
PLAIN_TABLES = ("database", "rules", "web", "fetch", "alerts", "stories")
DOTTED_KEY = re.compile(r"`(" + "|".join(PLAIN_TABLES) + r")\.([a-z_]+)")


def row_mentioning(marker: str) -> str:
    rows = [line for line in README.splitlines() if marker in line and line.startswith("|")]
    assert len(rows) == 1, f"expected one README table row mentioning {marker!r}, got {rows}"
    return rows[0]


def test_every_file_key_is_documented() -> None:
    """Each key of each `watcher.toml` table appears in the README as `table.key`
    (or as the table header `[table.key...]` for `alerts.routes`)."""
    missing = [
        f"{table}.{key}"
        for table in PLAIN_TABLES
        for key in sorted(FILE_KEYS[table])
        if f"`{table}.{key}" not in README and f"`[{table}.{key}" not in README
    ]
    assert not missing, f"undocumented settings: {missing}"


def test_every_source_and_route_key_is_documented() -> None:
    """`[[sources]]` and `[alerts.routes."#chan"]` rows name each of their keys."""
    for marker, table in (("[[sources]]", "sources"), ("[alerts.routes.", "alerts.routes")):
        row = row_mentioning(marker)
        missing = [k for k in sorted(FILE_KEYS[table]) if not re.search(rf"`{k}\b", row)]
        assert not missing, f"{marker} row does not name {missing}"


def test_every_documented_key_is_read() -> None:
    """A `table.key` the README names is a key the loader accepts (no stale docs)."""
    documented = {(m.group(1), m.group(2)) for m in DOTTED_KEY.finditer(README)}
    assert documented, "no `table.key` found in the README: the pattern is wrong"
    stale = sorted(f"{t}.{k}" for t, k in documented if k not in FILE_KEYS[t])
    assert not stale, f"documented but not read: {stale}"


def test_every_environment_variable_is_documented_and_read() -> None:
    """The README names each variable config.py reads, and names no variable it does not."""
    named = set(ENV_NAME.findall(README))
    assert not ENV_KEYS - named, f"undocumented: {sorted(ENV_KEYS - named)}"
    stale = named - ENV_KEYS - TEST_HARNESS_VARIABLES
    assert not stale, f"documented but never read: {sorted(stale)}"


def test_the_code_reads_no_variable_outside_the_table() -> None:
    """Every `WATCHER_*`/`SLACK_*` string in the package is a name in `ENV_KEYS`."""
    found: dict[str, str] = {}
    for path in (ROOT / "watcher").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and ENV_NAME.fullmatch(node.value)
            ):
                found[node.value] = str(path.relative_to(ROOT))
    assert set(found) >= {"WATCHER_CONFIG", "SLACK_BOT_TOKEN"}, "the scan found too little"
    extra = {name: where for name, where in found.items() if name not in ENV_KEYS}
    assert not extra, f"read but not in config.ENV_KEYS: {extra}"
