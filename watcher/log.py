"""Structured logging: one `configure()`; JSON lines when not on a terminal.

Events are short names with keys (`fetch_failed source=... kind=...`).
Secrets never reach a log: the Slack token and webhook URL are not passed to
any log call, `redact` drops keys that look secret, and every string value
(tracebacks included) goes through `redact_secrets`, as do the messages of
stdlib loggers (aiohttp, APScheduler).

`redact_secrets` is the one redaction function of the whole program: the
CLI's output and errors, the Slack ops notices and the metric labels use it
too. It lives here, in the foundation, because logging and metrics sit
below every other layer.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

_SECRET_KEYS = ("token", "secret", "password", "webhook")
MASK = "***"

# `scheme://user:password@` and `scheme://token@`: the user name stays when a password follows.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s@?#:]*)(:[^/\s@?#]*)?@")
# A `name=value` pair (a query or fragment parameter, or one in free text) whose name looks
# like a credential: `api_key`, `apikey`, `access_token`, `X-Amz-Signature`, `sig`,
# `client_secret`, `password`, `pwd`, `auth`, `X-Amz-Credential`, `sessionid`, the
# `ticket` of a Slack Socket Mode WebSocket URL...
_PARAM = re.compile(r"(?m)((?:^|[?&;#\s])([^=&#;\s\"'<>?/:]+)=)([^&#;\s\"'<>]+)")
_SECRET_NAME = re.compile(
    r"(?i)key|token|secret|signature|passw|pwd|auth|credential|session|ticket|"
    r"(?:^|[-_.])sig(?:$|[-_.])"
)
# `user:password@host` without a scheme in front (a malformed database URL such as
# `postgresql//user:pw@host/db` is echoed back in its error message).
_BARE_USERINFO = re.compile(r"(?<![\w.%+-])([\w.%+-]+):([^\s/@:]+)@(?=[\w\[])")
# An HTTP credential quoted in an error: `Authorization: Bearer …` or `Basic …`, a run of
# 8 or more token characters with a digit or symbol in it (so "Basic authentication"
# stays readable).
_AUTH_SCHEME = re.compile(
    r"(?i)\b(Bearer|Basic)\s+(?=[A-Za-z._~+/=-]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{8,}"
)
# Slack tokens (bot, user, app-level, refresh, config) and incoming-webhook paths.
_SLACK_TOKEN = re.compile(r"\b(?:xox[abposre]|xapp)-[A-Za-z0-9-]+")
_SLACK_WEBHOOK = re.compile(r"(?i)(hooks\.slack\.com/(?:services|workflows|triggers)/)[^\s\"'<>]+")


def redact_secrets(text: str) -> str:
    """`text` with every credential we know the shape of replaced by `***`.

    URL user-info (`https://user:***@host`, `https://***@host`), query
    parameters whose names look like keys, tokens, signatures or passwords
    (`?api_key=***`), database URL passwords (the same user-info rule),
    Slack tokens (`xoxb-…`, `xapp-…`), incoming-webhook paths and quoted HTTP
    credentials (`Bearer …`, `Basic …`). Linear in
    the length of `text`; text without any of them comes back unchanged.
    """
    if "://" in text:
        text = _USERINFO.sub(_mask_userinfo, text)
    if "@" in text:
        text = _BARE_USERINFO.sub(rf"\1:{MASK}@", text)
    if "=" in text:
        text = _PARAM.sub(_mask_param, text)
    text = _AUTH_SCHEME.sub(rf"\1 {MASK}", text)
    if "x" in text:
        text = _SLACK_TOKEN.sub(MASK, text)
    if "hooks" in text:
        text = _SLACK_WEBHOOK.sub(rf"\1{MASK}", text)
    return text


def _mask_param(match: re.Match[str]) -> str:
    return match.group(1) + MASK if _SECRET_NAME.search(match.group(2)) else match.group(0)


def _mask_userinfo(match: re.Match[str]) -> str:
    scheme, user, password = match.group(1), match.group(2), match.group(3)
    return f"{scheme}{user}:{MASK}@" if password is not None else f"{scheme}{MASK}@"


def _redact_value(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact_secrets(value)
    if depth > 3:
        return value
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return {k: _redact_value(v, depth + 1) for k, v in value.items()}
    return value


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace the value of any key that names a secret; redact secrets inside every string."""
    for key in list(event):
        if any(s in key.lower() for s in _SECRET_KEYS):
            event[key] = "[redacted]"
        else:
            event[key] = _redact_value(event[key])
    return event


class RedactingFilter(logging.Filter):
    """A stdlib logging filter: the formatted message and traceback go through `redact_secrets`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_secrets(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = redact_secrets(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


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
            structlog.processors.format_exc_info,
            redact,  # after format_exc_info: tracebacks quote URLs too
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=logging.WARNING, stream=stream, format="%(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
