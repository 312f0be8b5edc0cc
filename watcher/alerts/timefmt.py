"""Times in messages: UTC stamps and coarse relative durations ("3 h ago")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC (a naive value is taken to be UTC already)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utc(moment: datetime) -> str:
    """'2025-03-14 12:00 UTC'."""
    return as_utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def when(published: datetime | None, now: datetime) -> str:
    """The UTC stamp and how long ago: '2025-03-14 08:45 UTC (3 h ago)'."""
    if published is None:
        return "publication time unknown"
    return f"{utc(published)} ({relative(published, now)})"


def relative(published: datetime | None, now: datetime) -> str:
    """'5 min ago', '3 h ago', '2 days ago', 'just now', or 'in 10 min' for future dates."""
    if published is None:
        return "time unknown"
    delta = as_utc(now) - as_utc(published)
    if -timedelta(minutes=1) < delta < timedelta(minutes=1):
        return "just now"
    if delta < timedelta(0):
        return f"in {duration(-delta)}"
    return f"{duration(delta)} ago"


def duration(span: timedelta) -> str:
    """A coarse human duration: '45 min', '3 h', '2 h 30 min', '4 days'."""
    minutes = int(span.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest and hours < 10 else f"{hours} h"
    return f"{hours // 24} days"


def plural(n: int, one: str, many: str) -> str:
    """`one` for 1, else `many`."""
    return one if n == 1 else many
