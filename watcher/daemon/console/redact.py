"""Secrets out of what the console shows: source URLs and their last errors.

A small local redaction for the sources page (the project-wide one is
expected from the hostile-input work; this one is replaced by it at merge).
It removes, replacing each with `***`:

* the literal secrets watcher was given (the Slack token and webhook URL,
  the console token, the values of sources' request headers);
* a URL's user and password (`https://user:pass@host` -> `https://***@host`);
* the values of URL query parameters whose names say secret (`token`,
  `key`, `api_key`, `secret`, `password`, `sig`, `signature`, `auth`, ...);
* `Bearer …` / `Basic …` credentials and Slack tokens (`xox?-…`), and the
  secret path of Slack incoming-webhook URLs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["MASK", "redact"]

MASK = "***"
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")
_SECRET_PARAM = re.compile(
    r"(?P<name>[?&;](?:[\w.-]*(?:token|key|secret|password|passwd|pwd|sig|signature|auth|"
    r"credential|session)[\w.-]*))=(?P<value>[^&;#\s\"'<>]+)",
    re.IGNORECASE,
)
_AUTH_HEADER = re.compile(r"\b(?P<scheme>Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_SLACK_TOKEN = re.compile(r"\bxox[abposr]-[A-Za-z0-9-]+")
_SLACK_HOOK = re.compile(r"(hooks\.slack\.com/services/)[A-Za-z0-9/_-]+")


def redact(text: str | None, secrets: Iterable[str] = ()) -> str:
    """`text` with every secret it holds replaced by `***` (see the module)."""
    if not text:
        return ""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    text = _SECRET_PARAM.sub(lambda m: f"{m.group('name')}={MASK}", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group('scheme')} {MASK}", text)
    text = _SLACK_TOKEN.sub(MASK, text)
    return _SLACK_HOOK.sub(lambda m: f"{m.group(1)}{MASK}", text)
