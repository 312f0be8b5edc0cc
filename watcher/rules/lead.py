"""The lead of a story: its title and the first paragraphs of its text.

News is written as an inverted pyramid: what a story is *about* is in its
headline and first paragraphs, while a topic mentioned in passing usually
sits further down. `lead:x` (like Factiva's headline-and-lead field)
matches `x` only there, so a rule can ask that a story be about its topic.

The cut: the text's lines (paragraphs) are taken whole until at least
`LEAD_MIN_WORDS` words are in, and never more than `LEAD_MAX_WORDS` words
(a text without line breaks, e.g. an aggregator page, is cut there). Words
are counted as the matcher counts them (`watcher.text.normalize`): in Japanese two
characters make a word, so the lead of a Japanese story is about its first
120-240 characters, the lede paragraph of a Japanese news story.

PURE: no I/O, no clock, no logging.
"""

from __future__ import annotations

from watcher.rules.ast import And, AtLeast, Near, Node, Not, Or, Scope
from watcher.rules.fields import PreparedField

__all__ = ["LEAD_MAX_WORDS", "LEAD_MIN_WORDS", "Lead", "lead_cut", "lead_words", "uses_lead"]

LEAD_MIN_WORDS = 60
LEAD_MAX_WORDS = 120
# The lead never reaches past this many characters: 120 words of English
# are about 800 characters, of Japanese about 240.
_HEAD_CHARS = 2_000


def lead_cut(text: str) -> int:
    """The offset in `text` where its lead ends (before the `LEAD_MAX_WORDS` cap)."""
    head = text[:_HEAD_CHARS]
    words = 0
    pos = 0
    while pos < len(head):
        nl = head.find("\n", pos)
        end = len(head) if nl < 0 else nl
        words += PreparedField(head[pos:end]).words
        pos = end + 1
        if words >= LEAD_MIN_WORDS:
            return min(end, len(text))
    return len(head)


def lead_words(text: str) -> int:
    """How many word positions of `text` are in its lead: an occurrence whose
    last word position is below this number is in the lead."""
    return min(PreparedField(text[: lead_cut(text)]).words, LEAD_MAX_WORDS)


class Lead:
    """The lead of one text, worked out the first time a `lead:` asks for it
    (most documents never reach a rule that has one)."""

    __slots__ = ("_end", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._end: int | None = None

    @property
    def end(self) -> int:
        """`lead_words(text)`: occurrences ending before this word are in the lead."""
        if self._end is None:
            self._end = lead_words(self._text)
        return self._end


def uses_lead(node: Node) -> bool:
    """Does the query restrict anything to the lead?"""
    if isinstance(node, Scope):
        return node.field == "lead" or uses_lead(node.child)
    if isinstance(node, Not | AtLeast):
        return uses_lead(node.child)
    if isinstance(node, And | Or):
        return any(uses_lead(c) for c in node.children)
    if isinstance(node, Near):
        return uses_lead(node.left) or uses_lead(node.right)
    return False
