"""Plain text from the HTML fragments feeds and listing pages carry.

Feed titles and summaries are HTML from strangers. We never render or keep
that HTML (feedparser's sanitizer is off: it dominates the parse time of big
feeds): we
turn it into one line of plain text here, with entities decoded, scripts and
styles dropped, block boundaries turned into spaces, and control characters
(NUL included) removed, so nothing downstream ever sees markup.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
_SPACE = re.compile(r"\s+")
_SKIP = frozenset({"script", "style", "template", "noscript", "head", "title"})
_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "img", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td",
        "th", "tr", "ul",
    }
)  # fmt: skip


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skipping += 1
        elif tag in _BLOCK:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def clean_text(text: str) -> str:
    """`text` with control characters removed and whitespace collapsed to single spaces."""
    return _SPACE.sub(" ", _CONTROL.sub(" ", text)).strip()


def html_to_text(fragment: str) -> str:
    """The visible text of an HTML fragment, as one whitespace-normalised line."""
    if "<" not in fragment and "&" not in fragment:
        return clean_text(fragment)
    collector = _TextCollector()
    collector.feed(_CONTROL.sub(" ", fragment))
    collector.close()
    return clean_text("".join(collector.parts))
