"""Safe Slack text from untrusted strings: cleaning, escaping, links, truncation, bold terms.

Everything that comes from the internet (titles, outlets, snippets, URLs)
goes through here before it reaches a Slack message:

* `clean` drops control, bidi-override and BOM characters (they can reorder or
  hide text) and normalises whitespace; it never re-normalises Unicode, so
  Japanese text reaches Slack exactly as extracted.
* `strip_mentions` removes Slack's special syntax (`<!channel>`, `<!here>`,
  `<!everyone>`, `<@U123>`, `<#C123>`, `<!subteam^S1|@team>`, `<!date^...>`)
  and defuses bare `@here`/`@channel`/`@everyone` with a zero-width space
  (mrkdwn objects that are not `verbatim` parse those).
* `escape` escapes only `&`, `<` and `>`, as Slack asks; once `<` is escaped
  nothing in the text can open a link or a mention. mrkdwn has no escape for
  its formatting characters, so `neutralise` swaps `*`, `_`, `~` and a
  backtick in untrusted text for look-alikes (U+2217, U+02CD, U+223C, U+02CB) that
  Slack does not read as bold, italics, strike-through or code: a title can
  no longer format or reorder the message around it.
* `link` builds `<url|label>` only for http(s) URLs, with `<`, `>`, `|` and
  whitespace percent-encoded, so neither part can forge another link; given
  `room`, a long URL shortens the label rather than the link, and a URL too
  long for the room leaves the label alone (the caller may link it another
  way, e.g. a button).
* `truncate`/`truncate_mrkdwn` cut on code points and end with "…"; the
  mrkdwn variant never leaves half an entity (`&am`) or half a link.
* `term_spans` finds the matched query terms in a snippet (NFKC, case-folded,
  tolerant of hyphens and line breaks, prefix `word*`), and `bold_marked`
  renders the snippet with those spans in `*bold*`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

ELLIPSIS = "…"
ZWSP = "\u200b"

# C0/C1 controls (tab and newline are whitespace, handled separately), bidi
# embeddings/overrides/isolates and marks (LRM, RLM, ALM: they can make a label read
# differently from the link behind it), the BOM and line/paragraph separators.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\ufeff\ufff9-\ufffb]"
)
# mrkdwn's formatting characters and the look-alikes untrusted text gets instead.
_FORMATTING = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"})
_MENTION = re.compile(r"<\s*(?:[!@#]|subteam\^)[^<>]*>")
_BARE_BROADCAST = re.compile(r"@(here|channel|everyone)\b", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\u00a0\u2028\u2029\r\f\v]+")
# Whitespace runs collapse to one space, except U+3000 (ideographic space), which
# Japanese titles use as punctuation.
_ALL_WHITESPACE = re.compile(r"[^\S\u3000]+")
_PARTIAL_ENTITY = re.compile(r"&[a-z#0-9]{0,5}$")
_TERM_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u30fb/]+")
_LATIN = "0-9a-z\u00c0-\u024f"  # what counts as "inside a word" for whole-word terms


def clean(text: str, *, single_line: bool = False) -> str:
    """Drop invisible/control characters and tidy whitespace (one line if asked)."""
    text = _INVISIBLE.sub("", text)
    if single_line:
        return _ALL_WHITESPACE.sub(" ", text).strip()
    lines = [_SPACES.sub(" ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


def strip_mentions(text: str) -> str:
    """Remove Slack mention/broadcast syntax and defuse bare `@here`-style words."""
    text = _MENTION.sub("", text)
    return _BARE_BROADCAST.sub(lambda m: "@" + ZWSP + m.group(1), text)


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control: `&`, `<`, `>`."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str, limit: int | None = None) -> str:
    """Untrusted text as an inline code span: nothing formats inside one, so only `&<>`
    are escaped and a backtick (which would end the span) becomes a look-alike."""
    text = clean(strip_mentions(clean(text, single_line=True)), single_line=True)
    if limit is not None:
        text = truncate(text, limit)
    return "`" + escape(text.replace("`", "\u02cb")) + "`"


def neutralise(text: str) -> str:
    """`*`, `_`, `~` and backticks replaced by look-alikes mrkdwn does not format with."""
    return text.translate(_FORMATTING)


def plain(text: str, limit: int | None = None) -> str:
    """Untrusted text for a `plain_text` object: cleaned, one line, no mentions, not escaped."""
    text = clean(strip_mentions(clean(text, single_line=True)), single_line=True)
    return truncate(text, limit) if limit is not None else text


def mrkdwn(text: str, limit: int | None = None, *, single_line: bool = True) -> str:
    """Untrusted text for a `mrkdwn` object: cleaned, mentions stripped, escaped, truncated.

    The limit applies to the raw text, so entities are never cut in half.
    """
    text = clean(strip_mentions(clean(text, single_line=single_line)), single_line=single_line)
    if limit is not None:
        text = truncate(text, limit)
    return escape(neutralise(text))


def safe_url(url: str) -> str | None:
    """The URL made safe inside `<...|...>`, or None when it is not a usable http(s) URL."""
    usable = http_url(url)
    if usable is None:
        return None
    usable = usable.replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return usable.replace("&", "&amp;")


def http_url(url: str) -> str | None:
    """`url` without invisible characters and whitespace when it is http(s) with a host, else
    None; raw (not mrkdwn-escaped), e.g. for a button's `url` field."""
    url = re.sub(r"\s+", "", _INVISIBLE.sub("", url))
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


