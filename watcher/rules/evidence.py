"""What a hit shows: matched terms with offsets, a score and a snippet.

Built only for rules that fired (see `watcher.rules.match`). PURE: no I/O,
no clock, no logging.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence

from watcher.model import Document, TermMatch
from watcher.rules.ast import Node
from watcher.rules.fields import PreparedField

__all__ = ["SNIPPET_RADIUS", "TITLE_WEIGHT", "clause_text", "score_of", "snippet", "term_matches"]

TITLE_WEIGHT = 1.5
SNIPPET_RADIUS = 120  # characters on each side of the strongest evidence

# (field, skeleton start, skeleton end, word start, word end, term as written)
Occ = tuple[str, int, int, int, int, str]


def score_of(matches: Sequence[TermMatch]) -> float:
    """How strong the evidence is: the sum over distinct matched terms of
    `1 + ln(occurrences)`, times 1.5 for a term that also occurs in the
    title. A single passing mention scores 1.0; several distinct terms,
    repeated terms and headline terms score higher. Rounded to 3 places."""
    counts: dict[str, int] = {}
    in_title: set[str] = set()
    for m in matches:
        counts[m.term] = counts.get(m.term, 0) + 1
        if m.field == "title":
            in_title.add(m.term)
    total = sum(
        (1.0 + math.log(n)) * (TITLE_WEIGHT if t in in_title else 1.0) for t, n in counts.items()
    )
    return round(total, 3)


def snippet(doc: Document, matches: Sequence[TermMatch]) -> str:
    """~240 characters of the field with the densest evidence, on word boundaries.

    The strongest match is the one with the most distinct terms within
    `SNIPPET_RADIUS` characters (the earliest on a tie)."""
    in_text = [m for m in matches if m.field == "text"]
    field_text = doc.text if in_text else doc.title
    pool = in_text or [m for m in matches if m.field == "title"]
    if not pool:
        return _squash(field_text[: 2 * SNIPPET_RADIUS])
    # Sorted by start (stable: ties keep their order), the neighbours of each
    # match are one slice, found by bisection instead of a scan of the pool.
    pool.sort(key=lambda m: m.start)
    starts = [m.start for m in pool]
    best, best_key = pool[0], (-1, 0)
    for m in pool:
        lo = bisect_left(starts, m.start - SNIPPET_RADIUS)
        hi = bisect_right(starts, m.start + SNIPPET_RADIUS)
        key = (len({o.term for o in pool[lo:hi]}), -m.start)
        if key > best_key:
            best, best_key = m, key
    centre = (best.start + best.end) // 2
    start = max(0, centre - SNIPPET_RADIUS)
    end = min(len(field_text), centre + SNIPPET_RADIUS)
    if start > 0:
        space = field_text.find(" ", start, best.start)
        start = space + 1 if space >= 0 else start
    if end < len(field_text):
        space = field_text.rfind(" ", best.end, end)
        end = space if space >= 0 else end
    text = _squash(field_text[start:end])
    return ("…" if start > 0 else "") + text + ("…" if end < len(field_text) else "")


_SPACES = re.compile(r"\s+")


def _squash(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def term_matches(
    evidence: Sequence[Occ], fields: Mapping[str, PreparedField]
) -> tuple[TermMatch, ...]:
    """The distinct occurrences of `evidence` as offsets into the original
    fields, title first, then by position."""
    seen: set[tuple[str, int, int, str]] = set()
    out: list[TermMatch] = []
    for field, s, e, _, _, term in evidence:
        if (field, s, e, term) in seen:
            continue
        seen.add((field, s, e, term))
        start, end = fields[field].original_span(s, e)
        out.append(TermMatch(term=term, field=field, start=start, end=end))
    out.sort(key=lambda m: (m.field != "title", m.start, m.end, m.term))
    return tuple(out)


def clause_text(query: str, node: Node) -> str:
    """The source text of a clause, on one line."""
    return " ".join(query[node.start : node.end].split())
