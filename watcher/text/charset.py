"""HTML bytes -> text: the one charset decoder for article pages and listing pages.

Decoding is ours, not a library's: trafilatura ignores declared charsets and
guesses with charset_normalizer, which misreads short windows-1252 and legacy
Japanese pages, and libxml2 does not know every label pages declare (euc_jp).

The order (see `decode_html`) is a BOM, then a body that is valid UTF-8, then
the HTTP Content-Type charset, then `<meta charset>` / the XML declaration,
then chardet; the first that decodes the bytes without error wins. Valid
UTF-8 comes before any declaration because legacy text is practically never
valid UTF-8 while servers and templates often declare a wrong default
(`iso-8859-1`, `windows-1252`): trusting the label would garble every
non-ASCII character of a UTF-8 page. A mis-declared page (header says UTF-8,
bytes are Shift_JIS) also comes out right, because UTF-8 fails and the next
candidate is tried.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["decode_html"]

# WHATWG encoding labels mapped to the Python codec that decodes them as browsers do:
# legacy labels mean their Windows supersets (Shift_JIS -> CP932 for (1) and (kabu), etc.).
_SUPERSETS = {
    "ascii": "cp1252",
    "iso8859_1": "cp1252",
    "iso8859_9": "cp1254",
    "iso8859_11": "cp874",
    "tis_620": "cp874",
    "shift_jis": "cp932",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc_kr": "cp949",
    "big5": "big5hkscs",
}
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Labels Python's codec registry does not know under these names.
_ALIASES = {
    "windows-31j": "cp932",
    "x-sjis": "cp932",
    "x-euc-jp": "euc_jp",
    "x-gbk": "gb18030",
}
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([\w.:-]+)", re.I)
_META_CHARSET = re.compile(
    rb"<meta\b[^>]*?charset\s*=\s*[\"']?\s*([\w.:-]+)|<\?xml\b[^>]*?encoding\s*=\s*[\"']([\w.:-]+)",
    re.I,
)
_META_WINDOW = 8192  # bytes searched for a declaration (HTML asks for it in the first 1024)


def decode_html(body: bytes, content_type: str = "") -> tuple[str, str]:
    """Decode an HTML (or XHTML) page to text; returns (text, Python codec used).

    `content_type` is the raw Content-Type header with its parameters, or ""
    when there is none. Precedence: a BOM; a body that is valid UTF-8; the
    header charset; the `<meta>`/XML-declared charset; chardet. The first
    that decodes without error wins; when none does, the first declared (else
    guessed) codec decodes with replacement characters. Declared UTF-16/32
    and 7-bit ISO-2022 encodings are tried before UTF-8, since their bytes
    can also pass as UTF-8. Never raises.
    """
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body.decode(codec, errors="replace"), codec
    declared = [c for c in (_header_charset(content_type), _meta_charset(body)) if c]
    wide_or_7bit = [c for c in declared if c.startswith(("utf_16", "utf_32", "iso2022"))]
    for codec in dict.fromkeys([*wide_or_7bit, "utf_8", *declared]):
        try:
            return body.decode(codec), codec
        except UnicodeDecodeError:
            continue
    guessed = _chardet(body)
    if guessed:
        try:
            return body.decode(guessed), guessed
        except UnicodeDecodeError:
            pass
    fallback = (declared or [guessed or "utf_8"])[0]
    return body.decode(fallback, errors="replace"), fallback


def _codec(label: str | bytes | None) -> str | None:
    """A charset label -> the Python codec decoding it as a browser would; None if unknown."""
    if not label:
        return None
    if isinstance(label, bytes):
        label = label.decode("ascii", errors="ignore")
    try:
        label = label.strip().lower()
        name = codecs.lookup(_ALIASES.get(label, label)).name.replace("-", "_")
    except LookupError:
        return None
    return _SUPERSETS.get(name, name)


def _header_charset(content_type: str) -> str | None:
    match = _HEADER_CHARSET.search(content_type)
    return _codec(match.group(1)) if match else None


def _meta_charset(body: bytes) -> str | None:
    match = _META_CHARSET.search(body[:_META_WINDOW])
    codec = _codec(match.group(1) or match.group(2)) if match else None
    # A page that could be read to find its <meta> is not UTF-16 (WHATWG "prescan").
    return "utf_8" if codec and codec.startswith(("utf_16", "utf_32")) else codec


def _chardet(body: bytes) -> str | None:
    import chardet

    # The head and the tail: markup is ASCII, and long pages make chardet slow.
    sample = body if len(body) <= 200_000 else body[:100_000] + body[-100_000:]
    label = chardet.detect(sample).get("encoding")
    return _codec(label) if isinstance(label, str) else None