MIN_LABEL = 24  # characters of label worth keeping beside a long URL


def link(url: str, label: str, *, label_limit: int = 300, room: int | None = None) -> str:
    """`<url|label>` with both parts safe; just the escaped label when the URL is unusable.

    With `room` (characters the whole `<url|label>` may take), a long URL keeps
    the full URL as the target and shortens the label to fit; when not even
    `MIN_LABEL` characters of label would fit, the label comes back alone.
    """
    text = mrkdwn(label, label_limit) or "(untitled)"
    target = safe_url(url)
    if target is None:
        return text
    if room is not None and len(target) + len(text) + 3 > room:
        fits = room - len(target) - 3
        if fits < MIN_LABEL:
            return text
        text = truncate_mrkdwn(text, fits)
    return f"<{target}|{text}>"


def truncate(text: str, limit: int | None) -> str:
    """`text` cut to at most `limit` code points, ending in "…" when anything was cut."""
    if limit is None or len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    return text[: limit - 1].rstrip() + ELLIPSIS


def truncate_mrkdwn(text: str, limit: int) -> str:
    """Like `truncate` for already-built mrkdwn: never ends inside an entity or a `<link>`."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    cut = text[: limit - 1]
    if cut.rfind("<") > cut.rfind(">"):  # an unfinished <url|label>
        cut = cut[: cut.rfind("<")]
    cut = _PARTIAL_ENTITY.sub("", cut)
    return cut.rstrip() + ELLIPSIS


def _folded(text: str) -> tuple[str, list[int]]:
    """NFKC + case-folded text with, for each of its characters, the index it came from."""
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        folded = unicodedata.normalize("NFKC", ch).casefold()
        out.append(folded)
        origin.extend([i] * len(folded))
    return "".join(out), origin


def _term_pattern(term: str) -> re.Pattern[str] | None:
    """A regex over folded text for one query term (`word`, `word*`, `"a phrase"`)."""
    term = term.strip()
    term = re.sub(r"^(?:title|text):", "", term).strip().strip("\"'“”「」")
    prefix = term.endswith("*")
    term = term.rstrip("*").strip()
    folded = unicodedata.normalize("NFKC", term).casefold()
    tokens = [t for t in _TERM_SEPARATORS.split(folded) if t]
    if not tokens:
        return None
    body = r"[\s\-\u2010-\u2015\u30fb/]*".join(re.escape(t) for t in tokens)
    head = f"(?<![{_LATIN}])" if re.match(f"[{_LATIN}]", tokens[0]) else ""
    if prefix:
        tail = f"[{_LATIN}]*"
    elif re.search(f"[{_LATIN}]$", tokens[-1]):
        tail = f"(?![{_LATIN}])"
    else:
        tail = ""
    return re.compile(head + body + tail)


def term_spans(text: str, terms: Iterable[str]) -> list[tuple[int, int]]:
    """Sorted, merged `(start, end)` spans of `text` where any of `terms` occurs."""
    folded, origin = _folded(text)
    spans: list[tuple[int, int]] = []
    for term in set(terms):
        pattern = _term_pattern(term)
        if pattern is None:
            continue
        for m in pattern.finditer(folded):
            if m.end() > m.start():
                spans.append((origin[m.start()], origin[m.end() - 1] + 1))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def window(
    text: str, spans: Sequence[tuple[int, int]], limit: int
) -> tuple[str, list[tuple[int, int]]]:
    """At most `limit` code points of `text` around its first span, spans shifted to match."""
    if len(text) <= limit:
        return text, list(spans)
    first = spans[0][0] if spans else 0
    start = max(0, min(first - limit // 3, len(text) - (limit - 2)))
    end = min(len(text), start + limit - 2)
    lead = ELLIPSIS if start > 0 else ""
    shift = len(lead) - start
    inner = [
        (max(s, start) + shift, min(e, end) + shift) for s, e in spans if e > start and s < end
    ]
    return lead + text[start:end] + (ELLIPSIS if end < len(text) else ""), inner


def bold_marked(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """Escaped mrkdwn of `text` with each span in `*bold*`.

    A zero-width space pads a `*` that touches a letter, a digit or any
    non-ASCII character: Slack only starts bold at a word boundary, which
    Japanese text (including its brackets, 「」) never has.
    """
    out: list[str] = []
    pos = 0
    for start, end in spans:
        out.append(_defused(text[pos:start]))
        inner = _defused(text[start:end]).replace("*", "\u2217")
        before = ZWSP if start > 0 and _sticky(text[start - 1]) else ""
        after = ZWSP if end < len(text) and _sticky(text[end]) else ""
        out.append(f"{before}*{inner}*{after}")
        pos = end
    out.append(_defused(text[pos:]))
    return "".join(out)


def _sticky(ch: str) -> bool:
    """Whether `*` next to `ch` would not be read as a bold marker without padding."""
    return ch.isalnum() or (not ch.isspace() and not ch.isascii())


def _defused(text: str) -> str:
    return escape(neutralise(_BARE_BROADCAST.sub(lambda m: "@" + ZWSP + m.group(1), text)))
