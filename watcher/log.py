"""Structured logging: one `configure()`; JSON lines when not on a terminal.

Events are short names with keys (`fetch_failed source=... kind=...`).
Secrets never reach a log: the Slack token and webhook URL are not passed to
any log call, and `redact` drops keys that look secret as a second line of
defence.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

_SECRET_KEYS = ("token", "secret", "password", "webhook")


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace the value of any key that names a secret."""
    for key in list(event):
        if any(s in key.lower() for s in _SECRET_KEYS):
            event[key] = "[redacted]"
    return event


def configure(
    *, json: bool | None = None, stream: TextIO | None = None, level: int = logging.INFO
) -> None:
    """Set up structlog (and stdlib logging) once per process.

    Default: on a terminal, readable lines on stderr; otherwise (a container,
    a pipe) JSON lines on stdout.
    """
    if stream is None:
        stream = sys.stderr if sys.stdout.isatty() else sys.stdout
    if json is None:
        json = not stream.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=logging.WARNING, stream=stream, format="%(name)s: %(message)s")
