"""Where in a YAML file a character of a loaded scalar came from.

ruamel.yaml tells where a scalar starts; a query or a term folded over
several lines (`>`, `|`, plain or quoted) needs the line and column of one
of its characters, so that an error can say `file:line:col`.
"""

from __future__ import annotations

__all__ = ["locate"]


def _scalar_pieces(lines: list[str], line: int, col: int) -> list[tuple[int, int, str]]:
    """The source lines a scalar starting at `line`/`col` may span: (line, column, text)."""
    first = lines[line][col:]
    pieces: list[tuple[int, int, str]] = []
    if first[:1] in (">", "|"):
        body = [(i, lines[i]) for i in range(line + 1, len(lines))]
        indent = next((len(t) - len(t.lstrip()) for _, t in body if t.strip()), 0)
        for i, t in body:
            if t.strip() and len(t) - len(t.lstrip()) < indent:
                break
            pieces.append((i, indent, t[indent:].rstrip()))
        return pieces
    quote = first[:1] if first[:1] in ("'", '"') else ""
    head = first[len(quote) :].rstrip()
    if quote and head.endswith(quote):
        head = head[:-1]
    pieces.append((line, col + len(quote), head))
    for i in range(line + 1, len(lines)):
        t = lines[i]
        pieces.append((i, len(t) - len(t.lstrip()), t.strip()))
    return pieces


def locate(lines: list[str], line: int, col: int, value: str, offset: int) -> tuple[int, int]:
    """1-based line and column in the file of character `offset` of a scalar.

    `line`/`col` (0-based) is where ruamel says the scalar starts. Each
    source line of the scalar is found in the loaded value in turn (folding
    joins lines with spaces, so the pieces appear in order); when a piece
    cannot be found (escapes) the last located position is used.
    """
    if not 0 <= line < len(lines):
        return line + 1, col + 1
    best = (line + 1, col + 1)
    pos = 0
    for i, c, text in _scalar_pieces(lines, line, col):
        if not text:
            continue
        found = value.find(text[: max(1, min(len(text), 20))], pos)
        if found < 0:
            if pos >= len(value.rstrip()):
                break
            continue
        if found > offset:
            break
        best = (i + 1, c + 1 + (offset - found))
        if offset <= found + len(text):
            return best
        pos = found + len(text)
    return best
