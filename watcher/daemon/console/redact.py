"""Secrets out of what the console shows: source URLs and their last errors.

The console adds one thing to the project's redaction (`watcher.log.redact_secrets`,
which masks URL user-info, credential-like parameters, Slack tokens and webhook
paths, database passwords and quoted HTTP credentials): the literal secrets
watcher was given (the Slack token and webhook URL, the console token, the
values of sources' request headers), which have no shape to recognise.
"""

from __future__ import annotations

from collections.abc import Iterable

from watcher.log import MASK, redact_secrets

__all__ = ["MASK", "redact"]


def redact(text: str | None, secrets: Iterable[str] = ()) -> str:
    """`text` with every configured secret and every credential-shaped part as `***`."""
    if not text:
        return ""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return redact_secrets(text)
