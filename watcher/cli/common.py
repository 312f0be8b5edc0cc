"""What every command shares: the options, the config they load, the error handling.

Exit codes: 0 the command did its job, 1 a check failed (`rules check`,
`rules test`, `health`), 2 a usage error or invalid configuration.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from watcher.config import load_config
from watcher.errors import ConfigError, DocumentError, RuleError, StorageError, WatcherError
from watcher.log import redact_secrets
from watcher.settings import Config, parse_duration

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> None:
    """Print `watcher: message` (secrets redacted, one line) on stderr and exit with `code`."""
    line = " ".join(redact_secrets(message).split())
    click.echo(f"watcher: {line}", err=True)
    sys.exit(code)


def handle_errors(fn: F) -> F:
    """Turn our own exceptions into a clear message and exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RuleError as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            sys.exit(2)
        except (ConfigError, StorageError, DocumentError) as exc:
            fail(str(exc))
        except WatcherError as exc:
            fail(str(exc))

    return wrapper  # type: ignore[return-value]


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Config file (default: $WATCHER_CONFIG, else ./watcher.toml).",
)
rules_option = click.option(
    "--rules",
    "rules_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Rules directory (default: $WATCHER_RULES_DIR, else the config's rules.dir).",
)


def get_config(config_path: Path | None, rules_dir: Path | None = None) -> Config:
    """The config with flag > environment > file > default precedence applied."""
    config = load_config(config_path)
    if rules_dir is not None:
        config = replace(config, rules_dir=rules_dir)
    return config


def since_cutoff(since: str | None) -> datetime | None:
    """`--since 7d` -> the moment 7 days ago; None without the option.

    A malformed value is a usage error (exit 2) naming the option.
    """
    if since is None:
        return None
    try:
        return datetime.now(UTC) - parse_duration(since, where="--since")
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
