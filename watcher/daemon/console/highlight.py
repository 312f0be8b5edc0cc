"""Matched terms in `<mark>`: escaped text with the spans of `TermMatch` offsets marked.

Everything outside the marks is escaped (`markupsafe.escape`), so article
text can never inject markup; the result is `Markup`, safe to put in an
autoescaped template as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from markupsafe import Markup, escape

from watcher.model import TermMatch

__all__ = ["EXCERPT_RADIUS", "excerpts", "marked"]

EXCERPT_RADIUS = 90  # characters of context on each side of a group of matches
MAX_EXCERPTS = 4


def _merged(spans: Iterable[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """Sorted, non-overlapping spans clipped to `[0, length)`."""
    out: list[tuple[int, int]] = []
    for start, end in sorted((max(0, s), min(length, e)) for s, e in spans):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def marked(
    text: str, spans: Iterable[tuple[int, int]], start: int = 0, end: int | None = None
) -> Markup:
    """`text[start:end]` escaped, with every span (absolute offsets) in `<mark>`."""
    end = len(text) if end is None else end
    parts: list[str] = []
    at = start
    for span_start, span_end in _merged(spans, len(text)):
        if span_end <= start or span_start >= end:
            continue
        s, e = max(span_start, start), min(span_end, end)
        parts.append(str(escape(text[at:s])))
        parts.append(f"<mark>{escape(text[s:e])}</mark>")
        at = e
    parts.append(str(escape(text[at:end])))
    return Markup("".join(parts))


def spans_in(matches: Sequence[TermMatch], field: str) -> list[tuple[int, int]]:
    """The offsets of the matches in one field (`title` or `text`)."""
    return [(m.start, m.end) for m in matches if m.field == field]


def excerpts(
    text: str, spans: Sequence[tuple[int, int]], radius: int = EXCERPT_RADIUS
) -> list[Markup]:
    """Up to `MAX_EXCERPTS` passages of `text` around the marked spans, each
    cut on spaces and marked; matches closer than two radii share a passage."""
    merged = _merged(spans, len(text))
    windows: list[tuple[int, int]] = []
    for s, e in merged:
        lo, hi = max(0, s - radius), min(len(text), e + radius)
        if windows and lo <= windows[-1][1]:
            windows[-1] = (windows[-1][0], hi)
        else:
            windows.append((lo, hi))
    out = []
    for window_lo, window_hi in windows[:MAX_EXCERPTS]:
        lo, hi = window_lo, window_hi
        if lo > 0:
            space = text.find(" ", lo, merged[0][0] if merged else hi)
            lo = space + 1 if 0 <= space < hi else lo
        if hi < len(text):
            space = text.rfind(" ", lo, hi)
            hi = space if space > lo and not any(s < space < e for s, e in merged) else hi
        prefix = "…" if lo > 0 else ""
        suffix = "…" if hi < len(text) else ""
        out.append(Markup(prefix) + marked(text, merged, lo, hi) + Markup(suffix))
    return out
