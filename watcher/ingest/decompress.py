"""Decoding HTTP bodies (gzip, deflate) without letting them grow past a cap.

We decompress ourselves rather than letting the HTTP client do it, so that
one cap bounds the *decoded* size (a 1 GB gzip bomb is about 1 MB on the
wire) and so that gzip served without Content-Encoding is recognised by its
magic bytes. `zlib`'s `max_length` keeps every step's output bounded, so
memory stays near the cap whatever the input.
"""

from __future__ import annotations

import zlib


class BodyTooLarge(Exception):
    """The decoded body would exceed the cap."""


class TruncatedStream(Exception):
    """A compressed body ended before its stream did."""


def _inflate(data: bytes, wbits: int, cap: int) -> bytes:
    """Decompress `data` producing at most `cap` bytes; handles multi-member gzip."""
    out = bytearray()
    rest = data
    while rest:
        d = zlib.decompressobj(wbits)
        out += d.decompress(rest, cap + 1 - len(out))
        if len(out) > cap:
            raise BodyTooLarge
        if not d.eof:
            raise TruncatedStream
        rest = d.unused_data if d.unused_data[:2] == b"\x1f\x8b" else b""
    return bytes(out)


def decode_body(raw: bytes, content_encoding: str, cap: int) -> bytes:
    """The decoded body: undo gzip/deflate (declared, or gzip sniffed by magic bytes).

    Output is bounded by `cap` (raises `BodyTooLarge` past it). A body that claims
    a coding it does not have is returned raw, as feedparser does; a stream cut
    short raises `TruncatedStream`.
    """
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings and raw[:2] == b"\x1f\x8b":
        codings = ["gzip"]  # gzip magic bytes served without Content-Encoding
    body = raw
    for coding in reversed(codings):
        try:
            if coding in ("gzip", "x-gzip"):
                body = _inflate(body, 31, cap)
            elif coding == "deflate":
                # RFC 9110 deflate is zlib-wrapped, but servers often send raw deflate.
                try:
                    body = _inflate(body, 15, cap)
                except zlib.error:
                    body = _inflate(body, -15, cap)
        except zlib.error:
            return raw  # claims a coding it does not have
    return body
