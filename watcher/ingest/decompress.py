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


class DecodeFailed(Exception):
    """Decoding did not finish (e.g. its time budget in a worker ran out); the message says why."""


def needs_decoding(raw: bytes, content_encoding: str) -> bool:
    """Whether `decode_body` would do any work: a declared coding, or gzip's magic bytes."""
    codings = (c.strip().lower() for c in content_encoding.split(","))
    return any(c and c != "identity" for c in codings) or raw[:2] == b"\x1f\x8b"


_FIRST_WINDOW = 256  # input bytes first given to a new member's decompressor
_MAX_WINDOW = 1 << 20  # the window doubles while a member goes on, up to this


def _inflate(data: bytes, wbits: int, cap: int) -> bytes:
    """Decompress `data` producing at most `cap` bytes; handles multi-member gzip.

    Linear in `len(data)` whatever the member count: each member's
    decompressor is fed a window of the input (256 bytes, doubling while the
    member goes on), so what zlib copies into `unused_data` when a member ends
    is at most one window, never the whole undecoded tail (which made a body
    of 240,000 empty members take tens of seconds). Every round consumes input
    or ends (over the cap, or the member complete), so the loops are bounded by
    `len(data)`.
    """
    out = bytearray()
    view = memoryview(data)
    pos, end = 0, len(data)
    while pos < end:
        d = zlib.decompressobj(wbits)
        window = _FIRST_WINDOW
        while not d.eof:
            if pos >= end:
                raise TruncatedStream
            chunk = view[pos : pos + window]
            piece = d.decompress(chunk, cap + 1 - len(out))
            out += piece
            if len(out) > cap:
                raise BodyTooLarge
            # Input left unread: past the end of the member (`unused_data`), or held back
            # because the output limit was reached (`unconsumed_tail`, only past the cap).
            pos += len(chunk) - len(d.unconsumed_tail) - len(d.unused_data)
            window = min(window * 2, _MAX_WINDOW)
        if bytes(view[pos : pos + 2]) != b"\x1f\x8b":
            break  # trailing bytes that are not another gzip member are ignored
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
