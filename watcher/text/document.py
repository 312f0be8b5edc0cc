"""The plain-text document format (inputs of `match`, examples, corpora).

    Title: Japan to join AUKUS Pillar II talks
    URL: https://example.org/news/1
    Published: 2024-04-08
    Outlet: Example News
    Rules: pillar2-japan, pillar2-expansion

    The text, as it was published...

Leading `Key: value` lines (`Title`, `URL`, `Published`, `Outlet`, `Rules`;
keys are case-insensitive, any value may be empty) are metadata, ended by a
blank line; the rest is the text. A file whose first line is not such a
header is plain text from its first line. `Published` takes an ISO date or
date-time (`2024-04-08`, `2024-04-08T10:00:00+09:00`), a month (`2023-03`)
or a year (`2025`); times without a zone are taken as UTC. `Rules` is a
comma-separated list of rule ids the document must match (seed files).

The title is the document's title field (for `title:` scopes); unscoped
terms search the title and the text (see `watcher.rules.match`), so the
title also counts as part of the text without being duplicated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from watcher.errors import DocumentError
from watcher.model import Document

__all__ = ["TextDocument", "parse_published", "parse_text_document", "read_text_document"]

HEADER_KEYS = ("title", "url", "published", "outlet", "rules")
_HEADER_RE = re.compile(r"(?i)(title|url|published|outlet|rules):[ \t]?(.*)")
_MONTH_RE = re.compile(r"(\d{4})-(\d{2})")
_YEAR_RE = re.compile(r"\d{4}")


@dataclass(frozen=True)
class TextDocument:
    """A plain-text document and its metadata."""

    title: str
    url: str
    published: datetime | None  # UTC
    outlet: str
    rules: tuple[str, ...]
    text: str

    def to_document(self) -> Document:
        """The matching view: title field, text field, outlet host and URL."""
        host = (urlsplit(self.url).hostname or "") if self.url else ""
        return Document(title=self.title, text=self.text, source=host, url=self.url)


def parse_published(value: str) -> datetime | None:
    """A `Published:` value as an aware UTC datetime; None when empty.

    Raises ValueError when the value is not a date.
    """
    value = value.strip()
    if not value:
        return None
    if _YEAR_RE.fullmatch(value):
        return datetime(int(value), 1, 1, tzinfo=UTC)
    if m := _MONTH_RE.fullmatch(value):
        return datetime(int(m.group(1)), int(m.group(2)), 1, tzinfo=UTC)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_text_document(content: str, name: str = "<text>") -> TextDocument:
    """Split `content` into metadata and text; `name` is used in errors."""
    content = content.replace("\r\n", "\n").replace("\r", "\n").removeprefix("\ufeff")
    lines = content.split("\n")
    meta: dict[str, str] = {}
    body_start = 0
    for i, line in enumerate(lines):
        m = _HEADER_RE.fullmatch(line.rstrip())
        if m is None:
            body_start = i + 1 if (meta and not line.strip()) else i
            break
        key, value = m.group(1).lower(), m.group(2).strip()
        meta[key] = value
        if key == "published":
            try:
                parse_published(value)
            except ValueError:
                raise DocumentError(
                    f"{name}:{i + 1}: bad Published date {value!r}: "
                    "expected YYYY-MM-DD, an ISO date-time, YYYY-MM or YYYY"
                ) from None
    else:
        body_start = len(lines)
    rules = tuple(r.strip() for r in meta.get("rules", "").split(",") if r.strip())
    return TextDocument(
        title=meta.get("title", ""),
        url=meta.get("url", ""),
        published=parse_published(meta.get("published", "")),
        outlet=meta.get("outlet", ""),
        rules=rules,
        text="\n".join(lines[body_start:]).strip("\n"),
    )


def read_text_document(path: Path) -> TextDocument:
    """Read a plain-text document; raises `DocumentError` when unreadable."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return parse_text_document(content, str(path))
