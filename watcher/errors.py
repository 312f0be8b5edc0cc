"""The exception tree.

Exceptions are for bad input from people (rules, config, CLI arguments) and
for bugs. Expected outcomes of the outside world (404, timeout, not a feed,
Slack 429) are values (see `watcher.model`), never exceptions.

    WatcherError                 base of everything we raise on purpose
    ├── ConfigError              watcher.toml or environment is invalid
    ├── RuleError                one or more rule files are invalid (carries Problems)
    ├── DocumentError            an input document for `match`/`rules test` is unusable
    └── StorageError             the database is unreachable or not migrated
        └── DatabaseUnavailable  the database server did not answer (may come up later)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One located complaint about a person's input: `file:line:col: message`."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class WatcherError(Exception):
    """Base class of every exception watcher raises on purpose."""


class ConfigError(WatcherError):
    """The configuration file or an environment variable is invalid."""


class RuleError(WatcherError):
    """Rule files are invalid; `problems` lists every located error."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class DocumentError(WatcherError):
    """An input document (for `match` or a rule's examples) cannot be read."""


class StorageError(WatcherError):
    """The database cannot be reached or used."""


class DatabaseUnavailable(StorageError):
    """The database could not be connected to (a server not up yet, a network error).

    Unlike a bad URL or an unmigrated database, this can cure itself: the daemon
    retries it at start for `DaemonSettings.database_wait` seconds.
    """
